"""The generic plugin: any allowlisted custom resource, watched until a condition holds.

In the spirit of Argo Workflows' resource template: the task carries a manifest template,
a success and a failure condition and an optional progress template. The connector
substitutes the task's primitive inputs, forces the execution's namespace, refuses kinds
outside its allowlist (and, always, cluster-scoped and privilege-granting kinds), and
stores the conditions on the object itself, so any connector process can evaluate them.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import re
from collections.abc import Mapping
from typing import Any

from flyteidl.core.execution_pb2 import TaskExecution
from flytekit.models.literals import LiteralMap
from google.protobuf import json_format

from flyte_k8s_operator.v1.custom_resource_pb2 import CustomResourceTask
from flytekitplugins.k8s_operator.conditions import (
    Bound,
    Condition,
    ConditionError,
    ProgressTemplate,
    bind,
    find_missing,
    parse_condition,
    parse_progress_template,
)
from flytekitplugins.k8s_operator.constants import CUSTOM_RESOURCE_TASK_TYPE, CUSTOM_RESOURCE_TASK_TYPE_VERSION
from flytekitplugins.k8s_operator.manifest import PLACEHOLDER_RE, ManifestError, render_manifest
from k8s_operator_connector.kube_api import ResourceType
from k8s_operator_connector.object_cache import created_at
from k8s_operator_connector.object_outputs import OUTPUTS_ANNOTATION, OutputError, declare_outputs, read_outputs
from k8s_operator_connector.operator_plugin import (
    BuiltObject,
    InvalidTaskError,
    Observation,
    OperatorPlugin,
    TaskRequest,
)
from k8s_operator_connector.plugin_registry import register
from k8s_operator_connector.settings import AllowedKind, ConnectorSettings

_ANNOTATION_PREFIX = "custom-resource.flyte-k8s-operator.flyte.org/"
SUCCESS_ANNOTATION = _ANNOTATION_PREFIX + "success-condition"
FAILURE_ANNOTATION = _ANNOTATION_PREFIX + "failure-condition"
PROGRESS_ANNOTATION = _ANNOTATION_PREFIX + "progress-template"
# apimachinery's IsLabelKey and IsLabelValue (pkg/api/validate/content/kube.go): an optional DNS
# subdomain prefix of at most 253 characters and "/", then a name of at most 63; values of at most 63.
_LABEL_KEY = re.compile(
    r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
)
_LABEL_PREFIX_MAX_LENGTH = 253
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")

#: Kinds no allowlist can admit: cluster-scoped, or able to grant privileges or read secrets of others.
NEVER_ALLOWED_KINDS = frozenset(
    {
        "Namespace", "Node", "PersistentVolume", "StorageClass", "PriorityClass", "RuntimeClass",
        "CustomResourceDefinition", "APIService", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
        "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding", "CertificateSigningRequest", "TokenRequest", "ServiceAccount",
    }
)  # fmt: skip


def parse_custom_resource(custom: Mapping[str, Any] | None) -> CustomResourceTask:
    if not custom:
        raise InvalidTaskError("custom", "missing; a custom_resource task carries a CustomResourceTask")
    message = CustomResourceTask()
    try:
        json_format.ParseDict(dict(custom), message)
    except json_format.ParseError as error:
        raise InvalidTaskError("custom", f"not a flyte_k8s_operator.v1.CustomResourceTask: {error}") from error
    return message


def _primitive_inputs(inputs: LiteralMap | None) -> tuple[dict[str, Any], set[str]]:
    """Inputs a manifest may substitute (primitives), and the names of all other inputs."""
    values: dict[str, Any] = {}
    others: set[str] = set()
    for name, literal in (inputs.literals if inputs else {}).items():
        scalar = literal.scalar
        primitive = scalar.primitive if scalar is not None else None
        if primitive is None:
            others.add(name)
            continue
        value = primitive.value
        values[name] = value.total_seconds() if isinstance(value, datetime.timedelta) else value
    return values, others


def _render(manifest: dict[str, Any], inputs: LiteralMap | None) -> dict[str, Any]:
    values, others = _primitive_inputs(inputs)
    used = set(PLACEHOLDER_RE.findall(json.dumps(manifest)))
    for name in sorted(used & others):
        raise InvalidTaskError(f"inputs.{name}", "only primitive inputs (int, float, str, bool, datetime) substitute")
    try:
        # Also turns Struct's whole floats (3.0) back into the ints Kubernetes expects.
        return render_manifest(manifest, values)
    except ManifestError as error:
        raise InvalidTaskError("custom.manifest", str(error)) from error


def _check_labels(labels: Any, where: str) -> None:
    if not isinstance(labels, dict):
        raise InvalidTaskError(where, "must be a mapping of label keys to values")
    for key, value in labels.items():
        # fullmatch, not match with "$": "$" also matches before a final newline, which the API server refuses.
        if (
            not isinstance(key, str)
            or not _LABEL_KEY.fullmatch(key)
            or len(key.rpartition("/")[0]) > _LABEL_PREFIX_MAX_LENGTH
        ):
            raise InvalidTaskError(
                f"{where}.{key}",
                "not a valid label key ([DNS subdomain of <= 253 chars/]name of <= 63 chars)",
            )
        if not isinstance(value, str) or not _LABEL_VALUE.fullmatch(value):
            raise InvalidTaskError(f"{where}.{key}", f"{value!r} is not a valid label value (<= 63 chars)")


def allowed_kind(settings: ConnectorSettings, api_version: str, kind: str) -> AllowedKind:
    if kind in NEVER_ALLOWED_KINDS:
        raise InvalidTaskError(
            "custom.manifest.kind", f"{kind} is cluster-scoped or grants privileges; the connector never creates it"
        )
    for entry in settings.custom_resource.allowed_kinds:
        if entry.kind == kind and entry.api_version == api_version:
            return entry
    allowed = ", ".join(f"{e.kind} ({e.api_version})" for e in settings.custom_resource.allowed_kinds) or "none"
    raise InvalidTaskError(
        "custom.manifest.kind",
        f"{kind} ({api_version}) is not on the connector's allowlist (customResource.allowedKinds: {allowed})",
    )


@functools.lru_cache(maxsize=4096)
def _condition(text: str, field_name: str) -> Condition:
    return parse_condition(text, field_name)


@functools.lru_cache(maxsize=4096)
def _progress(text: str) -> ProgressTemplate:
    return parse_progress_template(text, "progress_template")


class CustomResourcePlugin(OperatorPlugin):
    task_type = CUSTOM_RESOURCE_TASK_TYPE
    task_type_version = CUSTOM_RESOURCE_TASK_TYPE_VERSION
    #: How long a condition path that misspells an existing key may stay missing before the task fails.
    missing_path_grace_seconds: float = 60.0

    def watch_resources(self, settings: ConnectorSettings) -> list[ResourceType]:
        return [ResourceType(k.group, k.version, k.plural, k.kind) for k in settings.custom_resource.allowed_kinds]

    def build_object(self, request: TaskRequest) -> BuiltObject:
        config = parse_custom_resource(request.template.custom)
        try:
            _condition(config.success_condition, "success_condition")
            if config.failure_condition:
                _condition(config.failure_condition, "failure_condition")
            if config.progress_template:
                _progress(config.progress_template)
        except ConditionError as error:
            raise InvalidTaskError(f"custom.{error.field_name}", str(error)) from error
        outputs = declare_outputs(request.template, dict(config.outputs))
        manifest = json_format.MessageToDict(config.manifest)
        api_version, kind = manifest.get("apiVersion"), manifest.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str) or not api_version or not kind:
            raise InvalidTaskError("custom.manifest", "needs apiVersion and kind")
        entry = allowed_kind(request.settings, api_version, kind)
        manifest = _render(manifest, request.inputs)
        metadata = manifest.setdefault("metadata", {})
        if not isinstance(metadata, dict):
            raise InvalidTaskError("custom.manifest.metadata", "must be a mapping")
        namespace = metadata.get("namespace")
        if namespace not in (None, "", request.context.namespace):
            raise InvalidTaskError(
                "custom.manifest.metadata.namespace",
                f"{namespace!r}: objects are created in the execution's namespace "
                f"({request.context.namespace}) only; leave it unset",
            )
        _check_labels(metadata.get("labels") or {}, "custom.manifest.metadata.labels")
        annotations = dict(metadata.get("annotations") or {})
        annotations[SUCCESS_ANNOTATION] = config.success_condition
        if config.failure_condition:
            annotations[FAILURE_ANNOTATION] = config.failure_condition
        if config.progress_template:
            annotations[PROGRESS_ANNOTATION] = config.progress_template
        if outputs:
            annotations[OUTPUTS_ANNOTATION] = outputs
        metadata["annotations"] = annotations
        size = len(json.dumps(manifest))
        if size > request.settings.custom_resource.max_manifest_bytes:
            raise InvalidTaskError(
                "custom.manifest",
                f"{size} bytes after substitution; the connector allows "
                f"{request.settings.custom_resource.max_manifest_bytes} (customResource.maxManifestBytes)",
            )
        resource = ResourceType(entry.group, entry.version, entry.plural, entry.kind)
        return BuiltObject(resource, manifest)

    def observe(self, obj: Mapping[str, Any]) -> Observation:
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        try:
            success = _condition(annotations.get(SUCCESS_ANNOTATION, ""), "success_condition")
            failure_text = annotations.get(FAILURE_ANNOTATION, "")
            failure = _condition(failure_text, "failure_condition") if failure_text else None
            progress_text = annotations.get(PROGRESS_ANNOTATION, "")
            template = _progress(progress_text) if progress_text else None
        except ConditionError as error:
            return Observation.of(TaskExecution.FAILED, f"the object's condition annotations are invalid: {error}")
        bound = bind(obj)
        progress = template.render(bound) if template is not None else ""
        if failure is not None and failure.holds(bound)[0]:
            detail = f" ({progress})" if progress else ""
            return Observation.of(TaskExecution.RETRYABLE_FAILED, f"failure condition met: {failure}{detail}")
        if success.holds(bound)[0]:
            return self._succeeded(
                annotations.get(OUTPUTS_ANNOTATION, ""), bound, progress or f"success condition met: {success}"
            )
        return self._waiting(obj, progress or f"waiting for: {success}", success, failure)

    def _succeeded(self, outputs: str, bound: Bound, message: str) -> Observation:
        """SUCCEEDED with the outputs read from the object; FAILED if one cannot be read."""
        succeeded = Observation.of(TaskExecution.SUCCEEDED, message)
        if not outputs:
            return succeeded
        try:
            return dataclasses.replace(succeeded, outputs=read_outputs(outputs, bound))
        except OutputError as error:
            return Observation.of(TaskExecution.FAILED, f"the success condition holds, but {error}")

    def _waiting(
        self, obj: Mapping[str, Any], message: str, success: Condition, failure: Condition | None
    ) -> Observation:
        """RUNNING; once the grace period after the object's creation has passed, a condition path
        that does not exist is named in the message with the nearest existing keys, and one that is
        a near miss of an existing key (a typo no object will ever write) fails the task."""
        running = Observation.of(TaskExecution.RUNNING, message)
        paths = [*success.paths, *(failure.paths if failure is not None else ())]
        missing = list({str(m): m for m in (find_missing(obj, path) for path in paths) if m is not None}.values())
        created = created_at(obj)
        if not missing or not created:
            return running
        grace = self.missing_path_grace_seconds
        typos = [m for m in missing if m.likely_typo]
        if typos:
            later = Observation.of(
                TaskExecution.FAILED,
                f"condition path {typos[0].path} does not exist on the {obj.get('kind') or 'object'} "
                f"{grace:g}s after it was created; nearest existing: {', '.join(typos[0].suggestions)}. "
                "Fix the task's condition",
            )
        else:
            later = Observation.of(TaskExecution.RUNNING, f"{message} ({'; '.join(str(m) for m in missing)})")
        return dataclasses.replace(running, until=created + grace, later=later)


register(CustomResourcePlugin())
