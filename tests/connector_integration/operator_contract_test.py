"""Contract: every ParallelJob the connector creates passes the example operator's own checks.

Tasks are serialized by flytekit (so pod templates carry flytekit's own primary container
name), created through the connector on the API emulator, read back, and handed to the
operator's ``parse_spec`` and ``build_worker_job`` (the code that marks a ParallelJob
Failed/InvalidSpec), with and without pod templates.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import pytest
from flytekit import PodTemplate, Resources, Secret, task
from flytekit.configuration import Image, ImageConfig, SerializationSettings
from flytekit.tools.translator import get_serializable
from kubernetes.client import V1Container, V1PodSpec, V1Toleration

from connector_integration.conftest import NAMESPACE, PARALLEL_JOBS, Harness
from flytekitplugins.k8s_operator import ParallelJob
from k8s_operator_connector.plugins.parallel_job import WORKER_CONTAINER
from k8s_operator_connector.pod_defaults import parse_pod_defaults
from parallel_job_operator.constants import WORKER_CONTAINER as OPERATOR_WORKER_CONTAINER
from parallel_job_operator.constants import WORKER_INDEX_ENV
from parallel_job_operator.job_manifest import Owner, build_worker_job
from parallel_job_operator.spec import parse_spec

SETTINGS = SerializationSettings(
    image_config=ImageConfig(default_image=Image(name="default", fqn="ghcr.io/example/app", tag="1")),
    project="flytesnacks",
    domain="development",
    version="v1",
    env={},
)


def _pod_template(primary: str, sidecar: str = "sidecar") -> PodTemplate:
    return PodTemplate(
        primary_container_name=primary,
        labels={"tier": "batch"},
        pod_spec=V1PodSpec(
            containers=[V1Container(name=primary), V1Container(name=sidecar, image="busybox", args=["sleep", "1"])],
            tolerations=[V1Toleration(key="spot", operator="Exists")],
        ),
    )


@task(task_config=ParallelJob(workers=2), container_image="ghcr.io/example/app:1")
def plain(n: int) -> int:
    return n


@task(
    task_config=ParallelJob(workers=2), container_image="ghcr.io/example/app:1", pod_template=_pod_template("primary")
)
def flytekit_default_primary(n: int) -> int:
    return n


@task(
    task_config=ParallelJob(workers=3, worker_resources=Resources(cpu="1")),
    container_image="ghcr.io/example/app:1",
    pod_template=_pod_template("main", sidecar="logger"),
    secret_requests=[Secret(group="db", key="password", mount_requirement=Secret.MountType.ENV_VAR)],
    interruptible=True,
)
def custom_primary_with_secret(n: int) -> int:
    return n


TASKS = [plain, flytekit_default_primary, custom_primary_with_secret]


def _created_parallel_job(harness: Harness, flyte_task: Any) -> dict[str, Any]:
    template = get_serializable(OrderedDict(), SETTINGS, flyte_task).template
    meta = harness.create(template)
    assert not meta.failure_message, meta.failure_message
    obj = harness.api.get(PARALLEL_JOBS, meta.name, NAMESPACE)
    assert obj is not None
    return dict(obj)


def test_the_connector_names_the_container_the_operator_runs():
    assert WORKER_CONTAINER == OPERATOR_WORKER_CONTAINER


@pytest.mark.parametrize("flyte_task", TASKS, ids=lambda t: t.name.rsplit(".", 1)[-1])
def test_every_created_object_passes_the_operators_spec_validation(harness, flyte_task):
    obj = _created_parallel_job(harness, flyte_task)
    spec = parse_spec(obj["spec"])  # raises InvalidSpecError, which the operator turns into InvalidSpec
    owner = Owner(namespace=NAMESPACE, name=obj["metadata"]["name"], uid="uid-1")
    for index in range(spec.workers):
        job = build_worker_job(owner, spec, index)
        [runner, *others] = job["spec"]["template"]["spec"]["containers"]
        # The operator gives the worker index to the container that runs the task, and only to it.
        assert runner["name"] == WORKER_CONTAINER
        assert {"name": WORKER_INDEX_ENV, "value": str(index)} in runner["env"]
        assert runner["args"][0].startswith("pyflyte") or "pyflyte-execute" in runner["args"]
        assert all(WORKER_INDEX_ENV not in {e.get("name") for e in c.get("env") or []} for c in others)


@pytest.mark.parametrize("flyte_task", TASKS, ids=lambda t: t.name.rsplit(".", 1)[-1])
def test_objects_shaped_by_pod_defaults_pass_too(harness_factory, flyte_task):
    defaults = parse_pod_defaults(
        {
            "default-env-vars": {"WORKER_INDEX": "from-defaults", "REGION": "eu"},
            "interruptible-tolerations": [{"key": "spot", "operator": "Exists"}],
            "interruptible-node-selector-requirement": {"key": "lifecycle", "operator": "In", "values": ["spot"]},
            "default-security-context": {"allowPrivilegeEscalation": False},
            "scheduler-name": "volcano",
        }
    )
    obj = _created_parallel_job(harness_factory(pod_defaults=defaults), flyte_task)
    spec = parse_spec(obj["spec"])
    job = build_worker_job(Owner(namespace=NAMESPACE, name=obj["metadata"]["name"], uid="uid-1"), spec, 0)
    runner = job["spec"]["template"]["spec"]["containers"][0]
    # The operator's WORKER_INDEX still wins over a same-named default, and comes first.
    assert runner["env"][0] == {"name": WORKER_INDEX_ENV, "value": "0"}
    assert [e["name"] for e in runner["env"]].count(WORKER_INDEX_ENV) == 1


def test_pod_template_sidecars_and_settings_survive(harness):
    obj = _created_parallel_job(harness, custom_primary_with_secret)
    pod = obj["spec"]["template"]
    names = [container["name"] for container in pod["spec"]["containers"]]
    assert names == [WORKER_CONTAINER, "logger"]
    assert pod["spec"]["tolerations"][0] == {"key": "spot", "operator": "Exists"}
    assert pod["metadata"]["labels"]["tier"] == "batch"
    assert pod["metadata"]["labels"]["inject-flyte-secrets"] == "true"


def test_a_sidecar_already_named_like_the_operators_container_is_refused(harness):
    @task(
        task_config=ParallelJob(workers=1),
        container_image="ghcr.io/example/app:1",
        pod_template=_pod_template("primary", sidecar=WORKER_CONTAINER),
    )
    def clash(n: int) -> int:
        return n

    template = get_serializable(OrderedDict(), SETTINGS, clash).template
    meta = harness.create(template)
    assert "another container is named 'worker'" in meta.failure_message
    assert "k8s_pod.pod_spec.containers" in meta.failure_message
