"""``./pants run demo:local`` (or ``python -m flyte_operator_demo.local``): the demo end to end.

Without ``KUBECONFIG`` it needs no cluster and no container engine: it starts the Kubernetes API
emulator with the bundle's ParallelJob CRD, the example operator and the local kubelet, writes
the connector's configuration, and runs the workflows with ``pyflyte run``. The tasks go
SDK -> connector -> ParallelJob -> operator -> Jobs -> kubelet (worker processes) -> outputs.
With ``KUBECONFIG`` set (and the bundle installed there) it runs against that cluster instead.

Ctrl-C aborts: flytekit asks the connector to delete the object, and the demo checks that the
object, its Jobs and their pods are gone. The demo keeps each run's objects
(``FLYTE_K8S_OPERATOR_KEEP_OBJECTS=1``) until it has printed their summary (pod logs included),
then deletes them, so nothing of a finished run stays in the cluster.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import kubernetes.config  # type: ignore[import-untyped]

from embedded_cluster.cluster import EmbeddedCluster
from embedded_cluster.connector_config import DEFAULT_NAMESPACE, write_connector_config
from embedded_cluster.crd import find_crd
from embedded_cluster.observer import ClusterObserver, ObservedObject
from embedded_cluster.pyflyte_process import PyflyteOutcome, run_pyflyte
from embedded_cluster.summary import print_summary
from embedded_cluster.worker_environment import prepare_worker_environment
from flyte_operator_demo import workflows
from flyte_operator_demo.shaped_run import describe_worker_pod, ensure_demo_secret
from kube_emulator import wait_until

CONNECTOR_CONFIG_ENV = "K8S_OPERATOR_CONNECTOR_CONFIG"
KEEP_OBJECTS_ENV = "FLYTE_K8S_OPERATOR_KEEP_OBJECTS"
WORKFLOWS = ("main", "shaped", "failing")
EXIT_ABORTED = 130
CLEANUP_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class WorkflowRun:
    """One ``pyflyte run`` of a demo workflow."""

    workflow: str
    outcome: PyflyteOutcome
    objects: tuple[ObservedObject, ...]
    seconds: float
    n: int
    secret: str = ""

    @property
    def as_expected(self) -> bool:
        """``main`` and ``shaped`` must succeed (``shaped`` with the secret's digest); ``failing`` must fail."""
        if self.outcome.interrupted:
            return False
        if self.workflow == "shaped" and self.outcome.result != workflows.secret_digest(self.secret):
            return False
        return (self.outcome.returncode == 0) == (self.workflow != "failing")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="demo:local", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workflow", choices=[*WORKFLOWS, "all"], default="all", help="what to run (default all)")
    parser.add_argument("--n", type=int, default=1000, help="main: sum the squares of 0..n-1 (default 1000)")
    parser.add_argument(
        "--linger-seconds", type=int, default=0, help="main: keep the workers busy this long first (try Ctrl-C)"
    )
    parser.add_argument("--namespace", default=DEFAULT_NAMESPACE, help=f"default {DEFAULT_NAMESPACE}")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per workflow (default 600)")
    parser.add_argument("--emulator", action="store_true", help="use the API emulator even when KUBECONFIG is set")
    parser.add_argument(
        "--raw-output-data-prefix",
        default="",
        help="with a real cluster: a blob store prefix both this machine and the pods can use (s3://...)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, configs)")
    return parser.parse_args(argv)


def _say(text: str = "") -> None:
    print(text, flush=True)


@contextmanager
def kubernetes_target(options: argparse.Namespace, work_dir: Path) -> Iterator[tuple[Path | None, str]]:
    """The cluster to run on: (kubeconfig for the connector, description); starts the local one."""
    kubeconfig = os.environ.get("KUBECONFIG", "").strip()
    # Child interpreters (pyflyte, the operator, local workers) import what this one imports.
    prepare_worker_environment(os.environ, work_dir / "bin")
    if kubeconfig and not options.emulator:
        _say(f"KUBECONFIG is set: running against that cluster ({kubeconfig}); the bundle must be installed there")
        yield (Path(kubeconfig.split(os.pathsep)[0]), "your cluster")
        return
    crd = find_crd()
    started = time.monotonic()
    with EmbeddedCluster(crd, work_dir) as cluster:
        timings = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in cluster.startup_seconds.items())
        _say(f"local cluster up in {time.monotonic() - started:.1f}s ({timings})")
        _say(f"  API emulator at {cluster.emulator.url}, operator log {cluster.operator.log_path},")
        _say("  kubelet running worker pods as local processes")
        yield (cluster.kubeconfig, "the local API emulator")


def _api_client(kubeconfig: Path | None) -> object:
    return kubernetes.config.new_client_from_config(config_file=str(kubeconfig) if kubeconfig else None)


def run_workflow(
    workflow: str, options: argparse.Namespace, environment: dict[str, str], observer: ClusterObserver, secret: str = ""
) -> WorkflowRun:
    arguments = ["run"]
    if options.raw_output_data_prefix:
        arguments += ["--raw-output-data-prefix", options.raw_output_data_prefix]
    arguments += [workflows.__file__, workflow]
    if workflow == "main":
        arguments += ["--n", str(options.n), "--linger_seconds", str(options.linger_seconds)]
    before = {(o.kind, o.name) for o in observer.objects()}
    shown = [argument.replace(os.path.dirname(os.path.dirname(workflows.__file__)) + "/", "") for argument in arguments]
    _say(f"\n=== pyflyte {' '.join(shown)}")
    started = time.monotonic()
    outcome = run_pyflyte(arguments, environment, options.timeout)
    seconds = time.monotonic() - started
    observer.poll_once()
    created = tuple(o for o in observer.objects() if (o.kind, o.name) not in before)
    return WorkflowRun(workflow, outcome, created, seconds, options.n, secret)


