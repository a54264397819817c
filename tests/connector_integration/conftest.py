"""Fixtures: the connector wired to a real HTTP Kubernetes API emulator."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from flyteidl.core.execution_pb2 import TaskExecution
from flytekit.extend.backend.base_connector import Resource

from k8s_operator_connector.connector import OperatorConnector
from k8s_operator_connector.meta_signing import MetaSigningSettings
from k8s_operator_connector.plugins.custom_resource import CustomResourcePlugin
from k8s_operator_connector.plugins.parallel_job import ParallelJobPlugin
from k8s_operator_connector.resource_meta import OperatorResourceMeta
from k8s_operator_connector.runtime import ConnectorRuntime
from k8s_operator_connector.settings import (
    AllowedKind,
    ApiSettings,
    ConnectorSettings,
    CustomResourceSettings,
    LogLinkTemplate,
)
from k8s_operator_connector.task_policy import TaskPolicySettings
from k8s_operator_connector.testing.flyte_models import make_metadata, make_template
from k8s_operator_connector.testing.signing_keys import write_signing_key
from kube_emulator import KubeEmulator, wait_until

BUNDLE_CRD = Path("operator_bundle/config/crd/bases/workloads.example.com_paralleljobs.yaml")
PARALLEL_JOBS = "paralleljobs.workloads.example.com"
NAMESPACE = "flytesnacks-development"
T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


@pytest.fixture
def emulator() -> Iterator[KubeEmulator]:
    with KubeEmulator(crds=[BUNDLE_CRD]) as api:
        yield api


def settings_for(api: KubeEmulator, tmp_path: Path, **overrides: Any) -> ConnectorSettings:
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
    base = ConnectorSettings(
        default_namespace=NAMESPACE,
        api=ApiSettings(kubeconfig=str(kubeconfig), max_retries=3, timeout_seconds=10),
        log_links=(
            LogLinkTemplate("kubectl", "kubectl logs -n {{ .namespace }} {{ .podName }}"),
            LogLinkTemplate(
                "dashboard", "https://grafana.example.com/d/{{ .namespace }}/{{ .objectName }}", ("running",)
            ),
        ),
        custom_resource=CustomResourceSettings(allowed_kinds=(AllowedKind("batch", "v1", "Job", "jobs"),)),
        cleanup_interval_seconds=0.1,
        meta_signing=MetaSigningSettings("required", str(write_signing_key(tmp_path))),
        task_policy=TaskPolicySettings(service_accounts=("default", "flyte-worker")),
    )
    return dataclasses.replace(base, **overrides)


class Harness:
    """A connector per plugin on one runtime, plus helpers to play the operator's part."""

    def __init__(self, api: KubeEmulator, settings: ConnectorSettings) -> None:
        self.api = api
        self.runtime = ConnectorRuntime(settings)
        self.parallel_job = OperatorConnector(ParallelJobPlugin(), self.runtime)
        self.custom_resource = OperatorConnector(CustomResourcePlugin(), self.runtime)

    def connector(self, plugin: str) -> OperatorConnector:
        return self.custom_resource if plugin == "custom_resource" else self.parallel_job

    def create(self, template: Any = None, metadata: Any = None, plugin: str = "parallel_job", **kwargs: Any):
        template = template or make_template()
        metadata = make_metadata() if metadata is None else metadata
        return run(
            self.connector(plugin).create(template, "s3://bucket/out/", task_execution_metadata=metadata, **kwargs)
        )

    def get(self, meta: OperatorResourceMeta, plugin: str = "parallel_job") -> Resource:
        return run(self.connector(plugin).get(meta))

    def delete(self, meta: OperatorResourceMeta, plugin: str = "parallel_job") -> None:
        run(self.connector(plugin).delete(meta))

    def set_status(self, meta: OperatorResourceMeta, status: dict[str, Any]) -> None:
        self.api.patch(PARALLEL_JOBS, meta.name, {"status": status}, meta.namespace, subresource="status")

    def wait_for_phase(self, meta: OperatorResourceMeta, phase: int, plugin: str = "parallel_job") -> Resource:
        seen: list[Resource] = []

        def reached() -> bool:
            seen.append(self.get(meta, plugin))
            return seen[-1].phase == phase

        wait_until(reached, timeout=30, interval=0.05, what=f"phase {TaskExecution.Phase.Name(phase)}")
        return seen[-1]

    def close(self) -> None:
        self.runtime.stop()


@pytest.fixture
def harness_factory(emulator: KubeEmulator, tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(**overrides: Any) -> Harness:
        made.append(Harness(emulator, settings_for(emulator, tmp_path, **overrides)))
        return made[-1]

    yield make
    for harness in made:
        harness.close()


@pytest.fixture
def harness(harness_factory: Callable[..., Harness]) -> Harness:
    return harness_factory()
