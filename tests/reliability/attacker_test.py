"""The connector as a trusted deputy, attacked over gRPC as a caller inside the cluster would.

An attacker who reaches the port sends hand-made resource metas and CreateTasks. Each
attempt gets a clear refusal, the emulator's request log shows no call on the named object
(nothing read for it, created or deleted), and a good task right after still succeeds.
The results are listed in docs/reliability.md ("The connector as a trusted deputy").
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from flyteidl.core.execution_pb2 import TaskExecution
from flytekit.models import task as task_models

from k8s_operator_connector.meta_signing import MetaSigner
from k8s_operator_connector.testing.signing_keys import signer_for_tests
from kube_emulator import wait_until
from reliability.bad_input_test import assert_still_serving
from reliability.conftest import Served
from reliability.harness import NAMESPACE, PARALLEL_JOBS, ConnectorProcess, connector_config, create_request

ATTACKER_KEY = b"attacker-guessed-key-0123456789abcdef0123"


def meta_document(kind: str, plural: str, group: str, version: str, namespace: str, name: str, **extra: Any) -> dict:
    document = {
        "group": group,
        "version": version,
        "plural": plural,
        "kind": kind,
        "namespace": namespace,
        "name": name,
        "uid": "",
        "task_execution_id": "flytesnacks/development/x/n0/0",
        "failure_phase": 0,
        "failure_message": "",
        "awaiting_quota": False,
    }
    return {**document, **extra}


def canonical(document: dict) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def victim_config_map(served: Served, name: str, namespace: str = "kube-system") -> dict:
    return served.api.create(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}, "data": {}}
    )


def requests_naming(served: Served, name: str) -> list[Any]:
    return [record for record in served.api.requests.recent() if record.name == name]


def refused(call: Callable[[], Any], phrase: str) -> str:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    details = raised.value.details() or ""
    assert phrase in details, details
    return details


def assert_get_and_delete_refused(served: Served, task_type: str, meta: bytes, phrase: str) -> None:
    refused(lambda: served.client.get(task_type, meta), phrase)
    refused(lambda: served.client.delete(task_type, meta), phrase)


# -- forged, altered, replayed and oversized metas -----------------------------------------------


def test_a_forged_meta_cannot_delete_or_read_a_config_map(served: Served):
    victim_config_map(served, "cluster-settings")
    document = meta_document("ConfigMap", "configmaps", "", "v1", "kube-system", "cluster-settings")
    unsigned = canonical(document)
    signed_by_attacker = MetaSigner("required", (ATTACKER_KEY,)).seal("parallel_job", unsigned)
    assert_get_and_delete_refused(served, "parallel_job", unsigned, "not signed, so refused")
    assert_get_and_delete_refused(served, "parallel_job", signed_by_attacker, "signature does not verify")
    assert served.api.get("configmaps", "cluster-settings", "kube-system") is not None
    assert requests_naming(served, "cluster-settings") == [], "the connector made a call on the victim"
    assert_still_serving(served, "forged-then-good")


def test_an_altered_meta_is_refused_and_the_original_still_works(served: Served):
    run = served.client.start_task(create_request(execution="altered"))
    victim = next(o for o in served.api.list(PARALLEL_JOBS, NAMESPACE) if "altered" in o["metadata"]["name"])
    other = served.client.start_task(create_request(execution="altered-other"))
    other_name = next(
        o["metadata"]["name"]
        for o in served.api.list(PARALLEL_JOBS, NAMESPACE)
        if "altered-other" in o["metadata"]["name"]
    )
    altered = run.resource_meta.replace(victim["metadata"]["name"].encode(), other_name.encode())
    assert altered != run.resource_meta
    before = len(requests_naming(served, other_name))
    assert_get_and_delete_refused(served, "parallel_job", altered, "signature does not verify")
    assert len(requests_naming(served, other_name)) == before
    assert served.api.get(PARALLEL_JOBS, other_name, NAMESPACE) is not None
    assert served.client.get("parallel_job", run.resource_meta).phase  # the genuine meta still answers
    served.client.abort(other)
    served.client.abort(run)


def test_a_meta_replayed_for_another_task_type_is_refused(served: Served):
    run = served.client.start_task(create_request(execution="replayed"))
    name = next(
        o["metadata"]["name"] for o in served.api.list(PARALLEL_JOBS, NAMESPACE) if "replayed" in o["metadata"]["name"]
    )
    before = len(requests_naming(served, name))
    assert_get_and_delete_refused(served, "custom_resource", run.resource_meta, "for task type custom_resource")
    assert len(requests_naming(served, name)) == before
    assert served.api.get(PARALLEL_JOBS, name, NAMESPACE) is not None
    served.client.abort(run)


def test_an_oversized_meta_is_refused_before_it_is_parsed(served: Served):
    huge = (
        b"hmac-sha256:"
        + b"0" * 64
        + b":"
        + canonical(meta_document("ConfigMap", "configmaps", "", "v1", "kube-system", "x" * 20_000))
    )
    assert_get_and_delete_refused(served, "parallel_job", huge, "more than the 16384 allowed")
    assert_still_serving(served, "oversized-then-good")


# -- start-up --------------------------------------------------------------------------------------


def config_without_key(served: Served) -> dict:
    config = connector_config(served.kubeconfig)
    config["metaSigning"] = {"mode": "required", "keysPath": str(served.work_dir / "no-such-keys")}
    return config


def test_the_connector_refuses_to_start_without_its_signing_key(served: Served):
    """The bundle's server (python -m k8s_operator_connector.serve) stops at start."""
    process = ConnectorProcess(served.work_dir, config_without_key(served), label="no-key", serve_module=True)
    try:
        with pytest.raises(RuntimeError, match="exited with") as raised:
            process.start(timeout=120)
    finally:
        process.stop()
    assert "not serving: " in str(raised.value)
    assert "metaSigning.keysPath" in str(raised.value)
    assert "no signing key found" in str(raised.value)


