from __future__ import annotations

from kube_emulator.testing.parallel_jobs import GROUP, PLURAL, VERSION, parallel_job


def _owned_by(owner: dict, name: str, kind: str = "ConfigMap") -> dict:
    metadata = owner["metadata"]
    return {
        "metadata": {
            "name": name,
            "ownerReferences": [
                {
                    "apiVersion": owner["apiVersion"],
                    "kind": owner["kind"],
                    "name": metadata["name"],
                    "uid": metadata["uid"],
                    "blockOwnerDeletion": True,
                }
            ],
        }
    }


def test_finalizers_keep_the_object_until_removed(api, custom):
    body = parallel_job("a", finalizers=["example.com/cleanup"])
    custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)
    custom.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "a")
    deleting = custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "a")
    assert deleting["metadata"]["deletionTimestamp"]
    custom.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "a", {"metadata": {"finalizers": None}})
    assert api.get(PLURAL, "a") is None


def test_no_new_finalizers_while_deleting(custom):
    import pytest
    from kubernetes.client import ApiException  # type: ignore[import-untyped]

    custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, parallel_job("a", finalizers=["x/y"]))
    custom.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "a")
    with pytest.raises(ApiException) as raised:
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, "a", {"metadata": {"finalizers": ["x/y", "x/z"]}}
        )
    assert raised.value.status == 422


def test_garbage_collection_cascades(api, core, custom):
    owner = custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, parallel_job("owner"))
    child = core.create_namespaced_config_map("default", _owned_by(owner, "child"))
    child_dict = api.get("configmaps", "child")
    core.create_namespaced_secret("default", _owned_by(child_dict, "grandchild"))
    core.create_namespaced_config_map("default", {"metadata": {"name": "unrelated"}})
    custom.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "owner")
    assert child.metadata.name == "child"
    assert api.get("configmaps", "child") is None
    assert api.get("secrets", "grandchild") is None
    assert api.get("configmaps", "unrelated") is not None


def test_dependent_with_another_live_owner_survives(api, core, custom):
    first = custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, parallel_job("first"))
    second = custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, parallel_job("second"))
    body = _owned_by(first, "shared")
    body["metadata"]["ownerReferences"] += _owned_by(second, "shared")["metadata"]["ownerReferences"]
    core.create_namespaced_config_map("default", body)
    custom.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "first")
    assert api.get("configmaps", "shared") is not None


def test_a_dependent_created_after_its_owner_is_gone_is_collected(api, core, custom):
    # The race a controller loses: it read the owner, the owner was deleted, then it created a
    # dependent naming the owner's uid. The collector deletes it, and its own dependents with it.
    owner = custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, parallel_job("owner"))
    custom.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "owner")
    created = core.create_namespaced_config_map("default", _owned_by(owner, "late"))
    assert created.metadata.name == "late" and created.metadata.uid  # the create itself succeeds
    assert api.get("configmaps", "late") is None
    survivor = custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, parallel_job("alive"))
    body = _owned_by(owner, "shared")
    body["metadata"]["ownerReferences"] += _owned_by(survivor, "shared")["metadata"]["ownerReferences"]
    core.create_namespaced_config_map("default", body)
    assert api.get("configmaps", "shared") is not None  # one live owner is enough


def test_orphan_policy_keeps_dependents_without_the_owner_reference(api, core, custom):
    owner = custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, parallel_job("owner"))
    core.create_namespaced_config_map("default", _owned_by(owner, "child"))
    custom.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "owner", propagation_policy="Orphan")
    child = api.get("configmaps", "child")
    assert child is not None and "ownerReferences" not in child["metadata"]


def test_foreground_waits_for_dependents_with_finalizers(api, core, custom):
    owner = custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, parallel_job("owner"))
    body = _owned_by(owner, "child")
    body["metadata"]["finalizers"] = ["example.com/slow"]
    core.create_namespaced_config_map("default", body)
    custom.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "owner", propagation_policy="Foreground")
    waiting = api.get(PLURAL, "owner")
    assert waiting["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert api.get("configmaps", "child")["metadata"]["deletionTimestamp"]
    core.patch_namespaced_config_map("child", "default", {"metadata": {"finalizers": None}})
    assert api.get("configmaps", "child") is None
    assert api.get(PLURAL, "owner") is None


def test_bare_job_delete_orphans_pods_like_batch_v1(api, batch, core):
    job = batch.create_namespaced_job(
        "default",
        {
            "metadata": {"name": "j"},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}},
        },
    )
    job_dict = api.get("jobs", "j")
    assert job.spec.template.metadata.labels["job-name"] == "j"
    pod = _owned_by(job_dict, "j-abcde")
    pod["spec"] = {"containers": [{"name": "c", "image": "x"}]}
    core.create_namespaced_pod("default", pod)
    batch.delete_namespaced_job("j", "default")
    assert api.get("pods", "j-abcde") is not None
    batch.create_namespaced_job(
        "default",
        {
            "metadata": {"name": "k"},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}},
        },
    )
    pod = _owned_by(api.get("jobs", "k"), "k-abcde")
    pod["spec"] = {"containers": [{"name": "c", "image": "x"}]}
    core.create_namespaced_pod("default", pod)
    batch.delete_namespaced_job("k", "default", propagation_policy="Background")
    assert api.get("pods", "k-abcde") is None


def test_deleting_a_namespace_deletes_its_objects(api, core):
    core.create_namespace({"metadata": {"name": "gone"}})
    core.create_namespaced_config_map("gone", {"metadata": {"name": "c"}})
    core.delete_namespace("gone")
    assert api.get("configmaps", "c", namespace="gone") is None


def test_a_uid_precondition_deletes_only_that_object(api, custom):
    """DeleteOptions.preconditions.uid: a replacement under the same name answers 409 Conflict and
    stays, as kube-apiserver does (k8s.io/apiserver/pkg/storage Preconditions.Check in the etcd3
    store: "Precondition failed: UID in precondition: ..., UID in object meta: ...")."""
    import pytest
    from kubernetes.client import ApiException, V1DeleteOptions, V1Preconditions  # type: ignore[import-untyped]

    first = custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, parallel_job("a"))
    custom.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "a")
    custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, parallel_job("a"))
    stale = V1DeleteOptions(preconditions=V1Preconditions(uid=first["metadata"]["uid"]))
    with pytest.raises(ApiException) as raised:
        custom.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "a", body=stale)
    assert raised.value.status == 409
    assert "Precondition failed: UID in precondition" in raised.value.body
    replacement = api.get(PLURAL, "a")
    assert replacement is not None and replacement["metadata"]["uid"] != first["metadata"]["uid"]
    current = V1DeleteOptions(preconditions=V1Preconditions(uid=replacement["metadata"]["uid"]))
    custom.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "a", body=current)
    assert api.get(PLURAL, "a") is None
