from pathlib import Path

import pytest
from flyteidl.core import errors_pb2

from flytekitplugins.k8s_operator.termination_message import (
    MAX_TERMINATION_MESSAGE_BYTES,
    bounded,
    message_from_error_document,
    read_error_message,
    termination_message_path,
    write_termination_message,
)
from flytekitplugins.k8s_operator.worker import report_failure

# The shape of flytekit's ErrorDocument message (flytekit.bin.entrypoint.get_traceback_str, 1.16).
FLYTEKIT_MESSAGE = """Trace:

    Traceback (most recent call last):
      File "/app/wf.py", line 12, in shard_loader
        return shards[name]
               ~~~~~~^^^^^^
    KeyError: 'shard-2'

Message:

    KeyError: 'shard-2'"""


def test_the_summary_leads_and_the_traceback_follows() -> None:
    message = message_from_error_document(FLYTEKIT_MESSAGE)
    assert message.splitlines()[0] == "KeyError: 'shard-2'"
    assert message.splitlines()[2:4] == [
        "Traceback (most recent call last):",
        '  File "/app/wf.py", line 12, in shard_loader',
    ]
    assert message.endswith("KeyError: 'shard-2'")


def test_a_huge_traceback_keeps_the_summary_and_the_traceback_end() -> None:
    frames = "".join(f'      File "/app/wf.py", line {i}, in f\n' for i in range(2000))
    trace = f"Trace:\n\n    Traceback (most recent call last):\n{frames}    ValueError: x\n"
    text = f"{trace}\nMessage:\n\n    ValueError: x"
    message = message_from_error_document(text)
    assert len(message.encode()) <= MAX_TERMINATION_MESSAGE_BYTES
    assert message.startswith("ValueError: x\n\n...\n") and message.endswith("ValueError: x")


def test_a_huge_summary_is_cut_and_multibyte_text_stays_valid() -> None:
    message = bounded("é" * 5000, "detail " * 2000)
    data = message.encode()
    assert len(data) <= MAX_TERMINATION_MESSAGE_BYTES
    data.decode()  # never a cut character
    assert message.split("\n\n")[0].endswith("...")
    assert message.endswith("detail")


def test_a_message_in_another_shape_is_kept() -> None:
    assert message_from_error_document("Something odd\nat the end") == "at the end\n\nSomething odd\nat the end"
    assert message_from_error_document("") == ""


def test_path_from_the_environment_else_the_mounted_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert termination_message_path({"TERMINATION_MESSAGE_PATH": str(tmp_path / "t")}) == str(tmp_path / "t")
    monkeypatch.setattr("os.path.isfile", lambda path: path == "/dev/termination-log")
    assert termination_message_path({}) == "/dev/termination-log"
    monkeypatch.setattr("os.path.isfile", lambda path: False)
    assert termination_message_path({}) is None  # outside a container: nothing is written


def test_write_is_bounded_and_reports_failure(tmp_path: Path) -> None:
    target = tmp_path / "log"
    assert write_termination_message(str(target), "x" * 10_000)
    assert target.stat().st_size == MAX_TERMINATION_MESSAGE_BYTES
    assert not write_termination_message(str(tmp_path / "missing" / "log"), "x")


def _error_pb(directory: Path, message: str) -> None:
    directory.mkdir(parents=True)
    document = errors_pb2.ErrorDocument(error=errors_pb2.ContainerError(code="USER", message=message))
    (directory / "error.pb").write_bytes(document.SerializeToString())


def test_report_failure_reads_the_workers_error_document(tmp_path: Path) -> None:
    _error_pb(tmp_path / "out" / "workers" / "2", FLYTEKIT_MESSAGE)
    assert read_error_message(str(tmp_path / "out")) is None
    command = ["pyflyte-execute", "--output-prefix", str(tmp_path / "out" / "workers" / "2")]
    target = tmp_path / "termination-log"
    written = report_failure(command, 1, {"TERMINATION_MESSAGE_PATH": str(target)})
    assert written == target.read_text() and written.startswith("KeyError: 'shard-2'\n\nTraceback")


def test_report_failure_without_an_error_document_says_so(tmp_path: Path) -> None:
    target = tmp_path / "termination-log"
    command = ["pyflyte-execute", "--output-prefix", str(tmp_path / "nothing")]
    assert report_failure(command, 3, {"TERMINATION_MESSAGE_PATH": str(target)}) == (
        "pyflyte-execute exited with 3 and recorded no error.pb"
    )
    assert report_failure(command, 3, {}) is None or Path("/dev/termination-log").is_file()
