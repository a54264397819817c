"""Bad input through gRPC: a clear error naming the field, and the server keeps serving.

A task whose config is wrong is not a server error: CreateTask answers a resource_meta that
records the failure (no object is created) and GetTask answers FAILED with a message that
names the field. Requests the connector cannot even route or decode are gRPC errors.
"""

from __future__ import annotations

import json

import grpc
import pytest
from flyteidl.core.execution_pb2 import TaskExecution
from flytekit.models.literals import LiteralMap

from k8s_operator_connector.testing.flyte_models import blob_literal, str_literal
from reliability.conftest import Served
from reliability.harness import NAMESPACE, create_request, parallel_jobs, set_status

JOB_MANIFEST = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"labels": {"app": "demo"}},
    "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox", "args": ["echo", "hi"]}]}}},
}


def custom_resource(manifest: dict, **extra: str) -> dict:
    return {"manifest": manifest, "successCondition": "object.status.succeeded >= 1", **extra}


def assert_still_serving(served: Served, execution: str) -> None:
    """A good task right after the bad one: created, observed, finished."""
    run = served.client.start_task(create_request(execution=execution))
    name = next(o["metadata"]["name"] for o in parallel_jobs(served.api) if execution in o["metadata"]["name"])
    set_status(served.api, name, "Succeeded")
    assert served.client.poll_until_terminal(run).phase == TaskExecution.SUCCEEDED


def failed_task(served: Served, request) -> str:
    """CreateTask (twice) then GetTask: FAILED without an object; returns the message."""
    before = len(parallel_jobs(served.api)) + len(served.api.list("jobs", NAMESPACE))
    run = served.client.start_task(request)
    resource = served.client.get(request.template.type, run.resource_meta)
    assert resource.phase == TaskExecution.FAILED, resource
    assert len(parallel_jobs(served.api)) + len(served.api.list("jobs", NAMESPACE)) == before
    served.client.abort(run)  # aborting a task that never made an object is harmless
    return resource.message


