"""``subprocess.Popen`` for ``python -m``/``-c`` children, forked from a zygote when it can.

For harnesses that start many Python children of this interpreter (served connectors, operators):
each fresh interpreter pays its imports (flytekit and the Kubernetes client: seconds of CPU);
a child forked from a :class:`~kube_emulator.kubelet.zygote.Zygote` that imported them once does
not. Whatever the zygote declines (see docs/kube-emulator.md) starts as a plain subprocess.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import IO, Any

from kube_emulator.kubelet.zygote import ForkedChild, Zygote, ZygoteSettings


class ForkedPopen:
    """The part of ``subprocess.Popen``'s interface harnesses use, for a forked child."""

    def __init__(self, child: ForkedChild, args: Sequence[str]) -> None:
        self._child = child
        self.args = list(args)
        self.pid = child.pid

    @property
    def returncode(self) -> int | None:
        return self._child.poll()

    def poll(self) -> int | None:
        return self._child.poll()

    def wait(self, timeout: float | None = None) -> int:
        code = self._child.wait(timeout)
        if code is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return code

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class PythonLauncher:
    """Starts ``[sys.executable, "-m"|"-c", ...]`` children; one zygote, started on first use."""

    def __init__(self, preload: Sequence[str], environment: Mapping[str, str]) -> None:
        self.settings = ZygoteSettings(
            interpreter=sys.executable,
            commands=frozenset({sys.executable}),
            command_directory=os.path.dirname(sys.executable),
            preload=tuple(preload),
            environment=dict(environment),
        )
        self._zygote: Zygote | None = None

    def popen(
        self, argv: Sequence[str], env: Mapping[str, str], cwd: str | None, stdout: IO[Any]
    ) -> ForkedPopen | subprocess.Popen[Any]:
        """``argv`` with stdout and stderr on ``stdout`` (a file this caller keeps and closes)."""
        if self._zygote is None:
            self._zygote = Zygote(self.settings).start()
        child = self._zygote.spawn(list(argv), dict(env), cwd, stdout.fileno())
        if child is not None:
            return ForkedPopen(child, argv)
        return subprocess.Popen(list(argv), stdout=stdout, stderr=subprocess.STDOUT, env=dict(env), cwd=cwd)

    @property
    def declined(self) -> dict[str, int]:
        return dict(self._zygote.declined) if self._zygote is not None else {}

    def stop(self) -> None:
        if self._zygote is not None:
            self._zygote.stop()
            self._zygote = None
