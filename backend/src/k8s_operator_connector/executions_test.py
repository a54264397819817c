"""Reading a Flyte execution's state from its FlyteWorkflow (facts cited in executions.py:
flyteorg/flyte v1.16.8, commit 51877f899c9f95e0cb5efe90444eb0c6c6ea48a9)."""

from __future__ import annotations

from typing import Any

import pytest

from k8s_operator_connector.executions import (
    FLYTE_WORKFLOWS,
    Execution,
    ExecutionOwners,
    execution_name,
    owner_reference,
    read_execution,
    workflow_state,
)
from k8s_operator_connector.kube_api import KubeApiError, ResourceType
from k8s_operator_connector.settings import parse_settings
from k8s_operator_connector.settings_reader import SettingsError


def test_the_flyteworkflow_resource_is_the_one_flyte_charts_install():
    # charts/flyte-core/templates/propeller/crds/flyteworkflow.yaml: flyteworkflows.flyte.lyft.com, v1alpha1.
    assert (FLYTE_WORKFLOWS.group, FLYTE_WORKFLOWS.version, FLYTE_WORKFLOWS.plural) == (
        "flyte.lyft.com",
        "v1alpha1",
        "flyteworkflows",
    )
    assert FLYTE_WORKFLOWS.path("flytesnacks-development", "a1b2c3") == (
        "/apis/flyte.lyft.com/v1alpha1/namespaces/flytesnacks-development/flyteworkflows/a1b2c3"
    )


@pytest.mark.parametrize(
    ("owner", "execution"),
    [
        ("flytesnacks/development/a1b2c3/n0/0", "a1b2c3"),
        ("flytesnacks/development/a1b2c3/n0-0-dn1/2", "a1b2c3"),
        ("local/s3://bucket/out/", ""),
        ("", ""),
        ("p/d/ex/n0", ""),
        ("p/d/Not_A_Name/n0/0", ""),
        ("p/d/a1b2c3\n/n0/0", ""),
    ],
)
def test_the_execution_name_comes_from_the_ownership_annotation(owner: str, execution: str):
    assert execution_name(owner) == execution


@pytest.mark.parametrize(
    ("workflow", "state"),
    [
        ({"metadata": {"uid": "u"}}, Execution.ALIVE),
        ({"metadata": {"uid": "u"}, "status": {"phase": 1}}, Execution.ALIVE),  # Running
        ({"metadata": {"uid": "u"}, "status": {"phase": 7}}, Execution.ALIVE),  # HandlingFailureNode
        ({"metadata": {"uid": "u"}, "status": {"phase": 3}}, Execution.GONE),  # Success
        ({"metadata": {"uid": "u"}, "status": {"phase": 5}}, Execution.GONE),  # Failed
        ({"metadata": {"uid": "u"}, "status": {"phase": 6}}, Execution.GONE),  # Aborted
        ({"metadata": {"uid": "u", "deletionTimestamp": "2026-11-30T10:00:00Z"}}, Execution.GONE),
        ({"metadata": {"uid": "u"}, "status": {"phase": "3"}}, Execution.ALIVE),  # not propeller's int
        ({"metadata": {"uid": "u"}, "status": {"phase": True}}, Execution.ALIVE),
        ({"metadata": {"uid": "u"}, "status": ["junk"]}, Execution.ALIVE),
    ],
)
def test_an_execution_is_gone_when_its_flyteworkflow_is_being_deleted_or_terminal(workflow: dict, state: Execution):
    assert workflow_state(workflow).state is state


