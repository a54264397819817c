"""`./pants run tests/benchmarks:connector -- --tasks N`: the operator connector against a naive one.

Both connectors run as real `pyflyte serve connector` subprocesses, one after the other,
against one HTTP Kubernetes API emulator (`kube_emulator`, in a child process). For each,
this process plays propeller over gRPC: CreateTask for N ParallelJob tasks, the operator
marks every object Running, then GetTask for every task in a few polling rounds with a
bounded number of calls in flight. It prints one JSON line per connector and a last line
with the ratios (operator / naive) and the operator connector's targets. Figures only:
nothing here asserts on timing. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from flyteidl.core.execution_pb2 import TaskExecution
from flyteidl.service.agent_pb2_grpc import AsyncAgentServiceStub

from benchmarks.load import create_tasks, get_tasks, paced_round, percentile_ms, poll_rounds
from benchmarks.naive_connector import KUBECONFIG_ENV, NAIVE_TASK_TYPE, NAIVE_TASK_TYPE_VERSION
from benchmarks.processes import (
    ConnectorServer,
    EmulatorProcess,
    cpu_seconds,
    own_cpu_seconds,
    rss_kib,
)
from benchmarks.profiling import Sampler
from benchmarks.serving import (
    CONFIG_ENV,
    CRD,
    OPERATOR_MODULE,
    OPERATOR_TASK_TYPE,
    OPERATOR_TASK_TYPE_VERSION,
    PARALLEL_JOBS,
    PROPELLER_WORKERS,
    find_crd,
    operator_config,
    progress,
    wait_for_phase,
    wait_until_serving,
)
from benchmarks.workload import create_requests, get_request

NAIVE_MODULE = "benchmarks.naive_connector"
UNLOADED_CALLS = 1000
# Propeller re-reads every task once per resync interval (webApi.caching.resyncInterval, 30 s).
PACED_RATE = 10_000 / 30
PACED_SECONDS = 10
# Below this many objects, allocator noise (RSS can even shrink) outweighs the cache.
MIN_TASKS_PER_OBJECT_FIGURE = 5000
TARGETS = {
    "api_requests_per_get": 0.01,  # below
    "get_p99_ms": 5.0,  # below, with --concurrency calls in flight back to back
    "get_paced_p99_ms": 5.0,  # below, at --paced-rate
    "create_per_s": 200.0,  # at least
    "per_object_kib": 2.0,  # below
}


@dataclass(frozen=True)
class Subject:
    """One connector under test: how to serve it and which tasks it gets."""

    label: str
    task_type: str
    task_type_version: int
    namespace: str
    module: str


OPERATOR = Subject("operator", OPERATOR_TASK_TYPE, OPERATOR_TASK_TYPE_VERSION, "bench-operator", OPERATOR_MODULE)
NAIVE = Subject("naive", NAIVE_TASK_TYPE, NAIVE_TASK_TYPE_VERSION, "bench-naive", NAIVE_MODULE)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1000, help="tasks (objects) per connector")
    parser.add_argument("--concurrency", type=int, default=PROPELLER_WORKERS, help="gRPC calls in flight")
    parser.add_argument("--rounds", type=int, default=3, help="polling rounds of GetTask over every task")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between the starts of polling rounds")
    parser.add_argument("--workers", type=int, default=2, help="workers per ParallelJob")
    parser.add_argument(
        "--paced-rate",
        type=float,
        default=PACED_RATE,
        help="GetTask calls per second of the paced round (default: 10,000 tasks per propeller's 30 s resync)",
    )
    parser.add_argument("--only", choices=["operator", "naive"], help="measure one connector only")
    parser.add_argument("--profile-dir", type=Path, help="sample each connector with py-spy while it is polled")
    parser.add_argument("--crd", type=Path, help=f"the ParallelJob CRD (default: {CRD} in the buildroot)")
    return parser.parse_args(argv)


def _requests_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {verb: after[verb] - before[verb] for verb in after if after[verb] != before[verb]}


async def _measure(
    subject: Subject, arguments: argparse.Namespace, emulator: EmulatorProcess, work_dir: Path
) -> dict[str, Any]:
    environment = {KUBECONFIG_ENV: str(emulator.kubeconfig)}
    if subject is OPERATOR:
        environment[CONFIG_ENV] = str(operator_config(work_dir, emulator.kubeconfig, OPERATOR.namespace))
    server = ConnectorServer(subject.label, [subject.module], work_dir, environment, [])
    tasks = arguments.tasks
    # Built before any timing: the client's own work is not part of the connector's figures.
    creates = create_requests(subject.task_type, subject.task_type_version, subject.namespace, range(tasks + 1), 2)
    server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            await wait_until_serving(channel, server)
            stub = AsyncAgentServiceStub(channel)
            pid = server.pid
            rss_start = rss_kib(pid)
            # One warm-up task (not counted) loads what the first call loads lazily: the API
            # client, the thread pool and, for the operator connector, the watch.
            warm_metas, _ = await create_tasks(stub, creates[-1:], 1)
            await get_tasks(stub, [get_request(subject.task_type, subject.task_type_version, warm_metas[0])], 1)
            rss_baseline = rss_kib(pid)

            progress(f"{subject.label}: creating {tasks} tasks")
            metas, create_calls = await create_tasks(stub, creates[:tasks], arguments.concurrency)
            gets = [get_request(subject.task_type, subject.task_type_version, meta) for meta in metas]
            progress(f"{subject.label}: the operator marks {tasks} objects Running")
            emulator.command(
                "set_phase",
                resource=PARALLEL_JOBS,
                namespace=subject.namespace,
                phase="Running",
                workers=arguments.workers,
            )
            running_visible_s = await wait_for_phase(stub, gets[-1], TaskExecution.RUNNING)

            progress(f"{subject.label}: {arguments.rounds} polling rounds over {tasks} tasks")
            requests_before = emulator.command("counts", resource=PARALLEL_JOBS)
            sampler = None
            if arguments.profile_dir:
                arguments.profile_dir.mkdir(parents=True, exist_ok=True)
                sampler = Sampler(pid, arguments.profile_dir / f"{subject.label}-polling.txt")
            cpu_before, client_cpu_before = cpu_seconds(pid), own_cpu_seconds()
            phases, polls = await poll_rounds(stub, gets, arguments.concurrency, arguments.rounds, arguments.interval)
            cpu_polling, client_cpu_polling = cpu_seconds(pid) - cpu_before, own_cpu_seconds() - client_cpu_before
            if sampler is not None:
                sampler.stop()
            requests_polling = _requests_delta(requests_before, emulator.command("counts", resource=PARALLEL_JOBS))
            rss_end = rss_kib(pid)
            # Service time without queueing: one call in flight (at most 1,000 calls).
            _, unloaded = await get_tasks(stub, gets[:UNLOADED_CALLS], 1)
            paced_calls = gets[: int(arguments.paced_rate * PACED_SECONDS)]
            progress(f"{subject.label}: {len(paced_calls)} GetTask calls paced at {arguments.paced_rate:.0f}/s")
            paced = await paced_round(stub, paced_calls, arguments.paced_rate, arguments.concurrency)
    finally:
        server.stop()
    get_calls = len(polls.latencies)
    return {
        "connector": subject.label,
        "tasks": tasks,
        "concurrency": arguments.concurrency,
        "get_calls": get_calls,
        "api_requests_per_get": round(requests_polling.get("get", 0) / get_calls, 4),
        "api_requests_during_polling": requests_polling,
        "get_p50_ms": percentile_ms(polls.latencies, 0.50),
        "get_p90_ms": percentile_ms(polls.latencies, 0.90),
        "get_p99_ms": percentile_ms(polls.latencies, 0.99),
        "get_max_ms": percentile_ms(polls.latencies, 1.0),
        "get_unloaded_p50_ms": percentile_ms(unloaded.latencies, 0.50),
        "get_unloaded_p99_ms": percentile_ms(unloaded.latencies, 0.99),
        "get_paced_per_s": round(arguments.paced_rate, 1),
        "get_paced_p50_ms": percentile_ms(paced.latencies, 0.50),
        "get_paced_p99_ms": percentile_ms(paced.latencies, 0.99),
        "get_per_s": round(get_calls / polls.wall_seconds, 1),
        "connector_cpu_ms_per_get": round(cpu_polling * 1000 / get_calls, 3),
        "client_cpu_ms_per_get": round(client_cpu_polling * 1000 / get_calls, 3),
        "create_per_s": round(tasks / create_calls.wall_seconds, 1),
        "create_p50_ms": percentile_ms(create_calls.latencies, 0.50),
        "create_p99_ms": percentile_ms(create_calls.latencies, 0.99),
        "running_visible_s": round(running_visible_s, 3),
        "rss_start_mb": round(rss_start / 1024, 1),
        "rss_baseline_mb": round(rss_baseline / 1024, 1),
        "rss_mb": round(rss_end / 1024, 1),
        "per_object_kib": round((rss_end - rss_baseline) / tasks, 3),
        "phases": dict(Counter(phases)),
    }


def _ratios(operator: dict[str, Any], naive: dict[str, Any]) -> dict[str, float | None]:
    keys = (
        "api_requests_per_get",
        "get_p50_ms",
        "get_p99_ms",
        "get_paced_p99_ms",
        "connector_cpu_ms_per_get",
        "create_per_s",
        "rss_mb",
        "per_object_kib",
    )
    return {
        key: (round(operator[key] / naive[key], 4) if naive[key] > 0 and operator[key] >= 0 else None) for key in keys
    }


def _targets(operator: dict[str, Any]) -> dict[str, dict[str, Any]]:
    met: dict[str, bool | None] = {
        "api_requests_per_get": operator["api_requests_per_get"] < TARGETS["api_requests_per_get"],
        "get_p99_ms": operator["get_p99_ms"] < TARGETS["get_p99_ms"],
        "get_paced_p99_ms": operator["get_paced_p99_ms"] < TARGETS["get_paced_p99_ms"],
        "create_per_s": operator["create_per_s"] >= TARGETS["create_per_s"],
        "per_object_kib": operator["per_object_kib"] < TARGETS["per_object_kib"],
    }
    if operator["tasks"] < MIN_TASKS_PER_OBJECT_FIGURE:
        met["per_object_kib"] = None  # not judged: too few objects
    return {key: {"measured": operator[key], "target": TARGETS[key], "met": met[key]} for key in TARGETS}


async def _run(arguments: argparse.Namespace) -> None:
    crd = find_crd(arguments.crd)
    work_dir = Path(tempfile.mkdtemp(prefix="connector-benchmark-"))
    subjects = [s for s in (OPERATOR, NAIVE) if arguments.only in (None, s.label)]
    emulator = EmulatorProcess(crd)
    progress(f"emulator (child process) at {emulator.url}; logs in {work_dir}")
    results: dict[str, dict[str, Any]] = {}
    try:
        for subject in subjects:
            results[subject.label] = await _measure(subject, arguments, emulator, work_dir)
            print(json.dumps(results[subject.label]), flush=True)
    finally:
        emulator.close()
    summary: dict[str, Any] = {"tasks": arguments.tasks}
    if len(results) == 2:
        summary["ratios_operator_over_naive"] = _ratios(results["operator"], results["naive"])
    if "operator" in results:
        summary["operator_targets"] = _targets(results["operator"])
    print(json.dumps(summary), flush=True)


def main(argv: list[str] | None = None) -> int:
    asyncio.run(_run(_arguments(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
