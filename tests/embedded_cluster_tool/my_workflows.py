"""A user's own workflow file, outside every package of the repository: the embedded cluster tool
and demo:local run it by path, and their worker processes import it by its module name."""

from __future__ import annotations

from flytekit import task, workflow

from flytekitplugins.k8s_operator import ParallelJob, current_worker, gather, share

IMAGE = "ghcr.io/example/my-workflows:1.0.0"  # the local kubelet ignores it and runs this interpreter


@task(task_config=ParallelJob(workers=2), container_image=IMAGE)
def scaled_sum(x: int) -> int:
    """Each worker shares ``x * (index + 1)``; the leader returns the total: ``3 * x`` only if both ran."""
    share(x * (current_worker().index + 1))
    return sum(gather()) if current_worker().is_leader else 0


@workflow
def my_wf(x: int) -> int:
    return scaled_sum(x=x)
