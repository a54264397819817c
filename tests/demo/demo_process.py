"""demo:local's module as a child process, as `./pants run demo:local` starts it."""

from __future__ import annotations

import os
import subprocess
import sys

RUN_TIMEOUT_SECONDS = 600
DEMO_COMMAND = [sys.executable, "-m", "flyte_operator_demo.local"]


def demo_environment() -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if key != "KUBECONFIG"}
    environment["PYTHONPATH"] = os.pathsep.join(os.path.abspath(entry) for entry in sys.path if entry)
    return environment


def run_demo(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DEMO_COMMAND, *arguments],
        env=demo_environment(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
