"""1,000 tasks through the served connector while 5% of all API calls fail.

Propeller's part: CreateTask twice per task, then GetTask in rounds until every task is
terminal. The operator stand-in finishes each object at a random time, succeeding or
failing as its ground truth says. Retention then deletes every finished object.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from flyteidl.core.execution_pb2 import TaskExecution

from kube_emulator import wait_until
from reliability.conftest import Served
from reliability.harness import (
    TERMINAL,
    OperatorStandIn,
    TaskRun,
    create_request,
    parallel_jobs,
    phase_name,
    random_faults,
)

TASKS = 1000
FAULT_RATE = 0.05
RETENTION_SECONDS = 2


def succeeds(name: str) -> bool:
    """The ground truth: about 70% of the objects succeed, decided by their name."""
    return hashlib.sha256(name.encode()).digest()[0] < 180


@pytest.fixture(scope="module")
def served(served_factory: Callable[..., Served]) -> Served:
    return served_factory(finishedRetentionSeconds=RETENTION_SECONDS, cleanupIntervalSeconds=0.5)


def test_1000_tasks_under_5_percent_api_faults(served: Served):
    client, api = served.client, served.api
    run_name = {}  # execution -> object name, from the custom info GetTask answers
    time.sleep(1.0)
    baseline_kib = served.connector.rss_kib()
    rules = random_faults(api, FAULT_RATE, statuses=(500, 503, 429))
    requests_before = api.requests.count()
    started = time.monotonic()
    requests = [create_request(execution=f"load{i:04d}", custom={"workers": 2}) for i in range(TASKS)]
    with OperatorStandIn(api, succeeds, seed=11, max_delay=8.0) as operator, ThreadPoolExecutor(24) as pool:
        runs: list[TaskRun] = list(pool.map(lambda r: client.start_task(r, retrying=True), requests))
        created_at = time.monotonic()
        peak_kib = served.connector.rss_kib()
        rounds, polls, open_runs = 0, 0, list(runs)

        def poll(run: TaskRun) -> TaskRun:
            resource = client.get("parallel_job", run.resource_meta)
            run.phases.append(resource.phase)
            run.last = resource
            return run

        deadline = time.monotonic() + 600
        while open_runs:
            assert time.monotonic() < deadline, f"{len(open_runs)} tasks not terminal; e.g. {open_runs[0].last}"
            rounds += 1
            polls += len(open_runs)
            list(pool.map(poll, open_runs))
            open_runs = [run for run in open_runs if run.phases[-1] not in TERMINAL]
            peak_kib = max(peak_kib, served.connector.rss_kib())
            time.sleep(0.5)
        finished_at = time.monotonic()
        # Asked again, every terminal answer stands (tombstones answer for cleaned-up objects).
        again = list(pool.map(lambda run: client.get("parallel_job", run.resource_meta).phase, runs))
    for rule in rules:
        api.faults.remove(rule)
    api_requests = api.requests.count() - requests_before
    for run in runs:
        run_name[run.resource_meta] = dict(run.last.custom_info)["name"] if run.last else ""
    truth = operator.outcomes
    expected = {
        meta: TaskExecution.SUCCEEDED if truth.get(name) == "Succeeded" else TaskExecution.RETRYABLE_FAILED
        for meta, name in run_name.items()
    }
    wrong = [
        (run_name[run.resource_meta], phase_name(run.phases[-1]), truth.get(run_name[run.resource_meta]))
        for run in runs
        if run.phases[-1] != expected[run.resource_meta]
    ]
    changed = sum(1 for run, phase in zip(runs, again, strict=True) if phase != run.phases[-1])
    twice = sum(1 for run in runs if len(run.terminal_phases) != 1)
    created = api.requests.count(verb="create", resource="paralleljobs", status=201)
    wait_until(lambda: not parallel_jobs(api), timeout=120, interval=0.5, what="retention deleted every object")
    cleaned_at = time.monotonic()
    time.sleep(2.0)
    after_kib = served.connector.rss_kib()
    outcomes = {phase_name(p): sum(1 for e in expected.values() if e == p) for p in set(expected.values())}
    print(
        f"\nload: {TASKS} tasks, {FAULT_RATE:.0%} API faults ({sum(r.hits for r in rules)} injected of "
        f"{api_requests} API requests)\n"
        f"  created (2 CreateTask each) in {created_at - started:.1f}s; all terminal after "
        f"{finished_at - started:.1f}s ({rounds} GetTask rounds, {polls} GetTasks); retention emptied the "
        f"emulator {cleaned_at - finished_at:.1f}s later\n"
        f"  outcomes {outcomes}; wrong {len(wrong)}; changed on re-ask {changed}; objects created {created}\n"
        f"  connector RSS: baseline {baseline_kib / 1024:.0f} MiB, peak {peak_kib / 1024:.0f} MiB, "
        f"after cleanup {after_kib / 1024:.0f} MiB"
    )
    assert not wrong, wrong[:10]
    assert changed == 0 and twice == 0
    assert created == TASKS, "one object per task, however often CreateTask was retried"
    assert len(set(run_name.values())) == TASKS
    assert len(truth) == TASKS
    assert after_kib < max(3 * baseline_kib, baseline_kib + 300 * 1024), "RSS did not come back near its baseline"
