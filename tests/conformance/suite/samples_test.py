from __future__ import annotations

import sys

import pytest

from conformance.suite.objects import contains_container, pod_specs
from conformance.suite.samples import SampleError, load_sample

SAMPLES = """
from flytekit import task
from flytekitplugins.k8s_operator import ParallelJob
from k8s_operator_connector.testing.flyte_models import make_template

@task(task_config=ParallelJob(workers=3))
def flytekit_task() -> None:
    pass

def template_builder():
    return make_template(task_type="parallel_job", custom={"workers": 4})

not_a_task = 42
"""


@pytest.fixture(scope="module")
def samples_module(tmp_path_factory: pytest.TempPathFactory) -> str:
    directory = tmp_path_factory.mktemp("samples")
    (directory / "conformance_samples.py").write_text(SAMPLES)
    sys.path.insert(0, str(directory))
    return "conformance_samples"


def test_a_flytekit_task_gives_its_type_and_custom(samples_module: str):
    sample = load_sample(f"{samples_module}:flytekit_task", "parallel_job")
    assert (sample.task_type, sample.version) == ("parallel_job", 1)
    assert sample.custom(["sh", "-c", "true"])["workers"] == 3
    assert sample.uses_container


def test_a_sample_file_needs_no_path_setting(tmp_path):
    (tmp_path / "file_samples.py").write_text(SAMPLES)
    sample = load_sample(f"{tmp_path / 'file_samples.py'}:flytekit_task", "parallel_job")
    assert sample.custom([])["workers"] == 3


def test_a_function_returning_a_template_works_too(samples_module: str):
    assert load_sample(f"{samples_module}:template_builder", "parallel_job").custom([]) == {"workers": 4}


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("no_colon", "expected MODULE:ATTRIBUTE or FILE.py:ATTRIBUTE"),
        ("/no/such/samples.py:sample", "cannot import /no/such/samples.py: no such file"),
        ("no_such_module_here:x", "cannot import no_such_module_here"),
        ("{module}:missing", "has no attribute missing"),
        ("{module}:not_a_task", "a sample must be a flytekit task"),
        ("{module}:flytekit_task", "is a 'parallel_job' task, not 'job_set' (--plugin)"),
    ],
)
def test_a_bad_sample_names_what_was_expected(samples_module: str, reference: str, message: str):
    with pytest.raises(SampleError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_sample(reference.format(module=samples_module), "job_set")


def test_the_container_is_found_wherever_the_plugin_put_the_pod_template():
    pod = {"spec": {"containers": [{"name": "w", "image": "busybox:1.36", "args": ["sh", "-c", "sleep 1"]}]}}
    obj = {"spec": {"replicatedJobs": [{"template": {"spec": {"template": pod}}}]}}
    assert [path for path, _, _ in pod_specs(obj)] == ["spec.replicatedJobs[0].template.spec.template.spec"]
    assert contains_container(obj, "busybox:1.36", ["sh", "-c", "sleep 1"])
    assert not contains_container(obj, "busybox:1.36", ["sh", "-c", "sleep 2"])
    assert not contains_container({"spec": {"replicatedJobs": []}}, "busybox:1.36", ["sh", "-c", "sleep 1"])
