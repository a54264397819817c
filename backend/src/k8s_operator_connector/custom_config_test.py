import pytest

from flyte_k8s_operator.v1.parallel_job_pb2 import ParallelJob, Resources, RestartPolicy
from k8s_operator_connector.custom_config import check_range, parse_custom, spec_fields
from k8s_operator_connector.operator_plugin import InvalidTaskError


def test_a_custom_parses_into_its_message_with_int64_strings_and_float_numbers():
    # A Struct carries every number as a float; MessageToDict writes int64 as a string.
    config = parse_custom({"workers": 3.0, "timeoutSeconds": "600", "restartPolicy": "RESTART_POLICY_ON_FAILURE"},
                          ParallelJob)  # fmt: skip
    assert config == ParallelJob(workers=3, timeout_seconds=600, restart_policy=RestartPolicy.RESTART_POLICY_ON_FAILURE)


@pytest.mark.parametrize(
    ("custom", "field", "phrase"),
    [
        (None, "custom", "missing; the task carries no flyte_k8s_operator.v1.ParallelJob config"),
        ({}, "custom", "missing"),
        (["workers", 2], "custom", "must be a flyte_k8s_operator.v1.ParallelJob mapping, got list"),
        ({"replicas": 3}, "custom.replicas", 'has no field named "replicas"'),
        ({"workers": "many"}, "custom.workers", "not a flyte_k8s_operator.v1.ParallelJob"),
        ({"workers": 2**40}, "custom.workers", "out of range"),
        ({"workers": 1.5}, "custom.workers", "1.5"),
        ({"restartPolicy": "SOMETIMES"}, "custom.restart_policy", "SOMETIMES"),
        ({"workerResources": {"nope": {}}}, "custom.worker_resources.nope", 'no field named "nope"'),
        ({"worker_resources": {"limits": {"cpu": 2}}}, "custom.worker_resources.limits", "limits"),
        ({"workerResources": {"requests": {"cpu": [1]}}}, "custom.worker_resources.requests", "requests"),
    ],
)
def test_an_unusable_custom_names_the_field(custom, field, phrase):
    with pytest.raises(InvalidTaskError) as raised:
        parse_custom(custom, ParallelJob)
    assert raised.value.field_name == field
    assert str(raised.value).startswith(f"{field}: ")
    assert phrase in str(raised.value)


@pytest.mark.parametrize("workers", [1, 7, 1000])
def test_a_value_at_either_end_of_its_range_passes(workers):
    check_range(ParallelJob(workers=workers), "workers", 1, 1000)


@pytest.mark.parametrize("workers", [0, 1001, -1])
def test_a_value_outside_its_range_names_the_field_the_bounds_and_the_value(workers):
    with pytest.raises(InvalidTaskError, match=rf"^custom.workers: must be between 1 and 1000, got {workers}$"):
        check_range(ParallelJob(workers=workers), "workers", 1, 1000)
    with pytest.raises(InvalidTaskError, match=r"between 1 \(at least one\) and 1000"):
        check_range(ParallelJob(workers=workers), "workers", 1, 1000, note=" (at least one)")


def test_spec_fields_keeps_only_set_fields_with_kubernetes_ready_values():
    config = ParallelJob(
        workers=2,
        timeout_seconds=600,
        restart_policy=RestartPolicy.RESTART_POLICY_NEVER,
        worker_resources=Resources(requests={"cpu": "1"}),
    )
    assert spec_fields(config) == {
        "workers": 2,
        "timeoutSeconds": 600,  # a number, not the string JSON writes for int64
        "restartPolicy": "RESTART_POLICY_NEVER",
        "workerResources": {"requests": {"cpu": "1"}},
    }
    assert spec_fields(ParallelJob()) == {}


def test_nested_fields_are_named_by_their_proto_names_at_every_level():
    from flyteidl.core.security_pb2 import SecurityContext

    with pytest.raises(InvalidTaskError) as raised:
        parse_custom({"runAs": {"iamRole": 5}}, SecurityContext)
    assert raised.value.field_name == "custom.run_as.iam_role"


def test_spec_fields_lists_repeated_scalars():
    from google.protobuf.field_mask_pb2 import FieldMask

    assert spec_fields(FieldMask(paths=["spec.replicas", "metadata"])) == {"paths": ["spec.replicas", "metadata"]}


def test_an_error_inside_a_map_of_messages_names_the_map_field():
    # json_format names the map field, then the innermost field; what lies between is not a field of the map.
    from flyteidl.core.literals_pb2 import LiteralMap

    with pytest.raises(InvalidTaskError) as raised:
        parse_custom({"literals": {"a": {"scalar": {"primitive": {"integer": "x"}}}}}, LiteralMap)
    assert raised.value.field_name == "custom.literals.integer"
