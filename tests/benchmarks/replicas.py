"""`./pants run tests/benchmarks:replicas -- --tasks N`: two connector replicas behind one address.

Two `pyflyte serve connector` processes of the operator connector (one configuration, one
signing key) serve one API emulator. This process plays propeller with one gRPC channel to a
target naming both (`ipv4:` with both ports, as a headless Service's `dns:///` name resolves to
one address per replica) and the service config the bundle gives propeller
(`defaultServiceConfig`, round_robin). It creates N tasks, the emulator marks them Running, and
it polls GetTask in rounds. It prints one JSON line: per replica, the CreateTask and GetTask
calls it served and the Kubernetes API reads it made during polling (from its own metrics),
the emulator's request counts during polling, and GetTask latency. Figures only. See
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter, defaultdict
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import grpc
import yaml
from flyteidl.core.execution_pb2 import TaskExecution
from flyteidl.service.agent_pb2_grpc import AsyncAgentServiceStub

from benchmarks import serving
from benchmarks.load import create_tasks, get_tasks, percentile_ms, poll_rounds
from benchmarks.processes import ConnectorServer, EmulatorProcess, scrape_metrics
from benchmarks.workload import create_requests, get_request

NAMESPACE = "bench-replicas"
PROPELLER_CONFIG = Path("operator_bundle/config/flyte/propeller-connector.yaml")
RUNNING = TaskExecution.Phase.Name(TaskExecution.RUNNING)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1000, help="tasks (objects)")
    parser.add_argument("--rounds", type=int, default=3, help="polling rounds of GetTask over every task")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between the starts of polling rounds")
    parser.add_argument("--concurrency", type=int, default=serving.PROPELLER_WORKERS, help="gRPC calls in flight")
    parser.add_argument("--crd", type=Path, help="the ParallelJob CRD (default: found in the buildroot)")
    return parser.parse_args(argv)


def _bundle_service_config(crd: Path) -> str:
    """The bundle's defaultServiceConfig for the connector (the CRD's buildroot is the bundle's)."""
    buildroot = crd.parents[len(Path("operator_bundle/config/crd/bases").parts)]
    connectors = yaml.safe_load((buildroot / PROPELLER_CONFIG).read_text())["plugins"]["connector-service"]
    return str(connectors["connectors"]["k8s-operator-connector"]["defaultServiceConfig"])


def _served(server: ConnectorServer) -> dict[str, float]:
    """What a replica did so far, from its metrics: gRPC calls served, Kubernetes API calls made."""
    samples = scrape_metrics(server.metrics_port)
    figures: defaultdict[str, float] = defaultdict(float)
    for (name, labels), value in samples.items():
        label = dict(labels)
        if name == "flyte_connector_requests_success_total":
            figures[f"{label['operation']}_task_calls"] += value
        elif name == "k8s_operator_connector_api_request_duration_seconds_count":
            figures[f"api_{label['verb']}"] += value
    return dict(figures)


def _delta(before: dict[str, float], after: dict[str, float]) -> dict[str, int]:
    return {key: int(after[key] - before.get(key, 0)) for key in after if after[key] != before.get(key, 0)}


async def _until_all_running(stub: AsyncAgentServiceStub, gets: list[Any], concurrency: int) -> float:
    started = time.perf_counter()
    while True:
        phases, _ = await get_tasks(stub, gets, concurrency)
        if phases.get(RUNNING, 0) == len(gets):
            return time.perf_counter() - started
        await asyncio.sleep(0.5)


async def _run(arguments: argparse.Namespace) -> dict[str, Any]:
    crd = serving.find_crd(arguments.crd)
    work_dir = Path(tempfile.mkdtemp(prefix="replicas-benchmark-"))
    emulator = EmulatorProcess(crd)
    serving.progress(f"emulator (child process) at {emulator.url}; logs in {work_dir}")
    environment = {serving.CONFIG_ENV: str(serving.operator_config(work_dir, emulator.kubeconfig, NAMESPACE))}
    replicas = [
        ConnectorServer(label, [serving.OPERATOR_MODULE], work_dir, environment) for label in ("first", "second")
    ]
    creates = create_requests(
        serving.OPERATOR_TASK_TYPE, serving.OPERATOR_TASK_TYPE_VERSION, NAMESPACE, range(arguments.tasks), 2
    )
    options = [("grpc.service_config", _bundle_service_config(crd)), ("grpc.service_config_disable_resolution", 1)]
    try:
        async with AsyncExitStack() as stack:
            for replica in replicas:
                replica.start()
                stack.callback(replica.stop)
            for replica in replicas:
                alone = await stack.enter_async_context(grpc.aio.insecure_channel(replica.address))
                await serving.wait_until_serving(alone, replica)
            target = "ipv4:" + ",".join(replica.address for replica in replicas)  # the ports are known now
            channel = await stack.enter_async_context(grpc.aio.insecure_channel(target, options=options))
            stub = AsyncAgentServiceStub(channel)
            before = [_served(replica) for replica in replicas]
            serving.progress(f"creating {arguments.tasks} tasks through {target}")
            metas, create_calls = await create_tasks(stub, creates, arguments.concurrency)
            gets = [get_request(serving.OPERATOR_TASK_TYPE, serving.OPERATOR_TASK_TYPE_VERSION, meta) for meta in metas]
            emulator.command(
                "set_phase", resource=serving.PARALLEL_JOBS, namespace=NAMESPACE, phase="Running", workers=2
            )
            running_visible_s = await _until_all_running(stub, gets, arguments.concurrency)
            created = [_served(replica) for replica in replicas]
            requests_before = emulator.command("counts", resource=serving.PARALLEL_JOBS)
            serving.progress(f"{arguments.rounds} polling rounds over {arguments.tasks} tasks")
            phases, polls = await poll_rounds(stub, gets, arguments.concurrency, arguments.rounds, arguments.interval)
            requests_after = emulator.command("counts", resource=serving.PARALLEL_JOBS)
            polled = [_served(replica) for replica in replicas]
    finally:
        emulator.close()
    get_calls = len(polls.latencies)
    emulator_requests = {verb: requests_after[verb] - requests_before[verb] for verb in requests_after}
    return {
        "benchmark": "replicas",
        "tasks": arguments.tasks,
        "target": "ipv4: both replicas, the bundle's defaultServiceConfig (round_robin)",
        "replicas": {
            replica.label: {
                "until_running": _delta(before[index], created[index]),
                "polling": _delta(created[index], polled[index]),
            }
            for index, replica in enumerate(replicas)
        },
        "get_calls": get_calls,
        "api_requests_during_polling": {verb: count for verb, count in emulator_requests.items() if count},
        "api_requests_per_get": round(emulator_requests["get"] / get_calls, 4),
        "get_p50_ms": percentile_ms(polls.latencies, 0.50),
        "get_p99_ms": percentile_ms(polls.latencies, 0.99),
        "get_per_s": round(get_calls / polls.wall_seconds, 1),
        "create_per_s": round(arguments.tasks / create_calls.wall_seconds, 1),
        "running_visible_s": round(running_visible_s, 3),
        "phases": dict(Counter(phases)),
    }


def main(argv: list[str] | None = None) -> int:
    print(json.dumps(asyncio.run(_run(_arguments(argv)))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