def test_without_its_key_plain_pyflyte_serve_refuses_every_call_naming_the_setting(served: Served):
    """Under `pyflyte serve connector` the connectors are imported like any flytekit plugin (so
    `pyflyte run` and `package` must not need the key); every call then fails, touching nothing."""
    process = ConnectorProcess(served.work_dir, config_without_key(served), label="no-key-pyflyte").start()
    client = process.client()
    try:
        creates_before = served.api.requests.count(verb="create")
        deletes_before = served.api.requests.count(verb="delete")
        details = refused(lambda: client.create(create_request(execution="no-key")), "metaSigning.keysPath")
        assert "no signing key found" in details
        meta = signer_for_tests().seal(
            "parallel_job",
            canonical(meta_document("ParallelJob", "paralleljobs", "workloads.example.com", "v1", NAMESPACE, "x")),
        )
        refused(lambda: client.get("parallel_job", meta), "metaSigning.keysPath")
        refused(lambda: client.delete("parallel_job", meta), "metaSigning.keysPath")
        assert served.api.requests.count(verb="create") == creates_before
        assert served.api.requests.count(verb="delete") == deletes_before
        process.check_alive()
    finally:
        client.close()
        process.stop()


# -- only Flyte's own objects, even behind a valid signature -----------------------------------
# The tests know the connector's key, as an attacker who stole it would: these cases show the
# second line of defence (kind, ownership annotation, uid), not the signature.


def leaked_key_meta(task_type: str, document: dict) -> bytes:
    return signer_for_tests().seal(task_type, canonical(document))


def requests_deleting(served: Served, name: str) -> list[Any]:
    return [record for record in requests_naming(served, name) if record.verb == "delete"]


