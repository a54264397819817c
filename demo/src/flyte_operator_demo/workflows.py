"""The demo workflows.

* ``main``: ``sum_of_squares`` runs on three ParallelJob workers. Each worker adds up the squares
  of its own slice of ``0..n-1`` and shares the partial sum; the leader gathers every partial and
  returns the total, which is right only if every worker ran. ``report`` then creates a
  batch/v1 Job (a ``CustomResourceTask``) that prints the total.
* ``shaped``: ``read_secret`` shows the pod-building seams with Flyte: a pod template (whose
  primary container flytekit names ``task``; the connector renames it to the operator's
  ``worker``), a secret request (Flyte's webhook injects it as ``_FSEC_DEMO-CREDENTIALS_TOKEN``,
  read through flytekit's secrets API) and ``interruptible=True`` (the connector's podDefaults
  add the interruptible tolerations). It returns a digest of the secret, never the secret.
* ``failing``: ``refuse_on_purpose`` runs on two workers; worker 1 raises on purpose. Its worker
  Job is restarted once by the operator (``max_restarts=1``), then the task fails with the
  worker's message; on a Flyte cluster propeller retries the whole task once (``retries=1``).

The image the workers run is ``FLYTE_OPERATOR_DEMO_IMAGE`` at import time (see ``images.py``).
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from datetime import timedelta

from flytekit import PodTemplate, Secret, current_context, kwtypes, task, workflow
from kubernetes.client import V1Container, V1PodSpec, V1Toleration

from flyte_operator_demo.images import demo_image
from flytekitplugins.k8s_operator import CustomResourceTask, ParallelJob, current_worker, gather, share

IMAGE = demo_image()
WORKERS = 3
FAILING_WORKER = 1
SECRET_GROUP = "demo-credentials"
SECRET_KEY = "token"
POD_TEMPLATE_LABEL = "flyte-operator-demo/pod-template"
FAILURE_MESSAGE = "worker 1 refuses on purpose: this task demonstrates failures and retries"


def squares_of_slice(n: int, index: int, count: int) -> int:
    """The sum of ``i * i`` for ``i`` in ``0..n-1`` with ``i % count == index``."""
    return sum(i * i for i in range(index, n, count))


def expected_sum_of_squares(n: int) -> int:
    """The closed form of ``sum(i * i for i in range(n))``, to check the workers' total."""
    return (n - 1) * n * (2 * n - 1) // 6


@task(
    task_config=ParallelJob(workers=WORKERS, timeout=timedelta(minutes=10)),
    container_image=IMAGE,
)
def sum_of_squares(n: int, linger_seconds: int = 0) -> int:
    """Every worker sums its slice; the leader returns the total of all partial sums.

    ``linger_seconds`` keeps the workers busy first, leaving time to try an abort (Ctrl-C).
    """
    time.sleep(linger_seconds)
    me = current_worker()
    partial = squares_of_slice(n, me.index, me.count)
    share({"worker": me.index, "partial": partial, "pid": os.getpid(), "host": socket.gethostname()})
    if not me.is_leader:
        return 0  # discarded: only the leader's outputs are the task's outputs
    parts = gather(timeout=timedelta(minutes=5), poll_interval=0.2)
    if [part["worker"] for part in parts] != list(range(me.count)):
        raise RuntimeError(f"expected one partial sum per worker, got {parts}")
    return sum(int(part["partial"]) for part in parts)


report = CustomResourceTask(
    name="report_sum",
    manifest="""
        apiVersion: batch/v1
        kind: Job
        metadata:
          labels: {app.kubernetes.io/part-of: flyte-operator-demo}
        spec:
          backoffLimit: 0
          template:
            spec:
              restartPolicy: Never
              containers:
                - name: report
                  image: busybox:1.36
                  command: ["sh", "-c"]
                  args: ["echo 'the sum of squares below {{ inputs.n }} is {{ inputs.total }}'"]
    """,
    success_condition="object.status.conditions.exists(c, c.type == 'Complete' && c.status == 'True')",
    failure_condition="object.status.conditions.exists(c, c.type == 'Failed' && c.status == 'True')",
    progress_template="report Job: {object.status.succeeded}/{object.spec.completions} pods succeeded",
    inputs=kwtypes(n=int, total=int),
)


def secret_digest(value: str) -> str:
    """What ``read_secret`` returns for a secret value: a short SHA-256 prefix."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


@task(
    task_config=ParallelJob(workers=1, timeout=timedelta(minutes=10)),
    container_image=IMAGE,
    pod_template=PodTemplate(
        primary_container_name="task",
        labels={POD_TEMPLATE_LABEL: "yes"},
        pod_spec=V1PodSpec(
            containers=[V1Container(name="task")],
            tolerations=[V1Toleration(key="flyte-operator-demo/pod-template", operator="Exists")],
        ),
    ),
    secret_requests=[Secret(group=SECRET_GROUP, key=SECRET_KEY, mount_requirement=Secret.MountType.ENV_VAR)],
    interruptible=True,
)
def read_secret() -> str:
    """Reads the requested secret the way any flytekit task does; returns its digest."""
    token = current_context().secrets.get(SECRET_GROUP, SECRET_KEY)
    if not token:
        raise RuntimeError(f"the secret {SECRET_GROUP}/{SECRET_KEY} was not injected")
    return secret_digest(token)


@task(
    task_config=ParallelJob(workers=2, max_restarts=1, timeout=timedelta(minutes=10)),
    container_image=IMAGE,
    retries=1,
)
def refuse_on_purpose(n: int) -> int:
    """Worker 1 raises with a clear message; the others would succeed."""
    me = current_worker()
    if me.index == FAILING_WORKER:
        raise ValueError(FAILURE_MESSAGE)
    return n


@workflow
def main(n: int = 1000, linger_seconds: int = 0) -> int:
    """A ParallelJob whose result needs every worker, then a Job that reports it."""
    total = sum_of_squares(n=n, linger_seconds=linger_seconds)
    report(n=n, total=total)
    return total


@workflow
def shaped() -> str:
    """A task with a pod template, a secret request and interruptible=True."""
    return read_secret()


@workflow
def failing(n: int = 1) -> int:
    """A ParallelJob task that fails on purpose (and is retried once on a cluster)."""
    return refuse_on_purpose(n=n)
