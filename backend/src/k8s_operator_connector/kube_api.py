"""A thin, thread-safe client for the few Kubernetes calls the connector makes.

Built on the official ``kubernetes`` client's ApiClient (authentication, TLS, kubeconfig
and in-cluster config), with what it lacks for a service on the hot path: a client-side
rate limit (QPS/burst), retries with exponential backoff and full jitter for 429/5xx and
connection errors (honouring ``Retry-After``), and one error type that says what failed.
"""

from __future__ import annotations

import datetime
import json
import os
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from k8s_operator_connector.metrics import API_ERRORS, API_LATENCY
from k8s_operator_connector.settings import ApiSettings

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
_BACKOFF_BASE_SECONDS = 0.2
_BACKOFF_CAP_SECONDS = 5.0
_RETRY_AFTER_CAP_SECONDS = 30.0
# client-go's pager lists 500 objects a page (tools/pager/pager.go, defaultPageSize).
DEFAULT_PAGE_SIZE = 500
Page = list[dict[str, Any]]  # the objects of one page of a list


@dataclass(frozen=True)
class ResourceType:
    """A Kubernetes resource as the API addresses it."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


def rfc3339(seconds: float) -> str:
    """Unix seconds as the API server writes timestamps: UTC, to the second, with a "Z"."""
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def timestamp_seconds(value: Any) -> float:
    """An API timestamp (RFC 3339, e.g. creationTimestamp or eventTime) in Unix seconds; 0 if not one."""
    if not isinstance(value, str) or not value:
        return 0.0
    # Python 3.10's fromisoformat does not accept the "Z" suffix the API server writes.
    iso = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        moment = datetime.datetime.fromisoformat(iso)
    except ValueError:
        return 0.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


class KubeApiError(Exception):
    """A Kubernetes API call failed; ``status`` is the HTTP status (0: no answer)."""

    def __init__(self, status: int, reason: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}" if status else message)
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after = retry_after

    @classmethod
    def from_api_exception(cls, error: ApiException) -> KubeApiError:
        reason, message = error.reason or "", ""
        try:
            body = json.loads(error.body or "{}")
            reason = body.get("reason") or reason
            message = body.get("message") or ""
        except (TypeError, ValueError):
            message = str(error.body or "")[:500]
        retry_after = None
        header = (error.headers or {}).get("Retry-After")
        if header:
            try:
                retry_after = min(float(header), _RETRY_AFTER_CAP_SECONDS)
            except ValueError:
                retry_after = None
        return cls(error.status or 0, reason, message or reason, retry_after)

    @property
    def retryable(self) -> bool:
        return self.status == 0 or self.status in RETRYABLE_STATUSES


class RateLimiter:
    """A token bucket: ``qps`` tokens per second, at most ``burst`` saved up."""

    def __init__(self, qps: float, burst: int) -> None:
        self._rate = qps
        self._capacity = float(burst)
        self._tokens = float(burst)
        self._updated = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
                self._updated = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / self._rate
            time.sleep(wait)


def _api_client(settings: ApiSettings) -> client.ApiClient:
    configuration = client.Configuration()
    if settings.kubeconfig or not _in_cluster():
        config.load_kube_config(
            config_file=settings.kubeconfig or None,
            context=settings.context or None,
            client_configuration=configuration,
        )
    else:
        config.load_incluster_config(client_configuration=configuration)
    # Creates run on a thread pool; keep a connection per worker instead of reconnecting.
    configuration.connection_pool_maxsize = 32
    configuration.retries = False
    return client.ApiClient(configuration)


def _in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


class KubeApi:
    """create/get/delete/list/watch on any resource, rate limited and retried."""

    def __init__(self, settings: ApiSettings, api_client: client.ApiClient | None = None) -> None:
        self._settings = settings
        self._client = api_client or _api_client(settings)
        self._limiter = RateLimiter(settings.qps, settings.burst)
        self._random = random.Random()

    def close(self) -> None:
        self._client.close()

    def _call(
        self,
        method: str,
        path: str,
        query: list[tuple[str, Any]] | None = None,
        body: Any = None,
        stream: bool = False,
        timeout: float | None = None,
        content_type: str = "application/json",
    ) -> Any:
        response = self._client.call_api(
            path,
            method,
            query_params=query or [],
            header_params={"Accept": "application/json", "Content-Type": content_type},
            body=body,
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
            _preload_content=False,
            _request_timeout=timeout or self._settings.timeout_seconds,
        )
        if stream:
            return response
        data = response.data
        return json.loads(data) if data else {}

    def request(
        self,
        method: str,
        path: str,
        query: list[tuple[str, Any]] | None = None,
        body: Any = None,
        verb: str = "",
        content_type: str = "",
    ) -> Any:
        """One API call, retried on 429/5xx/connection errors with backoff; raises KubeApiError.

        ``verb`` (get, list, create, delete; default: the method) labels its metrics.
        """
        verb = verb or method.lower()
        started = time.monotonic()
        try:
            return self._retried(method, path, query, body, content_type)
        except KubeApiError as error:
            API_ERRORS.labels(verb, str(error.status)).inc()
            raise
        finally:
            API_LATENCY.labels(verb).observe(time.monotonic() - started)

    def _retried(
        self, method: str, path: str, query: list[tuple[str, Any]] | None, body: Any, content_type: str = ""
    ) -> Any:
        attempt = 0
        while True:
            self._limiter.acquire()
            try:
                if content_type:
                    return self._call(method, path, query, body, content_type=content_type)
                return self._call(method, path, query, body)
            except ApiException as error:
                failure = KubeApiError.from_api_exception(error)
            except (urllib3.exceptions.HTTPError, OSError) as error:
                failure = KubeApiError(0, "Unreachable", f"Kubernetes API unreachable: {error}")
            if not failure.retryable or attempt >= self._settings.max_retries:
                raise failure
            backoff = self._random.uniform(0, min(_BACKOFF_CAP_SECONDS, _BACKOFF_BASE_SECONDS * 2**attempt))
            time.sleep(max(failure.retry_after or 0.0, backoff))
            attempt += 1

    def create(self, resource: ResourceType, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", resource.path(namespace), body=body, verb="create")  # type: ignore[no-any-return]

    def get(self, resource: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        return self.request("GET", resource.path(namespace, name), verb="get")  # type: ignore[no-any-return]

    def merge_patch(self, resource: ResourceType, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch (RFC 7386) of the object."""
        return self.request(  # type: ignore[no-any-return]
            "PATCH",
            resource.path(namespace, name),
            body=body,
            verb="patch",
            content_type="application/merge-patch+json",
        )

    def delete(
        self, resource: ResourceType, namespace: str, name: str, propagation: str = "Foreground", uid: str = ""
    ) -> bool:
        """Delete; True if it existed. Gone already is not an error (abort is idempotent).

        With ``uid``, only that object: a replacement under the same name answers 409
        (DeleteOptions.preconditions.uid), which counts as gone as well.
        """
        body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            self.request("DELETE", resource.path(namespace, name), body=body, verb="delete")
        except KubeApiError as error:
            if error.status == 404 or (uid and error.status == 409):
                return False
            raise
        return True

    def list(
        self,
        resource: ResourceType,
        namespace: str | None,
        label_selector: str = "",
        page_size: int = DEFAULT_PAGE_SIZE,
        field_selector: str = "",
    ) -> tuple[list[dict[str, Any]], str]:
        """Every object (all pages) and the list's resourceVersion."""
        items: list[dict[str, Any]] = []
        resource_version = ""
        for page, page_version in self.list_pages(resource, namespace, label_selector, page_size, field_selector):
            items.extend(page)
            resource_version = page_version
        return items, resource_version

    def list_pages(
        self,
        resource: ResourceType,
        namespace: str | None,
        label_selector: str = "",
        page_size: int = DEFAULT_PAGE_SIZE,
        field_selector: str = "",
    ) -> Iterator[tuple[Page, str]]:
        """One list, a page at a time: ``(items, resourceVersion)`` per page, as it arrives.

        The pages of one list are one consistent snapshot (the API server serves every
        ``continue`` at the first page's resourceVersion), so the last page's resourceVersion
        is where a watch resumes. A continue token the server has compacted away answers
        410 Expired (raised here as KubeApiError): start the list again.
        """
        token = ""
        while True:
            query: list[tuple[str, Any]] = [("limit", page_size)]
            if label_selector:
                query.append(("labelSelector", label_selector))
            if field_selector:
                query.append(("fieldSelector", field_selector))
            if token:
                query.append(("continue", token))
            page = self.request("GET", resource.path(namespace), query=query, verb="list")
            metadata = page.get("metadata") or {}
            token = metadata.get("continue") or ""
            yield page.get("items") or [], str(metadata.get("resourceVersion") or "")
            if not token:
                return

    def watch(
        self,
        resource: ResourceType,
        namespace: str | None,
        resource_version: str,
        label_selector: str = "",
        timeout_seconds: int = 60,
        field_selector: str = "",
    ) -> Iterator[dict[str, Any]]:
        """Watch events from ``resource_version`` until the server ends the stream.

        Not retried here: the caller owns reconnecting (and relisting on 410 Gone).
        """
        query: list[tuple[str, Any]] = [
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", timeout_seconds),
        ]
        if resource_version:
            query.append(("resourceVersion", resource_version))
        if label_selector:
            query.append(("labelSelector", label_selector))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        self._limiter.acquire()
        started = time.monotonic()
        try:
            response = self._call(
                "GET", resource.path(namespace), query=query, stream=True, timeout=timeout_seconds + 10
            )
        except ApiException as error:
            API_ERRORS.labels("watch", str(error.status or 0)).inc()
            raise KubeApiError.from_api_exception(error) from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            API_ERRORS.labels("watch", "0").inc()
            raise KubeApiError(0, "Unreachable", f"Kubernetes API unreachable: {error}") from error
        finally:
            API_LATENCY.labels("watch").observe(time.monotonic() - started)
        try:
            for line in iter_resp_lines(response):
                if line:
                    yield json.loads(line)
        except (urllib3.exceptions.HTTPError, OSError) as error:
            API_ERRORS.labels("watch", "0").inc()
            raise KubeApiError(0, "WatchClosed", f"watch stream broke: {error}") from error
        finally:
            response.release_conn()
