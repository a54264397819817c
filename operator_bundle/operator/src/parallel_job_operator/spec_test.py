import pytest

from parallel_job_operator.spec import InvalidSpecError, parse_spec
from parallel_job_operator.testing_objects import parallel_job


def test_defaults_fill_optional_fields():
    spec = parse_spec(parallel_job(workers=3)["spec"])
    assert (spec.workers, spec.restart_policy, spec.max_restarts, spec.success_policy) == (3, "Never", 0, "AllWorkers")
    assert spec.active_deadline_seconds is None


def test_all_fields_are_read():
    spec = parse_spec(
        parallel_job(
            workers=5, restartPolicy="OnFailure", maxRestarts=4, successPolicy="AnyWorker", activeDeadlineSeconds=60
        )["spec"]
    )
    assert (spec.restart_policy, spec.max_restarts, spec.success_policy, spec.active_deadline_seconds) == (
        "OnFailure",
        4,
        "AnyWorker",
        60,
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"workers": 0}, "spec.workers"),
        ({"workers": 1001}, "spec.workers"),
        ({"workers": "3"}, "spec.workers"),
        ({"workers": True}, "spec.workers"),
        ({"maxRestarts": 101}, "spec.maxRestarts"),
        ({"maxRestarts": -1}, "spec.maxRestarts"),
        ({"restartPolicy": "Always"}, "spec.restartPolicy"),
        ({"successPolicy": "Majority"}, "spec.successPolicy"),
        ({"activeDeadlineSeconds": 0}, "spec.activeDeadlineSeconds"),
        ({"template": None}, "spec.template"),
        ({"template": {"spec": {"containers": []}}}, "spec.template.spec.containers"),
        ({"template": {"spec": {"containers": [{"name": "main"}]}}}, "'worker'"),
    ],
)
def test_invalid_specs_name_the_field(change, field):
    spec = {**parallel_job()["spec"], **change}
    with pytest.raises(InvalidSpecError, match=field.replace(".", r"\.")):
        parse_spec(spec)


def test_missing_spec_and_workers():
    with pytest.raises(InvalidSpecError, match="spec is missing"):
        parse_spec(None)
    spec = parallel_job()["spec"]
    del spec["workers"]
    with pytest.raises(InvalidSpecError, match="required"):
        parse_spec(spec)
