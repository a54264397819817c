"""One ``pyflyte run`` on a cluster, watched: what it created, its summary, and the cleanup after it.

Runs keep their objects (``FLYTE_K8S_OPERATOR_KEEP_OBJECTS=1`` in the environment) until the
summary has read their status and pod logs; :func:`clean_up` then deletes them. After a Ctrl-C,
:func:`verify_abort` checks that flytekit's abort left nothing behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from embedded_cluster.observer import ClusterObserver, ObservedObject
from embedded_cluster.pyflyte_process import PyflyteOutcome, run_pyflyte
from embedded_cluster.summary import print_summary
from kube_emulator import wait_until

KEEP_OBJECTS_ENV = "FLYTE_K8S_OPERATOR_KEEP_OBJECTS"
CLEANUP_TIMEOUT_SECONDS = 60.0
Say = Callable[[str], None]


@dataclass(frozen=True)
class WorkflowRun:
    """One ``pyflyte run`` of a workflow: how it ended, what it created, how long it took."""

    workflow: str
    outcome: PyflyteOutcome
    objects: tuple[ObservedObject, ...]
    seconds: float


def run_workflow(
    workflow: str,
    arguments: Sequence[str],
    environment: Mapping[str, str],
    observer: ClusterObserver,
    timeout: float,
    say: Say,
    shown: Sequence[str] | None = None,
) -> WorkflowRun:
    """``pyflyte ARGUMENTS`` (``shown`` is what to print instead); the objects it created.

    Raises:
        subprocess.TimeoutExpired: it ran longer than ``timeout``.
    """
    before = {(o.kind, o.name) for o in observer.objects()}
    say(f"\n=== pyflyte {' '.join(shown or arguments)}")
    started = time.monotonic()
    outcome = run_pyflyte(arguments, environment, timeout)
    seconds = time.monotonic() - started
    observer.poll_once()
    created = tuple(o for o in observer.objects() if (o.kind, o.name) not in before)
    return WorkflowRun(workflow, outcome, created, seconds)


def print_run(run: WorkflowRun, observer: ClusterObserver, say: Say) -> None:
    say(f"--- {run.workflow}: what happened in the cluster (seconds since the start)")
    print_summary(observer, run.objects, say)


def clean_up(run: WorkflowRun, observer: ClusterObserver, say: Say) -> None:
    """Deletes the run's objects (kept for the summary) and waits until they are gone."""
    for observed in run.objects:
        observer.delete(observed)
    try:  # earlier runs were cleaned up already: whatever remains is this run's
        wait_until(lambda: not observer.remaining(), timeout=CLEANUP_TIMEOUT_SECONDS, interval=0.5, what="cleanup")
    except TimeoutError:
        say(f"  still present after {CLEANUP_TIMEOUT_SECONDS:.0f}s: {', '.join(observer.remaining())}")
        return
    say(f"  deleted {', '.join(f'{o.kind} {o.name}' for o in run.objects) or 'nothing'} with their Jobs and pods")


def verify_abort(observer: ClusterObserver, say: Say) -> bool:
    """After Ctrl-C: waits until the run's objects, their Jobs and pods are gone; says so."""
    say("checking that the task's objects are gone ...")
    try:
        wait_until(lambda: not observer.remaining(), timeout=CLEANUP_TIMEOUT_SECONDS, interval=0.5, what="cleanup")
    except TimeoutError:
        say(f"ABORTED, but still present after {CLEANUP_TIMEOUT_SECONDS:.0f}s: {', '.join(observer.remaining())}")
        return False
    observer.poll_once()
    deleted = [f"{o.kind} {o.name}" for o in observer.objects() if o.gone_at is not None]
    say(f"ABORTED: deleted {', '.join(deleted)} with their Jobs and pods; nothing of the run is left in the cluster")
    return True
