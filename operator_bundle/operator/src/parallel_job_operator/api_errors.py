"""Which API failures are worth retrying, and after how long."""

from __future__ import annotations

from kubernetes.client.rest import ApiException  # type: ignore[import-untyped,unused-ignore]
from urllib3.exceptions import HTTPError

MAX_BACKOFF_SECONDS = 60.0
# Throttling, server trouble, and conflicts clear up by themselves; a 403 may clear once
# RBAC is fixed, so it is retried too (slowly, and logged) rather than dropped.
_RETRYABLE_STATUSES = frozenset({403, 408, 409, 425, 429, 500, 502, 503, 504})


def is_retryable(error: BaseException) -> bool:
    if isinstance(error, ApiException):
        return error.status is None or error.status == 0 or error.status in _RETRYABLE_STATUSES
    return isinstance(error, HTTPError | ConnectionError | TimeoutError)


def is_invalid_request(error: BaseException) -> bool:
    """The server rejected what we sent (e.g. a pod template that does not validate)."""
    return isinstance(error, ApiException) and error.status in (400, 422)


def backoff_seconds(retry: int) -> float:
    """1, 2, 4, ... seconds, capped: the delay before retry number `retry + 1`."""
    return min(MAX_BACKOFF_SECONDS, float(2 ** min(retry, 10)))


def describe(error: BaseException) -> str:
    if isinstance(error, ApiException):
        body = error.body.decode(errors="replace") if isinstance(error.body, bytes) else str(error.body or "")
        return f"API {error.status} {error.reason}: {body[:300]}"
    return f"{type(error).__name__}: {error}"
