"""The verbs with the real API server's semantics, over the store. Knows nothing about HTTP.

Every method validates fully before its first write, so a rejected request changes nothing.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

from kube_emulator import errors
from kube_emulator.crds import resource_types_from_crd
from kube_emulator.defaults import apply_create_defaults, crd_status
from kube_emulator.patches import apply_patch
from kube_emulator.quota import check_quota
from kube_emulator.resources import ResourceRegistry, ResourceType
from kube_emulator.selectors import FieldSelector, LabelSelector
from kube_emulator.store import CollectionKey, Store
from kube_emulator.validation import metadata_problems, name_problems

CRD_KEY: CollectionKey = ("apiextensions.k8s.io", "customresourcedefinitions")
NAMESPACE_KEY: CollectionKey = ("", "namespaces")
POD_KEY: CollectionKey = ("", "pods")
JOB_KEY: CollectionKey = ("batch", "jobs")
FOREGROUND_FINALIZER = "foregroundDeletion"
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the real apiserver's: no vowels, no 0/1/3
_SERVER_MANAGED = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation")
_LATEST = -1  # a continue token's rv after its snapshot expired: go on at the latest resourceVersion
_STALE = "the object has been modified; please apply your changes to the latest version and try again"


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _spec_part(obj: dict[str, Any], status_is_separate: bool) -> dict[str, Any]:
    """What `generation` tracks: everything but metadata (and status when it is a subresource)."""
    skipped = {"metadata", "status"} if status_is_separate else {"metadata"}
    return {k: v for k, v in obj.items() if k not in skipped}


class ApiServer:
    def __init__(
        self,
        store: Store,
        registry: ResourceRegistry,
        *,
        strict_namespaces: bool = False,
        on_removed: Callable[[CollectionKey, dict[str, Any]], None] | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.strict_namespaces = strict_namespaces
        self._on_removed = on_removed

    # ----------------------------------------------------------------- reads

    def get(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        obj = self.store.get(rt.key, namespace if rt.namespaced else "", name)
        if obj is None:
            raise errors.not_found(rt.group_resource, name)
        return self._as_version(rt, obj)

    def list_objects(
        self,
        rt: ResourceType,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> dict[str, Any]:
        """A page of at most ``limit`` objects (all without one). Later pages come from the first
        page's snapshot, as etcd reads them at the revision in the continue token, and report its
        resourceVersion; 410 Expired once the history that snapshot needs was compacted."""
        scope = namespace if rt.namespaced else None
        snapshot_rv: int | None = None
        after: tuple[str, str] | None = None
        if continue_token:
            snapshot_rv, after = _decode_continue(continue_token)
        objects: Iterator[dict[str, Any]]
        if snapshot_rv is None or snapshot_rv == _LATEST:
            objects = (obj for _, obj in self.store.iterate_after(rt.key, scope, after))
        else:
            try:
                objects = self.store.iterate_at(rt.key, scope, snapshot_rv, after)
            except errors.ApiError as error:
                if error.code != 410 or after is None:
                    raise
                raise errors.continue_expired(_encode_continue(_LATEST, after)) from None
        list_rv = self.store.resource_version if snapshot_rv is None or snapshot_rv == _LATEST else snapshot_rv
        items: list[dict[str, Any]] = []
        remaining = 0
        last: tuple[str, str] | None = None
        for obj in objects:
            metadata = obj["metadata"]
            if (labels and not labels.matches(metadata.get("labels"))) or (fields and not fields.matches(obj)):
                continue
            if limit and len(items) >= limit:
                remaining += 1
                if labels or fields:
                    # The API server counts what is left only for an unfiltered list
                    # (k8s.io/apiserver pkg/storage/continue.go, PrepareContinueToken); one more
                    # match says there is a next page, and a page costs its own size, not the rest.
                    break
                continue
            items.append(self._as_version(rt, obj))
            last = (metadata.get("namespace", ""), metadata["name"])
        list_metadata: dict[str, Any] = {"resourceVersion": str(list_rv)}
        if remaining and last is not None:
            list_metadata["continue"] = _encode_continue(list_rv, last)
            if not (labels or fields):
                list_metadata["remainingItemCount"] = remaining
        return {"apiVersion": rt.api_version, "kind": f"{rt.kind}List", "metadata": list_metadata, "items": items}

    @staticmethod
    def _as_version(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        if obj.get("apiVersion") == rt.api_version:
            return obj
        return {**obj, "apiVersion": rt.api_version}

    # ----------------------------------------------------------------- create

    def create(self, rt: ResourceType, namespace: str | None, body: Any) -> dict[str, Any]:
        obj = self._checked_body(rt, body)
        metadata = obj.setdefault("metadata", {})
        if rt.namespaced:
            if not namespace:
                raise errors.bad_request("the namespace of the object must be set for a namespaced resource")
            if metadata.get("namespace") not in (None, "", namespace):
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            metadata["namespace"] = namespace
            if self.strict_namespaces and self.store.get(NAMESPACE_KEY, "", namespace) is None:
                raise errors.not_found("namespaces", namespace)
        else:
            metadata.pop("namespace", None)
        scope = metadata.get("namespace", "")
        if not metadata.get("name"):
            prefix = metadata.get("generateName")
            if not prefix:
                raise errors.invalid(
                    rt.group_resource,
                    rt.kind,
                    "",
                    [("metadata.name", "Required value: name or generateName is required")],
                )
            metadata["name"] = self._generated_name(rt, scope, prefix)
        name = metadata["name"]
        problems = name_problems(rt.kind, name) + metadata_problems(rt.kind, metadata)
        if problems:
            raise errors.invalid(rt.group_resource, rt.kind, name, problems)
        check_quota(self.store, rt, scope, name)  # admission runs before storage: before "already exists"
        if self.store.get(rt.key, scope, name) is not None:
            raise errors.already_exists(rt.group_resource, name)
        for key in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
            metadata.pop(key, None)
        metadata["uid"] = str(uuid.uuid4())
        metadata["creationTimestamp"] = now_rfc3339()
        metadata["generation"] = 1
        if rt.has_status:
            obj.pop("status", None)  # status is written through the /status subresource only
        apply_create_defaults(rt.kind, rt.api_version, obj)
        if rt.key == CRD_KEY:
            types = resource_types_from_crd(obj)  # validates before anything is stored
            obj["status"] = crd_status(obj)
            stored = self.store.put(rt.key, obj)
            self._register(types)
            return stored
        stored = self.store.put(rt.key, obj)
        if self._owners_all_absent(stored):
            # Created after its owner was deleted (a controller racing the deletion): Kubernetes'
            # garbage collector deletes a dependent once all its owners are verified absent
            # (pkg/controller/garbagecollector/garbagecollector.go, attemptToDeleteItem); here at once.
            self._delete_object(rt.key, stored, "Background")
        return stored

    def _owners_all_absent(self, obj: dict[str, Any]) -> bool:
        owners = obj["metadata"].get("ownerReferences") or []
        return bool(owners) and not any(owner.get("uid") in self.store.by_uid for owner in owners)

    def _generated_name(self, rt: ResourceType, namespace: str, prefix: str) -> str:
        prefix = prefix[:58]
        while True:
            name = prefix + "".join(random.choices(_GENERATE_ALPHABET, k=5))
            if self.store.get(rt.key, namespace, name) is None:
                return name

    def _checked_body(self, rt: ResourceType, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request must be a JSON object")
        if body.get("kind") not in (None, "", rt.kind):
            raise errors.bad_request(f'the kind "{body["kind"]}" does not match the resource {rt.group_resource}')
        if body.get("apiVersion") not in (None, "", rt.api_version):
            other = self.registry.lookup(rt.group, body["apiVersion"].rpartition("/")[2], rt.plural)
            if other is None:
                raise errors.bad_request(
                    f'the apiVersion "{body["apiVersion"]}" does not match the resource {rt.group_resource}'
                )
        obj = copy.deepcopy(body)
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        return obj

    # ----------------------------------------------------------------- update and patch

    def update(self, rt: ResourceType, namespace: str, name: str, body: Any, subresource: str | None) -> dict[str, Any]:
        current = self._existing(rt, namespace, name)
        new = self._checked_body(rt, body)
        new_metadata = new.setdefault("metadata", {})
        if new_metadata.get("name") not in (None, name):
            raise errors.bad_request("the name of the object does not match the name on the URL")
        return self._commit(rt, current, new, subresource)

    def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        content_type: str,
        patch: Any,
        subresource: str | None,
    ) -> dict[str, Any]:
        current = self._existing(rt, namespace, name)
        patched = apply_patch(content_type, current, patch)
        new = self._checked_body(rt, patched)
        # A patch carries a resourceVersion precondition only if it sets one explicitly.
        if new.get("metadata", {}).get("resourceVersion") == current["metadata"]["resourceVersion"]:
            new["metadata"].pop("resourceVersion")
        return self._commit(rt, current, new, subresource)

    def _existing(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        current = self.store.get(rt.key, namespace if rt.namespaced else "", name)
        if current is None:
            raise errors.not_found(rt.group_resource, name)
        return current

    def _commit(
        self, rt: ResourceType, current: dict[str, Any], new: dict[str, Any], subresource: str | None
    ) -> dict[str, Any]:
        old_metadata = current["metadata"]
        name = old_metadata["name"]
        wanted_version = new.get("metadata", {}).get("resourceVersion")
        if wanted_version and wanted_version != old_metadata["resourceVersion"]:
            raise errors.conflict(rt.group_resource, name, _STALE)
        if subresource == "status":
            result = copy.deepcopy(current)
            if "status" in new:
                result["status"] = new["status"]
            else:
                result.pop("status", None)
        elif subresource is not None:
            raise errors.method_not_allowed(f"the {subresource} subresource cannot be written")
        else:
            result = new
            metadata = result.setdefault("metadata", {})
            for key in _SERVER_MANAGED:
                if key in old_metadata:
                    metadata[key] = old_metadata[key]
                else:
                    metadata.pop(key, None)
            metadata["name"] = name
            if rt.namespaced:
                metadata["namespace"] = old_metadata["namespace"]
            else:
                metadata.pop("namespace", None)
            if rt.has_status:
                if "status" in current:
                    result["status"] = current["status"]
                else:
                    result.pop("status", None)
            if _spec_part(result, rt.has_status) != _spec_part(current, rt.has_status):
                metadata["generation"] = old_metadata.get("generation", 1) + 1
            problems = metadata_problems(rt.kind, metadata)
            if old_metadata.get("deletionTimestamp"):
                added = set(metadata.get("finalizers") or []) - set(old_metadata.get("finalizers") or [])
                if added:
                    problems.append(
                        (
                            "metadata.finalizers",
                            "Forbidden: no new finalizers can be added if the object is being deleted",
                        )
                    )
            if problems:
                raise errors.invalid(rt.group_resource, rt.kind, name, problems)
            if rt.key == CRD_KEY:
                types = resource_types_from_crd(result)
        result["metadata"]["resourceVersion"] = old_metadata["resourceVersion"]
        if result == current:
            return self._as_version(rt, current)  # a no-op write keeps its resourceVersion and emits nothing
        if result["metadata"].get("deletionTimestamp") and not result["metadata"].get("finalizers"):
            removed = self._remove(rt.key, result)
            return self._as_version(rt, removed)
        stored = self.store.put(rt.key, result)
        if rt.key == CRD_KEY and subresource is None:
            self.registry.unregister(*_crd_group_plural(current))
            self._register(types)
        return self._as_version(rt, stored)

    # ----------------------------------------------------------------- delete

    def delete(
        self, rt: ResourceType, namespace: str, name: str, options: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        """Returns (the object or a Success Status, whether it is gone already)."""
        current = self._existing(rt, namespace, name)
        preconditions = options.get("preconditions") or {}
        metadata = current["metadata"]
        if preconditions.get("uid") and preconditions["uid"] != metadata["uid"]:
            raise errors.conflict(
                rt.group_resource,
                name,
                f'Precondition failed: UID in precondition: {preconditions["uid"]}, '
                f'UID in object meta: {metadata["uid"]}',
            )
        if preconditions.get("resourceVersion") and preconditions["resourceVersion"] != metadata["resourceVersion"]:
            raise errors.conflict(
                rt.group_resource,
                name,
                f'Precondition failed: ResourceVersion in precondition: '
                f'{preconditions["resourceVersion"]}, ResourceVersion in object meta: '
                f'{metadata["resourceVersion"]}',
            )
        policy = self._propagation_policy(rt, options)
        result = self._delete_object(rt.key, current, policy)
        is_gone = self.store.get(rt.key, metadata.get("namespace", ""), name) is None
        if is_gone:
            return _success_status(rt, result), True
        return self._as_version(rt, result), False

    def delete_collection(
        self,
        rt: ResourceType,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        options: dict[str, Any],
    ) -> dict[str, Any]:
        listing = self.list_objects(rt, namespace, labels, fields)
        policy = self._propagation_policy(rt, options)
        for obj in listing["items"]:
            metadata = obj["metadata"]
            current = self.store.get(rt.key, metadata.get("namespace", ""), metadata["name"])
            if current is not None:
                self._delete_object(rt.key, current, policy)
        return listing

    @staticmethod
    def _propagation_policy(rt: ResourceType, options: dict[str, Any]) -> str:
        policy = options.get("propagationPolicy")
        if policy:
            if policy not in ("Foreground", "Background", "Orphan"):
                raise errors.bad_request(f"unknown propagationPolicy: {policy}")
            return str(policy)
        if options.get("orphanDependents") is True:
            return "Orphan"
        # batch/v1 Jobs keep the legacy default: a bare DELETE orphans their pods.
        return "Orphan" if rt.key == JOB_KEY else "Background"

    def _delete_object(self, key: CollectionKey, obj: dict[str, Any], policy: str) -> dict[str, Any]:
        metadata = obj["metadata"]
        uid = metadata["uid"]
        has_dependents = bool(self.store.dependents.get(uid))
        if policy == "Orphan" and has_dependents:
            self._orphan_dependents(uid)
        finalizers = list(metadata.get("finalizers") or [])
        if policy == "Foreground" and has_dependents and FOREGROUND_FINALIZER not in finalizers:
            finalizers.append(FOREGROUND_FINALIZER)
        if not finalizers:
            return self._remove(key, obj)
        if not metadata.get("deletionTimestamp") or finalizers != metadata.get("finalizers"):
            marked = copy.deepcopy(obj)
            marked["metadata"]["deletionTimestamp"] = metadata.get("deletionTimestamp") or now_rfc3339()
            marked["metadata"]["deletionGracePeriodSeconds"] = 0
            marked["metadata"]["finalizers"] = finalizers
            obj = self.store.put(key, marked)
        if FOREGROUND_FINALIZER in finalizers:
            for ref in list(self.store.dependents.get(uid, ())):
                dependent = self.store.get(*ref)
                if dependent is not None and not dependent["metadata"].get("deletionTimestamp"):
                    self._delete_object(ref[0], dependent, "Foreground")
            self._finish_foreground(uid)
            still_there = self.store.get_by_uid(uid)
            obj = still_there[1] if still_there is not None else obj
        return obj

    def _orphan_dependents(self, uid: str) -> None:
        for ref in list(self.store.dependents.get(uid, ())):
            dependent = self.store.get(*ref)
            if dependent is None:
                continue
            orphan = copy.deepcopy(dependent)
            owners = [o for o in orphan["metadata"].get("ownerReferences", []) if o.get("uid") != uid]
            if owners:
                orphan["metadata"]["ownerReferences"] = owners
            else:
                orphan["metadata"].pop("ownerReferences", None)
            self.store.put(ref[0], orphan)

    def _finish_foreground(self, owner_uid: str) -> None:
        """Drop the foregroundDeletion finalizer once no dependents remain."""
        found = self.store.get_by_uid(owner_uid)
        if found is None or self.store.dependents.get(owner_uid):
            return
        key, owner = found
        finalizers = owner["metadata"].get("finalizers") or []
        if FOREGROUND_FINALIZER not in finalizers:
            return
        remaining = [f for f in finalizers if f != FOREGROUND_FINALIZER]
        if not remaining:
            self._remove(key, owner)
            return
        updated = copy.deepcopy(owner)
        updated["metadata"]["finalizers"] = remaining
        self.store.put(key, updated)

    def _remove(self, key: CollectionKey, obj: dict[str, Any]) -> dict[str, Any]:
        metadata = obj["metadata"]
        removed = self.store.remove(key, metadata.get("namespace", ""), metadata["name"])
        if removed is None:
            return obj
        uid = metadata["uid"]
        self._collect_garbage(uid)
        for owner in metadata.get("ownerReferences") or []:
            self._finish_foreground(owner.get("uid", ""))
        if key == CRD_KEY:
            group, plural = _crd_group_plural(removed)
            self.registry.unregister(group, plural)
            self.store.drop_collection((group, plural))
        elif key == NAMESPACE_KEY:
            self._empty_namespace(metadata["name"])
        if self._on_removed is not None:
            self._on_removed(key, removed)
        return removed

    def _collect_garbage(self, owner_uid: str) -> None:
        """Background deletion of dependents whose owners are all gone, cascading."""
        for ref in list(self.store.dependents.get(owner_uid, ())):
            dependent = self.store.get(*ref)
            if dependent is None or dependent["metadata"].get("deletionTimestamp"):
                continue
            owners_alive = [
                o
                for o in dependent["metadata"].get("ownerReferences") or []
                if o.get("uid") != owner_uid and o.get("uid") in self.store.by_uid
            ]
            if not owners_alive:
                self._delete_object(ref[0], dependent, "Background")

    def _empty_namespace(self, namespace: str) -> None:
        for key, collection in list(self.store.collections.items()):
            for obj in list(collection.by_namespace.get(namespace, {}).values()):
                self._delete_object(key, obj, "Background")

    # ----------------------------------------------------------------- CRDs

    def _register(self, types: list[ResourceType]) -> None:
        for resource_type in types:
            self.registry.register(resource_type)


def _crd_group_plural(crd: dict[str, Any]) -> tuple[str, str]:
    spec = crd.get("spec") or {}
    return spec.get("group", ""), (spec.get("names") or {}).get("plural", "")


def _success_status(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    metadata = obj.get("metadata", {})
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": metadata.get("name"), "group": rt.group, "kind": rt.plural, "uid": metadata.get("uid")},
    }


def _encode_continue(resource_version: int, after: tuple[str, str]) -> str:
    """The real API server's token shape (k8s.io/apiserver pkg/storage/continue.go): base64 of
    {"v", "rv", "start"}; rv -1 continues at the latest resourceVersion."""
    token = {"v": "meta.k8s.io/v1", "rv": resource_version, "start": f"{after[0]}/{after[1]}"}
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode()


def _decode_continue(token: str) -> tuple[int, tuple[str, str]]:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
        resource_version, start = int(decoded["rv"]), str(decoded["start"])
    except (ValueError, KeyError, TypeError):
        raise errors.bad_request("invalid continue token") from None
    namespace, slash, name = start.partition("/")
    if not slash or not name or resource_version == 0 or resource_version < _LATEST:
        raise errors.bad_request("invalid continue token")
    return resource_version, (namespace, name)
