"""The zygote process: imports the preload once, then forks one child per `python -m`/`-c` pod.

Started by :mod:`kube_emulator.kubelet.zygote` as ``INTERPRETER -c BOOTSTRAP THIS_FILE FD``, with no
``PYTHONPATH``, so ``sys.path`` at start is exactly the interpreter's own (stdlib, site-packages,
``.pth`` entries): the base every child's ``sys.path`` is rebuilt on. It imports only the standard
library and is loaded under a private module name, so children cannot import it.

Protocol on the unix socket FD (length-prefixed JSON; the only file descriptor that travels is the
pod's output pipe, attached to its spawn request with SCM_RIGHTS):

* kubelet -> zygote, first: ``{"import_path": [...], "preload": [...]}``; the zygote answers
  ``{"ready": true, "env_keys": [...], "preloaded": [...], "iterated_by": [...]}`` or
  ``{"ready": false, "error": "..."}`` and exits.
* ``{"id": N, "argv": ["-m"|"-c", X, *args], "env": {...}, "cwd": "..."}`` + fd -> ``{"id": N,
  "pid": P}`` or ``{"id": N, "declined": "why"}`` (the kubelet then starts a subprocess);
* ``{"pid": P, "returncode": R}`` when a child ends (R < 0: killed by signal -R, as ``Popen``);
* end of file on the socket: the zygote exits (its running children are left to the kubelet).

The zygote is single-threaded; it refuses to fork if the preload left any thread running.
"""

from __future__ import annotations

import atexit
import builtins
import collections
import contextlib
import gc
import importlib
import importlib.machinery
import json
import os
import random
import runpy
import selectors
import signal
import socket
import struct
import sys
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any

_HEADER = struct.Struct("!I")
_MAX_MESSAGE = 64 * 1024 * 1024
# Variables a fresh interpreter or the preload reads at start-up, compared even when the preload
# never looked them up by name: the interpreter's own (PYTHON*), the locale (stdio encodings), and
# fsspec's configuration, which fsspec collects by scanning the whole environment at import.
_COMPARED_PREFIXES = ("PYTHON", "LC_", "LANG", "FSSPEC_")
_NOT_COMPARED = frozenset({"PYTHONPATH"})  # rebuilt into sys.path for every child


# ---------------------------------------------------------------- messages


def send_message(sock: socket.socket, message: dict[str, Any], fds: tuple[int, ...] = ()) -> None:
    body = json.dumps(message).encode()
    data = _HEADER.pack(len(body)) + body
    sent = socket.send_fds(sock, [data], list(fds)) if fds else sock.send(data)
    if sent < len(data):
        sock.sendall(data[sent:])


