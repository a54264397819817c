"""The kubelet's side of the zygote: one pre-forked Python that starts `python -m`/`-c` pods.

Starting a worker pod as a fresh interpreter costs about 2 s of CPU in ``import flytekit`` alone.
The zygote (:mod:`kube_emulator.kubelet.zygote_server`) imports the preload once and forks a child
per pod instead. Only commands named in :class:`ZygoteSettings` (the names the embedded cluster's
``python`` shim answers to, found on the pod's ``PATH`` in the shim's directory) followed by
``-m MODULE`` or ``-c CODE`` are forked; everything else, and everything while the zygote is not
running, is started as a subprocess as before. The differences from a fresh interpreter are listed
in docs/kube-emulator.md.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kube_emulator.kubelet.zygote_server import receive_message, send_message

#: What worker pods import anyway, measured with ``python -X importtime -m
#: flytekitplugins.k8s_operator.worker``: flytekit and its ``pyflyte-execute`` entrypoint.
DEFAULT_PRELOAD = ("flytekit", "flytekit.bin.entrypoint")

_SERVER = Path(__file__).with_name("zygote_server.py")
_BOOTSTRAP = (
    "import importlib.util, sys\n"
    "spec = importlib.util.spec_from_file_location('_kube_emulator_zygote', sys.argv[1])\n"
    "module = importlib.util.module_from_spec(spec)\n"
    "sys.modules[spec.name] = module\n"
    "spec.loader.exec_module(module)\n"
    "module.main(int(sys.argv[2]))\n"
)
_READY_SECONDS = 300.0  # the preload's import on a loaded machine; pods wait for it this long


@dataclass(frozen=True)
class ZygoteSettings:
    """Which pod commands the zygote starts, and with what.

    ``commands`` are bare names (``python``, ``python3``) that run ``interpreter`` when found in
    ``command_directory`` on the pod's ``PATH``; ``import_path`` is where the preload is imported
    from (the kubelet's own ``sys.path`` by default). Only installed distributions may be preloaded;
    an entry ``module:function`` is imported and its ``function()`` called once.
    """

    interpreter: str
    commands: frozenset[str]
    command_directory: str
    import_path: tuple[str, ...] = field(default_factory=lambda: tuple(sys.path))
    preload: tuple[str, ...] = DEFAULT_PRELOAD
    #: The zygote's own environment (``PYTHONPATH`` aside): this process's unless given. Children
    #: whose environment differs where the preload read it are started as subprocesses.
    environment: Mapping[str, str] | None = None

    def forks(self, argv: list[str], environment: dict[str, str], cwd: str | None) -> bool:
        """Whether ``argv`` is ``<command> -m MODULE ...`` or ``<command> -c CODE ...`` for a
        configured command, in a working directory that exists."""
        if len(argv) < 3 or argv[0] not in self.commands or argv[1] not in ("-m", "-c"):
            return False
        if cwd and not os.path.isdir(cwd):
            return False  # the subprocess path reports it, as it always did
        found = shutil.which(argv[0], path=environment.get("PATH", os.defpath))
        return found is not None and os.path.dirname(os.path.abspath(found)) == os.path.abspath(self.command_directory)


class ForkedChild:
    """A pod's process forked by the zygote; ``returncode`` arrives over the zygote's socket."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._ended = threading.Event()

    def poll(self) -> int | None:
        return self.returncode if self._ended.is_set() else None

    def wait(self, timeout: float | None = None) -> int | None:
        self._ended.wait(timeout)
        return self.poll()

    def ended(self, returncode: int) -> None:
        self.returncode = returncode
        self._ended.set()


class Zygote:
    """One zygote process. ``spawn`` answers a :class:`ForkedChild`, or None when the caller should
    start a subprocess (the command is not for the zygote, it declined, or it is not running)."""

    def __init__(self, settings: ZygoteSettings) -> None:
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None
        self.declined: dict[str, int] = {}
        self.forked = 0
        self.failure: str | None = None  # why the zygote is not used, once it is not
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._next_id = 0
        self._replies: dict[int, dict[str, Any]] = {}
        self._reply_arrived = threading.Condition(self._lock)
        self._children: dict[int, ForkedChild] = {}
        self._early_exits: dict[int, int] = {}
        self._reader: threading.Thread | None = None
        self._stopped = False
        self.preloaded: list[str] = []
        self.env_keys: list[str] = []

    def start(self) -> Zygote:
        """Starts the zygote process; it imports the preload in the background."""
        self.failure = None
        self._stopped = False
        self._ready.clear()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        source = os.environ if self.settings.environment is None else self.settings.environment
        environment = {key: value for key, value in source.items() if key != "PYTHONPATH"}
        try:
            self.process = subprocess.Popen(
                [self.settings.interpreter, "-c", _BOOTSTRAP, str(_SERVER), str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                # Its own failures (not its children's output) reach the kubelet's stderr.
                env=environment,
                start_new_session=True,
            )
        except OSError as error:
            ours.close()
            self._give_up(f"cannot start {self.settings.interpreter!r}: {error}")
            return self
        finally:
            theirs.close()
        self._socket = ours
        send_message(ours, {"import_path": list(self.settings.import_path), "preload": list(self.settings.preload)})
        self._reader = threading.Thread(target=self._read_replies, name="kube-emulator-zygote", daemon=True)
        self._reader.start()
        return self

    def stop(self) -> None:
        """Closes the socket, which ends the zygote; children still running are the kubelet's."""
        self._stopped = True
        sock = self._socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self.process is not None:
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._reader is not None:
            self._reader.join(10)
        if sock is not None:
            sock.close()

    @property
    def running(self) -> bool:
        return self._ready.is_set() and self.failure is None

    def spawn(self, argv: list[str], environment: dict[str, str], cwd: str | None, output: int) -> ForkedChild | None:
        """Asks for ``argv`` forked with its stdout and stderr on ``output`` (the caller keeps and
        closes its own ``output``)."""
        if self.failure is not None or not self.settings.forks(argv, environment, cwd):
            return None
        self._ready.wait(_READY_SECONDS)
        sock = self._socket
        if self.failure is not None or sock is None or not self._ready.is_set():
            return None
        with self._lock:
            self._next_id += 1
            request_id = self._next_id
            try:
                send_message(
                    sock, {"id": request_id, "argv": argv[1:], "env": environment, "cwd": cwd or None}, (output,)
                )
            except OSError as error:
                self._give_up_locked(f"the zygote's socket failed: {error}")
                return None
            while request_id not in self._replies and self.failure is None:
                self._reply_arrived.wait()
            reply = self._replies.pop(request_id, None)
            if reply is None:
                return None
            if "declined" in reply:
                reason = str(reply["declined"])
                self.declined[reason] = self.declined.get(reason, 0) + 1
                return None
            child = self._children[reply["pid"]] = ForkedChild(int(reply["pid"]))
            self.forked += 1
            if child.pid in self._early_exits:  # it ended before its pid reached us
                child.ended(self._early_exits.pop(child.pid))
                del self._children[child.pid]
            return child

    def _read_replies(self) -> None:
        sock = self._socket
        assert sock is not None
        try:
            ready, _fds = receive_message(sock)
            if ready is None or not ready.get("ready"):
                self._give_up(f"the zygote did not start: {(ready or {}).get('error', 'it exited')}")
                return
            self.preloaded = ready.get("preloaded", [])
            self.env_keys = ready.get("env_keys", [])
            self._ready.set()
            while True:
                message, fds = receive_message(sock)
                for fd in fds:
                    os.close(fd)
                if message is None:
                    break
                with self._lock:
                    if "id" in message:
                        self._replies[int(message["id"])] = message
                        self._reply_arrived.notify_all()
                    else:
                        self._child_ended(int(message["pid"]), int(message["returncode"]))
        # Anything unexpected ends the zygote's use: spawns waiting for a reply must not hang.
        except Exception as error:
            self._give_up(f"the zygote's socket failed: {error!r}")
            return
        self._give_up("the zygote exited")

    def _child_ended(self, pid: int, returncode: int) -> None:
        child = self._children.pop(pid, None)
        if child is None:
            self._early_exits[pid] = returncode
        else:
            child.ended(returncode)

    def _give_up(self, reason: str) -> None:
        with self._lock:
            self._give_up_locked(reason)

    def _give_up_locked(self, reason: str) -> None:
        if self.failure is not None:
            return
        self.failure = reason
        self._ready.set()
        self._reply_arrived.notify_all()
        if not self._stopped:
            print(f"kube-emulator kubelet: {reason}; starting pods as subprocesses", file=sys.stderr, flush=True)
        # Nobody reaps or reports the zygote's children any more: end them, as a node would.
        for child in self._children.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)
            child.ended(-signal.SIGKILL)
        self._children.clear()