def report(run: WorkflowRun, observer: ClusterObserver) -> None:
    _say(f"--- {run.workflow}: what happened in the cluster (seconds since the demo started)")
    print_summary(observer, run.objects, _say)
    if run.outcome.interrupted:
        return
    if run.workflow == "shaped":
        report_shaped(run, observer)
    if run.outcome.returncode == 0:
        _say(f"RESULT of workflow {run.workflow}: {run.outcome.result}   ({run.seconds:.1f}s)")
        if run.workflow == "main" and run.outcome.result == str(workflows.expected_sum_of_squares(run.n)):
            _say(f"  = sum(i*i for i in range({run.n})): every one of the {workflows.WORKERS} workers contributed")

    elif run.workflow == "failing":
        _say(f"workflow failing FAILED as intended ({run.seconds:.1f}s); see the connector's message above.")
        _say(
            "  Locally the operator restarted the failing worker once (max_restarts=1); "
            "flytekit's local executor does not retry tasks, a Flyte cluster runs the task again (retries=1)."
        )
    else:
        _say(f"workflow {run.workflow} FAILED unexpectedly (exit {run.outcome.returncode}, {run.seconds:.1f}s)")


def report_shaped(run: WorkflowRun, observer: ClusterObserver) -> None:
    if run.outcome.returncode == 0:
        matches = run.outcome.result == workflows.secret_digest(run.secret)
        verdict = "matches" if matches else "DOES NOT match"
        _say(f"  the digest {verdict} the Secret {workflows.SECRET_GROUP} created for this run")
    for observed in run.objects:
        for pod in observer.pod_objects(observed)[:1] if observed.kind == "ParallelJob" else []:
            for line in describe_worker_pod(pod):
                _say(f"  worker pod: {line}")


def clean_up(run: WorkflowRun, observer: ClusterObserver) -> None:
    """Deletes the run's objects (kept for the summary) and waits until they are gone."""
    for observed in run.objects:
        observer.delete(observed)
    try:  # earlier runs were cleaned up already: whatever remains is this run's
        wait_until(lambda: not observer.remaining(), timeout=CLEANUP_TIMEOUT_SECONDS, interval=0.5, what="cleanup")
    except TimeoutError:
        _say(f"  still present after {CLEANUP_TIMEOUT_SECONDS:.0f}s: {', '.join(observer.remaining())}")
        return
    _say(f"  deleted {', '.join(f'{o.kind} {o.name}' for o in run.objects) or 'nothing'} with their Jobs and pods")


def verify_abort(observer: ClusterObserver) -> bool:
    """After Ctrl-C: waits until the demo's objects, their Jobs and pods are gone; says so."""
    _say("checking that the task's objects are gone ...")
    try:
        wait_until(lambda: not observer.remaining(), timeout=CLEANUP_TIMEOUT_SECONDS, interval=0.5, what="cleanup")
    except TimeoutError:
        _say(f"ABORTED, but still present after {CLEANUP_TIMEOUT_SECONDS:.0f}s: {', '.join(observer.remaining())}")
        return False
    observer.poll_once()
    deleted = [f"{o.kind} {o.name}" for o in observer.objects() if o.gone_at is not None]
    _say(f"ABORTED: deleted {', '.join(deleted)} with their Jobs and pods; nothing of the run is left in the cluster")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    selected = WORKFLOWS if options.workflow == "all" else (options.workflow,)
    work_dir = Path(tempfile.mkdtemp(prefix="flyte-operator-demo-"))
    demo_started = time.monotonic()
    runs: list[WorkflowRun] = []
    aborted_cleanly: bool | None = None
    try:
        with kubernetes_target(options, work_dir) as (kubeconfig, where):
            config = write_connector_config(work_dir / "connector.yaml", kubeconfig, options.namespace)
            environment = {**os.environ, CONNECTOR_CONFIG_ENV: str(config), KEEP_OBJECTS_ENV: "1"}
            api_client = _api_client(kubeconfig)
            secret = ensure_demo_secret(api_client, options.namespace) if "shaped" in selected else ""
            observer = ClusterObserver(api_client, options.namespace).start()
            try:
                for workflow in selected:
                    run = run_workflow(workflow, options, environment, observer, secret)
                    runs.append(run)
                    report(run, observer)
                    if not run.outcome.interrupted:
                        clean_up(run, observer)
                    if run.outcome.interrupted:
                        aborted_cleanly = verify_abort(observer)
                        break
            finally:
                observer.stop()
            _say(f"\nran on {where}; work directory {work_dir}")
    except subprocess.TimeoutExpired as error:
        _say(f"TIMEOUT: {error}")
        return 1
    finally:
        if not options.keep:
            shutil.rmtree(work_dir, ignore_errors=True)
    timings = ", ".join(f"{run.workflow} {run.seconds:.1f}s" for run in runs)
    _say(f"timings: total {time.monotonic() - demo_started:.1f}s ({timings})")
    if aborted_cleanly is not None:
        return EXIT_ABORTED if aborted_cleanly else 1
    return 0 if all(run.as_expected for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
