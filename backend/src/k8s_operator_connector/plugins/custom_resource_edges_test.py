"""A custom_resource task's edges: each refusal with its field and message, the manifest size at
and past its limit, the allowlist's exact match, and what observe reports in each case."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from flyteidl.core.execution_pb2 import TaskExecution
from flytekit.models.literals import Literal, LiteralCollection, LiteralMap, Primitive, Scalar

from k8s_operator_connector.kube_api import ResourceType
from k8s_operator_connector.operator_plugin import BuiltObject, InvalidTaskError
from k8s_operator_connector.plugins.custom_resource import (
    FAILURE_ANNOTATION,
    PROGRESS_ANNOTATION,
    SUCCESS_ANNOTATION,
    CustomResourcePlugin,
)
from k8s_operator_connector.settings import AllowedKind, ConnectorSettings, CustomResourceSettings
from k8s_operator_connector.testing.flyte_models import blob_literal, int_literal, make_request, make_template

plugin = CustomResourcePlugin()
JOBS = AllowedKind("batch", "v1", "Job", "jobs")
WIDGETS = AllowedKind("example.com", "v1alpha1", "Widget", "widgets")
SETTINGS = ConnectorSettings(custom_resource=CustomResourceSettings(allowed_kinds=(JOBS, WIDGETS)))
JOB = {"apiVersion": "batch/v1", "kind": "Job", "spec": {"parallelism": 1}}
SUCCESS = "object.status.succeeded >= 1"


def build(
    manifest: dict[str, Any] | None = None,
    settings: ConnectorSettings = SETTINGS,
    inputs: LiteralMap | None = None,
    **fields: str,
) -> BuiltObject:
    custom: dict[str, Any] = {"manifest": manifest or JOB, "successCondition": SUCCESS, **fields}
    template = make_template(task_type="custom_resource", custom=custom, with_container=False)
    return plugin.build_object(make_request(template, settings=settings, inputs=inputs))


def refusal(*args: Any, **kwargs: Any) -> tuple[str, str]:
    """The refused field and the whole message."""
    with pytest.raises(InvalidTaskError) as raised:
        build(*args, **kwargs)
    return raised.value.field_name, str(raised.value)


def test_a_missing_custom_is_refused_naming_the_message_type() -> None:
    template = make_template(task_type="custom_resource", custom={}, with_container=False)
    with pytest.raises(InvalidTaskError) as raised:
        plugin.build_object(make_request(template, settings=SETTINGS))
    assert (raised.value.field_name, str(raised.value)) == (
        "custom",
        "custom: missing; a custom_resource task carries a CustomResourceTask",
    )


def test_an_unknown_custom_field_is_refused_naming_it() -> None:
    field, message = refusal(successCondtion="x")
    assert field == "custom"
    assert message.startswith("custom: not a flyte_k8s_operator.v1.CustomResourceTask: ")
    assert "successCondtion" in message


def test_the_built_object_is_the_allowlisted_resource_with_its_conditions_annotated() -> None:
    built = build(failureCondition="object.status.failed > 0", progressTemplate="{object.status.active} active")
    assert built.resource == ResourceType("batch", "v1", "jobs", "Job")
    assert built.manifest["metadata"] == {
        "annotations": {
            SUCCESS_ANNOTATION: SUCCESS,
            FAILURE_ANNOTATION: "object.status.failed > 0",
            PROGRESS_ANNOTATION: "{object.status.active} active",
        }
    }


def test_the_tasks_own_annotations_are_kept_beside_the_conditions() -> None:
    manifest = {**JOB, "metadata": {"annotations": {"team": "ml"}, "namespace": "flytesnacks-development"}}
    metadata = build(manifest).manifest["metadata"]
    assert metadata["annotations"] == {"team": "ml", SUCCESS_ANNOTATION: SUCCESS}
    assert build({**JOB, "metadata": {"namespace": ""}}).manifest["metadata"]["annotations"] == {
        SUCCESS_ANNOTATION: SUCCESS
    }


def test_watch_resources_are_the_allowlisted_kinds() -> None:
    assert plugin.watch_resources(SETTINGS) == [
        ResourceType("batch", "v1", "jobs", "Job"),
        ResourceType("example.com", "v1alpha1", "widgets", "Widget"),
    ]


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [("batch/v2", "Job"), ("example.com/v1alpha1", "Job"), ("batch/v1", "Widget")],
)
def test_the_allowlist_matches_api_version_and_kind_together(api_version: str, kind: str) -> None:
    assert refusal({"apiVersion": api_version, "kind": kind}) == (
        "custom.manifest.kind",
        f"custom.manifest.kind: {kind} ({api_version}) is not on the connector's allowlist "
        "(customResource.allowedKinds: Job (batch/v1), Widget (example.com/v1alpha1))",
    )


def test_an_empty_allowlist_is_named_as_none() -> None:
    assert refusal(settings=ConnectorSettings())[1] == (
        "custom.manifest.kind: Job (batch/v1) is not on the connector's allowlist (customResource.allowedKinds: none)"
    )


def test_a_never_allowed_kind_is_refused_even_when_allowlisted() -> None:
    roles = AllowedKind("rbac.authorization.k8s.io", "v1", "Role", "roles")
    settings = ConnectorSettings(custom_resource=CustomResourceSettings(allowed_kinds=(roles,)))
    assert refusal({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role"}, settings) == (
        "custom.manifest.kind",
        "custom.manifest.kind: Role is cluster-scoped or grants privileges; the connector never creates it",
    )


@pytest.mark.parametrize(
    "manifest",
    [
        {"apiVersion": "batch/v1", "kind": ""},
        {"apiVersion": "", "kind": "Job"},
        {"apiVersion": "batch/v1", "kind": 5},
        {"apiVersion": 1, "kind": "Job"},
        {"apiVersion": "batch/v1"},
    ],
)
def test_a_manifest_without_a_string_api_version_and_kind_is_refused(manifest: dict[str, Any]) -> None:
    assert refusal(manifest) == ("custom.manifest", "custom.manifest: needs apiVersion and kind")


def test_metadata_that_is_not_a_mapping_is_refused() -> None:
    assert refusal({**JOB, "metadata": "x"}) == (
        "custom.manifest.metadata",
        "custom.manifest.metadata: must be a mapping",
    )


def test_labels_that_are_not_a_mapping_are_refused() -> None:
    assert refusal({**JOB, "metadata": {"labels": ["app"]}}) == (
        "custom.manifest.metadata.labels",
        "custom.manifest.metadata.labels: must be a mapping of label keys to values",
    )


def test_another_namespace_is_refused_naming_the_executions() -> None:
    assert refusal({**JOB, "metadata": {"namespace": "kube-system"}}) == (
        "custom.manifest.metadata.namespace",
        "custom.manifest.metadata.namespace: 'kube-system': objects are created in the execution's namespace "
        "(flytesnacks-development) only; leave it unset",
    )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"successCondition": "object.status.phase =="}, "custom.success_condition"),
        ({"failureCondition": "(("}, "custom.failure_condition"),
        ({"progressTemplate": "{object."}, "custom.progress_template"),
    ],
)
def test_each_expression_is_checked_when_the_task_is_declared(fields: dict[str, str], field: str) -> None:
    refused_field, message = refusal(**fields)
    assert refused_field == field
    # The position of the error, as the SDK reports it when the task is declared.
    assert message.startswith(f"{field}: {field.removeprefix('custom.')}: ") and "at position" in message


def test_the_manifest_size_limit_holds_at_and_just_past_it() -> None:
    size = len(json.dumps(build().manifest))
    fits = ConnectorSettings(custom_resource=CustomResourceSettings(allowed_kinds=(JOBS,), max_manifest_bytes=size))
    assert build(settings=fits).resource.kind == "Job"
    one_short = ConnectorSettings(
        custom_resource=CustomResourceSettings(allowed_kinds=(JOBS,), max_manifest_bytes=size - 1)
    )
    assert refusal(settings=one_short) == (
        "custom.manifest",
        f"custom.manifest: {size} bytes after substitution; the connector allows {size - 1} "
        "(customResource.maxManifestBytes)",
    )


def test_a_manifest_without_placeholders_needs_no_inputs() -> None:
    assert build(inputs=None).manifest["spec"] == {"parallelism": 1}


def test_a_duration_input_substitutes_as_seconds() -> None:
    took = Literal(scalar=Scalar(primitive=Primitive(duration=datetime.timedelta(minutes=1, seconds=30))))
    manifest = {**JOB, "spec": {"activeDeadlineSeconds": "{{ inputs.took }}"}}
    assert build(manifest, inputs=LiteralMap({"took": took})).manifest["spec"] == {"activeDeadlineSeconds": 90}


def test_a_non_primitive_input_does_not_stop_the_others_from_substituting() -> None:
    inputs = LiteralMap(
        {"files": blob_literal(), "items": Literal(collection=LiteralCollection([])), "n": int_literal(3)}
    )
    manifest = {**JOB, "spec": {"completions": "{{ inputs.n }}"}}
    assert build(manifest, inputs=inputs).manifest["spec"] == {"completions": 3}
    with_list = {**JOB, "spec": {"completions": "{{ inputs.items }}"}}
    assert refusal(with_list, inputs=inputs) == (
        "inputs.items",
        "inputs.items: only primitive inputs (int, float, str, bool, datetime) substitute",
    )


def test_a_placeholder_without_an_input_names_the_manifest() -> None:
    field, message = refusal({**JOB, "spec": {"completions": "{{ inputs.n }}"}})
    assert field == "custom.manifest"
    assert message.startswith("custom.manifest: ") and "no value for input 'n'" in message


def live(**annotations: str) -> dict[str, Any]:
    return {"kind": "Job", "metadata": {"annotations": annotations}, "status": {"succeeded": 0, "failed": 1}}


def test_an_object_without_a_success_condition_fails_naming_the_annotation_problem() -> None:
    observed = plugin.observe({"metadata": {"annotations": {}}})
    assert observed.phase == TaskExecution.FAILED
    assert observed.message.startswith(
        "the object's condition annotations are invalid: success_condition: expected a CEL expression"
    )


def test_a_broken_failure_condition_on_the_object_is_named() -> None:
    observed = plugin.observe(live(**{SUCCESS_ANNOTATION: SUCCESS, FAILURE_ANNOTATION: "(("}))
    assert observed.phase == TaskExecution.FAILED
    assert observed.message.startswith("the object's condition annotations are invalid: failure_condition: ")


def test_the_failure_message_names_the_condition_and_the_progress_when_there_is_one() -> None:
    failing = {SUCCESS_ANNOTATION: SUCCESS, FAILURE_ANNOTATION: "object.status.failed > 0"}
    bare = plugin.observe(live(**failing))
    assert (bare.phase, bare.message) == (
        TaskExecution.RETRYABLE_FAILED,
        "failure condition met: object.status.failed > 0",
    )
    with_progress = plugin.observe(live(**failing, **{PROGRESS_ANNOTATION: "{object.status.failed} failed"}))
    assert with_progress.message == "failure condition met: object.status.failed > 0 (1 failed)"


def test_success_without_a_progress_template_names_the_condition() -> None:
    done = plugin.observe({**live(**{SUCCESS_ANNOTATION: SUCCESS}), "status": {"succeeded": 1}})
    assert (done.phase, done.message) == (TaskExecution.SUCCEEDED, f"success condition met: {SUCCESS}")


CREATED = 1893456000.0  # 2030-01-01T00:00:00Z


def created_job(status: dict[str, Any], **annotations: str) -> dict[str, Any]:
    obj = live(**annotations)
    obj["metadata"]["creationTimestamp"] = "2030-01-01T00:00:00Z"
    return {**obj, "status": status}


def test_a_misspelled_path_in_the_failure_condition_also_fails_the_task() -> None:
    job = created_job(
        {"active": 1, "failed": 0},
        **{SUCCESS_ANNOTATION: "object.status.active == 0", FAILURE_ANNOTATION: "object.status.faild > 0"},
    )
    ended = plugin.observe(job).at(CREATED + plugin.missing_path_grace_seconds)
    assert (ended.phase, ended.message) == (
        TaskExecution.FAILED,
        "condition path object.status.faild does not exist on the Job 60s after it was created; "
        "nearest existing: object.status.failed. Fix the task's condition",
    )


def test_an_object_without_a_kind_and_several_suggestions_are_named() -> None:
    job = created_job({"ready": 1, "readies": 2}, **{SUCCESS_ANNOTATION: "object.status.readys > 0"})
    del job["kind"]
    ended = plugin.observe(job).at(CREATED + plugin.missing_path_grace_seconds)
    assert ended.message == (
        "condition path object.status.readys does not exist on the object 60s after it was created; "
        "nearest existing: object.status.ready, object.status.readies. Fix the task's condition"
    )


def test_every_missing_path_is_named_once() -> None:
    condition = "has(object.status.phase) && object.status.phase == 'Done' && object.status.count > 0"
    job = created_job({"active": 1}, **{SUCCESS_ANNOTATION: condition})
    later = plugin.observe(job).at(CREATED + plugin.missing_path_grace_seconds)
    assert (later.phase, later.message) == (
        TaskExecution.RUNNING,
        f"waiting for: {condition} (object.status.phase does not exist on the object; "
        "object.status.count does not exist on the object)",
    )
