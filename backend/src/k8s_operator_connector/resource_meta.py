"""What propeller stores for a task between calls: enough to find the object again.

Everything a connector process needs to answer GetTask and DeleteTask is here and in the
cluster, so a restarted connector (or another replica) serves tasks created by another.
Metas are signed and verified by each connector's meta type (:mod:`meta_signing`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

from flytekit.extend.backend.base_connector import ResourceMeta

from k8s_operator_connector.kube_api import ResourceType
from k8s_operator_connector.meta_signing import MAX_META_BYTES, MetaRejected, Signer
from k8s_operator_connector.metrics import META_REJECTED

MAX_FAILURE_MESSAGE = 4096


class ResourceMetaError(MetaRejected):
    """The resource meta propeller sent back does not decode; names the problem."""


@dataclass
class OperatorResourceMeta(ResourceMeta):
    #: Set on the per-connector subclass :func:`signed_meta_type` makes.
    signer: ClassVar[Signer | None] = None
    task_type: ClassVar[str] = ""

    group: str
    version: str
    plural: str
    kind: str
    namespace: str
    name: str
    uid: str = ""
    task_execution_id: str = ""
    #: "project/domain/name/version" of the task, for log links.
    task_id: str = ""
    #: Set when create ended the task without an object: the final phase and why.
    failure_phase: int = 0
    failure_message: str = ""
    #: Set when create must wait for quota: GetTask (on any replica) retries the create with
    #: ``pending_create``, the manifest compressed and encrypted (:mod:`pending_create`): propeller
    #: stores the meta where people who must not read env values can read it.
    awaiting_quota: bool = False
    pending_create: str = ""

    def __post_init__(self) -> None:
        # Keep metas small: propeller stores them, and decoding bounds their size.
        self.failure_message = _within_encoded(self.failure_message, MAX_FAILURE_MESSAGE)

    @property
    def resource(self) -> ResourceType:
        return ResourceType(self.group, self.version, self.plural, self.kind)

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    def payload(self) -> bytes:
        """The canonical JSON encoding (sorted keys, no spaces, ASCII): what the MAC covers."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()

    def encode(self) -> bytes:
        if self.signer is None:
            raise TypeError("encode a meta through its connector's meta type (signed_meta_type)")
        return self.signer.seal(self.task_type, self.payload())

    @classmethod
    def decode(cls, data: bytes) -> OperatorResourceMeta:
        if cls.signer is None:
            raise TypeError("decode a meta through its connector's meta type (signed_meta_type)")
        try:
            return cls.from_payload(cls.signer.open(cls.task_type, data))
        except MetaRejected:
            META_REJECTED.labels(cls.task_type).inc()
            raise

    @classmethod
    def from_payload(cls, data: bytes) -> OperatorResourceMeta:
        if len(data) > MAX_META_BYTES:
            raise ResourceMetaError(f"resource_meta: {len(data)} bytes, more than the {MAX_META_BYTES} allowed")
        try:
            document: Any = json.loads(data.decode())
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ResourceMetaError(f"resource_meta: not JSON written by this connector ({error})") from error
        if not isinstance(document, dict):
            raise ResourceMetaError("resource_meta: expected a JSON object")
        values: dict[str, Any] = {}
        for meta_field in fields(cls):
            required = meta_field.name in ("group", "version", "plural", "kind", "namespace", "name")
            if meta_field.name not in document:
                if required:
                    raise ResourceMetaError(f"resource_meta.{meta_field.name}: missing")
                continue
            value = document[meta_field.name]
            expected = (
                bool if meta_field.name == "awaiting_quota" else int if meta_field.name == "failure_phase" else str
            )
            if type(value) is not expected:
                raise ResourceMetaError(f"resource_meta.{meta_field.name}: expected {expected.__name__}")
            values[meta_field.name] = value
        # A task that failed before creating an object has no resource: only its failure.
        if not values.get("failure_phase") and not (values["name"] and values["plural"] and values["version"]):
            raise ResourceMetaError("resource_meta: name, plural and version must not be empty")
        return cls(**values)


def _within_encoded(text: str, limit: int) -> str:
    """The longest prefix of ``text`` whose JSON encoding (ASCII, as :meth:`payload` writes it:
    "é" takes 6 bytes) fits in ``limit`` bytes."""
    if len(json.dumps(text)) <= limit + 2:
        return text
    low, high = 0, min(len(text), limit)
    while low < high:
        middle = (low + high + 1) // 2
        if len(json.dumps(text[:middle])) <= limit + 2:
            low = middle
        else:
            high = middle - 1
    return text[:low]


def signed_meta_type(signer: Signer, task_type: str) -> type[OperatorResourceMeta]:
    """The meta class one connector hands to flytekit: it seals and opens with ``signer``,
    bound to ``task_type`` (a meta issued for one task type does not verify for another)."""
    namespace = {"signer": signer, "task_type": task_type, "__module__": __name__}
    return type(f"OperatorResourceMeta[{task_type}]", (OperatorResourceMeta,), namespace)
