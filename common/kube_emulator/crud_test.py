from __future__ import annotations

import json

import kubernetes.watch  # type: ignore[import-untyped]
import pytest
from kubernetes.client import ApiException  # type: ignore[import-untyped]

from kube_emulator.testing.parallel_jobs import GROUP, PLURAL, VERSION, parallel_job


def _status(error: ApiException) -> dict:
    return json.loads(error.body)


def test_create_returns_201_with_server_fields(custom):
    created, code, _ = custom.create_namespaced_custom_object_with_http_info(
        GROUP, VERSION, "default", PLURAL, parallel_job("a")
    )
    assert code == 201
    metadata = created["metadata"]
    assert metadata["namespace"] == "default"
    assert metadata["uid"] and metadata["creationTimestamp"].endswith("Z")
    assert metadata["generation"] == 1
    assert int(metadata["resourceVersion"]) > 0


def test_resource_version_is_a_global_counter(custom, core):
    first = custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, parallel_job("a"))
    cm = core.create_namespaced_config_map("default", {"metadata": {"name": "c"}})
    assert int(cm.metadata.resource_version) == int(first["metadata"]["resourceVersion"]) + 1


def test_create_twice_is_409_already_exists(custom):
    custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, parallel_job("a"))
    with pytest.raises(ApiException) as raised:
        custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, parallel_job("a"))
    assert raised.value.status == 409
    status = _status(raised.value)
    assert status["kind"] == "Status" and status["reason"] == "AlreadyExists"
    assert status["message"] == 'paralleljobs.workloads.example.com "a" already exists'


def test_get_missing_is_404_not_found(custom):
    with pytest.raises(ApiException) as raised:
        custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "nope")
    assert raised.value.status == 404
    assert _status(raised.value)["reason"] == "NotFound"


def test_generate_name(core):
    cm = core.create_namespaced_config_map("default", {"metadata": {"generateName": "cfg-"}})
    assert cm.metadata.name.startswith("cfg-") and len(cm.metadata.name) == 9


def test_invalid_name_and_label_are_422(core):
    with pytest.raises(ApiException) as raised:
        core.create_namespaced_config_map("default", {"metadata": {"name": "Not_Valid"}})
    assert raised.value.status == 422
    with pytest.raises(ApiException) as raised:
        core.create_namespaced_config_map("default", {"metadata": {"name": "ok", "labels": {"a": "x" * 64}}})
    assert raised.value.status == 422


@pytest.mark.parametrize(
    "metadata",
    [
        {"name": "ends-in-a-newline\n"},
        {"name": "ok", "labels": {"key\n": "x"}},
        {"name": "ok", "labels": {"example.com\n/key": "x"}},
        {"name": "ok", "labels": {"key": "value\n"}},
    ],
    ids=["name", "label-name", "label-prefix", "label-value"],
)
def test_a_final_newline_is_refused_as_the_api_server_does(core, metadata):
    # Go's regexp anchors `$` at the very end; Python's `$` also matches before a final newline.
    with pytest.raises(ApiException) as raised:
        core.create_namespaced_config_map("default", {"metadata": metadata})
    assert raised.value.status == 422


def test_label_selectors(core):
    for name, labels in [("a", {"app": "x", "tier": "web"}), ("b", {"app": "y"}), ("c", {})]:
        core.create_namespaced_config_map("default", {"metadata": {"name": name, "labels": labels}})

    def names(selector: str) -> list[str]:
        items = core.list_namespaced_config_map("default", label_selector=selector).items
        return [cm.metadata.name for cm in items]

    assert names("app=x") == ["a"]
    assert names("app==x") == ["a"]
    assert names("app!=x") == ["b", "c"]
    assert names("app in (x, y)") == ["a", "b"]
    assert names("app notin (x)") == ["b", "c"]
    assert names("app") == ["a", "b"]
    assert names("!app") == ["c"]
    assert names("app=x,tier=web") == ["a"]


def test_field_selectors_and_all_namespaces(core):
    core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    core.create_namespaced_config_map("kube-system", {"metadata": {"name": "a"}})
    core.create_namespaced_config_map("kube-system", {"metadata": {"name": "b"}})
    everywhere = core.list_config_map_for_all_namespaces()
    assert [(c.metadata.namespace, c.metadata.name) for c in everywhere.items] == [
        ("default", "a"),
        ("kube-system", "a"),
        ("kube-system", "b"),
    ]
    by_name = core.list_config_map_for_all_namespaces(field_selector="metadata.name=a")
    assert len(by_name.items) == 2
    by_namespace = core.list_config_map_for_all_namespaces(field_selector="metadata.namespace!=default")
    assert len(by_namespace.items) == 2
    assert int(everywhere.metadata.resource_version) > 0


