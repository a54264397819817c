"""HTTP requests -> verbs: routing, faults, accounting, watch streams, discovery and pod logs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any

from kube_emulator import discovery, errors
from kube_emulator.accounting import RequestLog, RequestRecord
from kube_emulator.apiserver import ApiServer
from kube_emulator.errors import ApiError
from kube_emulator.faults import Faults
from kube_emulator.httpserver import Request, Response, StreamResponse
from kube_emulator.pod_logs import PodLogs, tail
from kube_emulator.resources import ResourceType
from kube_emulator.routing import ResourcePath, parse_resource_path
from kube_emulator.selectors import FieldSelector, LabelSelector
from kube_emulator.store import ADDED, ERROR, Watcher, encode_event

_TRUE = ("true", "1")
_MAX_BATCH = 512  # watch events written per chunk when a burst is queued


def _verb(method: str, path: ResourcePath, query: dict[str, str]) -> str:
    if method in ("GET", "HEAD"):
        if path.legacy_watch or query.get("watch", "").lower() in _TRUE:
            return "watch"
        return "get" if path.name else "list"
    if method == "POST":
        return "create"
    if method == "PUT":
        return "update"
    if method == "PATCH":
        return "patch"
    if method == "DELETE":
        return "delete" if path.name else "deletecollection"
    raise errors.method_not_allowed()


def _selectors(query: dict[str, str], rt: ResourceType) -> tuple[LabelSelector, FieldSelector]:
    """The request's ``labelSelector`` and ``fieldSelector`` (lists, watches, collection deletes)."""
    return LabelSelector.parse(query.get("labelSelector")), FieldSelector.parse(
        query.get("fieldSelector"), rt.is_core_events
    )


def _int_param(query: dict[str, str], key: str) -> int | None:
    value = query.get(key)
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise errors.bad_request(f"invalid {key}: {value!r}") from None


