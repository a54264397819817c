import pytest
from flyteidl.core.execution_pb2 import TaskExecution
from flytekit.models.literals import LiteralMap

from k8s_operator_connector.operator_plugin import InvalidTaskError
from k8s_operator_connector.plugins.custom_resource import SUCCESS_ANNOTATION, CustomResourcePlugin
from k8s_operator_connector.settings import AllowedKind, ConnectorSettings, CustomResourceSettings
from k8s_operator_connector.testing.flyte_models import (
    blob_literal,
    int_literal,
    make_request,
    make_template,
    str_literal,
)

plugin = CustomResourcePlugin()
JOBS = AllowedKind("batch", "v1", "Job", "jobs")
SETTINGS = ConnectorSettings(custom_resource=CustomResourceSettings(allowed_kinds=(JOBS,)))
JOB_MANIFEST = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"labels": {"app": "demo"}},
    "spec": {
        "completions": "{{ inputs.n }}",
        "parallelism": 2,
        "template": {"spec": {"containers": [{"name": "c", "image": "busybox", "args": ["echo", "{{inputs.word}}!"]}]}},
    },
}


def custom(manifest=None, success="object.status.succeeded >= 1", failure="object.status.failed > 0", progress=""):
    value = {"manifest": manifest or JOB_MANIFEST, "successCondition": success, "failureCondition": failure}
    if progress:
        value["progressTemplate"] = progress
    return value


def build(settings=SETTINGS, inputs=None, **custom_kwargs):
    template = make_template(task_type="custom_resource", custom=custom(**custom_kwargs), with_container=False)
    return plugin.build_object(make_request(template, settings=settings, inputs=inputs))


def test_builds_the_manifest_with_typed_substitution_and_integral_numbers():
    built = build(inputs=LiteralMap({"n": int_literal(3), "word": str_literal("hi")}))
    assert built.resource.plural == "jobs" and built.resource.group == "batch"
    spec = built.manifest["spec"]
    assert spec["completions"] == 3  # a whole-string placeholder keeps the input's type
    assert spec["parallelism"] == 2 and isinstance(spec["parallelism"], int)  # Struct's 2.0 turned back
    assert spec["template"]["spec"]["containers"][0]["args"] == ["echo", "hi!"]
    assert built.manifest["metadata"]["annotations"][SUCCESS_ANNOTATION] == "object.status.succeeded >= 1"


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding"}, "never creates it"),
        ({"apiVersion": "v1", "kind": "Secret"}, "not on the connector's allowlist"),
        ({"apiVersion": "v1", "kind": "Namespace"}, "never creates it"),
        ({"kind": "Job"}, "needs apiVersion and kind"),
        ({**JOB_MANIFEST, "metadata": {"namespace": "kube-system"}}, "execution's namespace"),
        ({**JOB_MANIFEST, "metadata": {"labels": {"app": "x" * 70}}}, "not a valid label value"),
        ({**JOB_MANIFEST, "metadata": {"labels": {"bad key!": "v"}}}, "not a valid label key"),
    ],
)
def test_refuses_manifests_the_connector_must_not_create(manifest, message):
    with pytest.raises(InvalidTaskError, match=message):
        build(manifest=manifest, inputs=LiteralMap({"n": int_literal(1), "word": str_literal("x")}))


PREFIX_253 = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])  # apimachinery: a DNS subdomain, <= 253


@pytest.mark.parametrize(
    ("key", "value", "accepted"),
    [
        ("app", "x" * 63, True),
        ("app", "x" * 64, False),
        ("app", "", True),
        ("app", "a\n", False),  # Python's "$" would match before the newline; the API server refuses it
        ("app", "-a", False),
        ("a" * 63, "v", True),
        ("a" * 64, "v", False),
        ("app\n", "v", False),
        (f"{PREFIX_253}/app", "v", True),
        (f"{PREFIX_253}e/app", "v", False),
        ("Example.com/app", "v", False),
        ("/app", "v", False),
        ("example.com/", "v", False),
        ("a/b/c", "v", False),
    ],
)
def test_label_keys_and_values_follow_apimachinery_at_their_limits(key, value, accepted):
    """IsLabelKey/IsLabelValue in kubernetes/apimachinery pkg/api/validate/content/kube.go (eed236ce)."""
    manifest = {**JOB_MANIFEST, "metadata": {"labels": {key: value}}}
    inputs = LiteralMap({"n": int_literal(1), "word": str_literal("x")})
    if accepted:
        assert build(manifest=manifest, inputs=inputs).manifest["metadata"]["labels"] == {key: value}
        return
    with pytest.raises(InvalidTaskError) as raised:
        build(manifest=manifest, inputs=inputs)
    assert raised.value.field_name == f"custom.manifest.metadata.labels.{key}"
    problem = str(raised.value).removeprefix(f"custom.manifest.metadata.labels.{key}: ")
    assert problem in (
        f"{value!r} is not a valid label value (<= 63 chars)",
        "not a valid label key ([DNS subdomain of <= 253 chars/]name of <= 63 chars)",
    )


