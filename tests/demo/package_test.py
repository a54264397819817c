"""``pyflyte package`` of the demo: the archive holds parallel_job and custom_resource task
templates with the configured image and their custom configs (hermetic: no cluster, no network)."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

from flyteidl.admin.task_pb2 import TaskSpec
from google.protobuf import json_format

from flyte_k8s_operator.v1.custom_resource_pb2 import CustomResourceTask
from flyte_k8s_operator.v1.parallel_job_pb2 import ParallelJob

IMAGE = "registry.example.com/flyte-operator-demo:test"


def package(tmp_path: Path) -> dict[str, TaskSpec]:
    archive = tmp_path / "flyte-package.tgz"
    environment = {
        **os.environ,
        "FLYTE_OPERATOR_DEMO_IMAGE": IMAGE,
        "PYTHONPATH": os.pathsep.join(os.path.abspath(entry) for entry in sys.path if entry),
    }
    command = [sys.executable, "-m", "flytekit.clis.sdk_in_container.pyflyte", "--pkgs", "flyte_operator_demo"]
    command += ["package", "--image", IMAGE, "--output", str(archive), "--force"]
    completed = subprocess.run(
        command, env=environment, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    tasks: dict[str, TaskSpec] = {}
    with tarfile.open(archive) as opened:
        for member in opened.getmembers():
            data = opened.extractfile(member) if member.isfile() else None
            if data is None or not member.name.endswith(".pb"):
                continue
            spec = TaskSpec()
            try:
                spec.ParseFromString(data.read())
            except Exception:  # workflows and launch plans are other messages
                continue
            if spec.template.id.name:
                tasks[spec.template.id.name.rsplit(".", 1)[-1]] = spec
    return tasks


def test_archive_holds_the_operator_task_templates(tmp_path: Path) -> None:
    tasks = package(tmp_path)
    assert {"sum_of_squares", "refuse_on_purpose", "report_sum"} <= set(tasks), sorted(tasks)

    summed = tasks["sum_of_squares"].template
    assert (summed.type, summed.task_type_version) == ("parallel_job", 1)
    assert summed.container.image == IMAGE
    assert list(summed.container.args[:4]) == ["python", "-m", "flytekitplugins.k8s_operator.worker", "pyflyte-execute"]
    config = json_format.ParseDict(json_format.MessageToDict(summed.custom), ParallelJob())
    assert (config.workers, config.timeout_seconds) == (3, 600)

    failing = tasks["refuse_on_purpose"].template
    assert failing.type == "parallel_job" and failing.container.image == IMAGE
    assert failing.metadata.retries.retries == 1
    failing_config = json_format.ParseDict(json_format.MessageToDict(failing.custom), ParallelJob())
    assert (failing_config.workers, failing_config.max_restarts) == (2, 1)

    report = tasks["report_sum"].template
    assert (report.type, report.task_type_version) == ("custom_resource", 1)
    custom = json_format.ParseDict(json_format.MessageToDict(report.custom), CustomResourceTask())
    manifest = json_format.MessageToDict(custom.manifest)
    assert (manifest["apiVersion"], manifest["kind"]) == ("batch/v1", "Job")
    assert custom.success_condition == "object.status.conditions.exists(c, c.type == 'Complete' && c.status == 'True')"
    assert custom.failure_condition == "object.status.conditions.exists(c, c.type == 'Failed' && c.status == 'True')"
    assert custom.progress_template == "report Job: {object.status.succeeded}/{object.spec.completions} pods succeeded"
