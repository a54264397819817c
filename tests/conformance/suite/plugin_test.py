"""--plugin mode end to end: a JobSet plugin made by build-support:new-plugin (in a copy of the
repository), filled in as its author would, passes the generic cases against the embedded cluster
with a stand-in JobSet controller; broken versions of it fail naming the function to fix.

The copy, the generator and protoc are those of tests/template/new_plugin_test.py; without a
protoc the test is skipped, saying so (CI provides one through FLYTE_OPERATOR_KIT_PROTOC_ZIP).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmarks.processes import child_environment
from conformance.suite.conformance_test import rows
from conformance.suite.embedded import CONFIG_MAP_NAME, CONFIG_NAMESPACE, EmbeddedTarget
from conformance.suite.jobset_stand_in import JOBSET_CRD, JobSetStandIn
from template.new_plugin_test import JOBSET, PROTOC_ZIP_ENV, REPO, find_protoc, repository_files, run_generator

PLUGIN = "backend/src/k8s_operator_connector/plugins/job_set.py"
GENERATED_BUILD_SPEC = """        spec = {**spec_fields(config), "template": worker_pod_template(request, {})}
"""
GENERATED_READ_PHASE = "        phase, message = conventional_phase(obj, JOB_SET.kind)\n"
# What the author writes for JobSet (jobset.x-k8s.io/v1alpha2): the pod under
# spec.replicatedJobs[].template.spec.template, and the phase from its conditions and job counts.
AUTHOR_BUILD_SPEC = """        pod = worker_pod_template(request, {})
        pod["spec"]["restartPolicy"] = "Never"
        job = {"backoffLimit": 0, "template": pod}
        replicated = {"name": "workers", "replicas": config.replicas or 1, "template": {"spec": job}}
        spec = {"replicatedJobs": [replicated]}
"""
AUTHOR_READ_PHASE = """        from flyteidl.core.execution_pb2 import TaskExecution

        status = obj.get("status") or {}
        active = sum(int(job.get("active", 0)) for job in status.get("replicatedJobsStatus") or [])
        phase, message = TaskExecution.QUEUED, "waiting for the JobSet controller"
        if active:
            phase, message = TaskExecution.RUNNING, f"{active} jobs active"
        for condition in reversed(status.get("conditions") or []):  # the first one that holds wins
            if condition.get("status") == "True" and condition.get("type") == "Completed":
                phase, message = TaskExecution.SUCCEEDED, condition.get("message", "")
            if condition.get("status") == "True" and condition.get("type") == "Failed":
                phase, message = TaskExecution.FAILED, condition.get("message", "")
"""
# Broken versions: a phase that never ends, and a spec without the task's container.
NEVER_TERMINAL_READ_PHASE = """        from flyteidl.core.execution_pb2 import TaskExecution

        phase, message = TaskExecution.RUNNING, "still going"
"""
NO_CONTAINER_BUILD_SPEC = """        pod = {"spec": {"restartPolicy": "Never", "containers": []}}
        job = {"backoffLimit": 0, "template": pod}
        spec = {"replicatedJobs": [{"name": "workers", "replicas": 1, "template": {"spec": job}}]}
"""
SAMPLE = """from flytekit import task

from flytekitplugins.k8s_operator.job_set import JobSet


@task(task_config=JobSet(replicas=2))
def sample() -> None:
    pass