def test_with_a_leaked_key_a_config_map_is_still_out_of_reach(served: Served):
    victim_config_map(served, "leaked-key-victim", NAMESPACE)
    document = meta_document("ConfigMap", "configmaps", "", "v1", NAMESPACE, "leaked-key-victim")
    for task_type in ("parallel_job", "custom_resource"):
        assert_get_and_delete_refused(served, task_type, leaked_key_meta(task_type, document), "act only on")
    assert served.api.get("configmaps", "leaked-key-victim", NAMESPACE) is not None
    assert requests_naming(served, "leaked-key-victim") == []


def foreign(served: Served, kind: str, name: str) -> dict:
    if kind == "ParallelJob":
        body = {"apiVersion": "workloads.example.com/v1alpha1", "kind": "ParallelJob", "spec": {"workers": 1}}
    else:
        pod = {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}
        body = {"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": pod}}}
    body["metadata"] = {"name": name, "namespace": NAMESPACE}
    return served.api.create(body)


@pytest.mark.parametrize(
    ("task_type", "kind", "plural", "group", "version"),
    [
        ("parallel_job", "ParallelJob", "paralleljobs", "workloads.example.com", "v1alpha1"),
        ("custom_resource", "Job", "jobs", "batch", "v1"),  # allowlisted, but not created by Flyte
    ],
    ids=["someone-elses-paralleljob", "allowlisted-job-not-from-flyte"],
)
def test_with_a_leaked_key_objects_flyte_did_not_create_are_not_read_or_deleted(
    served: Served, task_type, kind, plural, group, version
):
    name = f"foreign-{plural}"
    created = foreign(served, kind, name)
    document = meta_document(kind, plural, group, version, NAMESPACE, name, uid=created["metadata"]["uid"])
    meta = leaked_key_meta(task_type, document)
    assert_get_and_delete_refused(served, task_type, meta, "belongs to nothing Flyte created")
    assert served.api.get(plural, name, NAMESPACE) is not None
    assert requests_deleting(served, name) == []
    assert_still_serving(served, f"foreign-{plural}-then-good")


def test_migrate_mode_accepts_unsigned_metas_only_for_flytes_own_objects(served_factory):
    """metaSigning.mode: migrate admits unsigned metas (made before signing was enabled): the kind
    and ownership checks are then what stands between a forged meta and the cluster."""
    migrating = served_factory()
    migrating.connector.config["metaSigning"]["mode"] = "migrate"
    migrating.restart_connector(crash=False)
    run = migrating.client.start_task(create_request(execution="premigration"))
    payload = run.resource_meta.split(b":", 2)[2]  # the same meta as an older connector wrote it, unsigned
    assert migrating.client.get("parallel_job", payload).phase
    victim_config_map(migrating, "migrate-victim", NAMESPACE)
    config_map = meta_document("ConfigMap", "configmaps", "", "v1", NAMESPACE, "migrate-victim")
    assert_get_and_delete_refused(migrating, "parallel_job", canonical(config_map), "act only on")
    foreign(migrating, "ParallelJob", "migrate-foreign")
    stranger = meta_document("ParallelJob", "paralleljobs", "workloads.example.com", "v1alpha1", NAMESPACE,
                             "migrate-foreign")  # fmt: skip
    assert_get_and_delete_refused(migrating, "parallel_job", canonical(stranger), "belongs to nothing Flyte created")
    assert requests_deleting(migrating, "migrate-foreign") == []
    assert migrating.api.get(PARALLEL_JOBS, "migrate-foreign", NAMESPACE) is not None
    migrating.client.delete("parallel_job", payload)  # its own object: the abort works
    wait_until(
        lambda: not [o for o in migrating.api.list(PARALLEL_JOBS, NAMESPACE) if "premigration" in o["metadata"]["name"]]
    )
    assert "accepted an unsigned parallel_job resource_meta" in migrating.connector.log_text()


# -- CreateTask: namespaces, service accounts and pod privileges by policy ------------------------


def pod_template(**spec: Any) -> task_models.K8sPod:
    primary = {"name": "primary", "image": "ghcr.io/example/demo:1", "args": ["pyflyte-execute"]}
    containers = spec.pop("containers", [primary])
    return task_models.K8sPod(metadata=task_models.K8sObjectMetadata(), pod_spec={"containers": containers, **spec})


