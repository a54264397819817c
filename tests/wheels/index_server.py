"""A package index on 127.0.0.1 for the tests: pypiserver (the lockfile's), in a thread.

pypiserver is served as a WSGI app so a test can give it an in-memory password check
(its `-P htpasswd` option needs passlib, which the lockfile does not have).

The index serves only what was uploaded to it: pypiserver's default fallback (a redirect to
pypi.org for any other project) is off, so pip can find third-party packages only through its
own configured index, which is what the tests claim; with the fallback, pip also fetched and
parsed each dependency's pypi.org page a second time (the SDK's install: 38 s -> 25 s).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pypiserver


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # (the base class's name)
        pass


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


@contextmanager
def package_index(root: Path, credentials: tuple[str, str] | None = None) -> Iterator[str]:
    """Serve `root` as a simple index; uploads need `credentials` when given. Yields the base URL."""
    root.mkdir(parents=True, exist_ok=True)
    if credentials is None:
        app = pypiserver.app(roots=[str(root)], authenticate=[], password_file=".", disable_fallback=True)
    else:
        app = pypiserver.app(
            roots=[str(root)],
            authenticate=["update"],
            auther=lambda user, password: (user, password) == credentials,
            disable_fallback=True,
        )
    server = make_server("127.0.0.1", 0, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="package-index", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(30)
