"""A long-running child process of the embedded cluster (the operator, the served connector).

Each child gets its own session, so a Ctrl-C on the terminal reaches only the parent, which stops
its children in order; output goes to a log file whose tail explains a failed start. Should the
parent be killed before it can stop them, Linux sends each child SIGTERM (``PR_SET_PDEATHSIG``,
set by util-linux's ``setpriv`` where it is installed), so none outlives it.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

STOP_TIMEOUT_SECONDS = 30.0
POLL_SECONDS = 0.2


def with_parent_death_signal(command: Sequence[str]) -> list[str]:
    """``command`` under ``setpriv --pdeathsig TERM``: SIGTERM when the thread that started it exits.

    Without ``setpriv`` (not Linux, or no util-linux) the command is returned as it is.
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *command] if setpriv else list(command)


#: Ports :func:`free_port` handed out in this process: each only once.
_handed_out: set[int] = set()
_EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST_PORT = 10000


def _listen_ports() -> range:
    """Ports below the kernel's ephemeral range, which outgoing connections draw their local port
    from (Linux: ip_local_port_range, 32768-60999 by default): one of those can take a port
    between the check here and the child's bind; a port below the range cannot be taken so."""
    try:
        low = int(_EPHEMERAL_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return range(0)
    return range(_LOWEST_PORT, low) if low - _LOWEST_PORT >= 1000 else range(0)


def free_port() -> int:
    """A TCP port on 127.0.0.1 for a child to listen on: bindable right now, not handed out before
    by this process (two children given one port race to bind it), and outside the ephemeral range
    where the system offers one (else the kernel's choice)."""
    candidates = _listen_ports()
    for _attempt in range(200):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", random.choice(candidates) if candidates else 0))
            except OSError:
                continue
            port = int(probe.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no free TCP port on 127.0.0.1 after 200 attempts")


class ChildProcess:
    """``command`` in its own session, logging to ``log_path``; :meth:`stop` ends it (SIGTERM, then SIGKILL)."""

    def __init__(self, name: str, log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"the {self.name} has not been started")
        return self.process.pid

    def launch(self, command: Sequence[str], environment: Mapping[str, str]) -> None:
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            with_parent_death_signal(command),
            env=dict(environment),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_until(self, ready: Callable[[], bool], timeout: float) -> None:
        """Polls ``ready`` until it answers True.

        Raises:
            RuntimeError: the child exited first (its log's tail is in the message).
            TimeoutError: not ready within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise RuntimeError(f"the {self.name} exited with {code}:\n{self.log_tail()}")
            if ready():
                return
            time.sleep(POLL_SECONDS)
        raise TimeoutError(f"the {self.name} was not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        """The last lines the child printed."""
        if self._log is not None:
            self._log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def request_stop(self) -> None:
        """SIGTERM without waiting, so several children stop at once; :meth:`stop` then waits."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """SIGTERM, and SIGKILL if it is still running after ``timeout``; idempotent."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


def environment_with(settings: Mapping[str, str]) -> dict[str, str]:
    """This process's environment plus ``settings``."""
    return {**os.environ, **settings}
