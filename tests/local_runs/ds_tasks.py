"""Tasks a data scientist gets wrong (and one they get right), run by local_runs_test on the embedded cluster.

The worker processes import this module by name, as pods import a workflow from their image.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from flytekit import TaskMetadata, map_task, task, workflow
from flytekit.types.directory import FlyteDirectory

from flytekitplugins.k8s_operator import CustomResourceTask, ObjectOutput, ParallelJob, current_worker, gather, share

# The image the workers would run; the local kubelet ignores it and runs this interpreter.
IMAGE = "ghcr.io/example/local-runs:1.0.0"
PAYLOAD_NAME = "payload-of-worker-{index}.txt"


@task(task_config=ParallelJob(workers=3), container_image=IMAGE)
def shard_loader(n: int) -> int:
    shards = {f"shard-{i}": i * n for i in range(2)}
    if current_worker().index == 2:
        # The test also reads the RUNNING line the local executor prints from its 1 s polls. Forked
        # by the kubelet's zygote, a worker fails within a fraction of a second, before the first
        # poll; a fresh interpreter used to take seconds importing flytekit first.
        time.sleep(3)
    return shards[f"shard-{current_worker().index}"]  # worker 2: KeyError: 'shard-2'


# Two workers, so the only one that can be missing is the one that never shares: with three, a
# worker slow to start on a loaded machine was named too.
@task(task_config=ParallelJob(workers=2), container_image=IMAGE)
def gather_without_worker_1(n: int) -> int:
    me = current_worker()
    if me.index == 1:
        return 0  # forgets to share
    share(n)
    if not me.is_leader:
        return 0
    return sum(gather(timeout=timedelta(seconds=3), poll_interval=0.2))


@task(task_config=ParallelJob(workers=2), container_image=IMAGE)
def share_a_set(n: int) -> int:
    share({n, n + 1})  # TypeError: sets are not JSON
    return n


@task(task_config=ParallelJob(workers=4), container_image=IMAGE)
def write_shards(n: int) -> FlyteDirectory:
    me = current_worker()
    # A new directory per worker: the pods share /tmp here, and a directory named after the pid
    # could be an earlier run's once pids wrap (a leftover worker-1 file then rode along).
    directory = Path(tempfile.mkdtemp(prefix="shards-"))
    (directory / PAYLOAD_NAME.format(index=me.index)).write_text(f"{me.index * n}\n")
    return FlyteDirectory(str(directory))


def python_job(code: str) -> dict[str, object]:
    """A batch/v1 Job whose one pod runs ``code`` with this interpreter (the local kubelet's way)."""
    container = {"name": "main", "image": IMAGE, "command": [sys.executable, "-c", code]}
    pod = {"spec": {"restartPolicy": "Never", "containers": [container]}}
    return {"apiVersion": "batch/v1", "kind": "Job", "spec": {"backoffLimit": 0, "template": pod}}


JOB_COMPLETE = "object.status.conditions.exists(c, c.type == 'Complete' && c.status == 'True')"
JOB_FAILED = "object.status.conditions.exists(c, c.type == 'Failed' && c.status == 'True')"

# A Job that would run for ten minutes; the task's timeout ends it.
SLEEP = "import time; time.sleep(600)"
sleepy_job = CustomResourceTask(
    name="sleepy_job",
    manifest=python_job(SLEEP),
    success_condition=JOB_COMPLETE,
    failure_condition=JOB_FAILED,
    metadata=TaskMetadata(timeout=timedelta(seconds=3)),
)


@task(task_config=ParallelJob(workers=1), container_image=IMAGE)
def square(n: int) -> int:
    return n * n


@task(task_config=ParallelJob(workers=2), container_image=IMAGE)
def linger(n: int) -> int:
    time.sleep(600)
    return n


@workflow
def square_then_linger(n: int = 3) -> int:
    """Two tasks in a row; Ctrl-C during the second."""
    return linger(n=square(n=n))


@workflow
def squares(ns: list[int]) -> list[int]:
    """map_task over a ParallelJob: runs locally (one ParallelJob per item); Flyte refuses to register it."""
    return map_task(square)(n=ns)


# A Job that succeeds at once; its outputs are read from the finished object (issue 18).
counted_job = CustomResourceTask(
    name="counted_job",
    manifest=python_job("pass"),
    success_condition=JOB_COMPLETE,
    failure_condition=JOB_FAILED,
    outputs={
        "pods": ObjectOutput(int, "object.status.succeeded"),
        "finished": ObjectOutput(datetime, "timestamp(object.status.completionTime)"),
    },
)


@task
def describe_count(pods: int, finished: datetime) -> str:
    return f"{pods} pod(s) succeeded, finished in {finished.year}"


@workflow
def count_then_describe() -> str:
    """A downstream task consumes a custom_resource task's outputs."""
    counted = counted_job()
    return describe_count(pods=counted.pods, finished=counted.finished)