def receive_message(sock: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    """One message and the fds attached to it; (None, []) at end of file."""
    header, fds, _flags, _address = socket.recv_fds(sock, _HEADER.size, 4)
    while header and len(header) < _HEADER.size:
        more = sock.recv(_HEADER.size - len(header))
        if not more:
            break
        header += more
    if len(header) < _HEADER.size:
        for fd in fds:
            os.close(fd)
        return None, []
    (length,) = _HEADER.unpack(header)
    if length > _MAX_MESSAGE:
        raise ValueError(f"a zygote message of {length} bytes is over the {_MAX_MESSAGE} byte limit")
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            return None, fds
        body += chunk
    return json.loads(body), fds


# ---------------------------------------------------------------- what the preload did


class _EnvironmentReads:
    """Records, while installed, every variable looked up by name in ``os.environ``.

    Lookups that merely follow an iteration (``dict(os.environ)``) are not counted as reads; the
    modules that iterated are recorded instead."""

    def __init__(self) -> None:
        self.read: set[str] = set()
        self.iterated_by: set[str] = set()
        self._from_iteration: collections.Counter[str] = collections.Counter()
        self._originals: tuple[Any, Any] | None = None

    def install(self) -> None:
        environ_type = type(os.environ)
        original_getitem, original_iter = environ_type.__getitem__, environ_type.__iter__
        self._originals = (original_getitem, original_iter)
        reads = self

        def getitem(environ: Any, key: str) -> str:
            if reads._from_iteration[key] > 0:
                reads._from_iteration[key] -= 1
            else:
                reads.read.add(key)
            return original_getitem(environ, key)  # type: ignore[no-any-return]

        def iterate(environ: Any) -> Iterator[str]:
            caller = sys._getframe(1)
            while caller is not None and caller.f_globals.get("__name__") in ("os", "_collections_abc"):
                caller = caller.f_back  # type: ignore[assignment]
            reads.iterated_by.add(str(caller.f_globals.get("__name__")) if caller is not None else "?")
            for key in original_iter(environ):
                reads._from_iteration[key] += 1
                yield key

        environ_type.__getitem__ = getitem  # type: ignore[method-assign]
        environ_type.__iter__ = iterate  # type: ignore[method-assign]

    def uninstall(self) -> None:
        if self._originals is not None:
            environ_type = type(os.environ)
            environ_type.__getitem__, environ_type.__iter__ = self._originals  # type: ignore[method-assign]


class _UrandomSeededGenerators:
    """``random.Random`` instances the preload seeded from the OS, to reseed in every child.

    A forked child would otherwise repeat its siblings' "random" numbers (flytekit keeps its own
    generator for the random parts of output paths); generators seeded with a value keep it."""

    def __init__(self) -> None:
        self.generators: list[random.Random] = []
        self._original: Any = None

    def install(self) -> None:
        original = self._original = random.Random.seed
        generators = self.generators

        def seed(generator: random.Random, a: Any = None, version: int = 2) -> None:
            if a is None:
                generators.append(generator)
            elif generator in generators:
                generators.remove(generator)
            original(generator, a, version)

        random.Random.seed = seed  # type: ignore[method-assign,assignment]

    def uninstall(self) -> None:
        if self._original is not None:
            random.Random.seed = self._original  # type: ignore[method-assign]


def _is_installation(directory: str) -> bool:
    """Whether installers put distributions in ``directory`` (it holds ``*.dist-info``/``*.egg-info``)."""
    try:
        return any(name.endswith((".dist-info", ".egg-info")) for name in os.listdir(directory or "."))
    except OSError:
        return False


def _within(file: str | None, directories: list[str]) -> bool:
    if not file:
        return True  # built-in, frozen or namespace: nothing of the pod's own
    absolute = os.path.abspath(file)
    return any(absolute.startswith(os.path.join(os.path.abspath(directory), "")) for directory in directories)


class Preload:
    """The interpreter's own ``sys.path`` and what importing the preload changed."""

    def __init__(self) -> None:
        self.base_path = [entry for entry in sys.path[1:]]  # [0] is the bootstrap's "" (-c)
        self.environment = dict(os.environ)
        self.env_keys: set[str] = set()
        self.iterated_by: set[str] = set()
        self.preloaded: list[str] = []
        self.reseed: list[random.Random] = []

    def load(self, import_path: list[str], modules: list[str]) -> None:
        """Imports ``modules`` with ``import_path`` before the interpreter's own entries; an
        entry ``module:function`` also calls the module's ``function()`` once (to build what
        importing leaves to the first use, such as a parser).

        Raises:
            ValueError: a module the preload imported is not an installed distribution's.
        """
        sys.path[:] = [*import_path, *self.base_path]
        importlib.invalidate_caches()
        before = set(sys.modules)
        reads, generators = _EnvironmentReads(), _UrandomSeededGenerators()
        reads.install()
        generators.install()
        try:
            for name in modules:
                module_name, _, function = name.partition(":")
                try:
                    module = importlib.import_module(module_name)
                except ImportError:
                    continue  # not installed for this interpreter: nothing to preload
                if function:
                    getattr(module, function)()
                self.preloaded.append(name)
        finally:
            reads.uninstall()
            generators.uninstall()
        installations = [entry for entry in sys.path if entry in self.base_path or _is_installation(entry)]
        foreign = sorted(
            name
            for name in set(sys.modules) - before
            if not _within(getattr(sys.modules[name], "__file__", None), installations)
        )
        if foreign:
            raise ValueError(
                f"the preload {modules} imported modules of no installed distribution: {', '.join(foreign[:10])}"
            )
        self.env_keys = {key for key in reads.read if key not in _NOT_COMPARED}
        self.iterated_by = reads.iterated_by
        self.reseed = generators.generators

    def difference(self, environment: dict[str, str]) -> str | None:
        """The first variable whose value in ``environment`` differs from the preload's, if any."""
        keys = set(self.env_keys)
        for source in (environment, self.environment):
            keys.update(key for key in source if key.startswith(_COMPARED_PREFIXES) and key not in _NOT_COMPARED)
        for key in sorted(keys):
            if environment.get(key) != self.environment.get(key):
                return key
        return None

    def child_path(self, python_path: str | None, first: str) -> list[str]:
        """``sys.path`` as a fresh interpreter builds it: ``first`` (cwd for -m, "" for -c), then
        ``PYTHONPATH``'s entries made absolute (first occurrence kept), then the interpreter's own
        entries as it made them at start, less those ``PYTHONPATH`` already named (site's
        de-duplication; entries a start-up hook added as relative paths stay as they are)."""
        entries: list[str] = []
        for entry in python_path.split(os.pathsep) if python_path else []:
            absolute = os.path.abspath(entry)
            if absolute not in entries:
                entries.append(absolute)
        named = set(entries)
        return [first, *entries, *(entry for entry in self.base_path if entry not in named)]


# ---------------------------------------------------------------- the child


def _exit_code(code: object) -> int:
    """What the interpreter makes of ``SystemExit(code)``: None is 0, an int itself, else the
    value is printed to stderr and the status is 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    with contextlib.suppress(Exception):  # as the interpreter: a broken __str__ still exits 1
        print(code, file=sys.stderr)
    return 1


def _own_frames_removed(error: BaseException) -> Any:
    """The traceback from the pod's first frame on (the printer reads ``__traceback__``)."""
    traceback = error.__traceback__
    while traceback is not None and traceback.tb_frame.f_code.co_filename == __file__:
        traceback = traceback.tb_next
    error.__traceback__ = traceback
    return traceback


def _run_main(argv: list[str]) -> int:
    """Runs ``-m MODULE``/``-c CODE`` as ``__main__`` and returns the exit status."""
    main = types.ModuleType("__main__")
    main.__dict__.update({"__builtins__": builtins, "__annotations__": {}})
    sys.modules["__main__"] = main
    try:
        if argv[0] == "-m":
            sys.argv = ["-m", *argv[2:]]
            runpy._run_module_as_main(argv[1])  # type: ignore[attr-defined]  # what `python -m` calls
        else:
            sys.argv = ["-c", *argv[2:]]
            main.__dict__.update({"__loader__": importlib.machinery.BuiltinImporter, "__spec__": None})
            exec(compile(argv[1], "<string>", "exec"), main.__dict__)
        return 0
    except SystemExit as stop:
        return _exit_code(stop.code)
    except KeyboardInterrupt as interrupt:
        sys.excepthook(type(interrupt), interrupt, _own_frames_removed(interrupt))
        return -signal.SIGINT
    except BaseException as error:  # uncaught: the traceback and status 1
        sys.excepthook(type(error), error, _own_frames_removed(error))
        return 1


def _finish(status: int) -> None:
    """Interpreter shutdown: wait for non-daemon threads, atexit handlers, flush; then exit."""
    with contextlib.suppress(BaseException):
        threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe must not change the status
            stream.flush()
    if status < 0:  # uncaught KeyboardInterrupt: die by SIGINT, as the interpreter does
        signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
    os._exit(status)


def become_child(preload: Preload, request: dict[str, Any], output: int, close: list[int]) -> None:
    """In the forked child: the pod's session, stdio, cwd, environment and imports; then run."""
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        for fd in {null, output, *close}:
            if fd > 2:
                os.close(fd)
        argv: list[str] = request["argv"]
        if request.get("cwd"):
            os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.path[:] = preload.child_path(request["env"].get("PYTHONPATH"), os.getcwd() if argv[0] == "-m" else "")
        sys.modules.pop(__name__, None)
        importlib.invalidate_caches()
        sys.orig_argv = [sys.executable, *argv]
        for generator in preload.reseed:
            generator.seed()
    except BaseException as error:  # report why, as `python` failing to start would
        os.write(2, f"kube-emulator zygote: cannot start the child: {error!r}\n".encode())
        os._exit(127)
    _finish(_run_main(argv))


# ---------------------------------------------------------------- the server loop


def _thread_count() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def decline_reason(preload: Preload, request: dict[str, Any]) -> str | None:
    argv = request.get("argv")
    if not (isinstance(argv, list) and len(argv) >= 2 and argv[0] in ("-m", "-c")):
        return "only `-m MODULE` and `-c CODE` are forked"
    differs = preload.difference(request["env"])
    if differs is not None:
        return f"{differs} differs from the environment the preload was imported with"
    threads = _thread_count()
    if threads != 1:
        return f"the zygote has {threads} threads; forking it is unsafe"
    return None


def serve(sock: socket.socket, preload: Preload) -> None:
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    os.set_blocking(wake_read, False)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    selector.register(wake_read, selectors.EVENT_READ)
    while True:
        for key, _events in selector.select():
            if key.fileobj is sock:
                request, fds = receive_message(sock)
                if request is None:
                    return
                handle_request(
                    sock, preload, request, fds, [sock.fileno(), wake_read, wake_write, selector_fd(selector)]
                )
            else:
                while True:
                    try:
                        if not os.read(wake_read, 512):
                            break
                    except BlockingIOError:
                        break
        _reap(sock)


def selector_fd(selector: selectors.BaseSelector) -> int:
    fileno: Callable[[], int] | None = getattr(selector, "fileno", None)
    return fileno() if fileno is not None else -1


def handle_request(
    sock: socket.socket, preload: Preload, request: dict[str, Any], fds: list[int], close: list[int]
) -> None:
    if len(fds) != 1:
        for fd in fds:
            os.close(fd)
        send_message(sock, {"id": request.get("id"), "declined": "a spawn request carries exactly one fd"})
        return
    [output] = fds
    reason = decline_reason(preload, request)
    if reason is not None:
        os.close(output)
        send_message(sock, {"id": request["id"], "declined": reason})
        return
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        become_child(preload, request, output, [fd for fd in close if fd >= 0])
    os.close(output)
    send_message(sock, {"id": request["id"], "pid": pid})


def _reap(sock: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        send_message(sock, {"pid": pid, "returncode": os.waitstatus_to_exitcode(status)})


def main(fd: int) -> None:
    sock = socket.socket(fileno=fd)
    preload = Preload()
    setup, _fds = receive_message(sock)
    if setup is None:
        return
    try:
        preload.load(list(setup["import_path"]), list(setup["preload"]))
    except BaseException as error:  # any import failure: report it, no zygote
        send_message(sock, {"ready": False, "error": f"{type(error).__name__}: {error}"})
        return
    if _thread_count() != 1:
        send_message(sock, {"ready": False, "error": f"the preload started threads ({_thread_count()})"})
        return
    # The preload's objects move to the permanent generation: a child's collections then skip
    # them instead of touching (and so copying) every page they live on.
    gc.collect()
    gc.freeze()
    send_message(
        sock,
        {
            "ready": True,
            "env_keys": sorted(preload.env_keys),
            "preloaded": preload.preloaded,
            "iterated_by": sorted(preload.iterated_by),
        },
    )
    serve(sock, preload)
