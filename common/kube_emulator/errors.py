"""Kubernetes `Status` errors: every failure the emulator answers is one of these."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answered as a `kind: Status` body, like the real API server's."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        list_metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}
        self.list_metadata = list_metadata or {}

    def to_status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": dict(self.list_metadata),
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            status["details"] = self.details
        return status


def _details(group_resource: str, name: str | None, kind: str | None = None) -> dict[str, Any]:
    group = group_resource.partition(".")[2]
    details: dict[str, Any] = {"group": group, "kind": kind or group_resource.partition(".")[0]}
    if name:
        details["name"] = name
    return details


def not_found(group_resource: str, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{group_resource} "{name}" not found', _details(group_resource, name))


def endpoint_not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def already_exists(group_resource: str, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{group_resource} "{name}" already exists', _details(group_resource, name))


def conflict(group_resource: str, name: str, why: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {group_resource} "{name}": {why}',
        _details(group_resource, name),
    )


def invalid(group_resource: str, kind: str, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422 Invalid; `causes` are (field, message) pairs."""
    text = ", ".join(f"{field}: {message}" for field, message in causes)
    details = _details(group_resource, name, kind)
    details["causes"] = [
        {"reason": "FieldValueInvalid", "message": message, "field": field} for field, message in causes
    ]
    return ApiError(422, "Invalid", f'{kind} "{name}" is invalid: {text}', details)


def unprocessable(message: str) -> ApiError:
    return ApiError(422, "Invalid", message)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed(message: str = "the server does not allow this method on the requested resource") -> ApiError:
    return ApiError(405, "MethodNotAllowed", message, {})


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {content_type}")


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def continue_expired(inconsistent_continue: str) -> ApiError:
    """A continue token whose snapshot was compacted away: the real API server's answer
    (k8s.io/apiserver pkg/storage/etcd3/errors.go, handleCompactedErrorForPaging), with a token
    that continues the same list at the latest resourceVersion."""
    return ApiError(
        410,
        "Expired",
        "The provided continue parameter is too old to display a consistent list result. You can start a "
        "new list without the continue parameter, or use the continue token in this response to retrieve "
        "the remainder of the results. Continuing with the provided token results in an inconsistent list - "
        "objects that were created, modified, or deleted between the time the first chunk was returned and "
        "now may show up in the list.",
        list_metadata={"continue": inconsistent_continue},
    )


def forbidden(
    group_resource: str, name: str | None, verb: str, user: str, namespace: str | None, reason: str = ""
) -> ApiError:
    """The RBAC denial message of the real API server."""
    plural, _, group = group_resource.partition(".")
    target = f'{group_resource} "{name}"' if name else group_resource
    scope = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    message = (
        f'{target} is forbidden: User "{user}" cannot {verb} resource "{plural}" ' f'in API group "{group}"{scope}'
    )
    if reason:
        message += f": {reason}"
    return ApiError(403, "Forbidden", message, _details(group_resource, name))


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(
        429,
        "TooManyRequests",
        "the server has received too many requests and has asked us to try again later",
        {"retryAfterSeconds": retry_after},
        {"Retry-After": str(retry_after)},
    )


def injected(code: int, message: str | None) -> ApiError:
    reasons = {
        400: "BadRequest",
        401: "Unauthorized",
        403: "Forbidden",
        404: "NotFound",
        409: "Conflict",
        410: "Expired",
        422: "Invalid",
        429: "TooManyRequests",
        500: "InternalError",
        503: "ServiceUnavailable",
        504: "Timeout",
    }
    reason = reasons.get(code, "InternalError" if code >= 500 else "BadRequest")
    return ApiError(code, reason, message or f"injected fault: HTTP {code} {reason}")