def privileged_container() -> dict:
    return {"name": "primary", "image": "busybox", "args": ["sh"], "securityContext": {"privileged": True}}


def with_service_account(request: Any, account: str) -> Any:
    request.task_execution_metadata.k8s_service_account = account
    return request


CREATE_ATTACKS = [
    # (id, request, phrases the FAILED message must hold)
    ("kube-system", lambda ex: create_request(execution=ex, namespace="kube-system"),
     ["namespace 'kube-system' is not admitted", "taskPolicy.namespaces", "admitted only when listed by name"]),
    ("another-project-namespace", lambda ex: create_request(execution=ex, namespace="payments-production"),
     ["namespace 'payments-production' is not admitted", "the templates give flytesnacks-development"]),
    ("foreign-service-account",
     lambda ex: with_service_account(create_request(execution=ex), "clusterrole-aggregation-controller"),
     ["task_execution_metadata.k8s_service_account: service account 'clusterrole-aggregation-controller'",
      "taskPolicy.serviceAccounts"]),
    ("pod-template-service-account",
     lambda ex: create_request(execution=ex, k8s_pod=pod_template(serviceAccountName="admin"),
                               config={"primary_container_name": "primary"}),
     ["spec.template.spec.serviceAccountName: service account 'admin'", "taskPolicy.serviceAccounts"]),
    ("privileged-pod-template",
     lambda ex: create_request(execution=ex, k8s_pod=pod_template(containers=[privileged_container()]),
                               config={"primary_container_name": "primary"}),
     ["spec.template.spec.containers[0].securityContext.privileged: must not be true (privileged)",
      "podSecurity.level"]),
    ("host-network",
     lambda ex: create_request(execution=ex, k8s_pod=pod_template(hostNetwork=True),
                               config={"primary_container_name": "primary"}),
     ["spec.template.spec.hostNetwork: must not be true (hostNamespaces)", "baseline Pod Security Standard"]),
    ("host-path",
     lambda ex: create_request(execution=ex, config={"primary_container_name": "primary"},
                               k8s_pod=pod_template(volumes=[{"name": "node", "hostPath": {"path": "/"}}])),
     ["spec.template.spec.volumes[0].hostPath: hostPath volumes are forbidden (hostPathVolumes)"]),
    ("privileged-custom-resource-job",
     lambda ex: create_request(
         task_type="custom_resource", execution=ex, with_container=False,
         custom={"manifest": {"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": {
             "hostPID": True, "restartPolicy": "Never", "containers": [privileged_container()]}}}},
             "successCondition": "object.status.succeeded >= 1"}),
     ["spec.template.spec.hostPID: must not be true", "spec.template.spec.containers[0].securityContext.privileged"]),
]  # fmt: skip


@pytest.mark.parametrize(("case", "make", "phrases"), CREATE_ATTACKS, ids=[c[0] for c in CREATE_ATTACKS])
def test_create_task_refused_by_policy_creates_nothing(served: Served, case, make, phrases):
    execution = f"atk-{zlib.crc32(case.encode()) % 10**6}"  # short: names keep it whole
    creates_before = served.api.requests.count(verb="create")
    request = make(execution)
    run = served.client.start_task(request)
    resource = served.client.get(request.template.type, run.resource_meta)
    assert resource.phase == TaskExecution.FAILED, resource  # permanent: a retry would be refused alike
    for phrase in phrases:
        assert phrase in resource.message, resource.message
    assert served.api.requests.count(verb="create") == creates_before, "the connector created something"
    assert not [o for o in served.api.list(PARALLEL_JOBS) if execution in o["metadata"]["name"]]
    assert not [o for o in served.api.list("jobs") if execution in o["metadata"]["name"]]
    served.client.abort(run)  # aborting a refused task is harmless
    assert_still_serving(served, f"{execution}-then-good")
