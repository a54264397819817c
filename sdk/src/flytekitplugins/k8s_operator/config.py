"""The :class:`ParallelJob` task config and its translation to the ``ParallelJob`` proto."""

from __future__ import annotations

import datetime
import enum
import math
import re
from dataclasses import dataclass, fields
from typing import Final, TypeVar

from flytekit import Resources

from flyte_k8s_operator.v1 import parallel_job_pb2

__all__ = ["MAX_RESTARTS", "MAX_WORKERS", "ParallelJob", "RestartPolicy", "SuccessPolicy"]

#: Bounds the example operator enforces (see docs/design.md).
MAX_WORKERS: Final = 1000
MAX_RESTARTS: Final = 100

# A non-negative Kubernetes resource quantity, e.g. "500m", "1.5", "2Gi", "1e3".
_QUANTITY_RE: Final = re.compile(r"\+?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?")

# flytekit Resources field -> Kubernetes resource name. "gpu" is Flyte's abstract GPU: the
# connector renames it to the cluster's GPU resource (podDefaults gpu-resource-name), as Flyte does.
_RESOURCE_NAMES: Final = {
    "cpu": "cpu",
    "mem": "memory",
    "gpu": "gpu",
    "ephemeral_storage": "ephemeral-storage",
}


class RestartPolicy(str, enum.Enum):
    """What happens when a worker's container fails (the value is the operator's spelling)."""

    #: A failed worker is replaced by a new pod, counting against ``max_restarts``.
    NEVER = "Never"
    #: The kubelet restarts the failed container in place, counting against ``max_restarts``.
    ON_FAILURE = "OnFailure"


class SuccessPolicy(str, enum.Enum):
    """When the job as a whole succeeds (the value is the operator's spelling)."""

    #: Every worker must succeed.
    ALL_WORKERS = "AllWorkers"
    #: The first worker that succeeds ends the job successfully; the others are stopped.
    ANY_WORKER = "AnyWorker"


_RESTART_POLICY_PROTO: Final = {
    RestartPolicy.NEVER: parallel_job_pb2.RESTART_POLICY_NEVER,
    RestartPolicy.ON_FAILURE: parallel_job_pb2.RESTART_POLICY_ON_FAILURE,
}
_SUCCESS_POLICY_PROTO: Final = {
    SuccessPolicy.ALL_WORKERS: parallel_job_pb2.SUCCESS_POLICY_ALL_WORKERS,
    SuccessPolicy.ANY_WORKER: parallel_job_pb2.SUCCESS_POLICY_ANY_WORKER,
}

_E = TypeVar("_E", RestartPolicy, SuccessPolicy)


def _normalize(text: str) -> str:
    return text.replace("_", "").replace("-", "").replace(" ", "").lower()


def _to_enum(field_name: str, value: object, enum_type: type[_E]) -> _E:
    if isinstance(value, enum_type):
        return value
    if isinstance(value, str):
        for member in enum_type:
            if _normalize(value) in (_normalize(member.name), _normalize(member.value)):
                return member
    allowed = ", ".join(f"{enum_type.__name__}.{member.name} ({member.value!r})" for member in enum_type)
    raise ValueError(f"ParallelJob.{field_name}: {value!r} is not a {enum_type.__name__}; allowed: {allowed}")


def _bounded_int(field_name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"ParallelJob.{field_name} must be an integer in {low}..{high}, got {value!r}")
    return value