class OneAnswer:
    def __init__(self, answer: dict[str, Any] | KubeApiError) -> None:
        self.answer = answer

    def get(self, resource: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        assert resource == FLYTE_WORKFLOWS
        if isinstance(self.answer, KubeApiError):
            raise self.answer
        return self.answer


@pytest.mark.parametrize(
    ("error", "state"),
    [
        # kube-apiserver's NotFound for an object names it; for a path it does not serve it does not.
        (KubeApiError(404, "NotFound", 'flyteworkflows.flyte.lyft.com "ex1" not found'), Execution.GONE),
        (KubeApiError(404, "NotFound", "404 page not found"), Execution.UNKNOWN),
        (KubeApiError(404, "NotFound", "the server could not find the requested resource"), Execution.UNKNOWN),
        (KubeApiError(403, "Forbidden", "cannot get resource flyteworkflows"), Execution.UNKNOWN),
        (KubeApiError(503, "ServiceUnavailable", "etcd"), Execution.UNKNOWN),
        (KubeApiError(0, "Unreachable", "connection refused"), Execution.UNKNOWN),
    ],
)
def test_only_a_flyteworkflow_that_is_not_found_means_gone(error: KubeApiError, state: Execution):
    assert read_execution(OneAnswer(error), "ns", "ex1").state is state  # type: ignore[arg-type]


def test_a_live_flyteworkflow_gives_its_uid_for_the_owner_reference():
    found = read_execution(OneAnswer({"metadata": {"uid": "wf-uid"}}), "ns", "ex1")  # type: ignore[arg-type]
    assert (found.state, found.uid) == (Execution.ALIVE, "wf-uid")
    assert owner_reference("ex1", found.uid) == {
        "apiVersion": "flyte.lyft.com/v1alpha1",
        "kind": "FlyteWorkflow",
        "name": "ex1",
        "uid": "wf-uid",
    }


def test_the_executions_settings_are_checked():
    settings = parse_settings({"executions": {"ownerReferences": True, "orphanGraceSeconds": 30}}).executions
    assert (settings.owner_references, settings.orphan_sweep, settings.orphan_grace_seconds) == (True, True, 30)
    with pytest.raises(SettingsError, match="executions.orphanSweep must be bool"):
        parse_settings({"executions": {"orphanSweep": "yes"}})
    with pytest.raises(SettingsError, match="executions.orphanGraceSeconds must be >= 0"):
        parse_settings({"executions": {"orphanGraceSeconds": -1}})
    with pytest.raises(SettingsError, match="unknown key 'executions.ownerReference'"):
        parse_settings({"executions": {"ownerReference": True}})


class CountingApi(OneAnswer):
    def __init__(self, answer: dict[str, Any] | KubeApiError) -> None:
        super().__init__(answer)
        self.reads = 0

    def get(self, resource: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        self.reads += 1
        return super().get(resource, namespace, name)


def test_execution_owners_read_each_execution_once_per_ttl_and_never_keep_a_failure():
    clock = [0.0]
    api = CountingApi({"metadata": {"uid": "wf-uid"}})
    owners = ExecutionOwners(lambda: api, ttl_seconds=300, clock=lambda: clock[0])  # type: ignore[arg-type,return-value]
    assert owners.reference("ns", "ex1") == owner_reference("ex1", "wf-uid")
    clock[0] = 299
    assert owners.reference("ns", "ex1") is not None and api.reads == 1
    clock[0] = 300
    assert owners.reference("ns", "ex1") is not None and api.reads == 2
    api.answer = KubeApiError(404, "NotFound", 'flyteworkflows.flyte.lyft.com "ex2" not found')
    assert owners.reference("ns", "ex2") is None
    assert owners.reference("ns", "ex2") is None and api.reads == 4


@pytest.mark.parametrize(
    ("workflow", "reason", "uid"),
    [
        ({"metadata": {"uid": "u"}}, "", "u"),
        ({"metadata": {}}, "", ""),
        (
            {"metadata": {"uid": "u", "deletionTimestamp": "2026-11-30T10:00:00Z"}},
            "its FlyteWorkflow is being deleted (the execution was aborted)",
            "u",
        ),
        ({"metadata": {"uid": "u"}, "status": {"phase": 5}}, "its FlyteWorkflow is terminal (phase 5)", "u"),
    ],
)
def test_the_state_says_why_and_carries_the_uid(workflow: dict, reason: str, uid: str):
    found = workflow_state(workflow)
    assert (found.reason, found.uid) == (reason, uid)


class Recording(OneAnswer):
    def __init__(self, answer: dict[str, Any] | KubeApiError) -> None:
        super().__init__(answer)
        self.asked: list[tuple[str, str]] = []

    def get(self, resource: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        self.asked.append((namespace, name))
        return super().get(resource, namespace, name)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            KubeApiError(404, "NotFound", 'flyteworkflows.flyte.lyft.com "ex1" not found'),
            "its FlyteWorkflow does not exist",
        ),
        (
            KubeApiError(404, "NotFound", "404 page not found"),
            "the API server does not serve flyteworkflows.flyte.lyft.com: ",
        ),
        (
            KubeApiError(403, "Forbidden", "cannot get resource flyteworkflows"),
            "forbidden to get flyteworkflows.flyte.lyft.com (grant the connector get on them): ",
        ),
        (KubeApiError(503, "ServiceUnavailable", "etcd"), "could not read FlyteWorkflow ns/ex1: "),
    ],
)
def test_each_unreadable_state_says_why(error: KubeApiError, reason: str):
    api = Recording(error)
    found = read_execution(api, "ns", "ex1")  # type: ignore[arg-type]
    assert api.asked == [("ns", "ex1")]
    assert found.reason.startswith(reason)
    assert found.reason == reason or found.reason.endswith(str(error))


