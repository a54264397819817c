"""The compact summary printed after each workflow: timelines, what workers shared, pod logs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from flyteidl.core.errors_pb2 import ErrorDocument

from embedded_cluster.observer import ClusterObserver, ObservedObject
from flytekitplugins.k8s_operator.constants import EXCHANGE_PREFIX_ENV, WORKER_OUTPUT_SUBDIR

LOG_TAIL_LINES = 6
Print = Callable[[str], None]


def exchange_prefix(observed: ObservedObject) -> str:
    """Where the ParallelJob's workers shared values (the env the connector set)."""
    containers = (((observed.last.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    for variable in (containers[0].get("env") or []) if containers else []:
        if variable.get("name") == EXCHANGE_PREFIX_ENV:
            return str(variable.get("value") or "")
    return ""


def shared_values(observed: ObservedObject) -> list[Any]:
    """The values the workers ``share()``d, read from a local exchange directory (empty otherwise)."""
    directory = Path(exchange_prefix(observed))
    if not exchange_prefix(observed) or not directory.is_dir():
        return []
    files = sorted(directory.glob("*.json"), key=lambda path: int(path.stem) if path.stem.isdigit() else -1)
    return [json.loads(path.read_text(encoding="utf-8")) for path in files]


def worker_error(observed: ObservedObject, index: int) -> str:
    """The error a worker's ``pyflyte-execute`` wrote (``error.pb``), if it is a local file."""
    prefix = exchange_prefix(observed).removesuffix("/exchange")
    if not prefix:
        return ""
    output_dir = Path(prefix) if index == 0 else Path(prefix, WORKER_OUTPUT_SUBDIR, str(index))
    error_file = output_dir / "error.pb"
    if not error_file.is_file():
        return ""
    document = ErrorDocument()
    document.ParseFromString(error_file.read_bytes())
    lines = [line.strip() for line in document.error.message.splitlines() if line.strip()]
    return f"{document.error.code}: {lines[-1] if lines else ''}"


def _tail(text: str, lines: int = LOG_TAIL_LINES) -> list[str]:
    return [line for line in text.splitlines() if line.strip()][-lines:]


def exit_code(pod: dict[str, Any]) -> str:
    """The pod's container exit code, or ``-`` while it has none."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (status.get("state") or {}).get("terminated") or {}
        if "exitCode" in terminated:
            return str(terminated["exitCode"])
    return "-"


def print_object(observer: ClusterObserver, observed: ObservedObject, out: Print) -> None:
    """One object's timeline, then what its workers shared, why they failed, or its pods' logs."""
    what = f"task {observed.task_name}" if observed.task_name else "a CustomResourceTask's object"
    out(f"  {observed.kind} {observed.namespace}/{observed.name} ({what})")
    for elapsed, text in observed.timeline:
        out(f"    {elapsed:7.1f}s  {text}")
    if observed.kind != "ParallelJob":
        for pod in observer.pod_objects(observed):
            name = pod["metadata"]["name"]
            out(f"    pod {name} ({(pod.get('status') or {}).get('phase')}, exit code {exit_code(pod)}) log:")
            for line in _tail(observer.pod_log(name)) or ["(empty)"]:
                out(f"      {line}")
        return
    for value in shared_values(observed):
        out(f"    shared by worker {value.get('worker', '?') if isinstance(value, dict) else '?'}: {value}")
    status = observed.last.get("status") or {}
    if status.get("phase") != "Failed":
        return
    pods = observer.pod_objects(observed)
    for worker in status.get("workers") or []:
        if worker.get("phase") != "Failed" and not worker.get("restarts"):
            continue
        index = int(worker.get("index") or 0)
        for pod in (p for p in pods if p["metadata"]["name"].startswith(f"{worker.get('job')}-")):
            phase = (pod.get("status") or {}).get("phase")
            out(f"    worker {index} pod {pod['metadata']['name']}: {phase}, exit code {exit_code(pod)}")
        error = worker_error(observed, index)
        if error:
            out(f"    worker {index} error (its error.pb): {error}")


def print_summary(observer: ClusterObserver, objects: Iterable[ObservedObject], out: Print = print) -> None:
    """Every object the workflow created, in creation order."""
    for observed in objects:
        print_object(observer, observed, out)