def test_input_problems_name_the_input():
    with pytest.raises(InvalidTaskError, match="no value for input 'n'"):
        build(inputs=LiteralMap({"word": str_literal("x")}))
    with pytest.raises(InvalidTaskError, match="inputs.n: only primitive inputs"):
        build(inputs=LiteralMap({"n": blob_literal(), "word": str_literal("x")}))


def test_bad_conditions_and_oversized_manifests_are_refused():
    inputs = LiteralMap({"n": int_literal(1), "word": str_literal("x")})
    with pytest.raises(InvalidTaskError, match="custom.success_condition"):
        build(inputs=inputs, success="object.status.phase ==")
    small = ConnectorSettings(custom_resource=CustomResourceSettings(allowed_kinds=(JOBS,), max_manifest_bytes=100))
    with pytest.raises(InvalidTaskError, match="maxManifestBytes"):
        build(settings=small, inputs=inputs)


def live(status, progress="{object.status.succeeded}/{object.spec.completions} done"):
    return {
        "metadata": {
            "annotations": {
                SUCCESS_ANNOTATION: "object.status.succeeded >= 2",
                "custom-resource.flyte-k8s-operator.flyte.org/failure-condition": "object.status.failed > 0",
                "custom-resource.flyte-k8s-operator.flyte.org/progress-template": progress,
            }
        },
        "spec": {"completions": 2},
        "status": status,
    }


def test_observe_evaluates_the_conditions_stored_on_the_object():
    running = plugin.observe(live({"succeeded": 1}))
    assert (running.phase, running.message) == (TaskExecution.RUNNING, "1/2 done")
    assert plugin.observe(live({"succeeded": 2})).phase == TaskExecution.SUCCEEDED
    failed = plugin.observe(live({"succeeded": 1, "failed": 1}))
    assert failed.phase == TaskExecution.RETRYABLE_FAILED
    assert "failure condition met" in failed.message


def test_observe_reports_broken_annotations_instead_of_raising():
    obj = live({})
    obj["metadata"]["annotations"][SUCCESS_ANNOTATION] = "(("
    assert plugin.observe(obj).phase == TaskExecution.FAILED


def _typo_job(status, condition="object.status.condition.exists(c, c.type == 'Complete' && c.status == 'True')"):
    return {
        "kind": "Job",
        "metadata": {"creationTimestamp": "2030-01-01T00:00:00Z", "annotations": {SUCCESS_ANNOTATION: condition}},
        "status": status,
    }


CREATED = 1893456000.0  # 2030-01-01T00:00:00Z


def test_a_misspelled_condition_path_fails_the_task_after_the_grace_period():
    # The case: `condition` for `conditions`; the Job completed and will never change again.
    done = _typo_job({"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1})
    observation = plugin.observe(done)
    assert observation.at(CREATED + 1).phase == TaskExecution.RUNNING
    assert (
        observation.at(CREATED + 1).message
        == "waiting for: object.status.condition.exists(c, c.type == 'Complete' && c.status == 'True')"
    )
    ended = observation.at(CREATED + plugin.missing_path_grace_seconds)
    assert ended.phase == TaskExecution.FAILED
    assert ended.message == (
        "condition path object.status.condition does not exist on the Job 60s after it was created; "
        "nearest existing: object.status.conditions. Fix the task's condition"
    )


def test_a_path_not_written_yet_is_named_after_the_grace_period_but_does_not_fail():
    running = plugin.observe(_typo_job({"active": 1, "startTime": "x"}, "object.status.phase == 'Succeeded'"))
    assert running.at(CREATED + 1).message == "waiting for: object.status.phase == 'Succeeded'"
    later = running.at(CREATED + 120)
    assert later.phase == TaskExecution.RUNNING
    assert (
        later.message
        == "waiting for: object.status.phase == 'Succeeded' (object.status.phase does not exist on the object)"
    )


def test_existing_paths_and_objects_without_a_creation_time_change_nothing():
    job = _typo_job(
        {"conditions": []}, "object.status.conditions.exists(c, c.type == 'Complete' && c.status == 'True')"
    )
    assert (
        plugin.observe(job).at(CREATED + 1e6).message
        == "waiting for: object.status.conditions.exists(c, c.type == 'Complete' && c.status == 'True')"
    )
    del job["metadata"]["creationTimestamp"]
    job["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
    job["metadata"]["annotations"][SUCCESS_ANNOTATION] = (
        "object.status.condition.exists(c, c.type == 'Complete' && c.status == 'True')"
    )
    assert plugin.observe(job).at(CREATED + 1e6).phase == TaskExecution.RUNNING
