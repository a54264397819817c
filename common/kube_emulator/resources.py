"""Resource types (what a path like /apis/G/V/PLURAL serves) and the registry of them."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    subresources: frozenset[str] = field(default_factory=frozenset)  # e.g. {"status", "log"}
    verbs: tuple[str, ...] = ALL_VERBS
    categories: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def is_core_events(self) -> bool:
        """core/v1 events, which have field labels of their own (type, reason, involvedObject.*)."""
        return self.group == "" and self.plural == "events"

    @property
    def group_resource(self) -> str:
        """`paralleljobs.workloads.example.com` or `pods`: how error messages name it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def key(self) -> tuple[str, str]:
        """Storage identity: all versions of one group/plural share their objects."""
        return (self.group, self.plural)

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources


def _core(plural: str, kind: str, namespaced: bool = True, **extra: object) -> ResourceType:
    return ResourceType("", "v1", plural, kind, namespaced, singular=kind.lower(), **extra)  # type: ignore[arg-type]


BUILTIN_RESOURCES: tuple[ResourceType, ...] = (
    _core("namespaces", "Namespace", namespaced=False, short_names=("ns",), subresources=frozenset({"status"})),
    _core("pods", "Pod", short_names=("po",), subresources=frozenset({"status", "log"}), categories=("all",)),
    _core("events", "Event", short_names=("ev",)),
    _core("configmaps", "ConfigMap", short_names=("cm",)),
    _core("secrets", "Secret"),
    _core("serviceaccounts", "ServiceAccount", short_names=("sa",)),
    ResourceType(
        "batch",
        "v1",
        "jobs",
        "Job",
        True,
        singular="job",
        subresources=frozenset({"status"}),
        categories=("all",),
    ),
    _core("resourcequotas", "ResourceQuota", short_names=("quota",), subresources=frozenset({"status"})),
    ResourceType("events.k8s.io", "v1", "events", "Event", True, singular="event", short_names=("ev",)),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True, singular="lease"),
    ResourceType(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        singular="customresourcedefinition",
        short_names=("crd", "crds"),
        subresources=frozenset({"status"}),
    ),
)


class ResourceRegistry:
    """Which (group, version, plural) the server serves. Thread-safe for reads from tests."""

    def __init__(self, initial: Iterable[ResourceType] = BUILTIN_RESOURCES) -> None:
        self._lock = threading.Lock()
        self._by_path: dict[tuple[str, str, str], ResourceType] = {}
        for resource in initial:
            self.register(resource)

    def register(self, resource: ResourceType) -> None:
        with self._lock:
            self._by_path[(resource.group, resource.version, resource.plural)] = resource

    def unregister(self, group: str, plural: str) -> list[ResourceType]:
        with self._lock:
            gone = [r for r in self._by_path.values() if r.group == group and r.plural == plural]
            for resource in gone:
                del self._by_path[(resource.group, resource.version, resource.plural)]
            return gone

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def all(self) -> list[ResourceType]:
        with self._lock:
            return list(self._by_path.values())

    def find(self, name: str) -> ResourceType:
        """Resolve `pods`, `jobs.batch`, `paralleljobs.workloads.example.com`, a kind or a short name."""
        plural, _, group = name.partition(".")
        candidates = [
            r
            for r in self.all()
            if (plural in (r.plural, r.singular, r.kind.lower()) or plural in r.short_names)
            and (not group or r.group == group)
        ]
        if not candidates:
            raise KeyError(f"no resource type named {name!r} is registered")
        # Prefer the core group (like kubectl does), then the first registered version.
        candidates.sort(key=lambda r: (r.group != "", r.group))
        if len({r.group for r in candidates}) > 1 and candidates[0].group != "":
            raise KeyError(f"{name!r} is ambiguous: qualify it with its group")
        return candidates[0]
