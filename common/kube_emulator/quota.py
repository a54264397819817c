"""Object-count ResourceQuota admission: a create beyond a quota's `count/<resource>` is 403.

As the real API server's quota admission plugin does (kubernetes/kubernetes
plugin/pkg/admission/resourcequota/controller.go, `CheckRequest`: "exceeded quota: %s,
requested: %s, used: %s, limited: %s", wrapped by `admission.NewForbidden`), a create in
a namespace whose ResourceQuota caps the count of that resource, and whose count is
reached, fails with 403 Forbidden before the object is stored (so before the
already-exists check). Usage is counted from the store, which is what the quota
controller converges `status.used` to; `status` itself is not maintained. Only object
counts are emulated (`count/<plural>.<group>`, `count/<plural>` for the core group, and the
legacy `pods`), not compute resources.
"""

from __future__ import annotations

from kube_emulator.errors import ApiError
from kube_emulator.resources import ResourceType
from kube_emulator.store import CollectionKey, Store

QUOTA_KEY: CollectionKey = ("", "resourcequotas")
_LEGACY_COUNT_NAMES = {("", "pods"): "pods"}


def quota_names(rt: ResourceType) -> tuple[str, ...]:
    """The `spec.hard` keys that count objects of ``rt``."""
    count = f"count/{rt.plural}.{rt.group}" if rt.group else f"count/{rt.plural}"
    legacy = _LEGACY_COUNT_NAMES.get(rt.key)
    return (count, legacy) if legacy else (count,)


def check_quota(store: Store, rt: ResourceType, namespace: str, name: str) -> None:
    """Raise the API server's 403 when creating one more ``rt`` in ``namespace`` exceeds a quota."""
    if not rt.namespaced or rt.key == QUOTA_KEY:
        return
    names = quota_names(rt)
    used: int | None = None
    for quota in store.iterate(QUOTA_KEY, namespace):
        hard = (quota.get("spec") or {}).get("hard") or {}
        for key in names:
            if key not in hard:
                continue
            limit = _count(hard[key])
            if used is None:
                used = sum(1 for _ in store.iterate(rt.key, namespace))
            if used + 1 > limit:
                raise _exceeded(rt, name, quota["metadata"]["name"], key, used, limit)


def _count(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0  # a quantity we do not parse admits nothing, as an unparsable quota would


def _exceeded(rt: ResourceType, name: str, quota: str, key: str, used: int, limit: int) -> ApiError:
    message = (
        f'{rt.group_resource} "{name}" is forbidden: exceeded quota: {quota}, '
        f"requested: {key}=1, used: {key}={used}, limited: {key}={limit}"
    )
    return ApiError(403, "Forbidden", message, {"name": name, "group": rt.group, "kind": rt.plural})
