"""PythonLauncher: Popen-like children forked from the zygote, or plain subprocesses when it declines."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kube_emulator.kubelet.forked_popen import ForkedPopen, PythonLauncher


@pytest.fixture
def launcher() -> Iterator[PythonLauncher]:
    started = PythonLauncher(("json",), {**os.environ, "PYTHONUNBUFFERED": "1"})
    yield started
    started.stop()


def _environment(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": os.pathsep.join(sys.path), **extra}


def test_a_child_is_forked_and_reports_its_output_and_exit_status(launcher: PythonLauncher, tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    code = "import os, sys; print('child says', os.environ['GREETING']); sys.exit(3)"
    with log.open("w") as output:
        process = launcher.popen([sys.executable, "-c", code], _environment(GREETING="hello"), str(tmp_path), output)
        assert isinstance(process, ForkedPopen)
        assert process.wait(120) == 3 and process.returncode == 3 and process.poll() == 3
    assert log.read_text() == "child says hello\n"


def test_signals_reach_the_child_and_wait_times_out_while_it_runs(launcher: PythonLauncher, tmp_path: Path) -> None:
    with (tmp_path / "child.log").open("w") as output:
        process = launcher.popen([sys.executable, "-c", "import time; time.sleep(600)"], _environment(), None, output)
        assert isinstance(process, ForkedPopen)
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(0.2)
        process.terminate()
        assert process.wait(120) == -signal.SIGTERM
        process.kill()  # already ended: nothing to signal, no error


def test_an_environment_the_preload_did_not_see_starts_a_subprocess(launcher: PythonLauncher, tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    with log.open("w") as output:
        process = launcher.popen(
            [sys.executable, "-c", "print('fresh')"], _environment(PYTHONHASHSEED="7"), None, output
        )
        assert isinstance(process, subprocess.Popen)
        assert process.wait(120) == 0
    assert log.read_text() == "fresh\n"
    assert list(launcher.declined) == ["PYTHONHASHSEED differs from the environment the preload was imported with"]