CASES = [
    # (id, task type, custom, inputs, the field the message must name, and a phrase)
    ("not-the-message", "parallel_job", {"replicas": 3}, None, "custom.replicas:", "not a flyte_k8s_operator.v1"),
    ("wrong-type", "parallel_job", {"workers": "many"}, None, "custom.workers:", "not a flyte_k8s_operator.v1"),
    ("missing", "parallel_job", {}, None, "custom:", "missing"),
    ("workers-0", "parallel_job", {"workers": 0}, None, "custom.workers:", "between 1 and 1000"),
    ("workers-1001", "parallel_job", {"workers": 1001}, None, "custom.workers:", "between 1 and 1000"),
    ("restarts", "parallel_job", {"workers": 1, "maxRestarts": 500}, None, "custom.max_restarts:", "between 0 and 100"),
    ("timeout", "parallel_job", {"workers": 1, "timeoutSeconds": -5}, None, "custom.timeout_seconds:", ">= 0"),
    ("int-overflow", "parallel_job", {"workers": 2**40}, None, "custom.workers:", "not a flyte_k8s_operator.v1"),
    (
        "kind-not-allowed",
        "custom_resource",
        custom_resource({"apiVersion": "v1", "kind": "ConfigMap"}),
        None,
        "custom.manifest.kind:",
        "not on the connector's allowlist",
    ),
    (
        "cluster-scoped",
        "custom_resource",
        custom_resource({"apiVersion": "v1", "kind": "Namespace"}),
        None,
        "custom.manifest.kind:",
        "cluster-scoped",
    ),
    (
        "privileged",
        "custom_resource",
        custom_resource({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding"}),
        None,
        "custom.manifest.kind:",
        "never creates it",
    ),
    (
        "other-namespace",
        "custom_resource",
        custom_resource({**JOB_MANIFEST, "metadata": {"namespace": "kube-system"}}),
        None,
        "custom.manifest.metadata.namespace:",
        "execution's namespace",
    ),
    (
        "bad-label",
        "custom_resource",
        custom_resource({**JOB_MANIFEST, "metadata": {"labels": {"app": "x" * 70}}}),
        None,
        "custom.manifest.metadata.labels.app:",
        "not a valid label value",
    ),
    (
        "bad-condition",
        "custom_resource",
        custom_resource(JOB_MANIFEST, successCondition="object.status.succeeded >>> 1"),
        None,
        "custom.success_condition",
        "",
    ),
    (
        "input-not-primitive",
        "custom_resource",
        custom_resource({**JOB_MANIFEST, "spec": {"file": "{{ inputs.data }}"}}),
        LiteralMap({"data": blob_literal()}),
        "inputs.data:",
        "only primitive inputs",
    ),
    (
        "input-missing",
        "custom_resource",
        custom_resource({**JOB_MANIFEST, "spec": {"word": "{{ inputs.absent }}"}}),
        LiteralMap({"word": str_literal("hi")}),
        "custom.manifest:",
        "absent",
    ),
    (
        "manifest-too-big",
        "custom_resource",
        custom_resource({**JOB_MANIFEST, "spec": {"blob": "x" * 20_000}}),
        None,
        "custom.manifest:",
        "maxManifestBytes",
    ),
]


@pytest.mark.parametrize(
    ("task_type", "custom", "inputs", "field", "phrase"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_invalid_task_fails_naming_the_field_and_server_keeps_serving(
    served: Served, task_type, custom, inputs, field, phrase
):
    execution = f"bad-{abs(hash(json.dumps(custom, sort_keys=True))) % 10**8}"
    request = create_request(
        task_type=task_type,
        execution=execution,
        custom=custom,
        inputs=inputs,
        with_container=task_type == "parallel_job",
    )
    message = failed_task(served, request)
    assert field in message, message
    assert phrase in message, message
    assert_still_serving(served, f"{execution}-then-good")


def test_unregistered_task_type_version_is_not_found(served: Served):
    """flytekit routes CreateTask by (type, version): an unknown version never reaches the plugin."""
    with pytest.raises(grpc.RpcError) as raised:
        served.client.create(create_request(execution="bad-version", version=2))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert "Cannot find connector for task type: parallel_job" in raised.value.details()
    with pytest.raises(grpc.RpcError) as raised:
        served.client.get("parallel_job", b"{}", version=2)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert_still_serving(served, "bad-version-then-good")


def test_unknown_task_type_is_not_found(served: Served):
    with pytest.raises(grpc.RpcError) as raised:
        served.client.create(create_request(task_type="no_such_type", execution="bad-type"))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert "no_such_type" in raised.value.details()
    assert_still_serving(served, "bad-type-then-good")


@pytest.mark.parametrize(
    ("meta", "phrase"),
    [
        (b"\xff\xfe not utf-8", "resource_meta: not a resource meta written by this connector"),
        (b"not json", "resource_meta: not a resource meta written by this connector"),
        (b"[1, 2]", "resource_meta: not a resource meta written by this connector"),
        (b'{"group": "g"}', "resource_meta: not signed, so refused"),
        (b"hmac-sha256:" + b"0" * 64 + b":{}", "resource_meta: signature does not verify"),
        (b"{" + b" " * (300 * 1024) + b"}", "more than the 16384 allowed"),
    ],
    ids=["not-utf8", "not-json", "not-object", "unsigned", "bad-signature", "oversized"],
)
def test_undecodable_resource_meta_is_an_error_naming_it(served: Served, meta: bytes, phrase: str):
    for call in (served.client.get, served.client.delete):
        with pytest.raises(grpc.RpcError) as raised:
            call("parallel_job", meta)
        assert raised.value.code() == grpc.StatusCode.INTERNAL
        assert phrase in raised.value.details()
    assert_still_serving(served, f"bad-meta-{len(meta)}-then-good")


def test_oversized_request_is_refused_by_grpc(served: Served):
    """Above gRPC's 4 MiB default the server refuses the message before any connector code."""
    request = create_request(execution="huge", custom={"workers": 1}, container_env={"BIG": "x" * (5 * 1024 * 1024)})
    with pytest.raises(grpc.RpcError) as raised:
        served.client.create(request)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert not [o for o in parallel_jobs(served.api) if "huge" in o["metadata"]["name"]]
    assert_still_serving(served, "huge-then-good")
