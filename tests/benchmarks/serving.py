"""What every connector benchmark shares: the operator connector's configuration, waiting until a
server answers or a task shows a phase, the CRD's location and progress lines on stderr."""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import grpc
import yaml
from flyteidl.core.execution_pb2 import TaskExecution
from flyteidl.service.agent_pb2_grpc import AsyncAgentServiceStub

from benchmarks.load import get_tasks
from benchmarks.processes import ConnectorServer

CRD = Path("operator_bundle/config/crd/bases/workloads.example.com_paralleljobs.yaml")
PARALLEL_JOBS = "paralleljobs"
OPERATOR_MODULE = "k8s_operator_connector.flytekit_entry_point"
OPERATOR_TASK_TYPE = "parallel_job"
OPERATOR_TASK_TYPE_VERSION = 1
CONFIG_ENV = "K8S_OPERATOR_CONNECTOR_CONFIG"
# Propeller's connector plugin refreshes task states with 10 workers by default
# (flyteplugins webapi/agent config: webApi.caching.workers = 10).
PROPELLER_WORKERS = 10


def find_crd(given: Path | None = None) -> Path:
    if given is not None:
        return given
    for base in (Path.cwd(), *Path(__file__).resolve().parents):
        if (base / CRD).is_file():
            return base / CRD
    raise SystemExit(f"cannot find {CRD}: run from the buildroot or pass --crd")


def progress(message: str) -> None:
    print(f"[benchmark {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def operator_config(work_dir: Path, kubeconfig: Path, namespace: str) -> Path:
    """Our connector's settings: this namespace only, and an API rate limit the benchmark never
    hits. Every connector started with this file shares its signing key (a restart, a replica)."""
    path = work_dir / "operator-connector.yaml"
    keys = work_dir / "meta-signing-keys"
    keys.write_text(secrets.token_hex(32) + "\n")
    settings = {
        "metaSigning": {"mode": "required", "keysPath": str(keys)},
        "namespaces": [namespace],
        "taskPolicy": {"namespaces": [namespace]},
        "defaultNamespace": namespace,
        "taskTypes": [OPERATOR_TASK_TYPE],
        "api": {"qps": 100000, "burst": 100000, "kubeconfig": str(kubeconfig)},
    }
    path.write_text(yaml.safe_dump(settings))
    return path


async def wait_until_serving(channel: grpc.aio.Channel, server: ConnectorServer, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        server.check_alive()
        try:
            await asyncio.wait_for(channel.channel_ready(), timeout=1.0)
            return
        except TimeoutError as error:
            if time.monotonic() > deadline:
                message = f"{server.label} connector not serving after {timeout:.0f}s:\n{server.log_tail()}"
                raise RuntimeError(message) from error


async def wait_for_phase(stub: AsyncAgentServiceStub, request: Any, phase: int, timeout: float = 300.0) -> float:
    """Seconds until GetTask answers ``phase`` for this task."""
    started = time.perf_counter()
    while True:
        phases, _ = await get_tasks(stub, [request], 1)
        if phases.get(TaskExecution.Phase.Name(phase)):
            return time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"GetTask did not answer {TaskExecution.Phase.Name(phase)} within {timeout:.0f}s")
        await asyncio.sleep(0.05)
