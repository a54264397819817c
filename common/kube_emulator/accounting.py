"""Request accounting at O(1) per request: counters by (verb, resource) and a bounded ring."""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    query: str
    verb: str | None  # None for non-resource paths (discovery, /version)
    resource: str | None  # plural, with "/subresource" when there is one
    namespace: str | None
    name: str | None
    status: int


class RequestLog:
    """`api.requests`. Counting a subresource needs its full name: resource="pods/log"."""

    def __init__(self, ring_size: int = 1000) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str | None, str | None, int]] = Counter()
        self._recent: deque[RequestRecord] = deque(maxlen=ring_size)

    def record(self, record: RequestRecord) -> None:
        with self._lock:
            self._counts[(record.verb, record.resource, record.status)] += 1
            self._recent.append(record)

    def count(self, verb: str | None = None, resource: str | None = None, status: int | None = None) -> int:
        """Requests matching every given filter (a filter left None matches anything)."""
        with self._lock:
            return sum(
                n
                for (v, r, s), n in self._counts.items()
                if (verb is None or v == verb)
                and (resource is None or r == resource)
                and (status is None or s == status)
            )

    def recent(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._recent)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._recent.clear()