class Dispatcher:
    def __init__(
        self,
        apiserver: ApiServer,
        faults: Faults,
        requests: RequestLog,
        pod_logs: PodLogs,
        server_address: Callable[[], str],
    ) -> None:
        self.apiserver = apiserver
        self.store = apiserver.store
        self.registry = apiserver.registry
        self.faults = faults
        self.requests = requests
        self.pod_logs = pod_logs
        self._server_address = server_address

    async def __call__(self, request: Request) -> Response | StreamResponse:
        path = parse_resource_path(request.path)
        verb: str | None = None
        resource: str | None = None
        response: Response | StreamResponse
        try:
            if path is None:
                response = self._non_resource(request)
            else:
                verb = _verb(request.method, path, request.query)
                resource = path.plural + (f"/{path.subresource}" if path.subresource else "")
                response = await self._resource(request, path, verb, resource)
        except ApiError as error:
            response = Response.json(error.code, error.to_status(), error.headers)
        self.requests.record(
            RequestRecord(
                request.method,
                request.path,
                "&".join(f"{k}={v}" for k, v in request.query.items()),
                verb,
                resource,
                path.namespace if path else None,
                path.name if path else None,
                response.status,
            )
        )
        return response

    # ------------------------------------------------------------- non-resource paths

    def _non_resource(self, request: Request) -> Response:
        if request.method != "GET":
            raise errors.method_not_allowed()
        parts = [p for p in request.path.split("/") if p]
        document: dict[str, Any] | None = None
        if parts == ["version"]:
            document = discovery.SERVER_VERSION
        elif parts in (["healthz"], ["readyz"], ["livez"]):
            return Response(200, b"ok", "text/plain")
        elif parts == ["api"]:
            document = discovery.api_versions(self._server_address())
        elif parts == ["apis"]:
            document = discovery.api_group_list(self.registry)
        elif len(parts) == 2 and parts[0] == "api":
            document = discovery.api_resource_list(self.registry, "", parts[1])
        elif len(parts) == 2 and parts[0] == "apis":
            document = discovery.api_group(self.registry, parts[1])
        elif len(parts) == 3 and parts[0] == "apis":
            document = discovery.api_resource_list(self.registry, parts[1], parts[2])
        if document is None:
            raise errors.endpoint_not_found()
        return Response.json(200, document)

    # ------------------------------------------------------------- resources

    def _resource_type(self, path: ResourcePath, verb: str) -> ResourceType:
        rt = self.registry.lookup(path.group, path.version, path.plural)
        if rt is None:
            raise errors.endpoint_not_found()
        if rt.namespaced and path.namespace is None and verb not in ("list", "watch", "deletecollection"):
            raise errors.endpoint_not_found()
        if not rt.namespaced and path.namespace is not None:
            raise errors.endpoint_not_found()
        if path.subresource is not None and path.subresource not in rt.subresources:
            raise errors.endpoint_not_found()
        if path.subresource is None and verb not in rt.verbs:
            raise errors.method_not_allowed()
        return rt

    async def _resource(
        self, request: Request, path: ResourcePath, verb: str, resource: str
    ) -> Response | StreamResponse:
        rt = self._resource_type(path, verb)
        decision = self.faults.decide(verb, resource, rt.group_resource, path.namespace, path.name)
        if decision.latency:
            await asyncio.sleep(decision.latency)
        if decision.error is not None:
            raise decision.error
        namespace = path.namespace or ""
        query = request.query
        if path.subresource == "log":
            return self._pod_log(request, rt, namespace, path.name or "", verb)
        if verb == "watch":
            return self._watch(rt, path.namespace, query)
        if verb == "list":
            return Response.json(
                200,
                self.apiserver.list_objects(
                    rt,
                    path.namespace,
                    *_selectors(query, rt),
                    _int_param(query, "limit"),
                    query.get("continue"),
                ),
            )
        name = path.name or ""
        if verb == "get":
            return Response.json(200, self.apiserver.get(rt, namespace, name))
        if verb == "create":
            if path.name is not None:
                raise errors.method_not_allowed()
            return Response.json(201, self.apiserver.create(rt, path.namespace, request.json()))
        if verb == "update":
            return Response.json(200, self.apiserver.update(rt, namespace, name, request.json(), path.subresource))
        if verb == "patch":
            return Response.json(
                200, self.apiserver.patch(rt, namespace, name, request.content_type, request.json(), path.subresource)
            )
        options = self._delete_options(request)
        if verb == "delete":
            body, _ = self.apiserver.delete(rt, namespace, name, options)
            return Response.json(200, body)
        return Response.json(
            200,
            self.apiserver.delete_collection(
                rt,
                path.namespace,
                *_selectors(query, rt),
                options,
            ),
        )

    @staticmethod
    def _delete_options(request: Request) -> dict[str, Any]:
        body = request.json() or {}
        if not isinstance(body, dict):
            raise errors.bad_request("DeleteOptions must be a JSON object")
        for key in ("propagationPolicy", "gracePeriodSeconds"):
            if key in request.query and key not in body:
                body[key] = request.query[key]
        if request.query.get("orphanDependents", "").lower() in _TRUE:
            body.setdefault("orphanDependents", True)
        return body

    def _pod_log(self, request: Request, rt: ResourceType, namespace: str, name: str, verb: str) -> Response:
        self.apiserver.get(rt, namespace, name)  # 404 for a missing pod
        if verb == "get":
            text = tail(
                self.pod_logs.get(namespace, name),
                _int_param(request.query, "tailLines"),
                _int_param(request.query, "limitBytes"),
            )
            return Response(200, text.encode(), "text/plain")
        # Emulator extension for the kubelet stand-in: PUT replaces the log, POST appends to it.
        text = request.body.decode(errors="replace")
        if verb == "update":
            self.pod_logs.set(namespace, name, text)
        elif verb == "create":
            self.pod_logs.append(namespace, name, text)
        else:
            raise errors.method_not_allowed()
        return Response(200, b"", "text/plain")

    # ------------------------------------------------------------- watch

    def _watch(self, rt: ResourceType, namespace: str | None, query: dict[str, str]) -> StreamResponse:
        watcher = Watcher(
            namespace if rt.namespaced else None,
            *_selectors(query, rt),
        )
        timeout = _int_param(query, "timeoutSeconds")
        since = query.get("resourceVersion") or ""
        initial: list[bytes] = []
        try:
            if since in ("", "0"):
                for obj in self.store.iterate(rt.key, watcher.namespace):
                    if watcher._matches(obj):
                        initial.append(encode_event(ADDED, self.apiserver._as_version(rt, obj)))
            else:
                try:
                    since_version = int(since)
                except ValueError:
                    raise errors.bad_request(f"invalid resourceVersion: {since!r}") from None
                injected = self.faults.take_gone(rt.plural)
                if injected is not None:
                    raise injected
                for event in self.store.events_after(rt.key, since_version):
                    line = watcher.line_for(event)
                    if line is not None:
                        initial.append(line)
        except ApiError as error:
            if error.code != 410:
                raise
            return StreamResponse(200, _single(encode_event(ERROR, error.to_status())))
        collection = self.store.collection(rt.key)
        collection.watchers.add(watcher)  # no await since the replay above: no event can be missed
        return StreamResponse(200, _stream(watcher, initial, timeout, lambda: collection.watchers.discard(watcher)))


async def _single(line: bytes) -> AsyncGenerator[bytes, None]:
    yield line


async def _stream(
    watcher: Watcher, initial: list[bytes], timeout: int | None, unsubscribe: Callable[[], None]
) -> AsyncGenerator[bytes, None]:
    deadline = None if not timeout else time.monotonic() + timeout
    try:
        if initial:
            yield b"".join(initial)
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return
            try:
                line = await asyncio.wait_for(watcher.queue.get(), remaining)
            except TimeoutError:
                return
            if line is None:
                return
            batch = [line]
            while len(batch) < _MAX_BATCH and not watcher.queue.empty():
                queued = watcher.queue.get_nowait()
                if queued is None:
                    yield b"".join(batch)
                    return
                batch.append(queued)
            yield b"".join(batch)
    finally:
        unsubscribe()
