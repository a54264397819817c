"""A Kubernetes stand-in in this process: the API emulator, the example operator and a kubelet.

* the HTTP Kubernetes API emulator (``kube_emulator``) with the bundle's ParallelJob CRD,
  serving from a thread of this process;
* the example operator, ``python -m parallel_job_operator --all-namespaces``, as a child
  process in its own session (Ctrl-C reaches only the demo, which stops it last);
* the local kubelet (``kube_emulator.kubelet``), a thread that runs each Job's container
  command as a local process, with this process's environment.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO

from kube_emulator import KubeEmulator
from kube_emulator.kubelet import Kubelet

OPERATOR_START_TIMEOUT_SECONDS = 120.0
OPERATOR_STOP_TIMEOUT_SECONDS = 30.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class OperatorProcess:
    """``python -m parallel_job_operator`` against a kubeconfig, ready once Kopf's probe answers."""

    def __init__(self, kubeconfig: Path, log_path: Path) -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        port = _free_port()
        environment = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PARALLEL_JOB_OPERATOR_RESYNC_SECONDS": "2"}
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "parallel_job_operator",
                "--all-namespaces",
                "--liveness",
                f"http://127.0.0.1:{port}/healthz",
            ],
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_until_live(f"http://127.0.0.1:{port}/healthz")

    def _wait_until_live(self, url: str) -> None:
        deadline = time.monotonic() + OPERATOR_START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"the operator exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise TimeoutError(f"the operator was not live after {OPERATOR_START_TIMEOUT_SECONDS:.0f}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        """The last lines the operator printed."""
        if self._log is not None:
            self._log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(OPERATOR_STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()


class LocalCluster:
    """The emulator, the operator and the kubelet, started in that order and stopped in reverse."""

    def __init__(self, crd: Path, work_dir: Path) -> None:
        self.work_dir = work_dir
        self.emulator = KubeEmulator(crds=[crd])
        self.kubeconfig = work_dir / "kubeconfig"
        self.operator = OperatorProcess(self.kubeconfig, work_dir / "operator.log")
        self.kubelet: Kubelet | None = None
        self.startup_seconds: dict[str, float] = {}

    def start(self) -> LocalCluster:
        started = time.monotonic()
        self.emulator.start()
        self.emulator.write_kubeconfig(self.kubeconfig)
        self.startup_seconds["api emulator"] = time.monotonic() - started
        started = time.monotonic()
        self.operator.start()
        self.startup_seconds["operator"] = time.monotonic() - started
        started = time.monotonic()
        self.kubelet = Kubelet(self.emulator.api_client()).start()
        self.startup_seconds["kubelet"] = time.monotonic() - started
        return self

    def stop(self) -> None:
        if self.kubelet is not None:
            self.kubelet.stop()
        self.operator.stop()
        self.emulator.stop()

    def __enter__(self) -> LocalCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