def _timeout(value: object) -> datetime.timedelta | None:
    if value is None:
        return None
    if isinstance(value, datetime.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ValueError(
            f"ParallelJob.timeout must be a datetime.timedelta, a number of seconds or None, got {value!r}"
        )
    if not math.isfinite(seconds) or seconds < 0 or not seconds.is_integer():
        raise ValueError(
            f"ParallelJob.timeout must be a whole, non-negative number of seconds (0 or None: no limit), "
            f"got {value!r}"
        )
    return datetime.timedelta(seconds=seconds) if seconds else None


def _quantity(field_name: str, value: object) -> str:
    text = str(value).strip() if isinstance(value, str | int | float) and not isinstance(value, bool) else ""
    if not _QUANTITY_RE.fullmatch(text):
        raise ValueError(
            f"ParallelJob.worker_resources.{field_name} must be a non-negative Kubernetes quantity "
            f"such as '500m', '2', '1.5' or '4Gi', got {value!r}"
        )
    return text


def _split_resources(resources: object) -> tuple[dict[str, str], dict[str, str]]:
    """Kubernetes requests and limits from a flytekit ``Resources``.

    A single value sets the request and the limit; a ``(request, limit)`` pair sets them apart.
    """
    if not isinstance(resources, Resources):
        raise ValueError(
            "ParallelJob.worker_resources must be a flytekit Resources, e.g. "
            f"Resources(cpu='1', mem='2Gi') or Resources(cpu=('1', '2')), got {resources!r}"
        )
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    for field in fields(resources):
        value = getattr(resources, field.name)
        if value is None:
            continue
        name = _RESOURCE_NAMES[field.name]
        if isinstance(value, list | tuple):
            if len(value) != 2:
                raise ValueError(
                    f"ParallelJob.worker_resources.{field.name} must be one value or a (request, limit) "
                    f"pair, got {value!r}"
                )
            requests[name] = _quantity(field.name, value[0])
            limits[name] = _quantity(field.name, value[1])
        else:
            requests[name] = limits[name] = _quantity(field.name, value)
    if not requests:
        raise ValueError("ParallelJob.worker_resources sets no resource; leave it None to use the task's resources")
    return requests, limits


@dataclass(frozen=True)
class ParallelJob:
    """Runs a task function on several workers (pods) with the example operator's ``ParallelJob``.

    Use it as the ``task_config`` of an ordinary ``@task``::

        @task(task_config=ParallelJob(workers=4, timeout=timedelta(hours=1)),
              container_image="ghcr.io/me/app:1", requests=Resources(cpu="1", mem="1Gi"))
        def train(shard_count: int) -> float:
            me = current_worker()
            ...

    Every worker runs the function; worker 0 (the leader) produces the task's outputs, and the
    others' outputs are discarded (see :func:`~flytekitplugins.k8s_operator.exchange.share` to
    pass values to the leader). Invalid values raise ``ValueError`` naming the field.

    Attributes:
        workers: Number of workers, 1..1000. Each sees ``WORKER_INDEX`` and ``WORKER_COUNT``.
        worker_resources: Resources of each worker as a flytekit ``Resources``; a single value sets
            request and limit alike, a ``(request, limit)`` pair sets them apart. ``None`` (the
            default) uses the task's own ``requests``/``limits``.
        restart_policy: :class:`RestartPolicy` or its name as a string (``"never"``,
            ``"OnFailure"``...): what happens when a worker's container fails.
        max_restarts: How many times each failed worker is restarted before the job fails, 0..100.
        timeout: Wall-clock limit of the whole job (``datetime.timedelta`` or whole seconds);
            ``None`` or 0 means no limit. Unlike ``@task(timeout=...)``, the operator enforces it.
        success_policy: :class:`SuccessPolicy` or its name: whether all workers must succeed
            or the first success ends the job.
    """

    workers: int = 1
    worker_resources: Resources | None = None
    restart_policy: RestartPolicy | str = RestartPolicy.NEVER
    max_restarts: int = 0
    timeout: datetime.timedelta | int | float | None = None
    success_policy: SuccessPolicy | str = SuccessPolicy.ALL_WORKERS

    def __post_init__(self) -> None:
        _bounded_int("workers", self.workers, 1, MAX_WORKERS)
        _bounded_int("max_restarts", self.max_restarts, 0, MAX_RESTARTS)
        if self.worker_resources is not None:
            _split_resources(self.worker_resources)
        # Normalized values: enums for strings, a timedelta (or None) for the timeout.
        object.__setattr__(self, "restart_policy", _to_enum("restart_policy", self.restart_policy, RestartPolicy))
        object.__setattr__(self, "success_policy", _to_enum("success_policy", self.success_policy, SuccessPolicy))
        object.__setattr__(self, "timeout", _timeout(self.timeout))

    @property
    def timeout_seconds(self) -> int:
        """The timeout in whole seconds; 0 means no limit."""
        timeout = self.timeout
        return int(timeout.total_seconds()) if isinstance(timeout, datetime.timedelta) else 0

    def to_proto(self) -> parallel_job_pb2.ParallelJob:
        """The ``flyte_k8s_operator.v1.ParallelJob`` message written to ``TaskTemplate.custom``."""
        message = parallel_job_pb2.ParallelJob(
            workers=self.workers,
            restart_policy=_RESTART_POLICY_PROTO[_to_enum("restart_policy", self.restart_policy, RestartPolicy)],
            max_restarts=self.max_restarts,
            timeout_seconds=self.timeout_seconds,
            success_policy=_SUCCESS_POLICY_PROTO[_to_enum("success_policy", self.success_policy, SuccessPolicy)],
        )
        if self.worker_resources is not None:
            requests, limits = _split_resources(self.worker_resources)
            message.worker_resources.requests.update(requests)
            message.worker_resources.limits.update(limits)
        return message
