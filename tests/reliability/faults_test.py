"""API faults through the served connector: retried within bounded time, phases truthful.

The connector here retries at most 4 times with a 2 s request timeout and calls an object
it cannot observe for 4 s RETRYABLE_FAILED (staleAfterSeconds), so every fault either
heals within seconds or ends in a phase that says what happened; none is a silent success.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from flyteidl.core.execution_pb2 import TaskExecution

from kube_emulator import wait_until
from reliability.conftest import Served
from reliability.harness import (
    NAMESPACE,
    PARALLEL_JOBS,
    TaskRun,
    create_request,
    max_per_window,
    parallel_jobs,
    recording,
    set_status,
)

STALE_AFTER = 4


@pytest.fixture(scope="module")
def served(served_factory: Callable[..., Served]) -> Served:
    return served_factory(staleAfterSeconds=STALE_AFTER, api={"maxRetries": 4, "timeoutSeconds": 2})


def new_task(served: Served, execution: str) -> tuple[TaskRun, str]:
    run = served.client.start_task(create_request(execution=execution))
    names = [o["metadata"]["name"] for o in parallel_jobs(served.api) if execution in o["metadata"]["name"]]
    assert len(names) == 1, names
    return run, names[0]


def finish(served: Served, run: TaskRun, name: str) -> None:
    """The operator finishes the task and the connector reports it (the cache converged)."""
    set_status(served.api, name, "Succeeded")
    assert served.client.poll_until_terminal(run).phase == TaskExecution.SUCCEEDED
    served.client.abort(run)


def requests_of(served: Served, verb: str, status: int | None = None) -> int:
    return served.api.requests.count(verb=verb, resource="paralleljobs", status=status)


# -- 5xx and latency ------------------------------------------------------------------------


def test_5xx_on_create_is_retried_and_makes_one_object(served: Served):
    served.api.faults.add(verb="create", resource="paralleljobs", status=503, times=2)
    served.api.faults.add(verb="create", resource="paralleljobs", status=500, times=1)
    before = {status: requests_of(served, "create", status) for status in (500, 503, 201)}
    run, name = new_task(served, "f-create-5xx")
    assert requests_of(served, "create", 503) - before[503] == 2
    assert requests_of(served, "create", 500) - before[500] == 1
    assert requests_of(served, "create", 201) - before[201] == 1
    assert served.client.get("parallel_job", run.resource_meta).phase == TaskExecution.QUEUED
    finish(served, run, name)


def test_persistent_5xx_on_create_fails_the_call_then_a_retry_succeeds(served: Served):
    """After maxRetries the call fails (propeller retries CreateTask); no half-made task."""
    rule = served.api.faults.add(verb="create", resource="paralleljobs", status=503)
    request = create_request(execution="f-create-down")
    with pytest.raises(grpc.RpcError) as raised:
        served.client.create(request)
    assert raised.value.code() == grpc.StatusCode.INTERNAL
    assert "503" in raised.value.details()
    assert not [o for o in parallel_jobs(served.api) if "f-create-down" in o["metadata"]["name"]]
    served.api.faults.remove(rule)
    run = served.client.start_task(request)
    assert served.client.get("parallel_job", run.resource_meta).phase == TaskExecution.QUEUED
    served.client.abort(run)


def test_create_slower_than_the_timeout_is_retried_and_adopted(served: Served):
    """The first POST times out client-side but the server still creates: the retry adopts it."""
    served.api.faults.add(verb="create", resource="paralleljobs", latency=3.0, times=1)
    run, name = new_task(served, "f-create-slow")
    time.sleep(3.5)  # let the slow first POST land too: still one object
    assert len([o for o in parallel_jobs(served.api) if o["metadata"]["name"] == name]) == 1
    finish(served, run, name)


def test_5xx_and_latency_on_delete_are_retried(served: Served):
    run, name = new_task(served, "f-delete-5xx")
    served.api.faults.add(verb="delete", resource="paralleljobs", status=503, times=2)
    served.api.faults.add(verb="delete", resource="paralleljobs", latency=0.5, times=1)
    served.client.abort(run)
    wait_until(lambda: served.api.get(PARALLEL_JOBS, name, NAMESPACE) is None, timeout=30)


def test_persistent_5xx_on_delete_is_an_error_until_the_api_heals(served: Served):
    run, name = new_task(served, "f-delete-down")
    rule = served.api.faults.add(verb="delete", resource="paralleljobs", status=500)
    with pytest.raises(grpc.RpcError) as raised:
        served.client.delete("parallel_job", run.resource_meta)
    assert raised.value.code() == grpc.StatusCode.INTERNAL
    assert served.api.get(PARALLEL_JOBS, name, NAMESPACE) is not None
    served.api.faults.remove(rule)
    served.client.abort(run)
    wait_until(lambda: served.api.get(PARALLEL_JOBS, name, NAMESPACE) is None, timeout=30)


def test_list_watch_and_get_failing_is_never_stuck_running(served: Served):
    """Unobservable for longer than staleAfterSeconds: RETRYABLE_FAILED, never RUNNING forever."""
    run, name = new_task(served, "f-blind")
    set_status(served.api, name, "Running")
    served.client.poll_until_phase(run, TaskExecution.RUNNING)
    for verb in ("list", "watch", "get"):
        served.api.faults.add(verb=verb, resource="paralleljobs", status=503)
    served.api.faults.close_watches()
    set_status(served.api, name, "Succeeded")  # the connector cannot see this
    blind = served.client.poll(run, lambda r: r.phase != TaskExecution.RUNNING, timeout=60)
    assert blind.phase == TaskExecution.RETRYABLE_FAILED, blind
    assert "could not observe" in blind.message and "staleAfterSeconds" in blind.message
    assert TaskExecution.SUCCEEDED not in run.phases, "never a success it did not see"
    served.api.faults.clear()
    assert served.client.poll_until_terminal(run).phase == TaskExecution.SUCCEEDED
    served.client.abort(run)


def test_failing_list_and_watch_heal_and_the_cache_converges(served: Served):
    run, name = new_task(served, "f-relist")
    served.api.faults.add(verb="watch", resource="paralleljobs", status=500, times=3)
    served.api.faults.add(verb="list", resource="paralleljobs", status=503, times=2)
    served.api.faults.add(verb="list", resource="paralleljobs", latency=1.0, times=1)
    lists = requests_of(served, "list")
    served.api.faults.close_watches()
    set_status(served.api, name, "Running")
    assert served.client.poll_until_phase(run, TaskExecution.RUNNING).phase == TaskExecution.RUNNING
    wait_until(lambda: requests_of(served, "list") > lists + 1, timeout=30)
    finish(served, run, name)


# -- 429 and the client-side rate limit ------------------------------------------------------


def test_429_retry_after_is_honoured(served: Served):
    served.api.faults.add(verb="create", resource="paralleljobs", status=429, retry_after=2, times=1)
    started = time.monotonic()
    run, name = new_task(served, "f-429")
    assert time.monotonic() - started >= 1.9, "the retry came before Retry-After"
    assert requests_of(served, "create", 429) >= 1
    finish(served, run, name)


def test_qps_and_burst_hold_under_a_burst_of_creates(served_factory: Callable[..., Served]):
    qps, burst, tasks = 5, 5, 25  # at least 4 s of throttled creates after the burst
    limited = served_factory(api={"qps": qps, "burst": burst})
    limited.client.list_agents()
    time.sleep(1.5)  # the caches' first list and watch are done: a full bucket
    arrivals = recording(limited.api).arrivals
    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        metas = list(
            pool.map(
                lambda i: limited.client.create_retrying(create_request(execution=f"f-burst-{i:03d}")), range(tasks)
            )
        )
    elapsed = time.monotonic() - started
    times = [at for at, _, _ in arrivals]
    per_second = max_per_window(times, 1.0)
    print(
        f"\n{tasks} creates at qps={qps} burst={burst}: {len(times)} API requests in {elapsed:.1f}s, "
        f"at most {per_second} in any 1 s window"
    )
    assert len(set(metas)) == tasks and len(parallel_jobs(limited.api)) == tasks
    # A token bucket admits at most burst + qps * t in any t seconds (+2 for arrival jitter).
    assert per_second <= burst + qps + 2
    assert len(times) <= burst + qps * (times[-1] - times[0]) + 2
    assert elapsed >= (tasks - burst) / qps * 0.9


# -- the watch: closed, 410 Gone, emulator restart -------------------------------------------


def test_watch_closed_is_resumed(served: Served):
    run, name = new_task(served, "f-closed")
    watches = requests_of(served, "watch")
    assert served.api.faults.close_watches() >= 1
    wait_until(lambda: requests_of(served, "watch") > watches, timeout=30)
    set_status(served.api, name, "Running")
    served.client.poll_until_phase(run, TaskExecution.RUNNING)
    finish(served, run, name)


def test_410_gone_relists_and_converges(served: Served):
    run, name = new_task(served, "f-gone")
    lists = requests_of(served, "list")
    # Only the ParallelJob watch: the connector's other watches (Warning events) must not take it.
    served.api.faults.expire_watches(resource="paralleljobs")
    served.api.faults.compact()
    served.api.faults.close_watches()
    set_status(served.api, name, "Running")
    served.client.poll_until_phase(run, TaskExecution.RUNNING)
    wait_until(lambda: requests_of(served, "list") > lists, timeout=30)
    finish(served, run, name)


def test_emulator_restart_loses_the_watch_and_the_cache_converges(served: Served):
    running, running_name = new_task(served, "f-restart-a")
    queued, queued_name = new_task(served, "f-restart-b")
    set_status(served.api, running_name, "Running")
    served.client.poll_until_phase(running, TaskExecution.RUNNING)
    served.api.stop()
    try:
        # While the API is gone: answers keep coming, and they are the last truth or a clear failure.
        during = served.client.get("parallel_job", running.resource_meta)
        assert during.phase in (TaskExecution.RUNNING, TaskExecution.RETRYABLE_FAILED), during
        time.sleep(1.0)
    finally:
        served.api.start()
    set_status(served.api, queued_name, "Running")
    set_status(served.api, running_name, "Succeeded")
    assert served.client.poll_until_phase(queued, TaskExecution.RUNNING).phase == TaskExecution.RUNNING
    assert served.client.poll_until_terminal(running).phase == TaskExecution.SUCCEEDED
    served.client.abort(running)
    finish(served, queued, queued_name)


# -- the connector restarts; objects change behind its back; missing CRD; RBAC ----------------


def test_connector_restart_mid_flight_serves_the_old_tasks(served: Served):
    tasks = {phase: new_task(served, f"f-crash-{phase.lower()}") for phase in ("Pending", "Running", "Succeeded")}
    for phase, (_, name) in tasks.items():
        set_status(served.api, name, phase)
    served.client.poll_until_phase(tasks["Succeeded"][0], TaskExecution.SUCCEEDED)
    served.restart_connector(crash=True)  # SIGKILL, then a new process on the same port
    # Pending with no Warning event answers QUEUED (console_phase.py).
    expected = {"Pending": TaskExecution.QUEUED, "Running": TaskExecution.RUNNING}
    for phase, (run, _) in tasks.items():
        want = expected.get(phase, TaskExecution.SUCCEEDED)
        assert served.client.poll_until_phase(run, want).phase == want
    set_status(served.api, tasks["Running"][1], "Succeeded")
    assert served.client.poll_until_terminal(tasks["Running"][0]).phase == TaskExecution.SUCCEEDED
    for run, name in tasks.values():
        served.client.abort(run)

        def gone(name: str = name) -> bool:
            return served.api.get(PARALLEL_JOBS, name, NAMESPACE) is None

        wait_until(gone, timeout=30)


def test_object_deleted_behind_the_connectors_back(served: Served):
    run, name = new_task(served, "f-vanished")
    set_status(served.api, name, "Running")
    served.client.poll_until_phase(run, TaskExecution.RUNNING)
    served.api.delete(PARALLEL_JOBS, name, NAMESPACE)
    gone = served.client.poll_until_terminal(run)
    assert gone.phase == TaskExecution.RETRYABLE_FAILED
    assert "deleted outside Flyte" in gone.message
    served.client.abort(run)


def test_crd_not_installed_fails_saying_what_to_install(served_factory: Callable[..., Served]):
    bare = served_factory(crds=())
    run = bare.client.start_task(create_request(execution="f-no-crd"))
    resource = bare.client.get("parallel_job", run.resource_meta)
    assert resource.phase == TaskExecution.FAILED
    assert "install its CustomResourceDefinition" in resource.message
    bare.client.abort(run)


def test_rbac_forbids_create(served: Served):
    served.api.faults.forbid(verb="create", resource="paralleljobs", user="system:serviceaccount:flyte:connector")
    run = served.client.start_task(create_request(execution="f-forbid-create"))
    resource = served.client.get("parallel_job", run.resource_meta)
    assert resource.phase == TaskExecution.FAILED
    assert "forbidden to create" in resource.message and "Grant the connector's service account" in resource.message
    assert "system:serviceaccount:flyte:connector" in resource.message


def test_rbac_forbids_read(served: Served):
    run, name = new_task(served, "f-forbid-read")
    for verb in ("get", "list", "watch"):
        served.api.faults.forbid(verb=verb, resource="paralleljobs")
    served.api.faults.close_watches()
    resource = served.client.poll_until_terminal(run)
    assert resource.phase == TaskExecution.FAILED
    assert "forbidden to read" in resource.message and "get, list and watch" in resource.message
    served.api.faults.clear()
    served.client.abort(run)


def test_rbac_forbids_delete(served: Served):
    run, name = new_task(served, "f-forbid-delete")
    rule = served.api.faults.forbid(verb="delete", resource="paralleljobs")
    with pytest.raises(grpc.RpcError) as raised:
        served.client.delete("parallel_job", run.resource_meta)
    assert "Grant the connector's service account delete on paralleljobs" in raised.value.details()
    served.api.faults.remove(rule)
    served.client.abort(run)
