"""`./pants run tests/benchmarks:startup -- --objects N`: a connector restarted with N objects.

A first connector process creates N ParallelJob tasks over gRPC and the emulator marks every
object Running; that process stops. A new one starts (a restart: it knows nothing, the cluster
holds N objects of its tasks) and this process plays propeller at once: GetTask over all N
tasks, 10 in flight back to back, from the moment the port answers until ``--seconds`` later.
It prints one JSON line: time from start to serving and to the first correct answer, when the
watch had listed everything, GetTask latency in the window (and until that list was complete),
API requests in the window, and RSS (at serving, at the end, peak). Figures only: nothing here
asserts on timing. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
import urllib.error
from collections import Counter
from pathlib import Path
from typing import Any

import grpc
from flyteidl.core.execution_pb2 import TaskExecution
from flyteidl.service.agent_pb2_grpc import AsyncAgentServiceStub

from benchmarks import serving
from benchmarks.load import Answer, create_tasks, get_until, percentile_ms
from benchmarks.processes import ConnectorServer, EmulatorProcess, peak_rss_kib, rss_kib, scrape_metrics
from benchmarks.workload import create_requests, get_request

NAMESPACE = "bench-startup"
SYNCED = "k8s_operator_connector_watch_synced"
WATCHED = "paralleljobs.workloads.example.com"  # not the Warning events' watch, which lists far less
CREATE_BATCH = 5000


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=1000, help="tasks (objects) existing when the connector starts")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long GetTask is measured after serving")
    parser.add_argument("--concurrency", type=int, default=serving.PROPELLER_WORKERS, help="gRPC calls in flight")
    parser.add_argument("--workers", type=int, default=2, help="workers per ParallelJob")
    parser.add_argument("--crd", type=Path, help="the ParallelJob CRD (default: found in the buildroot)")
    return parser.parse_args(argv)


async def _seed(arguments: argparse.Namespace, environment: dict[str, str], work_dir: Path) -> list[Any]:
    """N tasks created through a connector that then stops; their GetTask requests."""
    creates = create_requests(
        serving.OPERATOR_TASK_TYPE,
        serving.OPERATOR_TASK_TYPE_VERSION,
        NAMESPACE,
        range(arguments.objects),
        arguments.workers,
    )
    seed = ConnectorServer("seed", [serving.OPERATOR_MODULE], work_dir, environment)
    seed.start()
    metas: list[bytes] = []
    try:
        async with grpc.aio.insecure_channel(seed.address) as channel:
            await serving.wait_until_serving(channel, seed)
            stub = AsyncAgentServiceStub(channel)
            for start in range(0, len(creates), CREATE_BATCH):
                serving.progress(f"seed: creating tasks {start}..{min(start + CREATE_BATCH, len(creates))}")
                batch, _ = await create_tasks(stub, creates[start : start + CREATE_BATCH], arguments.concurrency)
                metas += batch
    finally:
        seed.stop()
    return [get_request(serving.OPERATOR_TASK_TYPE, serving.OPERATOR_TASK_TYPE_VERSION, meta) for meta in metas]


async def _synced_after(server: ConnectorServer, started: float) -> float:
    """Seconds from ``started`` until the connector's metrics say its ParallelJob watch listed everything."""
    while True:
        server.check_alive()
        try:  # in a thread: a blocking HTTP call would stall the GetTask calls timed on this loop
            samples = await asyncio.to_thread(scrape_metrics, server.metrics_port)
        except (OSError, urllib.error.URLError):
            samples = {}
        if any(
            name == SYNCED and dict(labels).get("resource") == WATCHED and value == 1
            for (name, labels), value in samples.items()
        ):
            return time.perf_counter() - started
        await asyncio.sleep(0.1)


def _latencies(answers: list[Answer]) -> dict[str, float | int]:
    seconds = [answer.seconds for answer in answers]
    if not seconds:
        return {"calls": 0}
    return {
        "calls": len(seconds),
        "p50_ms": percentile_ms(seconds, 0.50),
        "p99_ms": percentile_ms(seconds, 0.99),
        "max_ms": percentile_ms(seconds, 1.0),
    }


async def _restart(
    arguments: argparse.Namespace,
    environment: dict[str, str],
    work_dir: Path,
    gets: list[Any],
    emulator: EmulatorProcess,
) -> dict[str, Any]:
    order = random.Random(0).sample(gets, len(gets))  # propeller asks in no particular order
    server = ConnectorServer("restarted", [serving.OPERATOR_MODULE], work_dir, environment)
    requests_before = emulator.command("counts", resource=serving.PARALLEL_JOBS)
    started = time.perf_counter()
    server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            await serving.wait_until_serving(channel, server)
            serving_at = time.perf_counter()
            rss_serving = rss_kib(server.pid)
            synced = asyncio.create_task(_synced_after(server, started))
            serving.progress(
                f"restarted: serving after {serving_at - started:.1f}s; GetTask for {arguments.seconds:.0f}s"
            )
            answers = await get_until(
                AsyncAgentServiceStub(channel), order, arguments.concurrency, serving_at + arguments.seconds
            )
            rss_end, rss_peak = rss_kib(server.pid), peak_rss_kib(server.pid)
            requests = emulator.command("counts", resource=serving.PARALLEL_JOBS)
            synced_s = await asyncio.wait_for(synced, timeout=600)
    finally:
        server.stop()
    first_running = min(
        (a.sent + a.seconds for a in answers if a.phase == TaskExecution.Phase.Name(TaskExecution.RUNNING)),
        default=None,
    )
    before_sync = [a for a in answers if a.sent + a.seconds < started + synced_s]
    return {
        "benchmark": "startup",
        "objects": arguments.objects,
        "concurrency": arguments.concurrency,
        "serving_s": round(serving_at - started, 3),
        "first_running_s": round(first_running - started, 3) if first_running is not None else None,
        "synced_s": round(synced_s, 3),
        "window_s": arguments.seconds,
        "get": _latencies(answers),
        "get_before_synced": _latencies(before_sync),
        "get_per_s": round(len(answers) / arguments.seconds, 1),
        "api_requests_in_window": {verb: requests[verb] - requests_before[verb] for verb in requests},
        "rss_serving_mb": round(rss_serving / 1024, 1),
        "rss_end_mb": round(rss_end / 1024, 1),
        "rss_peak_mb": round(rss_peak / 1024, 1),
        "per_object_kib": round((rss_end - rss_serving) / arguments.objects, 3),
        "phases": dict(Counter(answer.phase for answer in answers)),
    }


async def _run(arguments: argparse.Namespace) -> dict[str, Any]:
    work_dir = Path(tempfile.mkdtemp(prefix="startup-benchmark-"))
    emulator = EmulatorProcess(serving.find_crd(arguments.crd))
    serving.progress(f"emulator (child process) at {emulator.url}; logs in {work_dir}")
    try:
        environment = {serving.CONFIG_ENV: str(serving.operator_config(work_dir, emulator.kubeconfig, NAMESPACE))}
        gets = await _seed(arguments, environment, work_dir)
        serving.progress(f"the operator marks {len(gets)} objects Running")
        emulator.command(
            "set_phase", resource=serving.PARALLEL_JOBS, namespace=NAMESPACE, phase="Running", workers=arguments.workers
        )
        return await _restart(arguments, environment, work_dir, gets, emulator)
    finally:
        emulator.close()


def main(argv: list[str] | None = None) -> int:
    print(json.dumps(asyncio.run(_run(_arguments(argv)))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
