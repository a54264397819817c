"""Fault injection: rules checked before a request touches any state."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from kube_emulator.errors import ApiError, forbidden, gone, injected, too_many_requests


@dataclass
class FaultRule:
    verb: str | None  # get, list, watch, create, update, patch, delete, deletecollection; None = any
    resource: str | None  # "paralleljobs", "paralleljobs/status", "paralleljobs/*"; None = any
    namespace: str | None
    name: str | None
    status: int | None  # None = only add latency
    times: int | None  # None = forever
    latency: float
    retry_after: int | None
    message: str | None
    user: str = "system:anonymous"
    forbid: bool = False

    def matches(self, verb: str, resource: str, namespace: str | None, name: str | None) -> bool:
        return (
            (self.verb is None or self.verb == verb)
            and self._matches_resource(resource)
            and (self.namespace is None or self.namespace == namespace)
            and (self.name is None or self.name == name)
        )

    def _matches_resource(self, resource: str) -> bool:
        """ "jobs" matches the jobs themselves, "jobs/status" the subresource, "jobs/*" both."""
        if self.resource is None or self.resource == resource:
            return True
        return self.resource.endswith("/*") and resource.partition("/")[0] == self.resource[:-2]

    def error(self, group_resource: str, verb: str, namespace: str | None, name: str | None) -> ApiError | None:
        if self.forbid:
            return forbidden(group_resource, name, verb, self.user, namespace)
        if self.status is None:
            return None
        if self.status == 429:
            return too_many_requests(self.retry_after if self.retry_after is not None else 1)
        error = injected(self.status, self.message)
        if self.retry_after is not None:
            error.headers["Retry-After"] = str(self.retry_after)
        return error


@dataclass
class FaultDecision:
    latency: float = 0.0
    error: ApiError | None = None


class Faults:
    """`api.faults`: thread-safe; tests call it from their own thread while the server runs."""

    def __init__(self, close_watches: Callable[[], int], compact: Callable[[], None]) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._gone_next_watches: dict[str | None, int] = {}  # by resource; None: a watch of any resource
        self._close_watches = close_watches
        self._compact = compact

    def add(
        self,
        *,
        verb: str | None = None,
        resource: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        status: int | None = None,
        times: int | None = None,
        latency: float = 0.0,
        retry_after: int | None = None,
        message: str | None = None,
    ) -> FaultRule:
        """Fail (with `status`) and/or delay (`latency` seconds) matching requests, `times` times."""
        rule = FaultRule(verb, resource, namespace, name, status, times, latency, retry_after, message)
        with self._lock:
            self._rules.append(rule)
        return rule

    def forbid(
        self,
        *,
        verb: str | None = None,
        resource: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        user: str = "system:anonymous",
        times: int | None = None,
    ) -> FaultRule:
        """Answer 403 with the RBAC message of the real API server."""
        rule = FaultRule(verb, resource, namespace, name, 403, times, 0.0, None, None, user=user, forbid=True)
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove(self, rule: FaultRule) -> None:
        with self._lock:
            if rule in self._rules:
                self._rules.remove(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._gone_next_watches.clear()

    def close_watches(self) -> int:
        """End every open watch stream (clients see a normal end of stream); returns how many."""
        return self._close_watches()

    def expire_watches(self, times: int = 1, resource: str | None = None) -> None:
        """The next `times` watches of `resource` ("paralleljobs"; None: of any resource) that give
        a resourceVersion get an ERROR 410 Gone event."""
        with self._lock:
            self._gone_next_watches[resource] = self._gone_next_watches.get(resource, 0) + times

    def compact(self) -> None:
        """Forget the event history: every watch from a resourceVersion older than now gets 410."""
        self._compact()

    def take_gone(self, resource: str) -> ApiError | None:
        with self._lock:
            for key in (resource, None):
                if self._gone_next_watches.get(key, 0) > 0:
                    self._gone_next_watches[key] -= 1
                    return gone("too old resource version (injected)")
        return None

    def decide(
        self, verb: str, resource: str, group_resource: str, namespace: str | None, name: str | None
    ) -> FaultDecision:
        decision = FaultDecision()
        if not self._rules:
            return decision
        with self._lock:
            for rule in list(self._rules):
                if not rule.matches(verb, resource, namespace, name):
                    continue
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        self._rules.remove(rule)
                decision.latency += rule.latency
                error = rule.error(group_resource, verb, namespace, name)
                if error is not None:
                    decision.error = error
                    break
        return decision
