"""A package index on 127.0.0.1 for the tests: pypiserver (the lockfile's), in a thread.

pypiserver is served as a WSGI app so a test can give it an in-memory password check
(its `-P htpasswd` option needs passlib, which the lockfile does not have).
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
        app = pypiserver.app(roots=[str(root)], authenticate=[], password_file=".")
    else:
        app = pypiserver.app(
            roots=[str(root)], authenticate=["update"], auther=lambda user, password: (user, password) == credentials
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
