"""``./pants run demo:local`` (or ``python -m flyte_operator_demo.local``): the demo end to end,
or your own workflow: ``./pants run demo:local -- path/to/my_workflows.py my_wf --x 1``.

Without ``KUBECONFIG`` it needs no cluster and no container engine: it starts the embedded
cluster (the Kubernetes API emulator with the bundle's ParallelJob CRD, the example operator and
the local kubelet), writes the connector's configuration, and runs the workflows with
``pyflyte run``. The tasks go SDK -> connector -> ParallelJob -> operator -> Jobs -> kubelet
(worker processes) -> outputs. With ``KUBECONFIG`` set (and the bundle installed there) it runs
against that cluster instead.

Ctrl-C aborts: flytekit asks the connector to delete the object, and the demo checks that the
object, its Jobs and their pods are gone. Each run's objects are kept until their summary (pod
logs included) is printed, then deleted, so nothing of a finished run stays in the cluster.
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
from pathlib import Path

import kubernetes.config  # type: ignore[import-untyped]

from embedded_cluster.cluster import EmbeddedCluster
from embedded_cluster.connector_config import DEFAULT_NAMESPACE, write_connector_config
from embedded_cluster.connector_server import CONNECTOR_CONFIG_ENV
from embedded_cluster.crd import find_crd
from embedded_cluster.observer import ClusterObserver
from embedded_cluster.worker_environment import module_root, prepare_worker_environment
from embedded_cluster.workflow_run import (
    KEEP_OBJECTS_ENV,
    WorkflowRun,
    clean_up,
    print_run,
    run_workflow,
    verify_abort,
)
from flyte_operator_demo import workflows
from flyte_operator_demo.shaped_run import describe_worker_pod, ensure_demo_secret

WORKFLOWS = ("main", "shaped", "failing")
EXIT_ABORTED = 130


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="demo:local",
        usage="%(prog)s [options] [WORKFLOW_FILE WORKFLOW_NAME [WORKFLOW_INPUTS ...]]",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("workflow_file", nargs="?", type=Path, help="your workflow file (default: the demo's)")
    parser.add_argument("workflow_name", nargs="?", help="the workflow (or task) in it to run")
    parser.add_argument(
        "workflow_inputs", nargs=argparse.REMAINDER, help="its inputs as pyflyte run takes them, e.g. --x 1"
    )
    parser.add_argument("--workflow", choices=[*WORKFLOWS, "all"], default="all", help="the demo's: what to run")
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
    options = parser.parse_args(argv)
    if options.workflow_file is not None:
        if not options.workflow_file.is_file():
            parser.error(f"WORKFLOW_FILE {options.workflow_file}: no such file")
        if not options.workflow_name:
            parser.error(f"WORKFLOW_NAME: which workflow of {options.workflow_file} to run")
        if options.workflow != "all":
            parser.error("--workflow picks one of the demo's workflows; with WORKFLOW_FILE, name yours instead")
    return options


def _say(text: str = "") -> None:
    print(text, flush=True)


@contextmanager
def kubernetes_target(options: argparse.Namespace, work_dir: Path) -> Iterator[tuple[Path | None, str]]:
    """The cluster to run on: (kubeconfig for the connector, description); starts the embedded one."""
    kubeconfig = os.environ.get("KUBECONFIG", "").strip()
    # Child interpreters (pyflyte, the operator, local workers) import what this one imports,
    # and the user's workflow module from where pyflyte imports it.
    code_dirs = [str(module_root(options.workflow_file))] if options.workflow_file else []
    zygote = prepare_worker_environment(os.environ, work_dir / "bin", code_dirs)
    if kubeconfig and not options.emulator:
        _say(f"KUBECONFIG is set: running against that cluster ({kubeconfig}); the bundle must be installed there")
        yield (Path(kubeconfig.split(os.pathsep)[0]), "your cluster")
        return
    started = time.monotonic()
    with EmbeddedCluster(find_crd(), work_dir, zygote) as cluster:
        timings = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in cluster.startup_seconds.items())
        _say(f"local cluster up in {time.monotonic() - started:.1f}s ({timings})")
        _say(f"  API emulator at {cluster.emulator.url}, operator log {cluster.operator.log_path},")
        _say("  kubelet running worker pods as local processes")
        yield (cluster.kubeconfig, "the local API emulator")


def pyflyte_arguments(
    options: argparse.Namespace, workflow_file: str, workflow: str, inputs: Sequence[str]
) -> list[str]:
    arguments = ["run"]
    if options.raw_output_data_prefix:
        arguments += ["--raw-output-data-prefix", options.raw_output_data_prefix]
    return [*arguments, workflow_file, workflow, *inputs]


def demo_inputs(workflow: str, options: argparse.Namespace) -> list[str]:
    if workflow == "main":
        return ["--n", str(options.n), "--linger_seconds", str(options.linger_seconds)]
    return []


def as_expected(run: WorkflowRun, n: int, secret: str) -> bool:
    """``main`` and ``shaped`` must succeed (``shaped`` with the secret's digest); ``failing`` must fail."""
    if run.outcome.interrupted:
        return False
    if run.workflow == "shaped" and run.outcome.result != workflows.secret_digest(secret):
        return False
    return (run.outcome.returncode == 0) == (run.workflow != "failing")


def report_demo(run: WorkflowRun, observer: ClusterObserver, n: int, secret: str) -> None:
    if run.workflow == "shaped":
        if run.outcome.returncode == 0:
            verdict = "matches" if run.outcome.result == workflows.secret_digest(secret) else "DOES NOT match"
            _say(f"  the digest {verdict} the Secret {workflows.SECRET_GROUP} created for this run")
        for observed in run.objects:
            for pod in observer.pod_objects(observed)[:1] if observed.kind == "ParallelJob" else []:
                for line in describe_worker_pod(pod):
                    _say(f"  worker pod: {line}")
    if run.outcome.returncode == 0:
        _say(f"RESULT of workflow {run.workflow}: {run.outcome.result}   ({run.seconds:.1f}s)")
        if run.workflow == "main" and run.outcome.result == str(workflows.expected_sum_of_squares(n)):
            _say(f"  = sum(i*i for i in range({n})): every one of the {workflows.WORKERS} workers contributed")
    elif run.workflow == "failing":
        _say(f"workflow failing FAILED as intended ({run.seconds:.1f}s); see the connector's message above.")
        _say(
            "  Locally the operator restarted the failing worker once (max_restarts=1); "
            "flytekit's local executor does not retry tasks, a Flyte cluster runs the task again (retries=1)."
        )
    else:
        _say(f"workflow {run.workflow} FAILED unexpectedly (exit {run.outcome.returncode}, {run.seconds:.1f}s)")


def report_own(run: WorkflowRun) -> None:
    if run.outcome.returncode == 0:
        _say(f"RESULT of workflow {run.workflow}: {run.outcome.result}   ({run.seconds:.1f}s)")
    else:
        _say(
            f"workflow {run.workflow} FAILED (exit {run.outcome.returncode}, {run.seconds:.1f}s); see pyflyte's output"
        )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    own = options.workflow_file is not None
    selected = (options.workflow_name,) if own else WORKFLOWS if options.workflow == "all" else (options.workflow,)
    workflow_file = str(options.workflow_file.resolve()) if own else workflows.__file__
    shown_root = os.path.dirname(os.path.dirname(workflows.__file__)) + "/"
    work_dir = Path(tempfile.mkdtemp(prefix="flyte-operator-demo-"))
    started = time.monotonic()
    runs: list[WorkflowRun] = []
    aborted_cleanly: bool | None = None
    try:
        with kubernetes_target(options, work_dir) as (kubeconfig, where):
            config = write_connector_config(work_dir / "connector.yaml", kubeconfig, options.namespace)
            environment = {**os.environ, CONNECTOR_CONFIG_ENV: str(config), KEEP_OBJECTS_ENV: "1"}
            api_client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig) if kubeconfig else None)
            secret = ensure_demo_secret(api_client, options.namespace) if not own and "shaped" in selected else ""
            observer = ClusterObserver(api_client, options.namespace).start()
            try:
                for workflow in selected:
                    inputs = options.workflow_inputs if own else demo_inputs(workflow, options)
                    arguments = pyflyte_arguments(options, workflow_file, workflow, inputs)
                    shown = [argument.replace(shown_root, "") for argument in arguments]
                    run = run_workflow(workflow, arguments, environment, observer, options.timeout, _say, shown)
                    runs.append(run)
                    print_run(run, observer, _say)
                    if run.outcome.interrupted:
                        aborted_cleanly = verify_abort(observer, _say)
                        break
                    if own:
                        report_own(run)
                    else:
                        report_demo(run, observer, options.n, secret)
                    clean_up(run, observer, _say)
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
    _say(f"timings: total {time.monotonic() - started:.1f}s ({timings})")
    if aborted_cleanly is not None:
        return EXIT_ABORTED if aborted_cleanly else 1
    if own:
        return runs[0].outcome.returncode
    return 0 if all(as_expected(run, options.n, secret) for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