"""


@dataclass
class Generated:
    root: Path
    roots: list[Path]  # the copy's source roots and its compiled protos, for child processes

    @property
    def plugin(self) -> Path:
        return self.root / PLUGIN

    def write_plugin(self, build: str, observe: str) -> None:
        """The generated plugin with the body of build_object's spec and observe's phase replaced."""
        text = (self.root / (PLUGIN + ".generated")).read_text()
        self.plugin.write_text(text.replace(GENERATED_BUILD_SPEC, build).replace(GENERATED_READ_PHASE, observe))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    root = tmp_path_factory.mktemp("repo")
    for path in repository_files():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / path, root / path)
    (root / "pants.toml").touch()
    assert run_generator(root, *JOBSET) == 0
    protoc = find_protoc(tmp_path_factory.mktemp("protoc"))
    if protoc is None:
        pytest.skip(f"no protoc to compile the generated proto: set PROTOC or {PROTOC_ZIP_ENV} (the bootstrap's zip)")
    out = tmp_path_factory.mktemp("gen")
    protos = [str(path.relative_to(root / "common/proto")) for path in (root / "common/proto").rglob("*.proto")]
    subprocess.run([str(protoc), f"-I{root / 'common/proto'}", f"--python_out={out}", *protos], check=True)
    text = (root / PLUGIN).read_text()
    assert GENERATED_BUILD_SPEC in text and GENERATED_READ_PHASE in text, "the generator's plugin template changed"
    (root / (PLUGIN + ".generated")).write_text(text)
    samples = tmp_path_factory.mktemp("samples")
    (samples / "jobset_sample.py").write_text(SAMPLE)
    return Generated(root, [samples, root / "sdk/src", root / "backend/src", out])


@pytest.fixture(scope="module")
def embedded(generated: Generated, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedTarget]:
    generated.write_plugin(AUTHOR_BUILD_SPEC, AUTHOR_READ_PHASE)
    target = EmbeddedTarget(tmp_path_factory.mktemp("embedded"), [JOBSET_CRD], generated.roots)
    with target, JobSetStandIn(target.cluster.emulator):
        yield target


def conformance(embedded: EmbeddedTarget, generated: Generated, *arguments: str) -> tuple[int, str]:
    """The suite's command with --plugin job_set, given the embedded cluster's kubeconfig and address."""
    command = [
        sys.executable, "-m", "conformance.suite.main",
        "--kubeconfig", str(embedded.kubeconfig), "--connector", embedded.address,
        "--connector-config", f"{CONFIG_NAMESPACE}/{CONFIG_MAP_NAME}",
        "--plugin", "job_set", "--sample", "jobset_sample:sample", *arguments,
    ]  # fmt: skip
    environment = child_environment(extra_path=generated.roots)
    finished = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300, check=False)
    print(finished.stdout, finished.stderr)
    return finished.returncode, finished.stdout + finished.stderr


def test_a_generated_jobset_plugin_passes_the_generic_cases(embedded, generated):
    code, output = conformance(embedded, generated, "--timeout", "60")
    assert code == 0, output
    assert rows(output) == {
        ("job_set", "succeeds"): "PASS",
        ("job_set", "object-metadata"): "PASS",
        ("job_set", "abort"): "PASS",
        ("job_set", "retention"): "PASS",
    }
    assert "JobSet" in output and "pods gone after DeleteTask" in output


def test_an_observe_that_never_finishes_is_named(embedded, generated):
    generated.write_plugin(AUTHOR_BUILD_SPEC, NEVER_TERMINAL_READ_PHASE)
    embedded.restart_connector()
    code, output = conformance(embedded, generated, "--cases", "succeeds", "--timeout", "8")
    assert code == 1, output
    assert rows(output) == {("job_set", "succeeds"): "FAIL"}
    flat = " ".join(output.split())
    assert "observe() never returned a terminal phase within 8 s; last: RUNNING" in flat


def test_a_build_without_the_container_is_named(embedded, generated):
    generated.write_plugin(NO_CONTAINER_BUILD_SPEC, AUTHOR_READ_PHASE)
    embedded.restart_connector()
    code, output = conformance(embedded, generated, "--cases", "succeeds", "--timeout", "30")
    assert code == 1, output
    flat = " ".join(output.split())
    assert "build_object() put no container with the task's image" in flat


def test_a_sample_of_another_task_type_is_refused(embedded, generated):
    code, output = conformance(embedded, generated, "--plugin", "parallel_job")
    assert code == 2
    assert "--sample 'jobset_sample:sample' is a 'job_set' task, not 'parallel_job' (--plugin)" in output