def test_a_cached_reference_carries_the_uid_until_the_ttl_from_when_it_was_read():
    clock = [1000.0]
    api = Recording({"metadata": {"uid": "wf-uid"}})
    owners = ExecutionOwners(lambda: api, clock=lambda: clock[0])  # type: ignore[arg-type,return-value]
    owners.reference("ns", "ex1")
    clock[0] = 1299.0
    assert owners.reference("ns", "ex1") == owner_reference("ex1", "wf-uid") and api.asked == [("ns", "ex1")]
    clock[0] = 1300.0  # the default ttl: 300 s
    owners.reference("ns", "ex1")
    assert api.asked == [("ns", "ex1")] * 2


def test_the_cache_keeps_the_most_recent_executions_up_to_its_bound():
    api = CountingApi({"metadata": {"uid": "wf-uid"}})
    owners = ExecutionOwners(lambda: api, max_entries=2, clock=lambda: 0.0)  # type: ignore[arg-type,return-value]
    for execution in ("ex1", "ex2", "ex3", "ex3", "ex2"):
        owners.reference("ns", execution)
    assert api.reads == 3
    owners.reference("ns", "ex1")  # the oldest was dropped
    assert api.reads == 4


def test_the_owner_reference_is_added_beside_the_manifests_own():
    from k8s_operator_connector.executions import with_owner_reference

    reference = owner_reference("ex1", "wf-uid")
    mine = {"apiVersion": "v1", "kind": "ConfigMap", "name": "cm", "uid": "cm-uid"}
    manifest: dict[str, Any] = {
        "kind": "Job",
        "metadata": {"name": "j", "ownerReferences": [mine, {**reference, "name": "stale"}]},
    }
    added = with_owner_reference(manifest, reference)
    assert added["metadata"] == {"name": "j", "ownerReferences": [mine, reference]}
    assert manifest["metadata"]["ownerReferences"] == [mine, {**reference, "name": "stale"}]  # the input is kept
    assert with_owner_reference({"kind": "Job"}, reference) == {
        "kind": "Job",
        "metadata": {"ownerReferences": [reference]},
    }


def test_a_live_flyteworkflow_without_a_uid_gets_no_reference_and_the_log_says_why(caplog):
    api = CountingApi({"metadata": {}})
    owners = ExecutionOwners(lambda: api)  # type: ignore[arg-type,return-value]
    with caplog.at_level("WARNING", logger="k8s_operator_connector.executions"):
        assert owners.reference("ns", "ex3") is None
    assert caplog.records[-1].getMessage() == "no owner reference to execution ns/ex3: its FlyteWorkflow has no uid"
