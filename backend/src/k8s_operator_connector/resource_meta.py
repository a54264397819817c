"""What propeller stores for a task between calls: enough to find the object again.

Everything a connector process needs to answer GetTask and DeleteTask is here and in the
cluster, so a restarted connector (or another replica) serves tasks created by another.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from flytekit.extend.backend.base_connector import ResourceMeta

from k8s_operator_connector.kube_api import ResourceType

MAX_META_BYTES = 256 * 1024


class ResourceMetaError(ValueError):
    """The resource meta propeller sent back does not decode; names the problem."""


@dataclass
class OperatorResourceMeta(ResourceMeta):
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
    #: Set when create must wait for quota: GetTask retries the create with the manifest this
    #: process keeps in memory (never here: propeller stores the meta, and manifests hold env).
    awaiting_quota: bool = False

    @property
    def resource(self) -> ResourceType:
        return ResourceType(self.group, self.version, self.plural, self.kind)

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    def encode(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> OperatorResourceMeta:
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
