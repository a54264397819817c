"""Runs ``pyflyte`` (with the connector) as a child process: output streamed and kept, Ctrl-C forwarded.

The child gets its own session, so a Ctrl-C on the terminal reaches only the parent (the demo), which
forwards exactly one SIGINT: flytekit's handler then asks the connector to delete the object
(once), and exits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import IO

ABORT_WAIT_SECONDS = 120.0


@dataclass(frozen=True)
class PyflyteOutcome:
    """How the run ended and what it printed."""

    returncode: int
    stdout_lines: tuple[str, ...]
    interrupted: bool

    @property
    def result(self) -> str:
        """The workflow's outputs as ``pyflyte run`` prints them (its last line), or empty."""
        if self.returncode != 0:
            return ""
        printed = [line for line in self.stdout_lines if line.strip()]
        return printed[-1].strip() if printed else ""


def pyflyte_command(arguments: Sequence[str]) -> list[str]:
    """``pyflyte ARGS`` as this interpreter runs it, with the connector registered."""
    return [sys.executable, "-m", "embedded_cluster.pyflyte_with_connector", *arguments]


def _tee(source: IO[str], kept: list[str], prefix: str) -> None:
    for line in source:
        kept.append(line.rstrip("\n"))
        sys.stdout.write(prefix + line)
        sys.stdout.flush()


def run_pyflyte(
    arguments: Sequence[str], environment: Mapping[str, str], timeout: float, prefix: str = "  | "
) -> PyflyteOutcome:
    """Runs ``pyflyte ARGS``; SIGINT (Ctrl-C) on this process aborts the run through flytekit.

    Raises:
        subprocess.TimeoutExpired: it ran longer than ``timeout`` (it is killed).
    """
    process = subprocess.Popen(
        pyflyte_command(arguments),
        env=dict(environment),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        start_new_session=True,
    )
    interrupted = threading.Event()

    def forward_interrupt(signum: int, frame: FrameType | None) -> None:
        if not interrupted.is_set():
            interrupted.set()
            print("\n^C: aborting; flytekit asks the connector to delete the task's object", flush=True)
            process.send_signal(signal.SIGINT)

    kept: list[str] = []
    assert process.stdout is not None
    reader = threading.Thread(target=_tee, args=(process.stdout, kept, prefix), daemon=True)
    reader.start()
    previous = signal.signal(signal.SIGINT, forward_interrupt)
    try:
        returncode = process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    finally:
        if interrupted.is_set() and process.poll() is None:
            process.wait(ABORT_WAIT_SECONDS)
        signal.signal(signal.SIGINT, previous)
        reader.join(10)
    return PyflyteOutcome(returncode, tuple(kept), interrupted.is_set())
