"""CreateTask, GetTask and DeleteTask of the connector on the in-memory FakeKubeApi: no HTTP, no
child process. The HTTP suite (tests/connector_integration) covers the same paths over the wire;
these pin each branch and its message, fast enough to run on every change."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from flyteidl.core.execution_pb2 import TaskExecution
from flytekit.extend.backend.base_connector import Resource

from k8s_operator_connector.connector import OperatorConnector
from k8s_operator_connector.kube_api import KubeApiError, ResourceType
from k8s_operator_connector.ownership import Refused
from k8s_operator_connector.plugins.parallel_job import PARALLEL_JOB, ParallelJobPlugin
from k8s_operator_connector.resource_meta import OperatorResourceMeta
from k8s_operator_connector.runtime import ConnectorRuntime
from k8s_operator_connector.settings import ConnectorSettings
from k8s_operator_connector.task_context import TASK_EXECUTION_ANNOTATION
from k8s_operator_connector.task_policy import TaskPolicySettings
from k8s_operator_connector.testing.fake_kube_api import FakeKubeApi
from k8s_operator_connector.testing.flyte_models import make_metadata, make_template
from k8s_operator_connector.testing.signing_keys import signer_for_tests

NAMESPACE = "flytesnacks-development"
SETTINGS = ConnectorSettings(
    default_namespace=NAMESPACE,
    task_policy=TaskPolicySettings(service_accounts=("default", "flyte-worker")),
)
QUOTA = 'paralleljobs.workloads.example.com "x" is forbidden: exceeded quota: team, requested: pods=2'
_WAIT_SECONDS = 30.0  # only how long to wait for a watch event before giving up; never asserted


@dataclass
class Rig:
    api: FakeKubeApi
    runtime: ConnectorRuntime
    connector: OperatorConnector

    async def create(self, **metadata: Any) -> OperatorResourceMeta:
        meta = await self.connector.create(
            make_template(), "s3://bucket/out/", task_execution_metadata=make_metadata(**metadata)
        )
        assert isinstance(meta, OperatorResourceMeta)
        return meta

    async def get(self, meta: OperatorResourceMeta) -> Resource:
        return await self.connector.get(meta)

    async def get_until(self, meta: OperatorResourceMeta, done: Callable[[Resource], bool]) -> Resource:
        """GetTask until ``done`` holds: a watch event reaches the cache on another thread."""
        deadline = asyncio.get_running_loop().time() + _WAIT_SECONDS
        while True:
            resource = await self.get(meta)
            if done(resource) or asyncio.get_running_loop().time() > deadline:
                return resource
            await asyncio.sleep(0.01)

    def status(self, meta: OperatorResourceMeta, **status: Any) -> None:
        self.api.set_status(PARALLEL_JOB, meta.namespace, meta.name, status)


def rig_with(settings: ConnectorSettings = SETTINGS, served: tuple[ResourceType, ...] = (PARALLEL_JOB,)) -> Rig:
    api = FakeKubeApi(served)
    runtime = ConnectorRuntime(settings, api_factory=lambda: api, signer=signer_for_tests())
    return Rig(api, runtime, OperatorConnector(ParallelJobPlugin(), runtime))


@pytest_asyncio.fixture
async def rig() -> AsyncIterator[Rig]:
    made = rig_with()
    yield made
    made.runtime.stop()
    made.api.close()


def phase_is(phase: int) -> Callable[[Resource], bool]:
    return lambda resource: resource.phase == phase


@pytest.mark.asyncio
async def test_create_makes_the_object_and_get_follows_its_status(rig: Rig) -> None:
    meta = await rig.create()
    stored = rig.api.stored(PARALLEL_JOB, NAMESPACE, meta.name)
    assert stored is not None and meta.uid == stored["metadata"]["uid"]
    assert stored["metadata"]["annotations"][TASK_EXECUTION_ANNOTATION] == meta.task_execution_id
    assert (meta.failure_phase, meta.awaiting_quota) == (0, False)
    queued = await rig.get(meta)
    assert (queued.phase, queued.message) == (TaskExecution.QUEUED, "waiting for the ParallelJob operator")
    assert queued.custom_info == {
        "kind": "ParallelJob",
        "namespace": NAMESPACE,
        "name": meta.name,
        "workers": 2,
        "running": 0,
        "pending": 0,
        "succeeded": 0,
        "failed": 0,
    }
    rig.status(meta, phase="Succeeded", workerCounts={"succeeded": 2})
    done = await rig.get_until(meta, phase_is(TaskExecution.SUCCEEDED))
    assert (done.phase, done.message) == (TaskExecution.SUCCEEDED, "2/2 workers succeeded")


@pytest.mark.asyncio
async def test_a_repeated_create_adopts_the_object_it_made(rig: Rig) -> None:
    first = await rig.create()
    again = await rig.create()
    assert (again.name, again.uid, again.failure_phase) == (first.name, first.uid, 0)
    assert [verb for verb, _ in rig.api.requests].count("create") == 2
    assert len(rig.api.list(PARALLEL_JOB, NAMESPACE)[0]) == 1


@pytest.mark.asyncio
async def test_an_object_of_another_owner_under_the_name_is_not_adopted(rig: Rig) -> None:
    meta = await rig.create()
    stored = rig.api.stored(PARALLEL_JOB, NAMESPACE, meta.name)
    assert stored is not None
    stored["metadata"]["annotations"][TASK_EXECUTION_ANNOTATION] = "someone/else/x/n0/0"
    rig.api.put(PARALLEL_JOB, stored)
    refused = await rig.create()
    assert refused.failure_phase == TaskExecution.FAILED
    assert refused.failure_message == (
        f"paralleljobs.workloads.example.com {NAMESPACE}/{meta.name} exists but belongs to someone/else/x/n0/0; "
        "not adopting it"
    )
    failed = await rig.get(refused)
    assert (failed.phase, failed.message) == (TaskExecution.FAILED, refused.failure_message)


@pytest.mark.asyncio
async def test_a_quota_rejection_waits_then_creates_once_quota_frees(rig: Rig) -> None:
    rig.api.add(verb="create", status=403, message=QUOTA, times=2)
    meta = await rig.create()
    assert meta.awaiting_quota and meta.pending_create and not meta.uid
    waiting = await rig.get(meta)  # the retried create meets the quota again
    assert (waiting.phase, waiting.message) == (TaskExecution.WAITING_FOR_RESOURCES, f"waiting for quota: {QUOTA}")
    created = await rig.get(meta)
    assert created.phase == TaskExecution.QUEUED
    assert rig.api.stored(PARALLEL_JOB, NAMESPACE, meta.name) is not None


@pytest.mark.asyncio
async def test_a_quota_wait_from_a_version_that_kept_the_manifest_in_memory_is_a_retryable_failure(
    rig: Rig,
) -> None:
    rig.api.add(verb="create", status=403, message=QUOTA, times=1)
    meta = dataclasses.replace(await rig.create(), pending_create="")  # what such a version issued
    resource = await rig.get(meta)
    assert (resource.phase, resource.message) == (
        TaskExecution.RETRYABLE_FAILED,
        "this task waited for quota under a connector version that kept its manifest in one process's memory, "
        "and that process restarted or another replica answered; a new attempt will create it",
    )


@pytest.mark.asyncio
async def test_a_sealed_manifest_opens_only_for_the_meta_it_was_issued_in(rig: Rig) -> None:
    rig.api.add(verb="create", status=403, message=QUOTA, times=2)
    first = await rig.create(execution="e1")
    second = await rig.create(execution="e2")
    swapped = dataclasses.replace(second, pending_create=first.pending_create)
    resource = await rig.get(swapped)
    assert resource.phase == TaskExecution.RETRYABLE_FAILED
    assert "does not open with any key" in resource.message
    assert rig.api.stored(PARALLEL_JOB, NAMESPACE, second.name) is None


@pytest.mark.asyncio
async def test_a_manifest_too_large_to_carry_fails_retryably_saying_why() -> None:
    rig = rig_with()
    try:
        rig.api.add(verb="create", status=403, message=QUOTA, times=1)
        noise = "".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(600))  # compresses only ~2x
        meta = await rig.connector.create(
            make_template(env={"BIG": noise}), "s3://bucket/out/", task_execution_metadata=make_metadata()
        )
    finally:
        rig.runtime.stop()
    assert meta.failure_phase == TaskExecution.RETRYABLE_FAILED and not meta.awaiting_quota
    assert meta.failure_message.startswith(
        f"waiting for quota in {NAMESPACE}: {QUOTA}; this task cannot wait for quota: "
    )
    assert "a resource meta carries for a quota wait. Raise the quota in" in meta.failure_message
    assert noise not in meta.encode().decode()


@pytest.mark.asyncio
async def test_a_transient_create_failure_reaches_propeller_as_an_error(rig: Rig) -> None:
    rig.api.add(verb="create", status=503, times=1)
    with pytest.raises(KubeApiError) as raised:
        await rig.create()
    assert raised.value.status == 503


@pytest.mark.asyncio
async def test_a_missing_crd_fails_the_task_saying_what_to_install() -> None:
    rig = rig_with(served=())  # the CRD is not installed
    try:
        meta = await rig.create()
    finally:
        rig.runtime.stop()
    assert meta.failure_phase == TaskExecution.FAILED
    assert meta.failure_message.startswith(
        "the API server does not serve paralleljobs.workloads.example.com (version v1alpha1): install its "
        "CustomResourceDefinition"
    )


@pytest.mark.asyncio
async def test_an_object_deleted_outside_flyte_is_a_retryable_failure(rig: Rig) -> None:
    meta = await rig.create()
    rig.status(meta, phase="Running", workers=[{"index": 0, "pod": "p0"}, {"index": 1, "pod": "p1"}])
    await rig.get_until(meta, phase_is(TaskExecution.RUNNING))
    rig.api.remove(PARALLEL_JOB, NAMESPACE, meta.name)
    gone = await rig.get_until(meta, phase_is(TaskExecution.RETRYABLE_FAILED))
    assert (gone.phase, gone.message) == (
        TaskExecution.RETRYABLE_FAILED,
        f"paralleljobs.workloads.example.com {NAMESPACE}/{meta.name} was deleted outside Flyte before it finished",
    )


@pytest.mark.asyncio
async def test_an_object_that_finished_then_vanished_keeps_its_outcome(rig: Rig) -> None:
    meta = await rig.create()
    rig.status(meta, phase="Failed", reason="BackoffLimitExceeded", message="worker 1 failed")
    await rig.get_until(meta, lambda r: r.phase != TaskExecution.QUEUED)
    rig.api.remove(PARALLEL_JOB, NAMESPACE, meta.name)
    await rig.get_until(meta, lambda r: rig.runtime.caches()[0].lookup(meta.key) is None)
    after = await rig.get(meta)
    assert (after.phase, after.message) == (TaskExecution.RETRYABLE_FAILED, "BackoffLimitExceeded: worker 1 failed")


@pytest.mark.asyncio
async def test_a_replaced_object_is_reported_not_followed(rig: Rig) -> None:
    meta = await rig.create()
    replaced = dataclasses.replace(meta, uid="uid-of-the-first-object")
    resource = await rig.get(replaced)
    assert (resource.phase, resource.message) == (
        TaskExecution.RETRYABLE_FAILED,
        f"paralleljobs.workloads.example.com {NAMESPACE}/{meta.name} was replaced outside Flyte (uid changed)",
    )


@pytest.mark.asyncio
async def test_abort_deletes_that_object_and_is_idempotent(rig: Rig) -> None:
    meta = await rig.create()
    await rig.connector.delete(meta)
    assert rig.api.stored(PARALLEL_JOB, NAMESPACE, meta.name) is None
    # A tombstone either way: from the connector's own bookkeeping or the watch's DELETED, whichever came first.
    assert rig.runtime.caches()[0].tombstone(meta.key) is not None
    await rig.connector.delete(meta)  # gone already: done, not an error


@pytest.mark.asyncio
async def test_abort_of_a_replaced_object_leaves_it_alone(rig: Rig) -> None:
    meta = await rig.create()
    await rig.connector.delete(dataclasses.replace(meta, uid="uid-of-the-first-object"))
    assert rig.api.stored(PARALLEL_JOB, NAMESPACE, meta.name) is not None


@pytest.mark.asyncio
async def test_a_forbidden_abort_names_the_verb_to_grant(rig: Rig) -> None:
    meta = await rig.create()
    rig.api.add(verb="delete", status=403, message="cannot delete", times=1)
    with pytest.raises(KubeApiError) as raised:
        await rig.connector.delete(meta)
    assert (raised.value.status, raised.value.message) == (
        403,
        f"forbidden to delete paralleljobs.workloads.example.com {NAMESPACE}/{meta.name}: cannot delete. "
        "Grant the connector's service account delete on paralleljobs.workloads.example.com.",
    )


@pytest.mark.asyncio
async def test_a_task_that_failed_before_creating_has_nothing_to_delete(rig: Rig) -> None:
    meta = await rig.create(namespace="elsewhere")  # outside the task policy's namespaces
    assert meta.failure_phase == TaskExecution.FAILED and meta.failure_message
    await rig.connector.delete(meta)
    assert rig.api.requests == []


@pytest.mark.asyncio
async def test_a_task_of_another_schema_version_fails_naming_both(rig: Rig) -> None:
    meta = await rig.connector.create(make_template(version=2), "s3://b/o/", task_execution_metadata=make_metadata())
    assert meta.failure_phase == TaskExecution.FAILED
    assert meta.failure_message == (
        "task_type_version: parallel_job tasks of version 2 are not supported by this connector (it serves "
        "version 1); upgrade the connector or pin the SDK plugin to a matching version"
    )


@pytest.mark.asyncio
async def test_a_namespace_outside_the_watched_ones_is_refused_before_any_call() -> None:
    rig = rig_with(dataclasses.replace(SETTINGS, namespaces=("team-a",)))
    meta = await rig.create()
    assert meta.failure_message == (
        f"namespace {NAMESPACE} is outside the connector's namespaces (team-a); add it to the connector's configuration"
    )
    with pytest.raises(Refused, match="is outside the connector's namespaces \\(team-a\\)"):
        await rig.connector.get(
            dataclasses.replace(
                meta,
                failure_phase=0,
                plural="paralleljobs",
                version="v1alpha1",
                group="workloads.example.com",
                kind="ParallelJob",
            )
        )
    assert rig.api.requests == []
    rig.runtime.stop()


@pytest.mark.asyncio
async def test_a_meta_for_a_resource_the_plugin_does_not_serve_is_refused(rig: Rig) -> None:
    meta = await rig.create()
    secrets = ResourceType("", "v1", "secrets", "Secret")
    forged = dataclasses.replace(meta, group=secrets.group, version=secrets.version, plural=secrets.plural)
    before = len(rig.api.requests)
    with pytest.raises(Refused):
        await rig.connector.get(forged)
    with pytest.raises(Refused):
        await rig.connector.delete(forged)
    assert len(rig.api.requests) == before


@pytest.mark.asyncio
async def test_get_answers_from_the_cache_without_api_calls(rig: Rig) -> None:
    meta = await rig.create()
    await rig.get_until(meta, lambda r: rig.runtime.caches()[0].synced())
    before = [verb for verb, _ in rig.api.requests if verb in ("get", "create", "delete")]
    for _ in range(5):
        await rig.get(meta)
    assert [verb for verb, _ in rig.api.requests if verb in ("get", "create", "delete")] == before


@pytest.mark.asyncio
async def test_an_expired_watch_relists_and_keeps_following(rig: Rig) -> None:
    meta = await rig.create()
    cache = rig.runtime.caches()[0]
    await rig.get_until(meta, lambda r: cache.synced())
    relists = cache.relists
    rig.api.expire_watches()
    rig.api.close_watches()  # the stream ends; resuming from its resourceVersion meets 410
    await rig.get_until(meta, lambda r: cache.relists > relists)
    assert cache.relists > relists
    rig.status(meta, phase="Succeeded", workerCounts={"succeeded": 2})
    assert (await rig.get_until(meta, phase_is(TaskExecution.SUCCEEDED))).phase == TaskExecution.SUCCEEDED
