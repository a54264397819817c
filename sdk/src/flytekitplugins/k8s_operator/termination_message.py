"""A failed worker's error, written where Kubernetes picks it up: the container's termination message.

The kubelet reads the file at the container's ``terminationMessagePath`` (default
``/dev/termination-log``, a file it mounts into every container) when the container exits and
puts its content into the pod's ``status.containerStatuses[].state.terminated.message``. It keeps
at most 4096 bytes, the *last* ones (Kubernetes ``pkg/kubelet/kuberuntime/kuberuntime_container.go``,
``getTerminationMessage`` reads ``tail.ReadAtMost(path, MaxContainerTerminationMessageLength)``;
``pkg/kubelet/container/runtime.go``: ``MaxContainerTerminationMessageLength = 1024 * 4``; documented
in "Determine the Reason for Pod Failure": "The kubelet truncates messages that are longer than 4096
bytes"). The example operator copies the message into the ParallelJob's status, and the connector
shows it as the task's error.

flytekit's ``pyflyte-execute`` records a failure as an ``ErrorDocument`` (``error.pb``) below the
output prefix, with a message ``"Trace:\\n\\n<traceback>\\nMessage:\\n\\n    <Type>: <text>"``
(``flytekit.bin.entrypoint.get_traceback_str``). The worker entrypoint turns it into
``"<Type>: <text>"`` followed by as much of the traceback's end as fits in 4096 bytes, so the
summary survives the kubelet's cut and a reader sees the exception first.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping

__all__ = [
    "DEFAULT_TERMINATION_MESSAGE_PATH",
    "MAX_TERMINATION_MESSAGE_BYTES",
    "TERMINATION_MESSAGE_PATH_ENV",
    "bounded",
    "message_from_error_document",
    "read_error_message",
    "termination_message_path",
    "write_termination_message",
]

#: Kubernetes' default ``terminationMessagePath``.
DEFAULT_TERMINATION_MESSAGE_PATH = "/dev/termination-log"
#: Overrides the path: for a container whose ``terminationMessagePath`` is not the default, and for
#: the repository's local kubelet, which runs containers as host processes without mounts.
TERMINATION_MESSAGE_PATH_ENV = "TERMINATION_MESSAGE_PATH"
#: The kubelet's limit (``MaxContainerTerminationMessageLength``).
MAX_TERMINATION_MESSAGE_BYTES = 4096
# The exception summary keeps at most this much, so some traceback always fits after it.
_MAX_SUMMARY_BYTES = 1024
_TRACE_HEAD = "Trace:"
_MESSAGE_HEAD = "\nMessage:\n"
_CUT_MARK = "...\n"


def termination_message_path(environ: Mapping[str, str]) -> str | None:
    """Where to write: ``$TERMINATION_MESSAGE_PATH``, else ``/dev/termination-log`` if the kubelet
    mounted it (it exists); ``None`` outside a container (local runs, tests)."""
    override = environ.get(TERMINATION_MESSAGE_PATH_ENV, "").strip()
    if override:
        return override
    return DEFAULT_TERMINATION_MESSAGE_PATH if os.path.isfile(DEFAULT_TERMINATION_MESSAGE_PATH) else None


def _head(text: str, limit: int) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - len(_CUT_MARK)].decode(errors="ignore").rstrip() + _CUT_MARK.rstrip()


def _tail(text: str, limit: int) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    return _CUT_MARK + data[len(data) - limit + len(_CUT_MARK) :].decode(errors="ignore")


def bounded(summary: str, detail: str = "", limit: int = MAX_TERMINATION_MESSAGE_BYTES) -> str:
    """``summary`` (cut at its end if long), a blank line, and the end of ``detail``: at most ``limit`` bytes."""
    head = _head(summary.strip(), min(_MAX_SUMMARY_BYTES, limit))
    detail = detail.strip()
    if not detail:
        return head
    room = limit - len(head.encode()) - 2
    if room <= len(_CUT_MARK):
        return head
    return f"{head}\n\n{_tail(detail, room)}"


def _dedent(block: str) -> str:
    return "\n".join(line[4:] if line.startswith("    ") else line for line in block.strip("\n").splitlines())


def message_from_error_document(message: str) -> str:
    """The termination message for an ``ErrorDocument``'s message: the summary, then the traceback."""
    trace, found, summary = message.rpartition(_MESSAGE_HEAD)
    if not found:
        return bounded(message.strip().splitlines()[-1] if message.strip() else "", message)
    trace = trace.strip()
    if trace.startswith(_TRACE_HEAD):
        trace = trace[len(_TRACE_HEAD) :]
    return bounded(_dedent(summary), _dedent(trace))


def read_error_message(output_prefix: str) -> str | None:
    """The message of ``<output_prefix>/error.pb`` (local path or blob store), or None if there is none."""
    from flyteidl.core import errors_pb2
    from flytekit import FlyteContextManager

    file_access = FlyteContextManager.current_context().file_access
    remote = f"{output_prefix.rstrip('/')}/error.pb"
    with tempfile.TemporaryDirectory() as scratch:
        local = os.path.join(scratch, "error.pb")
        try:
            if not file_access.exists(remote):
                return None
            file_access.get_data(remote, local)
            document = errors_pb2.ErrorDocument()
            with open(local, "rb") as handle:
                document.ParseFromString(handle.read())
        except Exception:  # a failing worker must still exit with its own status; the message is a bonus
            return None
    return document.error.message or None


def write_termination_message(path: str, message: str) -> bool:
    """Writes ``message`` (cut to the kubelet's limit) to ``path``; False if it cannot be written."""
    data = message.encode()[:MAX_TERMINATION_MESSAGE_BYTES]
    try:
        with open(path, "wb") as handle:
            handle.write(data)
    except OSError:
        return False
    return True
