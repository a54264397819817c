"""Container logs the kubelet stand-in uploads; served at /api/v1/namespaces/N/pods/P/log."""

from __future__ import annotations

import threading


class PodLogs:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logs: dict[tuple[str, str], str] = {}

    def get(self, namespace: str, name: str) -> str:
        with self._lock:
            return self._logs.get((namespace, name), "")

    def set(self, namespace: str, name: str, text: str) -> None:
        with self._lock:
            self._logs[(namespace, name)] = text

    def append(self, namespace: str, name: str, text: str) -> None:
        with self._lock:
            self._logs[(namespace, name)] = self._logs.get((namespace, name), "") + text

    def forget(self, namespace: str, name: str) -> None:
        with self._lock:
            self._logs.pop((namespace, name), None)

    def clear(self) -> None:
        with self._lock:
            self._logs.clear()


def tail(text: str, tail_lines: int | None, limit_bytes: int | None) -> str:
    if tail_lines is not None:
        lines = text.splitlines(keepends=True)
        text = "".join(lines[-tail_lines:]) if tail_lines > 0 else ""
    if limit_bytes is not None:
        text = text.encode()[:limit_bytes].decode(errors="ignore")
    return text
