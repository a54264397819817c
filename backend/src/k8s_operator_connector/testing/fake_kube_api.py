"""A KubeApi whose API server is an in-memory dictionary: the connector's unit tests run on it.

Only the transport is replaced (``KubeApi._call``): create, get, update (PUT), delete, list
and watch, their error handling (``KubeApiError`` from a ``Status`` body, 404/409 on delete),
pagination and the parsing of watch lines are the real KubeApi's. What the in-memory server
answers follows the Kubernetes API as the project's emulator serves it
(``kube_api_contract_test.py`` runs the same scenarios against both): uid, resourceVersion,
creationTimestamp and generation on create; the API server's messages for 404, 409 (also a PUT
with a stale resourceVersion) and 410; label and field selectors; ``continue`` pages; a watch
replays events after its resourceVersion, answers ``ERROR`` 410 for a compacted one, then
streams until ``timeoutSeconds`` or :meth:`FakeKubeApi.close_watches`.

Faults as the emulator's ``api.faults``: ``add(verb=..., status=..., times=...)``,
``expire_watches()``, ``compact()``. ``requests`` records every call as (verb, path).
"""

from __future__ import annotations

import base64
import copy
import datetime
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from kubernetes.client.exceptions import ApiException

from k8s_operator_connector.kube_api import KubeApi, ResourceType
from k8s_operator_connector.settings import ApiSettings

Key = tuple[str, str]  # (namespace, name)
_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict"}
_REASONS |= {410: "Expired", 413: "RequestEntityTooLarge", 422: "Invalid", 429: "TooManyRequests"}
_REASONS |= {500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}
_STALE = "the object has been modified; please apply your changes to the latest version and try again"
_TOO_MANY_REQUESTS = "the server has received too many requests and has asked us to try again later"


class _Status(Exception):
    def __init__(self, code: int, message: str, reason: str = "", headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        fallback = "InternalError" if code >= 500 else "BadRequest"
        self.code, self.message, self.reason = code, message, reason or _REASONS.get(code, fallback)
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}  # fmt: skip

    def exception(self) -> ApiException:
        error = ApiException(status=self.code, reason=self.reason)
        error.body = json.dumps(self.body()).encode()
        error.headers = self.headers
        return error


@dataclass
class Fault:
    verb: str | None
    resource: str | None
    name: str | None
    status: int
    times: int | None
    message: str | None
    retry_after: int | None

    def matches(self, verb: str, plural: str, name: str | None) -> bool:
        return (
            self.verb in (None, verb) and self.resource in (None, plural) and (self.name is None or self.name == name)
        )


@dataclass
class _Event:
    resource_version: int
    type: str
    obj: dict[str, Any]


class _Collection:
    def __init__(self) -> None:
        self.objects: dict[Key, dict[str, Any]] = {}
        self.events: list[_Event] = []
        self.compacted = 0  # events at or below this resourceVersion are forgotten


class _Stream:
    """What KubeApi.watch reads: ``stream()`` yields lines, ``release_conn()`` ends it."""

    def __init__(self, lines: Iterator[bytes]) -> None:
        self._lines = lines

    def stream(self, amt: Any = None, decode_content: bool = False) -> Iterator[bytes]:
        return self._lines

    def release_conn(self) -> None:
        close = getattr(self._lines, "close", None)
        if close is not None:
            close()


