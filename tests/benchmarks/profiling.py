"""Optional: sample a connector process with py-spy while it serves (an investigation aid).

py-spy is not a repo requirement: install it into a dev venv (`pip install py-spy`) and pass
`--profile-dir DIR` to the benchmark. Without py-spy on PATH the option is refused.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any


class Sampler:
    """`py-spy record` on one process, writing collapsed stacks (flamegraph input) to ``output``."""

    def __init__(self, pid: int, output: Path) -> None:
        executable = shutil.which("py-spy")
        if executable is None:
            raise SystemExit("--profile-dir needs py-spy on PATH (pip install py-spy into a dev venv)")
        self.output = output
        # --nonblocking: read the stacks without pausing the process, so latencies stay honest.
        command = [executable, "record", "--pid", str(pid), "--format", "raw", "--rate", "200", "--nonblocking"]
        self._process: subprocess.Popen[Any] = subprocess.Popen(
            [*command, "--threads", "--output", str(output)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        self._process.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        self._process.wait(60)
