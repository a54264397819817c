"""The orphan sweep: running objects whose Flyte execution is gone are deleted, with their pods.

If an abort never reaches DeleteTask (propeller down, the execution deleted), nothing else
stops a running object. The sweep reads the FlyteWorkflow of every execution that has a
running object Flyte created (the ownership annotation names it): one GET per execution, at
most once per ``executions.orphanCheckIntervalSeconds``, longest unchecked first, and at most
``READS_PER_SECOND`` on average (bursts of ``READ_BURST``), so it never takes much of the
client's rate budget (``api.qps``) from CreateTask. With more executions than that rate reads
in an interval, each is checked less often (every executions / READS_PER_SECOND seconds).
Once an execution has looked gone (executions.py) on every read for at least
``executions.orphanGraceSeconds``, its running objects are deleted. An execution that cannot
be read (no FlyteWorkflow CRD in this cluster, forbidden, API errors) is never judged gone:
nothing is deleted on doubt. Deletes carry a uid precondition and background propagation, so
the operator's Jobs and their pods go too; an object already gone is success (idempotent).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from k8s_operator_connector.execution_settings import ExecutionSettings
from k8s_operator_connector.executions import Execution, ExecutionState, execution_name, read_execution
from k8s_operator_connector.kube_api import KubeApi, KubeApiError
from k8s_operator_connector.metrics import ORPHAN_DELETES
from k8s_operator_connector.object_cache import Key, ObjectCache, Tracked

logger = logging.getLogger(__name__)

READS_PER_SECOND = 5.0
READ_BURST = 50
ExecutionKey = tuple[str, str]  # (namespace, execution name)
Reader = Callable[[str, str], ExecutionState]
Candidate = tuple[ObjectCache, Key, Tracked]


class OrphanSweep:
    def __init__(
        self,
        api: Callable[[], KubeApi],
        settings: ExecutionSettings,
        read: Reader | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = api
        self._settings = settings
        self._read: Reader = read or (lambda namespace, execution: read_execution(self._api(), namespace, execution))
        self._clock = clock
        # Per execution: when it was last read, what was read, and since when it looked gone.
        self._checked_at: dict[ExecutionKey, float] = {}
        self._state: dict[ExecutionKey, ExecutionState] = {}
        self._gone_since: dict[ExecutionKey, float] = {}
        self._read_budget = float(READ_BURST)
        self._budget_at: float | None = None

    def orphans(self, caches: Iterable[ObjectCache]) -> list[Candidate]:
        """The running objects whose execution has looked gone for the grace period."""
        by_execution: dict[ExecutionKey, list[Candidate]] = {}
        for cache in caches:
            for key, tracked in cache.running():
                execution = execution_name(tracked.owner)
                if execution:
                    by_execution.setdefault((key[0], execution), []).append((cache, key, tracked))
        self._forget_all_but(by_execution)
        now = self._clock()
        self._read_due(by_execution, now)
        found: list[Candidate] = []
        for execution_key, objects in by_execution.items():
            since = self._gone_since.get(execution_key)
            if since is not None and now - since >= self._settings.orphan_grace_seconds:
                logger.info(
                    "execution %s/%s is gone (%s): deleting its %d running objects",
                    *execution_key,
                    self._state[execution_key].reason,
                    len(objects),
                )
                found.extend(objects)
        return found

    def _read_due(self, executions: Iterable[ExecutionKey], now: float) -> None:
        interval = self._settings.orphan_check_interval_seconds
        due = [key for key in executions if now - self._checked_at.get(key, float("-inf")) >= interval]
        due.sort(key=lambda key: self._checked_at.get(key, float("-inf")))
        if self._budget_at is not None:
            self._read_budget = min(READ_BURST, self._read_budget + (now - self._budget_at) * READS_PER_SECOND)
        self._budget_at = now
        reads = due[: int(self._read_budget)]
        self._read_budget -= len(reads)
        for execution_key in reads:
            state = self._read(*execution_key)
            previous = self._state.get(execution_key)
            self._checked_at[execution_key] = now
            self._state[execution_key] = state
            if state.state is Execution.GONE:
                self._gone_since.setdefault(execution_key, now)
                continue
            self._gone_since.pop(execution_key, None)  # alive, or unreadable: judged anew from the next read
            if state.state is Execution.UNKNOWN and (previous is None or previous.state is not Execution.UNKNOWN):
                logger.warning("orphan sweep: cannot judge execution %s/%s: %s", *execution_key, state.reason)

    def _forget_all_but(self, executions: dict[ExecutionKey, list[Candidate]]) -> None:
        for table in (self._checked_at, self._state, self._gone_since):
            for execution_key in [key for key in table if key not in executions]:
                del table[execution_key]

    def sweep(self, caches: Iterable[ObjectCache], still_leading: Callable[[], bool] = lambda: True) -> int:
        """Delete the orphans; returns how many were deleted. Stops when ``still_leading`` says
        this replica lost the sweeper Lease (leader_election.py)."""
        deleted = 0
        for cache, key, tracked in self.orphans(caches):
            if not still_leading():
                break
            namespace, name = key
            try:
                existed = self._api().delete(cache.resource, namespace, name, propagation="Background", uid=tracked.uid)
            except KubeApiError as error:
                logger.warning("orphan delete of %s %s/%s failed: %s", cache.resource, namespace, name, error)
                continue
            cache.mark_deleted_by_connector(key)
            if existed:
                ORPHAN_DELETES.labels(str(cache.resource)).inc()
                deleted += 1
        return deleted