def test_core_events_select_on_their_own_field_labels(api, core):
    for name, kind in (("w", "Warning"), ("n", "Normal")):
        core.create_namespaced_event(
            "default",
            {
                "metadata": {"name": name},
                "type": kind,
                "reason": "Failed",
                "involvedObject": {"kind": "Pod", "name": name},
            },
        )
    warnings = core.list_namespaced_event("default", field_selector="type=Warning")
    assert [event.metadata.name for event in warnings.items] == ["w"]
    about = core.list_event_for_all_namespaces(field_selector="involvedObject.name=n,reason=Failed")
    assert [event.metadata.name for event in about.items] == ["n"]
    assert [e["metadata"]["name"] for e in api.list("events", "default", field_selector="type!=Warning")] == ["n"]
    events = kubernetes.watch.Watch().stream(
        core.list_namespaced_event, "default", field_selector="type=Warning", timeout_seconds=1
    )
    assert [event["object"].metadata.name for event in events] == ["w"]
    # Other kinds keep the field labels most built-ins have.
    with pytest.raises(ApiException, match="field label not supported: type"):
        core.list_namespaced_config_map("default", field_selector="type=Warning")


def test_list_pagination(core):
    for i in range(5):
        core.create_namespaced_config_map("default", {"metadata": {"name": f"c{i}"}})
    page = core.list_namespaced_config_map("default", limit=2)
    assert [c.metadata.name for c in page.items] == ["c0", "c1"]
    rest = core.list_namespaced_config_map("default", limit=10, _continue=page.metadata._continue)
    assert [c.metadata.name for c in rest.items] == ["c2", "c3", "c4"]


def test_cluster_scoped_namespaces(core):
    core.create_namespace({"metadata": {"name": "team-a"}})
    assert core.read_namespace("team-a").status.phase == "Active"
    assert "team-a" in [n.metadata.name for n in core.list_namespace().items]


def test_put_with_stale_resource_version_is_409_conflict(core):
    cm = core.create_namespaced_config_map("default", {"metadata": {"name": "a"}, "data": {"k": "1"}})
    cm.data = {"k": "2"}
    updated = core.replace_namespaced_config_map("a", "default", cm)
    assert updated.data == {"k": "2"}
    cm.data = {"k": "3"}  # still carries the old resourceVersion
    with pytest.raises(ApiException) as raised:
        core.replace_namespaced_config_map("a", "default", cm)
    assert raised.value.status == 409
    assert _status(raised.value)["reason"] == "Conflict"
    assert core.read_namespaced_config_map("a", "default").data == {"k": "2"}


def test_merge_and_json_patch(custom):
    custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, parallel_job("a", workers=1))
    patched = custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "a", {"spec": {"workers": 3, "extra": "x"}}
    )
    assert patched["spec"] == {"workers": 3, "extra": "x"}
    assert patched["metadata"]["generation"] == 2
    patched = custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        "default",
        PLURAL,
        "a",
        [{"op": "remove", "path": "/spec/extra"}],
        _content_type="application/json-patch+json",
    )
    assert patched["spec"] == {"workers": 3}


def test_json_patch_failing_test_op_is_422_and_changes_nothing(custom):
    created = custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, parallel_job("a"))
    with pytest.raises(ApiException) as raised:
        custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            "default",
            PLURAL,
            "a",
            [
                {"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
                {"op": "replace", "path": "/spec/workers", "value": 9},
            ],
            _content_type="application/json-patch+json",
        )
    assert raised.value.status == 422
    current = custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "a")
    assert current == created


@pytest.mark.parametrize(
    ("operations", "status", "message"),
    [
        (
            [{"op": "test", "path": "/metadata/name", "value": "b"}],
            422,
            "testing value /metadata/name failed: test failed",
        ),
        ([{"op": "replace", "path": "/spec/missing", "value": 1}], 422, "replace /spec/missing: "),
        ([{"op": "remove", "path": "/spec/workers/x"}], 422, "remove /spec/workers/x: "),
        ([{"op": "add", "path": "spec", "value": 1}], 400, "invalid JSON patch operation"),
        ([{"op": "frobnicate", "path": "/spec"}], 400, "invalid JSON patch operation"),
        ([{"path": "/spec"}], 400, "invalid JSON patch operation"),
    ],
)
def test_json_patch_errors_name_the_operation_and_change_nothing(custom, operations, status, message):
    """400 for a patch that cannot be decoded, 422 for one that fails to apply (kubernetes
    staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go at 00f75347, applyJSPatch)."""
    created = custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, parallel_job("a"))
    with pytest.raises(ApiException) as raised:
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, "a", operations, _content_type="application/json-patch+json"
        )
    assert raised.value.status == status
    assert message in json.loads(raised.value.body)["message"]
    assert custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "a") == created


