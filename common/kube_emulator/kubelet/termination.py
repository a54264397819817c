"""A container's termination message, decided as the real kubelet decides it.

Upstream (kubernetes/kubernetes ``pkg/kubelet/kuberuntime/kuberuntime_container.go``,
``getTerminationMessage`` and ``convertToKubeContainerStatus``; limits in
``pkg/kubelet/container/runtime.go``; user docs: kubernetes/website
``content/en/docs/tasks/debug/debug-application/determine-reason-pod-failure.md`` at 0f1b35b):

* the kubelet mounts a file of its own at the container's ``terminationMessagePath`` (the API
  server defaults it to ``/dev/termination-log``); when the container exits it reads at most the
  *last* 4096 bytes of that file (``MaxContainerTerminationMessageLength``) into
  ``state.terminated.message``, on success and failure alike;
* ``terminationMessagePolicy: FallbackToLogsOnError``: if that file is missing or empty and the
  container exited non-zero, the message is the end of the container's log instead: at most
  the last 80 lines (``MaxContainerTerminationMessageLogLines``) and 2048 bytes
  (``MaxContainerTerminationMessageLogLength``, a ring buffer: the end is kept).

The local kubelet runs containers as host processes, without mount namespaces: the file stands in
a temporary directory and the process finds it through ``TERMINATION_MESSAGE_PATH`` (the one thing
a real container does not get; see docs/kube-emulator.md).
"""

from __future__ import annotations

import os
from typing import Any

DEFAULT_PATH = "/dev/termination-log"
PATH_ENV = "TERMINATION_MESSAGE_PATH"
FALLBACK_TO_LOGS_ON_ERROR = "FallbackToLogsOnError"
MAX_MESSAGE_BYTES = 1024 * 4
MAX_LOG_LINES = 80
MAX_LOG_BYTES = 1024 * 2


def message_path(container: dict[str, Any]) -> str:
    """The container's terminationMessagePath (defaulted as the API server does); empty: none."""
    return str(container.get("terminationMessagePath", DEFAULT_PATH) or "")


def _tail_bytes(data: bytes, limit: int) -> str:
    return data[-limit:].decode(errors="replace")


def read_message_file(host_path: str | None) -> str:
    """The last 4096 bytes of the file the container wrote, or empty if it wrote none."""
    if not host_path:
        return ""
    try:
        with open(host_path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - MAX_MESSAGE_BYTES))
            return _tail_bytes(handle.read(), MAX_MESSAGE_BYTES)
    except FileNotFoundError:
        return ""


def termination_message(container: dict[str, Any], written: str, exit_code: int | None, log: str) -> str:
    """``state.terminated.message``: what the container wrote, else (policy permitting) its log's end."""
    if written:
        return written
    fallback = container.get("terminationMessagePolicy") == FALLBACK_TO_LOGS_ON_ERROR
    if not fallback or exit_code == 0:  # None: killed (137 on a real node), which falls back too
        return ""
    lines = log.splitlines(keepends=True)[-MAX_LOG_LINES:]
    return _tail_bytes("".join(lines).encode(), MAX_LOG_BYTES)
