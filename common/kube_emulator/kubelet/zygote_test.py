"""The zygote against the real thing: each program runs forked by the zygote and as a fresh
`python` subprocess with the same environment and working directory, and both must agree."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kube_emulator import wait_until
from kube_emulator.kubelet.zygote import ForkedChild, Zygote, ZygoteSettings
from kube_emulator.kubelet.zygote_server import Preload, decline_reason, handle_request, receive_message
from kube_emulator.waiting import process_gone

_KUBELET_ONLY = "ZYGOTE_TEST_KUBELET_ONLY"


@pytest.fixture(scope="module")
def shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("shim")
    for name in ("python", "python3"):
        (directory / name).write_text(f'#!/bin/bash\nexec {shlex.quote(sys.executable)} "$@"\n')
        (directory / name).chmod(0o755)
    return directory


@pytest.fixture(scope="module")
def zygote(shim: Path) -> Iterator[Zygote]:
    saved = dict(os.environ)
    os.environ[_KUBELET_ONLY] = "the kubelet's"
    os.environ["FLYTE_SDK_RICH_TRACEBACKS"] = "0"  # plain tracebacks, as the embedded cluster sets
    try:
        settings = ZygoteSettings(sys.executable, frozenset({"python", "python3"}), str(shim))
        running = Zygote(settings).start()
        yield running
        running.stop()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _pod_environment(shim: Path, **overrides: str) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if key != _KUBELET_ONLY}
    environment.update({"PATH": f"{shim}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONPATH": ""})
    environment.update(overrides)
    return environment


def _read_all(fd: int) -> str:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode()


def _forked(zygote: Zygote, argv: list[str], environment: dict[str, str], cwd: Path) -> tuple[int | None, str]:
    read, write = os.pipe()
    child = zygote.spawn(argv, environment, str(cwd), write)
    os.close(write)
    assert child is not None, f"the zygote did not fork {argv}: declined {zygote.declined}, failure {zygote.failure}"
    output = _read_all(read)
    return child.wait(60), output


def _fresh(argv: list[str], environment: dict[str, str], cwd: Path) -> tuple[int, str]:
    done = subprocess.run(
        argv,
        env=environment,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return done.returncode, done.stdout.decode()


def _both(zygote: Zygote, shim: Path, cwd: Path, argv: list[str], **env: str) -> tuple[int | None, str]:
    environment = _pod_environment(shim, **env)
    forked = _forked(zygote, argv, environment, cwd)
    assert forked == _fresh(argv, environment, cwd)
    return forked


@pytest.mark.parametrize(
    ("code", "status", "output"),
    [
        ("pass", 0, ""),
        ("import sys; sys.exit(3)", 3, ""),
        ("import sys; sys.exit(None)", 0, ""),
        ("import sys; sys.exit(True)", 1, ""),
        ("import sys; sys.exit(256 + 7)", 7, ""),
        ("import sys; sys.exit(-1)", 255, ""),
        ("import sys; sys.exit('bye')", 1, "bye\n"),
        ("raise ValueError('boom')", 1, None),
        ("def f():\n    raise KeyError(1)\nf()", 1, None),
        ("import os; os.kill(os.getpid(), 9)", -9, ""),
        ("import os, signal; os.kill(os.getpid(), signal.SIGTERM)", -15, ""),
        ("raise KeyboardInterrupt", -2, None),
        ("import atexit; atexit.register(print, 'at exit'); print('body')", 0, "body\nat exit\n"),
        ("import atexit, sys; atexit.register(print, 'at exit'); sys.exit(4)", 4, "at exit\n"),
        ("import threading, time; threading.Thread(target=lambda: (time.sleep(0.2), print('late'))).start()", 0, None),
    ],
)
def test_exit_statuses_and_output_match_a_fresh_interpreter(zygote, shim, tmp_path, code, status, output):
    forked_status, forked_output = _both(zygote, shim, tmp_path, ["python", "-c", code])
    assert forked_status == status
    if output is not None:
        assert forked_output == output


def test_an_uncaught_exception_prints_the_traceback_a_fresh_interpreter_prints(zygote, shim, tmp_path):
    _status, output = _both(zygote, shim, tmp_path, ["python", "-c", "raise ValueError('boom')"])
    assert output == 'Traceback (most recent call last):\n  File "<string>", line 1, in <module>\nValueError: boom\n'


_PROBE = """
import json, os, sys, __main__
print(json.dumps({
    "argv": sys.argv, "path": sys.path, "cwd": os.getcwd(), "name": __name__,
    "main": sorted(k for k in vars(__main__) if k not in ("json", "os", "sys", "__main__")),
    "stdin": sys.stdin.read(), "env": sorted(os.environ), "executable": sys.executable,
}))
"""


def test_dash_m_sees_what_a_fresh_interpreter_sees(zygote, shim, tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "probe.py").write_text(_PROBE + "raise SystemExit(5)\n")
    argv = ["python3", "-m", "probe", "--flag", "x y"]
    status, output = _both(zygote, shim, tmp_path, argv, PYTHONPATH=f"lib{os.pathsep}{os.pathsep}/nonexistent")
    seen = json.loads(output)
    assert status == 5
    assert seen["argv"] == [str(tmp_path / "lib" / "probe.py"), "--flag", "x y"]
    assert seen["path"][:2] == [str(tmp_path), str(tmp_path / "lib")] and seen["stdin"] == ""


def test_dash_c_sees_what_a_fresh_interpreter_sees(zygote, shim, tmp_path):
    status, output = _both(zygote, shim, tmp_path, ["python", "-c", _PROBE, "one", "two"], PYTHONPATH="rel")
    seen = json.loads(output)
    assert status == 0 and seen["argv"] == ["-c", "one", "two"] and seen["path"][0] == ""
    assert seen["path"][1] == str(tmp_path / "rel") and seen["cwd"] == str(tmp_path)


def test_the_child_has_the_pods_environment_exactly(zygote, shim, tmp_path):
    code = f"import os; print(os.environ.get({_KUBELET_ONLY!r}), os.environ['POD_ONLY'], os.getenv('POD_ONLY'))"
    _status, output = _both(zygote, shim, tmp_path, ["python", "-c", code], POD_ONLY="pod's")
    assert output == "None pod's pod's\n"
    # A grandchild started with the inherited (C-level) environment sees the same.
    code = f"import subprocess; subprocess.run(['sh', '-c', 'echo ${{{_KUBELET_ONLY}:-unset}} $POD_ONLY'])"
    _status, output = _both(zygote, shim, tmp_path, ["python", "-c", code], POD_ONLY="pod's")
    assert output == "unset pod's\n"


def test_modules_only_on_the_kubelets_path_are_not_importable(zygote, shim, tmp_path):
    code = "import kube_emulator"  # on the kubelet's (and the preload's) sys.path, not the pod's
    status, output = _both(zygote, shim, tmp_path, ["python", "-c", code])
    assert status == 1 and output.endswith("ModuleNotFoundError: No module named 'kube_emulator'\n")
    status, output = _both(zygote, shim, tmp_path, ["python", "-c", "import _kube_emulator_zygote"])
    assert status == 1 and "No module named '_kube_emulator_zygote'" in output


def test_a_preloaded_package_is_imported_already(zygote, shim, tmp_path):
    code = "import sys; print('flytekit' in sys.modules)"
    assert _forked(zygote, ["python", "-c", code], _pod_environment(shim), tmp_path) == (0, "True\n")
    assert zygote.preloaded == ["flytekit", "flytekit.bin.entrypoint"]


def test_children_do_not_share_random_numbers(zygote, shim, tmp_path):
    code = "import random; from flytekit.interfaces.random import random as r; print(r.random(), random.random())"
    environment = _pod_environment(shim)
    first = _forked(zygote, ["python", "-c", code], environment, tmp_path)
    second = _forked(zygote, ["python", "-c", code], environment, tmp_path)
    assert first[0] == second[0] == 0
    assert set(first[1].split()).isdisjoint(second[1].split())


def _started(zygote: Zygote, shim: Path, cwd: Path, code: str) -> tuple[ForkedChild, int]:
    """A forked ``python -c CODE`` still running, and the read end of its output."""
    read, write = os.pipe()
    child = zygote.spawn(["python", "-c", code], _pod_environment(shim), str(cwd), write)
    os.close(write)
    assert child is not None
    return child, read


def _read_line(fd: int) -> bytes:
    line = b""
    while not line.endswith(b"\n"):
        line += os.read(fd, 100)
    return line


def _not_forked(zygote: Zygote, argv: list[str], environment: dict[str, str], cwd: str | None) -> bool:
    read, write = os.pipe()
    try:
        return zygote.spawn(argv, environment, cwd, write) is None
    finally:
        os.close(write)
        os.close(read)


def test_output_streams_while_the_child_runs(zygote, shim, tmp_path):
    code = "import sys, time; print('first', flush=True); sys.stdin.read(); time.sleep(600)"
    child, read = _started(zygote, shim, tmp_path, code)
    try:
        assert _read_line(read) == b"first\n" and child.poll() is None
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        assert _read_all(read) == "" and child.wait(60) == -9


def test_killpg_kills_the_childs_own_children(zygote, shim, tmp_path):
    code = "import subprocess, time; print(subprocess.Popen(['sleep', '600']).pid, flush=True); time.sleep(600)"
    child, read = _started(zygote, shim, tmp_path, code)
    grandchild = int(_read_line(read))
    assert os.getpgid(child.pid) == child.pid == os.getsid(child.pid) and os.getpgid(grandchild) == child.pid
    os.killpg(child.pid, signal.SIGKILL)
    assert child.wait(60) == -9
    _read_all(read)
    wait_until(lambda: process_gone(grandchild), what="the grandchild to die")


@pytest.mark.parametrize(
    "argv",
    [
        ["sh", "-c", "true"],
        ["python", "-u", "-c", "pass"],
        ["python", "script.py"],
        ["python", "-m"],
        [sys.executable, "-c", "pass"],
        ["python3.11", "-c", "pass"],
    ],
)
def test_other_commands_are_not_forked(zygote, shim, tmp_path, argv):
    assert _not_forked(zygote, argv, _pod_environment(shim), str(tmp_path))


def test_a_python_found_elsewhere_on_the_pods_path_is_not_forked(zygote, shim, tmp_path):
    elsewhere = tmp_path / "bin"
    elsewhere.mkdir()
    (elsewhere / "python").write_text("#!/bin/sh\necho other\n")
    (elsewhere / "python").chmod(0o755)
    environment = _pod_environment(shim, PATH=f"{elsewhere}{os.pathsep}{shim}")
    assert not zygote.settings.forks(["python", "-c", "pass"], environment, str(tmp_path))
    assert not zygote.settings.forks(["python", "-c", "pass"], environment, str(tmp_path / "missing"))
    assert zygote.settings.forks(["python", "-c", "pass"], _pod_environment(shim), str(tmp_path))


def test_a_variable_the_preload_read_declines_when_the_pod_changes_it(zygote, shim, tmp_path):
    assert "FLYTE_SDK_LOGGING_LEVEL" in zygote.env_keys  # read by flytekit.loggers at import
    environment = _pod_environment(shim, FLYTE_SDK_LOGGING_LEVEL="10")
    assert _not_forked(zygote, ["python", "-c", "pass"], environment, str(tmp_path))
    reason = "FLYTE_SDK_LOGGING_LEVEL differs from the environment the preload was imported with"
    assert zygote.declined.get(reason, 0) >= 1


def test_a_dead_zygote_falls_back_and_ends_its_children(shim, tmp_path, capfd):
    settings = ZygoteSettings(sys.executable, frozenset({"python"}), str(shim), preload=())
    zygote = Zygote(settings).start()
    try:
        read, write = os.pipe()
        child = zygote.spawn(["python", "-c", "import time; time.sleep(600)"], _pod_environment(shim), None, write)
        os.close(write)
        assert isinstance(child, ForkedChild)
        assert zygote.process is not None
        zygote.process.kill()
        assert child.wait(60) == -9
        _read_all(read)
        wait_until(lambda: zygote.failure is not None, what="the kubelet to notice")
        assert _not_forked(zygote, ["python", "-c", "pass"], _pod_environment(shim), None)
    finally:
        zygote.stop()
    assert capfd.readouterr().err.count("starting pods as subprocesses") == 1


def test_a_zygote_that_cannot_preload_is_not_used(shim, tmp_path, capfd):
    (tmp_path / "mine.py").write_text("")
    settings = ZygoteSettings(
        sys.executable, frozenset({"python"}), str(shim), import_path=(str(tmp_path), *sys.path), preload=("mine",)
    )
    zygote = Zygote(settings).start()
    try:
        assert _not_forked(zygote, ["python", "-c", "pass"], _pod_environment(shim), None)
    finally:
        zygote.stop()
    assert zygote.failure is not None and "imported modules of no installed distribution: mine" in zygote.failure
    assert "starting pods as subprocesses" in capfd.readouterr().err


def test_an_interpreter_that_cannot_start_is_not_used(shim, capfd):
    zygote = Zygote(ZygoteSettings("/nonexistent/python", frozenset({"python"}), str(shim))).start()
    zygote.stop()
    assert zygote.failure is not None and "cannot start '/nonexistent/python'" in zygote.failure


# The zygote's decisions, in this process (no fork).
def _preload_with(environment: dict[str, str], read: set[str]) -> Preload:
    preload = Preload()
    preload.environment = dict(environment)
    preload.env_keys = set(read)
    return preload


def test_variables_that_matter_at_import_are_compared():
    preload = _preload_with({"HOME": "/root", "PYTHONHASHSEED": "0", "PYTHONPATH": "/a", "X": "1"}, {"HOME"})
    same = {"HOME": "/root", "PYTHONHASHSEED": "0", "PYTHONPATH": "/b", "X": "2", "POD_NAME": "p"}
    assert preload.difference(same) is None  # PYTHONPATH is rebuilt, X was never read
    assert preload.difference({**same, "HOME": "/home/pod"}) == "HOME"
    assert preload.difference({**same, "PYTHONHASHSEED": "1"}) == "PYTHONHASHSEED"
    assert preload.difference({**same, "PYTHONOPTIMIZE": "1"}) == "PYTHONOPTIMIZE"
    assert preload.difference({**same, "FSSPEC_CONFIG_DIR": "/x"}) == "FSSPEC_CONFIG_DIR"
    assert preload.difference({key: value for key, value in same.items() if key != "HOME"}) == "HOME"


def test_a_zygote_with_a_thread_declines_to_fork():
    preload = _preload_with(dict(os.environ), set())
    request = {"argv": ["-c", "pass"], "env": dict(os.environ)}
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        assert (decline_reason(preload, request) or "").endswith("threads; forking it is unsafe")
    finally:
        release.set()
        thread.join()
    assert decline_reason(preload, {**request, "argv": ["-u", "-c", "pass"]}) == (
        "only `-m MODULE` and `-c CODE` are forked"
    )


def test_a_spawn_request_needs_exactly_its_output_descriptor():
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with ours, theirs:
        handle_request(theirs, _preload_with({}, set()), {"id": 7, "argv": ["-c", "pass"], "env": {}}, [], [])
        assert receive_message(ours) == ({"id": 7, "declined": "a spawn request carries exactly one fd"}, [])


def test_an_oversized_message_is_refused():
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with ours, theirs:
        ours.sendall(struct.pack("!I", 64 * 1024 * 1024 + 1))
        with pytest.raises(ValueError, match="over the 67108864 byte limit"):
            receive_message(theirs)


def test_a_preload_entry_naming_a_function_calls_it_once_before_forking(shim, tmp_path):
    settings = ZygoteSettings(sys.executable, frozenset({"python"}), str(shim), preload=("mimetypes:init",))
    zygote = Zygote(settings).start()
    code = "import mimetypes; print(mimetypes.inited)"
    try:
        assert _forked(zygote, ["python", "-c", code], _pod_environment(shim), tmp_path) == (0, "True\n")
        assert _fresh(["python", "-c", code], _pod_environment(shim), tmp_path) == (0, "False\n")
        assert zygote.preloaded == ["mimetypes:init"]
    finally:
        zygote.stop()
