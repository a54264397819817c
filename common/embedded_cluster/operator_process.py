"""The example operator (``python -m parallel_job_operator``) as a child process of the embedded cluster."""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from pathlib import Path

from embedded_cluster.child_process import ChildProcess, environment_with, free_port

OPERATOR_START_TIMEOUT_SECONDS = 120.0


def _answers_200(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class OperatorProcess(ChildProcess):
    """``python -m parallel_job_operator`` against a kubeconfig, ready once Kopf's probe answers."""

    def __init__(self, kubeconfig: Path, log_path: Path) -> None:
        super().__init__("operator", log_path)
        self.kubeconfig = kubeconfig

    def start(self) -> None:
        probe = f"http://127.0.0.1:{free_port()}/healthz"
        command = [sys.executable, "-m", "parallel_job_operator", "--all-namespaces", "--liveness", probe]
        self.launch(
            command, environment_with({"KUBECONFIG": str(self.kubeconfig), "PARALLEL_JOB_OPERATOR_RESYNC_SECONDS": "2"})
        )
        self.wait_until(lambda: _answers_200(probe), OPERATOR_START_TIMEOUT_SECONDS)
