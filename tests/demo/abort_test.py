"""Ctrl-C on demo:local: the run aborts its task, the ParallelJob and its Jobs are deleted.

Its own file (a process of its own), so it runs beside local_run_test's end-to-end runs.
"""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

from demo.demo_process import DEMO_COMMAND, RUN_TIMEOUT_SECONDS, demo_environment
from kube_emulator import wait_for_output


def test_sigint_deletes_the_parallel_job_and_its_jobs(tmp_path: Path) -> None:
    log_path = tmp_path / "demo.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*DEMO_COMMAND, "--workflow", "main", "--linger-seconds", "300"],
            env=demo_environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            wait_for_output(process, log_path, "log link kubectl logs (worker 2)", RUN_TIMEOUT_SECONDS)
            process.send_signal(signal.SIGINT)
            returncode = process.wait(RUN_TIMEOUT_SECONDS)
        finally:
            if process.poll() is None:
                process.kill()
    output = log_path.read_text()
    assert returncode == 130, output
    assert "ABORTED: deleted ParallelJob local-" in output and "nothing of the run is left" in output
    assert re.search(r"\] ABORTED: deleted ParallelJob flytesnacks-development/local-[0-9a-f]+ ", output), output
    assert "RESULT of workflow" not in output
