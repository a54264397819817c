"""``./pants run common/embedded_cluster:start`` (``python -m embedded_cluster``): the embedded cluster
as a tool of its own.

It starts the Kubernetes API emulator with the example operator's CRD, the example operator, the
local kubelet and the connector served over gRPC, prints the environment with which
``pyflyte run any_workflow.py wf`` in another shell runs against it, and runs until Ctrl-C
(or SIGTERM), when it stops everything it started.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from embedded_cluster.cluster import EmbeddedCluster
from embedded_cluster.connector_config import DEFAULT_NAMESPACE, write_connector_config
from embedded_cluster.connector_server import CONNECTOR_CONFIG_ENV, ConnectorServer
from embedded_cluster.crd import find_crd
from embedded_cluster.worker_environment import prepare_worker_environment

#: The connector's gRPC address (``HOST:PORT``), for clients that call it as propeller does.
CONNECTOR_ADDRESS_ENV = "EMBEDDED_CLUSTER_CONNECTOR"
PYFLYTE_FROM_SOURCES = "./pants --concurrent run common/embedded_cluster:pyflyte --"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="embedded_cluster", description=__doc__.split("\n\n")[1])
    parser.add_argument("--crd", type=Path, help="the ParallelJob CRD (default: the bundle's, found from here)")
    parser.add_argument(
        "--namespace", default=DEFAULT_NAMESPACE, help=f"the tasks' namespace (default {DEFAULT_NAMESPACE})"
    )
    parser.add_argument(
        "--workflows-dir",
        type=Path,
        action="append",
        default=[],
        help="a directory worker pods import workflow modules from (repeatable; default: the current directory)",
    )
    parser.add_argument("--env-file", type=Path, help="also write the environment as `export` lines to this file")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, kubeconfig) on exit")
    options = parser.parse_args(argv)
    for directory in options.workflows_dir:
        if not directory.is_dir():
            parser.error(f"--workflows-dir {directory}: not a directory")
    if options.crd is not None and not options.crd.is_file():
        parser.error(f"--crd {options.crd}: no such file")
    return options


def environment(cluster: EmbeddedCluster, config: Path, connector: ConnectorServer) -> dict[str, str]:
    """What a shell needs to run workflows against the cluster."""
    return {
        "KUBECONFIG": str(cluster.kubeconfig),
        CONNECTOR_CONFIG_ENV: str(config),
        CONNECTOR_ADDRESS_ENV: connector.address,
    }


def export_lines(settings: dict[str, str]) -> list[str]:
    return [f"export {name}={shlex.quote(value)}" for name, value in settings.items()]


def wait_for_stop_signal() -> str:
    """Blocks until SIGINT or SIGTERM; returns its name."""
    received: list[str] = []
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(1.0):
            pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return received[0]


def _say(text: str = "") -> None:
    print(text, flush=True)


def print_ready(
    cluster: EmbeddedCluster, connector: ConnectorServer, settings: dict[str, str], code_dirs: list[str], seconds: float
) -> None:
    timings = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in cluster.startup_seconds.items())
    operator = cluster.operator
    _say(f"embedded cluster up in {seconds:.1f}s ({timings})")
    _say(f"  API emulator {cluster.emulator.url}; operator pid {operator.pid}, log {operator.log_path}")
    _say(f"  connector {connector.address} (gRPC, as propeller calls it); connector pid {connector.pid}")
    _say(f"  connector log {connector.log_path}")
    _say(f"  worker pods run as local processes; they import workflows from {os.pathsep.join(code_dirs)}")
    _say("\nIn another shell, run any workflow against it:\n")
    for line in export_lines(settings):
        _say(line)
    _say("pyflyte run my_workflows.py my_wf   # with the SDK and connector wheels installed")
    _say(f"# from this repository: {PYFLYTE_FROM_SOURCES} run my_workflows.py my_wf")


def serve(options: argparse.Namespace, work_dir: Path) -> None:
    code_dirs = [str(directory.resolve()) for directory in options.workflows_dir] or [os.getcwd()]
    # Worker pods are processes of this interpreter that import the workflows like pyflyte did.
    zygote = prepare_worker_environment(os.environ, work_dir / "bin", code_dirs)
    started = time.monotonic()
    with EmbeddedCluster(options.crd or find_crd(), work_dir, zygote) as cluster:
        config = write_connector_config(work_dir / "connector.yaml", cluster.kubeconfig, options.namespace)
        connector = ConnectorServer(config, work_dir / "connector.log")
        try:
            connector_started = time.monotonic()
            connector.start()
            cluster.startup_seconds["connector"] = time.monotonic() - connector_started
            settings = environment(cluster, config, connector)
            if options.env_file:
                options.env_file.write_text("\n".join(export_lines(settings)) + "\n", encoding="utf-8")
            print_ready(cluster, connector, settings, code_dirs, time.monotonic() - started)
            _say("\nCtrl-C stops the cluster.")
            received = wait_for_stop_signal()
            _say(f"\n{received}: stopping the connector, the kubelet, the operator and the API emulator")
            connector.request_stop()
            cluster.operator.request_stop()
        finally:
            connector.stop()
    _say("stopped; nothing of the embedded cluster is left running")


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    work_dir = Path(tempfile.mkdtemp(prefix="embedded-cluster-"))
    try:
        serve(options, work_dir)
    except (RuntimeError, TimeoutError, FileNotFoundError) as error:
        print(f"embedded cluster: could not start: {error}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:  # Ctrl-C while starting: what had started is stopped
        _say("interrupted while starting; stopped")
        return 130
    finally:
        if options.keep:
            _say(f"work directory kept: {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
