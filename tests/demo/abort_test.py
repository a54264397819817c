"""Ctrl-C on demo:local: the run aborts its task, the ParallelJob and its Jobs are deleted.

Its own file (a process of its own), so it runs beside local_run_test's end-to-end runs.
"""

from __future__ import annotations

import re
from pathlib import Path

from demo.demo_process import DEMO_COMMAND, RUN_TIMEOUT_SECONDS, demo_environment
from kube_emulator import interrupt_once_logged


def test_sigint_deletes_the_parallel_job_and_its_jobs(tmp_path: Path) -> None:
    log_path = tmp_path / "demo.log"
    command = [*DEMO_COMMAND, "--workflow", "main", "--linger-seconds", "300"]
    returncode = interrupt_once_logged(
        command,
        demo_environment(),
        log_path,
        "log link kubectl logs (worker 2)",
        RUN_TIMEOUT_SECONDS,
        RUN_TIMEOUT_SECONDS,
    )
    output = log_path.read_text()
    assert returncode == 130, output
    assert "ABORTED: deleted ParallelJob local-" in output and "nothing of the run is left" in output
    assert re.search(r"\] ABORTED: deleted ParallelJob flytesnacks-development/local-[0-9a-f]+ ", output), output
    assert "RESULT of workflow" not in output