class FakeKubeApi(KubeApi):
    def __init__(self, resources: tuple[ResourceType, ...] = (), settings: ApiSettings | None = None) -> None:
        # No retries by default: a test that injects a 5xx sees it, without backoff sleeps.
        super().__init__(settings or ApiSettings(max_retries=0, qps=1e6, burst=1_000_000), api_client=object())  # type: ignore[arg-type]
        self._served = {(r.group, r.version, r.plural): r for r in resources}
        self._collections: dict[tuple[str, str], _Collection] = {}
        # As in a cluster, never "0": a watch from "0" means "from any version, every object first".
        self._resource_version = 1
        self._changed = threading.Condition()
        self._generation = 0  # close_watches() ends the streams opened before it
        self._faults: list[Fault] = []
        self._expire_next_watches = 0
        self.requests: list[tuple[str, str]] = []

    def close(self) -> None:
        self.close_watches()

    def serve(self, resource: ResourceType) -> None:
        with self._changed:
            self._served[(resource.group, resource.version, resource.plural)] = resource

    # -- faults and helpers for tests (playing the operator or another client) -------------

    def add(
        self,
        *,
        verb: str | None = None,
        resource: str | None = None,
        name: str | None = None,
        status: int,
        times: int | None = None,
        message: str | None = None,
        retry_after: int | None = None,
    ) -> Fault:
        """Fail matching requests (verb: get, list, watch, create, delete) with ``status``, ``times`` times."""
        fault = Fault(verb, resource, name, status, times, message, retry_after)
        with self._changed:
            self._faults.append(fault)
        return fault

    def expire_watches(self, times: int = 1) -> None:
        """The next ``times`` watches that give a resourceVersion get an ERROR 410 event."""
        with self._changed:
            self._expire_next_watches += times

    def compact(self) -> None:
        """Forget the event history: a watch from any older resourceVersion gets 410."""
        with self._changed:
            for collection in self._collections.values():
                collection.events.clear()
                collection.compacted = self._resource_version

    def close_watches(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def put(self, resource: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """Create (another client's object) or replace, status included: ADDED or MODIFIED."""
        metadata = obj.get("metadata") or {}
        with self._changed:
            collection = self._collection(resource)
            key = (metadata.get("namespace") or "", metadata["name"])
            previous = collection.objects.get(key)
            stored = copy.deepcopy(obj)
            if previous is None:
                stored["metadata"] = {**_server_fields(), **stored["metadata"]}
            else:
                kept = {k: previous["metadata"][k] for k in ("uid", "creationTimestamp", "generation")}
                stored["metadata"] = {**stored["metadata"], **kept}
            return self._store(collection, key, stored, "ADDED" if previous is None else "MODIFIED")

    def set_status(self, resource: ResourceType, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        """What an operator does: write the object's status (a MODIFIED event)."""
        with self._changed:
            current = self._collection(resource).objects.get((namespace, name))
            if current is None:
                raise KeyError(f"{resource} {namespace}/{name} does not exist")
            return self.put(resource, {**current, "status": status})

    def remove(self, resource: ResourceType, namespace: str, name: str) -> None:
        """Someone else deletes the object (a DELETED event)."""
        with self._changed:
            self._delete(resource, namespace, name, {})

    def stored(self, resource: ResourceType, namespace: str, name: str) -> dict[str, Any] | None:
        with self._changed:
            return copy.deepcopy(self._collection(resource).objects.get((namespace, name)))

    # -- the transport KubeApi calls ----------------------------------------------------------

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
        params = {key: str(value) for key, value in query or []}
        resource, namespace, name = self._route(path)
        verb = {"POST": "create", "DELETE": "delete", "PATCH": "patch", "PUT": "update"}.get(method) or (
            "get" if name else "watch" if params.get("watch") == "true" else "list"
        )
        self.requests.append((verb, path))
        try:
            if method not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                raise _Status(405, f"{method} is not served by FakeKubeApi", "MethodNotAllowed")
            self._check_faults(verb, resource, name)
            if verb == "watch":
                return _Stream(self._watch(resource, namespace, params))
            with self._changed:
                if verb == "create":
                    return self._create(resource, namespace or "", body)
                if verb == "get":
                    return self._get(resource, namespace or "", name or "")
                if verb == "delete":
                    return self._delete(resource, namespace or "", name or "", body or {})
                if verb == "patch":
                    return self._merge_patch(resource, namespace or "", name or "", content_type, body)
                if verb == "update":
                    return self._update(resource, namespace or "", name or "", body)
                return self._list(resource, namespace, params)
        except _Status as status:
            raise status.exception() from None

    def _route(self, path: str) -> tuple[ResourceType, str | None, str | None]:
        parts = [unquote(part) for part in path.strip("/").split("/")]
        group, rest = ("", parts[1:]) if parts[0] == "api" else (parts[1], parts[2:])
        version, rest = rest[0], rest[1:]
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        resource = self._served.get((group, version, rest[0]))
        if resource is None:
            raise _Status(404, "the server could not find the requested resource").exception()
        return resource, namespace, rest[1] if len(rest) > 1 else None

    def _check_faults(self, verb: str, resource: ResourceType, name: str | None) -> None:
        with self._changed:
            for fault in list(self._faults):
                if not fault.matches(verb, resource.plural, name):
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                if fault.status == 429:
                    retry_after = fault.retry_after if fault.retry_after is not None else 1
                    raise _Status(429, _TOO_MANY_REQUESTS, headers={"Retry-After": str(retry_after)})
                status = _Status(fault.status, "")
                raise _Status(
                    fault.status,
                    fault.message or f"injected fault: HTTP {fault.status} {status.reason}",
                    headers=headers,
                )

    def _collection(self, resource: ResourceType) -> _Collection:
        return self._collections.setdefault((resource.group, resource.plural), _Collection())

    def _store(self, collection: _Collection, key: Key, obj: dict[str, Any], event: str) -> dict[str, Any]:
        self._resource_version += 1
        obj["metadata"]["resourceVersion"] = str(self._resource_version)
        if event == "DELETED":
            collection.objects.pop(key, None)
        else:
            collection.objects[key] = obj
        collection.events.append(_Event(self._resource_version, event, obj))
        self._changed.notify_all()
        return copy.deepcopy(obj)

    def _create(self, resource: ResourceType, namespace: str, body: Any) -> dict[str, Any]:
        obj = copy.deepcopy(body)
        metadata = obj.setdefault("metadata", {})
        if metadata.get("namespace") not in (None, "", namespace):
            raise _Status(400, "the namespace of the provided object does not match the namespace sent on the request")
        name = metadata.get("name")
        if not name:
            message = "metadata.name: Required value: name or generateName is required"
            raise _Status(422, f'{resource.kind} "" is invalid: {message}')
        collection = self._collection(resource)
        if (namespace, name) in collection.objects:
            raise _Status(409, f'{resource} "{name}" already exists', "AlreadyExists")
        metadata.update(_server_fields(), namespace=namespace)
        obj.pop("status", None)  # status is the /status subresource's
        obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
        return self._store(collection, (namespace, name), obj, "ADDED")

    def _update(self, resource: ResourceType, namespace: str, name: str, body: Any) -> dict[str, Any]:
        """PUT: a replace that must name the current resourceVersion (if it names one); status stays."""
        current = self._get(resource, namespace, name)
        obj = copy.deepcopy(body)
        wanted = (obj.get("metadata") or {}).get("resourceVersion")
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            raise _Status(409, f'Operation cannot be fulfilled on {resource} "{name}": {_STALE}')
        kept = {key: current["metadata"][key] for key in ("uid", "creationTimestamp", "generation")}
        if _spec_part(obj) != _spec_part(current):
            kept["generation"] += 1
        obj["metadata"] = {**(obj.get("metadata") or {}), **kept, "name": name, "namespace": namespace}
        if "status" in current:
            obj["status"] = current["status"]
        else:
            obj.pop("status", None)
        return self._store(self._collection(resource), (namespace, name), obj, "MODIFIED")

    def _get(self, resource: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        obj = self._collection(resource).objects.get((namespace, name))
        if obj is None:
            raise _Status(404, f'{resource} "{name}" not found')
        return copy.deepcopy(obj)

    def _merge_patch(self, resource: ResourceType, namespace: str, name: str, content_type: str, body: Any) -> Any:
        """A JSON merge patch (RFC 7386) of metadata and spec; server-managed fields and status stay."""
        if content_type != "application/merge-patch+json":
            raise _Status(
                415, f"the body of the request was in an unknown format - accepted media types: {content_type}"
            )
        obj = copy.deepcopy(self._get(resource, namespace, name))
        patch = copy.deepcopy(body) if isinstance(body, dict) else {}
        patch.pop("status", None)
        wanted_uid = (patch.get("metadata") or {}).pop("uid", None)
        if wanted_uid and wanted_uid != obj["metadata"]["uid"]:
            actual = obj["metadata"]["uid"]
            raise _Status(409, f"Precondition failed: UID in precondition: {wanted_uid}, UID in object meta: {actual}")
        merged = _merged(obj, patch)
        if merged == obj:
            return obj
        return self._store(self._collection(resource), (namespace, name), merged, "MODIFIED")

    def _delete(self, resource: ResourceType, namespace: str, name: str, options: dict[str, Any]) -> dict[str, Any]:
        collection = self._collection(resource)
        obj = collection.objects.get((namespace, name))
        if obj is None:
            raise _Status(404, f'{resource} "{name}" not found')
        uid = (options.get("preconditions") or {}).get("uid")
        if uid and uid != obj["metadata"]["uid"]:
            why = f"Precondition failed: UID in precondition: {uid}, UID in object meta: {obj['metadata']['uid']}"
            raise _Status(409, f'Operation cannot be fulfilled on {resource} "{name}": {why}')
        # No dependents here, so every propagation policy removes the object at once.
        self._store(collection, (namespace, name), copy.deepcopy(obj), "DELETED")
        details = {"name": name, "group": resource.group, "kind": resource.plural, "uid": obj["metadata"]["uid"]}
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}

    def _list(self, resource: ResourceType, namespace: str | None, params: dict[str, str]) -> dict[str, Any]:
        start = _decoded(params["continue"]) if params.get("continue") else None
        limit = int(params.get("limit") or 0)
        matching = [
            (key, obj)
            for key, obj in sorted(self._collection(resource).objects.items())
            if _selected(obj, namespace, params) and (start is None or "/".join(key) > start)
        ]
        page = matching[:limit] if limit else matching
        metadata: dict[str, Any] = {"resourceVersion": str(self._resource_version)}
        if len(page) < len(matching):
            metadata["continue"] = base64.urlsafe_b64encode(
                json.dumps({"start": "/".join(page[-1][0])}).encode()
            ).decode()
            metadata["remainingItemCount"] = len(matching) - len(page)
        items = [copy.deepcopy(obj) for _, obj in page]
        return {
            "apiVersion": resource.api_version,
            "kind": f"{resource.kind}List",
            "metadata": metadata,
            "items": items,
        }

    def _watch(self, resource: ResourceType, namespace: str | None, params: dict[str, str]) -> Iterator[bytes]:
        deadline = time.monotonic() + float(params.get("timeoutSeconds") or 1e9)
        since = params.get("resourceVersion") or ""
        with self._changed:
            generation = self._generation
            collection = self._collection(resource)
            if since in ("", "0"):
                last = self._resource_version
                replay = [_Event(last, "ADDED", obj) for _, obj in sorted(collection.objects.items())]
            else:
                last = int(since)
                expired = self._expire_next_watches > 0 or last < collection.compacted
                if expired:
                    self._expire_next_watches = max(0, self._expire_next_watches - 1)
                    gone = _Status(410, f"too old resource version: {since} ({collection.compacted + 1})")
                    yield _line("ERROR", gone.body())
                    return
                replay = []
        for event in replay:
            if _selected(event.obj, namespace, params):
                yield _line(event.type, event.obj)
        while True:
            with self._changed:
                newer = [event for event in collection.events if event.resource_version > last]
                while not newer:
                    remaining = deadline - time.monotonic()
                    if self._generation != generation or remaining <= 0:
                        return
                    self._changed.wait(remaining)
                    newer = [event for event in collection.events if event.resource_version > last]
                last = newer[-1].resource_version
                lines = [_line(event.type, event.obj) for event in newer if _selected(event.obj, namespace, params)]
            yield from lines


def _server_fields() -> dict[str, Any]:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"uid": str(uuid.uuid4()), "creationTimestamp": now, "generation": 1}


def _spec_part(obj: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in obj.items() if key not in ("metadata", "status", "apiVersion", "kind")}


def _line(event_type: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": event_type, "object": obj}).encode() + b"\n"


def _decoded(token: str) -> str:
    try:
        return str(json.loads(base64.urlsafe_b64decode(token.encode()))["start"])
    except (ValueError, KeyError, TypeError):
        raise _Status(400, "invalid continue token").exception() from None


def _selected(obj: dict[str, Any], namespace: str | None, params: dict[str, str]) -> bool:
    metadata = obj.get("metadata") or {}
    if namespace is not None and metadata.get("namespace") != namespace:
        return False
    labels = metadata.get("labels") or {}
    for term in filter(None, params.get("labelSelector", "").split(",")):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.strip() not in labels:
            return False
    for term in filter(None, params.get("fieldSelector", "").split(",")):
        path, value = term.replace("==", "=").split("=", 1)
        found: Any = obj
        for part in path.strip().split("."):
            found = found.get(part) if isinstance(found, dict) else None
        if str(found if found is not None else "") != value.strip():
            return False
    return True


def _merged(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merged(result.get(key), value)
    return result
