"""Which worker am I, and a tiny value exchange so the leader's result can use every worker's.

Inside a ParallelJob every worker runs the task function. :func:`current_worker` tells them
apart; :func:`share` publishes a JSON-serializable value of this worker; :func:`gather` waits
until every worker has shared one and returns them ordered by worker index::

    @task(task_config=ParallelJob(workers=4), container_image=IMAGE)
    def total(n: int) -> int:
        me = current_worker()
        share(sum(range(me.index, n, me.count)))
        if not me.is_leader:
            return 0  # only the leader's (worker 0's) outputs become the task's outputs
        return sum(gather(timeout=timedelta(minutes=10)))

Values travel as ``<exchange prefix>/<index>.json`` through flytekit's file access, so local
paths and blob stores (s3://, gs://, abfs://) work alike. The exchange prefix comes from
``FLYTE_K8S_OPERATOR_EXCHANGE_PREFIX`` (the connector sets ``<output_prefix>/exchange``); for a
single worker outside a ParallelJob (local runs, unit tests) a temporary local directory is
used, so the same code runs there unchanged.
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flytekit import FlyteContextManager
from flytekit.core.data_persistence import FileAccessProvider

from flytekitplugins.k8s_operator.constants import EXCHANGE_PREFIX_ENV, WORKER_COUNT_ENV, WORKER_INDEX_ENV

__all__ = ["WorkerInfo", "current_worker", "exchange_prefix", "gather", "share"]

_local_prefix: str | None = None


@dataclass(frozen=True)
class WorkerInfo:
    """This worker's place in a ParallelJob.

    Attributes:
        index: 0-based index of this worker.
        count: Number of workers of the job.
        is_leader: Whether this is worker 0, whose outputs become the task's outputs.
    """

    index: int
    count: int
    is_leader: bool = field(init=False)

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"worker index {self.index} is outside 0..{self.count - 1} (worker count {self.count})")
        object.__setattr__(self, "is_leader", self.index == 0)


def _env_int(environ: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {raw!r}")
    return int(raw)


def current_worker(environ: Mapping[str, str] | None = None) -> WorkerInfo:
    """This worker, from ``WORKER_INDEX`` and ``WORKER_COUNT`` (0 and 1 outside a ParallelJob).

    Raises:
        ValueError: the variables are malformed or the index is not below the count.
    """
    env = os.environ if environ is None else environ
    index = _env_int(env, WORKER_INDEX_ENV, 0, 0)
    count = _env_int(env, WORKER_COUNT_ENV, 1, 1)
    if index >= count:
        raise ValueError(f"{WORKER_INDEX_ENV}={index} must be below {WORKER_COUNT_ENV}={count}")
    return WorkerInfo(index=index, count=count)


def exchange_prefix(environ: Mapping[str, str] | None = None) -> str:
    """Where workers' values are exchanged (see the module docs).

    Raises:
        RuntimeError: several workers but no ``FLYTE_K8S_OPERATOR_EXCHANGE_PREFIX``.
    """
    global _local_prefix  # noqa: PLW0603 - one temporary directory per process
    env = os.environ if environ is None else environ
    prefix = env.get(EXCHANGE_PREFIX_ENV, "").strip()
    if prefix:
        return prefix.rstrip("/")
    worker = current_worker(env)
    if worker.count > 1:
        raise RuntimeError(
            f"{EXCHANGE_PREFIX_ENV} is not set, so the {worker.count} workers have no place to exchange "
            "values; the connector (or the worker entrypoint) sets it inside a ParallelJob"
        )
    if _local_prefix is None:
        _local_prefix = tempfile.mkdtemp(prefix="flyte-k8s-operator-exchange-")
    return _local_prefix


def _file_access() -> FileAccessProvider:
    return FlyteContextManager.current_context().file_access


def _value_path(prefix: str, index: int) -> str:
    return f"{prefix}/{index}.json"


def share(value: Any) -> str:
    """Publishes this worker's ``value`` (JSON-serializable) for :func:`gather`; returns its path.

    Sharing again replaces the value (e.g. after a restart of the worker).

    Raises:
        TypeError: ``value`` is not JSON-serializable.
    """
    try:
        payload = json.dumps(value)
    except (TypeError, ValueError) as error:
        raise TypeError(f"share() needs a JSON-serializable value: {error}") from error
    file_access = _file_access()
    path = _value_path(exchange_prefix(), current_worker().index)
    local = file_access.get_random_local_path("value.json")
    os.makedirs(os.path.dirname(local), exist_ok=True)
    with open(local, "w", encoding="utf-8") as file:
        file.write(payload)
    file_access.put_data(local, path)
    return path


def _read(file_access: FileAccessProvider, path: str) -> tuple[bool, Any]:
    """(True, value) when ``path`` holds a complete JSON value, else (False, None)."""
    if not file_access.exists(path):
        return False, None
    local = file_access.get_random_local_path("value.json")
    file_access.get_data(path, local)
    try:
        with open(local, encoding="utf-8") as file:
            return True, json.load(file)
    except (OSError, json.JSONDecodeError):
        return False, None  # still being written: a local copy is not atomic


def gather(
    timeout: datetime.timedelta | float = datetime.timedelta(minutes=10),
    poll_interval: float = 1.0,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Any]:
    """Waits until every worker has called :func:`share` and returns the values by worker index.

    Usually only the leader calls it, after sharing its own value; any worker may.

    Args:
        timeout: How long to wait for the others (a ``timedelta`` or seconds).
        poll_interval: Seconds between looks at the exchange.
        clock: Monotonic clock in seconds (for tests).
        sleep: Sleep function (for tests).

    Raises:
        RuntimeError: this worker has not shared a value yet.
        TimeoutError: some workers did not share within ``timeout``; the message lists them.
    """
    seconds = timeout.total_seconds() if isinstance(timeout, datetime.timedelta) else float(timeout)
    if seconds < 0 or poll_interval <= 0:
        raise ValueError(f"gather() needs timeout >= 0 and poll_interval > 0, got {timeout!r} and {poll_interval!r}")
    worker = current_worker()
    prefix = exchange_prefix()
    file_access = _file_access()
    if not file_access.exists(_value_path(prefix, worker.index)):
        raise RuntimeError(f"worker {worker.index} must call share() before gather()")
    deadline = clock() + seconds
    values: dict[int, Any] = {}
    while True:
        for index in range(worker.count):
            if index not in values:
                found, value = _read(file_access, _value_path(prefix, index))
                if found:
                    values[index] = value
        if len(values) == worker.count:
            return [values[index] for index in range(worker.count)]
        if clock() >= deadline:
            missing = [index for index in range(worker.count) if index not in values]
            raise TimeoutError(
                f"gather(): worker(s) {missing} of {worker.count} did not share a value within "
                f"{seconds:g} s (exchange prefix {prefix})"
            )
        sleep(poll_interval)
