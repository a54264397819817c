"""A data scientist's local runs on the embedded cluster: what they see when a worker fails, what
is stored, what is left behind (issue 17).

Each task is called as in a local run; flytekit submits it through the connector; the operator runs
its workers as processes; the error is what ``pyflyte run`` prints. Generous waits, no timing asserts.
"""

from __future__ import annotations

import datetime
import os
import re
import sys
from pathlib import Path

import pytest
from flytekit import FlyteContextManager
from flytekit.exceptions.user import FlyteUserException
from local_runs import ds_tasks
from local_runs.conftest import objects_left

from embedded_cluster.cluster import EmbeddedCluster
from kube_emulator import interrupt_once_logged, wait_until

NAMESPACE = "flytesnacks-development"
POD = r"local-[0-9a-f]+-w{index}-[a-z0-9]{{5}}"


def _failure(task: object, **inputs: object) -> str:
    with pytest.raises(FlyteUserException) as raised:
        task(**inputs)  # type: ignore[operator]
    return str(raised.value)


def _nothing_left(cluster: EmbeddedCluster) -> None:
    wait_until(lambda: not objects_left(cluster.emulator), timeout=120, interval=0.5, what="the run's objects to go")


def test_a_key_error_in_worker_2_is_named_with_its_pod_and_the_progress_is_printed_as_lines(
    cluster: EmbeddedCluster, capfd: pytest.CaptureFixture[str]
) -> None:
    # One failing run, two views of it: the error flytekit raises, and the lines printed meanwhile.
    message = _failure(ds_tasks.shard_loader, n=3)
    assert "Failed to run the task local_runs.ds_tasks.shard_loader with error: BackoffLimitExceeded:" in message
    assert re.search(rf"worker 2 \(pod {POD.format(index=2)}, Job local-[0-9a-f]+-w2\) failed", message), message
    assert "KeyError: 'shard-2'" in message
    printed = capfd.readouterr().err
    name = "local_runs.ds_tasks.shard_loader"
    assert f"[{name}] RUNNING " in printed or f"[{name}] INITIALIZING " in printed, printed
    assert re.search(
        rf"\[{name}\] log link kubectl logs \(worker 2\): kubectl logs -n flytesnacks-development ", printed
    )
    assert f"[{name}] RETRYABLE_FAILED BackoffLimitExceeded: worker 2 (pod " in printed
    assert re.search(rf"\[{name}\] deleted ParallelJob flytesnacks-development/local-[0-9a-f]+ \(keep it: ", printed)
    _nothing_left(cluster)


def test_a_gather_timeout_names_the_worker_that_never_shared(cluster: EmbeddedCluster) -> None:
    message = _failure(ds_tasks.gather_without_worker_1, n=1)
    assert re.search(rf"worker 0 \(pod {POD.format(index=0)}, Job [^)]+\) failed", message), message
    assert "TimeoutError: gather(): worker(s) [1] of 2 did not share a value within 3 s" in message
    _nothing_left(cluster)


def test_sharing_a_value_json_cannot_hold_says_so(cluster: EmbeddedCluster) -> None:
    message = _failure(ds_tasks.share_a_set, n=1)
    assert re.search(r"worker [01] \(pod local-", message), message
    assert "TypeError: share() needs a JSON-serializable value: Object of type set is not JSON serializable" in message
    _nothing_left(cluster)


def test_a_module_missing_in_the_workers_image_is_named(cluster: EmbeddedCluster) -> None:
    from local_runs import ds_missing_module

    message = _failure(ds_missing_module.uses_gpu_workers, n=1)
    assert re.search(rf"worker 1 \(pod {POD.format(index=1)}, ", message), message
    assert "ModuleNotFoundError: No module named 'gpu_workers'" in message
    _nothing_left(cluster)


def test_four_workers_store_one_copy_of_a_directory_output(cluster: EmbeddedCluster) -> None:
    raw = Path(FlyteContextManager.current_context().file_access.raw_output_prefix)
    before = set(raw.rglob("payload-of-worker-*.txt"))
    directory = ds_tasks.write_shards(n=5)
    stored = sorted(set(raw.rglob("payload-of-worker-*.txt")) - before)
    # Only the leader's output was uploaded; the other three workers' returns were ignored.
    assert [path.name for path in stored] == ["payload-of-worker-0.txt"], stored
    assert Path(directory.remote_source or directory.path).name == stored[0].parent.name
    _nothing_left(cluster)


def test_the_task_timeout_ends_a_custom_resource_task_and_deletes_its_object(
    cluster: EmbeddedCluster, capfd: pytest.CaptureFixture[str]
) -> None:
    message = _failure(ds_tasks.sleepy_job)
    assert "timed out: still RUNNING after the task's timeout of 0:00:03" in message
    assert "deleted Job flytesnacks-development/local-" in capfd.readouterr().err
    _nothing_left(cluster)


def test_a_downstream_task_consumes_outputs_read_from_the_object(cluster: EmbeddedCluster) -> None:
    """Issue 18: typed outputs of a custom_resource task, through flytekit's local executor and the
    real connector: read with CEL from the finished Job, passed on as literals of the declared types."""
    year = datetime.datetime.now(datetime.timezone.utc).year
    assert ds_tasks.count_then_describe() in (f"1 pod(s) succeeded, finished in {y}" for y in (year, year + 1))
    _nothing_left(cluster)


def test_keep_objects_keeps_them(cluster: EmbeddedCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYTE_K8S_OPERATOR_KEEP_OBJECTS", "1")
    ds_tasks.write_shards(n=1)
    kept = [name for name in objects_left(cluster.emulator) if name.startswith("paralleljobs/")]
    assert len(kept) == 1, kept
    cluster.emulator.delete("paralleljobs", kept[0].split("/", 1)[1], "flytesnacks-development")
    _nothing_left(cluster)


def test_ctrl_c_in_a_workflow_deletes_the_running_object_says_so_and_exits_130(
    cluster: EmbeddedCluster, tmp_path: Path
) -> None:
    """``pyflyte run`` of two chained tasks, interrupted in the second: the same as for one task."""
    log_path = tmp_path / "pyflyte.log"
    command = [sys.executable, "-m", "embedded_cluster.pyflyte_with_connector", "run", ds_tasks.__file__]
    returncode = interrupt_once_logged(
        [*command, "square_then_linger"],
        os.environ,
        log_path,
        "ds_tasks.linger] log link kubectl logs (worker 1)",
        600,
        300,
    )
    output = log_path.read_text()
    assert returncode == 130, output
    assert re.search(r"ds_tasks.square\] deleted ParallelJob flytesnacks-development/local-", output), output
    assert re.search(r"ds_tasks.linger\] ABORTED: deleted ParallelJob flytesnacks-development/local-", output), output
    _nothing_left(cluster)


def test_map_task_over_a_parallel_job_returns_the_mapped_values_locally(cluster: EmbeddedCluster) -> None:
    assert ds_tasks.squares(ns=[1, 2, 3]) == [1, 4, 9]
    _nothing_left(cluster)
