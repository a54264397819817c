"""Waiting on conditions instead of sleeping fixed amounts (tests run on loaded 2-core machines)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T | None], timeout: float = 60.0, interval: float = 0.02, what: str = "") -> T:
    """Poll `condition` until it returns something truthy; return that, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what or condition!r}")
        time.sleep(interval)


def wait_for_output(process: subprocess.Popen[Any], log_path: Path, text: str, timeout: float) -> str:
    """Wait until the log file of child ``process`` contains ``text``; return the log so far.

    Fails with the whole log if the child exits first or ``timeout`` seconds pass.
    """
    deadline = time.monotonic() + timeout
    while text not in (log := log_path.read_text()):
        assert process.poll() is None, log
        assert time.monotonic() < deadline, log
        time.sleep(0.5)
    return log


def interrupt_once_logged(
    command: Sequence[str], env: Mapping[str, str], log_path: Path, text: str, timeout: float, exit_timeout: float
) -> int:
    """Start ``command`` with its output in ``log_path``, press Ctrl-C (SIGINT) once the log shows
    ``text`` (within ``timeout`` s, else fail as :func:`wait_for_output` does) and return its exit
    code (within ``exit_timeout`` s). The child never outlives the call."""
    with log_path.open("w") as log:
        process = subprocess.Popen(list(command), env=dict(env), stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_output(process, log_path, text, timeout)
        process.send_signal(signal.SIGINT)
        return process.wait(exit_timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def process_gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (it no longer exists, or is a zombie nobody reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
