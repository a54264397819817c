import importlib
import os
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
from flyteidl.core import literals_pb2
from flytekit import FlyteContextManager
from flytekit.configuration import SerializationSettings
from flytekit.core import utils
from flytekit.core.type_engine import TypeEngine
from flytekit.extend.backend.utils import render_task_template
from flytekit.models.literals import LiteralMap
from flytekit.tools.translator import get_serializable

from flytekitplugins.k8s_operator import WorkerInfo, current_worker, gather, share


def test_current_worker_defaults_outside_a_parallel_job() -> None:
    assert current_worker({}) == WorkerInfo(index=0, count=1)
    assert current_worker({}).is_leader


def test_current_worker_from_the_environment() -> None:
    worker = current_worker({"WORKER_INDEX": "2", "WORKER_COUNT": "4"})
    assert (worker.index, worker.count, worker.is_leader) == (2, 4, False)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"WORKER_INDEX": "x"}, r"WORKER_INDEX must be an integer >= 0, got 'x'"),
        ({"WORKER_COUNT": "0"}, r"WORKER_COUNT must be an integer >= 1, got '0'"),
        ({"WORKER_INDEX": "3", "WORKER_COUNT": "3"}, r"WORKER_INDEX=3 must be below WORKER_COUNT=3"),
    ],
)
def test_malformed_worker_environment(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        current_worker(environ)


def test_worker_info_is_validated_and_frozen() -> None:
    with pytest.raises(ValueError, match="worker index 2 is outside 0..1"):
        WorkerInfo(index=2, count=2)
    with pytest.raises(AttributeError):
        WorkerInfo(index=0, count=1).index = 1  # type: ignore[misc]


def test_single_worker_shares_with_itself() -> None:
    share({"loss": 0.5})
    assert gather(timeout=0) == [{"loss": 0.5}]


def _as_worker(monkeypatch: pytest.MonkeyPatch, index: int, count: int, prefix: Path) -> None:
    monkeypatch.setenv("WORKER_INDEX", str(index))
    monkeypatch.setenv("WORKER_COUNT", str(count))
    monkeypatch.setenv("FLYTE_K8S_OPERATOR_EXCHANGE_PREFIX", str(prefix))


def test_gather_orders_values_by_worker_index(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for index in (2, 0, 1):
        _as_worker(monkeypatch, index, 3, tmp_path)
        assert share([index, "x"]) == f"{tmp_path}/{index}.json"
    _as_worker(monkeypatch, 0, 3, tmp_path)
    assert gather(timeout=0) == [[0, "x"], [1, "x"], [2, "x"]]


def test_gather_waits_for_late_workers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _as_worker(monkeypatch, 0, 2, tmp_path)
    share(0)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:  # worker 1 shares while the leader waits
        sleeps.append(seconds)
        (tmp_path / "1.json").write_text("11")

    assert gather(timeout=10, poll_interval=0.5, sleep=sleep) == [0, 11]
    assert sleeps == [0.5]


def test_gather_ignores_a_half_written_value(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _as_worker(monkeypatch, 0, 2, tmp_path)
    share(0)
    (tmp_path / "1.json").write_text('{"partial": ')
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds
        (tmp_path / "1.json").write_text('{"partial": false}')

    assert gather(timeout=5, clock=lambda: now[0], sleep=sleep) == [0, {"partial": False}]


def test_gather_timeout_names_the_missing_workers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _as_worker(monkeypatch, 1, 4, tmp_path)
    share("me")
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(TimeoutError, match=r"worker\(s\) \[0, 2, 3\] of 4 did not share a value within 3 s"):
        gather(timeout=3, clock=lambda: now[0], sleep=sleep)
    assert now[0] == 3.0


def test_gather_needs_own_value_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _as_worker(monkeypatch, 0, 2, tmp_path)
    with pytest.raises(RuntimeError, match="worker 0 must call share\\(\\) before gather\\(\\)"):
        gather(timeout=0)


def test_share_needs_json(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _as_worker(monkeypatch, 0, 1, tmp_path)
    with pytest.raises(TypeError, match="share\\(\\) needs a JSON-serializable value"):
        share({1, 2})


def test_several_workers_need_an_exchange_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_COUNT", "2")
    with pytest.raises(RuntimeError, match="FLYTE_K8S_OPERATOR_EXCHANGE_PREFIX is not set"):
        share(1)


TASKS = """
from flytekit import task

from flytekitplugins.k8s_operator import ParallelJob, current_worker, gather, share


@task(task_config=ParallelJob(workers=2), container_image="ghcr.io/example/app:1.0.0")
def total(n: int) -> int:
    me = current_worker()
    share(me.index * 10 + n)
    if not me.is_leader:
        return None  # ignored: a non-leader's return value is neither checked nor stored
    return sum(gather(timeout=120, poll_interval=0.1))


@task(task_config=ParallelJob(workers=2), container_image="ghcr.io/example/app:1.0.0")
def broken(n: int) -> int:
    if n > 0:
        raise RuntimeError(f"worker {current_worker().index} broke")
    return n
"""


def _read_outputs(path: Path) -> dict[str, Any]:
    ctx = FlyteContextManager.current_context()
    literals = LiteralMap.from_flyte_idl(utils.load_proto_from_file(literals_pb2.LiteralMap, str(path)))
    outputs: dict[str, Any] = TypeEngine.literal_map_to_kwargs(ctx, literals, {"o0": int})
    return outputs


def _start_workers(
    task_name: str,
    indices: list[int],
    tmp_path: Path,
    settings: SerializationSettings,
    extra_env: dict[str, str] | None = None,
) -> tuple[Path, list["subprocess.Popen[bytes]"]]:
    """Serializes a task of TASKS, writes its inputs and starts the given workers' containers."""
    (tmp_path / "e2e_tasks.py").write_text(TASKS)
    sys.path.insert(0, str(tmp_path))
    try:
        task = getattr(importlib.import_module("e2e_tasks"), task_name)
        template = get_serializable(OrderedDict(), settings, task).template
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("e2e_tasks", None)
    prefix = tmp_path / "run"
    prefix.mkdir()
    args = render_task_template(template, str(prefix)).container.args
    ctx = FlyteContextManager.current_context()
    inputs = TypeEngine.dict_to_literal_map(ctx, {"n": 5}, {"n": int})
    utils.write_proto_to_file(inputs.to_flyte_idl(), str(prefix / "inputs.pb"))

    assert args[:4] == ["python", "-m", "flytekitplugins.k8s_operator.worker", "pyflyte-execute"]
    # The test's interpreter stands in for the image's `python`; pyflyte-execute runs in-process.
    command = [sys.executable, *args[1:]]
    workers = []
    for index in indices:
        env = {
            "PATH": os.defpath,
            "HOME": str(tmp_path),
            # Absolute: under Pants, sys.path holds the sandbox's source roots as relative paths.
            "PYTHONPATH": os.pathsep.join([str(tmp_path), *map(os.path.abspath, sys.path)]),
            "WORKER_INDEX": str(index),
            "WORKER_COUNT": "2",
            **(extra_env or {}),
        }
        workers.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    return prefix, workers


def test_two_workers_run_the_serialized_command(tmp_path: Path, settings: SerializationSettings) -> None:
    """The real container command: worker entrypoint, pyflyte-execute, share/gather, outputs."""
    prefix, workers = _start_workers("total", [1, 0], tmp_path, settings)
    for worker in workers:
        output, _ = worker.communicate(timeout=300)
        assert worker.returncode == 0, output.decode()
    assert _read_outputs(prefix / "outputs.pb") == {"o0": (0 + 5) + (10 + 5)}
    # The non-leader returned None for `-> int`: ignored, and nothing of it was written.
    assert not (prefix / "workers" / "1").exists()
    assert sorted(path.name for path in (prefix / "exchange").iterdir()) == ["0.json", "1.json"]


def test_a_failing_worker_exits_non_zero(tmp_path: Path, settings: SerializationSettings) -> None:
    """FLYTE_FAIL_ON_ERROR=true: the operator sees the failure; error.pb stays in the worker's prefix;
    the exception type and message lead the container's termination message."""
    message_file = tmp_path / "termination-log"
    env = {"TERMINATION_MESSAGE_PATH": str(message_file)}
    prefix, (worker,) = _start_workers("broken", [1], tmp_path, settings, env)
    output, _ = worker.communicate(timeout=300)
    assert worker.returncode != 0, output.decode()
    assert (prefix / "workers" / "1" / "error.pb").exists()
    assert not (prefix / "error.pb").exists()
    message = message_file.read_text()
    assert message.startswith("RuntimeError: worker 1 broke\n\nTraceback (most recent call last):"), message
    assert 'raise RuntimeError(f"worker {current_worker().index} broke")' in message