def test_json_patch_applies_every_operation_in_order(custom):
    custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, parallel_job("a", workers=2))
    patched = custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        "default",
        PLURAL,
        "a",
        [
            {"op": "add", "path": "/spec/items", "value": [1, 3]},
            {"op": "add", "path": "/spec/items/1", "value": 2},
            {"op": "add", "path": "/spec/items/-", "value": 4},
            {"op": "copy", "from": "/spec/workers", "path": "/spec/copied"},
            {"op": "move", "from": "/spec/copied", "path": "/spec/moved"},
            {"op": "test", "path": "/spec/moved", "value": 2},
            {"op": "replace", "path": "/spec/workers", "value": 5},
            {"op": "add", "path": "/metadata/annotations", "value": {"a~b/c": "x"}},
            {"op": "remove", "path": "/metadata/annotations/a~0b~1c"},
        ],
        _content_type="application/json-patch+json",
    )
    assert patched["spec"] == {"workers": 5, "items": [1, 2, 3, 4], "moved": 2}
    assert patched["metadata"]["annotations"] == {}


def test_status_subresource_is_split_from_the_main_resource(custom):
    body = parallel_job("a")
    body["status"] = {"phase": "Ignored"}
    created = custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)
    assert "status" not in created  # status is only written through /status

    with_status = custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, "default", PLURAL, "a", {"status": {"phase": "Running"}, "spec": {"workers": 7}}
    )
    assert with_status["status"] == {"phase": "Running"}
    assert with_status["spec"] == {"workers": 1}
    assert with_status["metadata"]["generation"] == 1

    main = custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "a", {"status": {"phase": "Hacked"}, "metadata": {"labels": {"l": "v"}}}
    )
    assert main["status"] == {"phase": "Running"}
    assert main["metadata"]["generation"] == 1  # metadata-only change
    assert main["metadata"]["labels"] == {"l": "v"}


def test_noop_patch_keeps_resource_version(custom):
    created = custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, parallel_job("a"))
    same = custom.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "a", {"spec": {"workers": 1}})
    assert same["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_crd_install_and_uninstall_through_the_api(api, client):
    import kubernetes.client  # type: ignore[import-untyped]

    extensions = kubernetes.client.ApiextensionsV1Api(client)
    custom = kubernetes.client.CustomObjectsApi(client)
    extensions.create_custom_resource_definition(
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com",
                "scope": "Cluster",
                "names": {"plural": "widgets", "kind": "Widget", "singular": "widget"},
                "versions": [
                    {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {"type": "object"}}}
                ],
            },
        }
    )
    custom.create_cluster_custom_object("example.com", "v1", "widgets", {"metadata": {"name": "w"}})
    assert custom.get_cluster_custom_object("example.com", "v1", "widgets", "w")["kind"] == "Widget"
    extensions.delete_custom_resource_definition("widgets.example.com")
    with pytest.raises(ApiException) as raised:
        custom.get_cluster_custom_object("example.com", "v1", "widgets", "w")
    assert raised.value.status == 404


def test_discovery_for_the_official_client(client):
    import kubernetes.client  # type: ignore[import-untyped]

    groups = kubernetes.client.ApisApi(client).get_api_versions()
    assert "workloads.example.com" in [g.name for g in groups.groups]
    resources = kubernetes.client.CoreV1Api(client).get_api_resources()
    names = {r.name: r for r in resources.resources}
    assert "pods/log" in names and "watch" in names["pods"].verbs
    assert kubernetes.client.VersionApi(client).get_code().major == "1"


def test_python_side_state_access(api):
    api.create(parallel_job("a"))
    api.patch("paralleljobs", "a", {"status": {"phase": "Running"}}, subresource="status")
    assert api.get("paralleljobs", "a")["status"]["phase"] == "Running"
    assert [o["metadata"]["name"] for o in api.list("paralleljobs", namespace=None)] == ["a"]
    api.delete("paralleljobs", "a")
    assert api.get("paralleljobs", "a") is None
