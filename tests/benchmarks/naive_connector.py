"""The baseline: a connector written the way today's Python connectors are, one GET per GetTask.

It creates the same ParallelJob objects as the operator connector (built by the same plugin)
through the official client's CustomObjectsApi, and answers every GetTask by reading the
object from the API. Nothing is cached. `pyflyte serve connector --modules
benchmarks.naive_connector` registers it for the task type `naive_parallel_job`; it reads its
kubeconfig from NAIVE_CONNECTOR_KUBECONFIG.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

from flytekit.extend.backend.base_connector import AsyncConnectorBase, ConnectorRegistry, Resource, ResourceMeta
from flytekit.models.literals import LiteralMap
from flytekit.models.task import TaskExecutionMetadata, TaskTemplate
from kubernetes import client, config

from k8s_operator_connector.operator_plugin import TaskRequest
from k8s_operator_connector.plugins.parallel_job import PARALLEL_JOB, ParallelJobPlugin
from k8s_operator_connector.settings import ConnectorSettings
from k8s_operator_connector.task_context import MANAGED_BY_LABEL, task_context

NAIVE_TASK_TYPE = "naive_parallel_job"
NAIVE_TASK_TYPE_VERSION = 1
KUBECONFIG_ENV = "NAIVE_CONNECTOR_KUBECONFIG"
_MANAGED_BY = "naive-benchmark-connector"


@dataclass
class NaiveMeta(ResourceMeta):
    namespace: str
    name: str


def _custom_objects() -> client.CustomObjectsApi:
    configuration = client.Configuration()
    config.load_kube_config(config_file=os.environ[KUBECONFIG_ENV], client_configuration=configuration)
    configuration.connection_pool_maxsize = 32  # as many as the default executor's threads
    return client.CustomObjectsApi(client.ApiClient(configuration))


class NaiveParallelJobConnector(AsyncConnectorBase):
    name = "Naive ParallelJob Connector (benchmark baseline)"

    def __init__(self) -> None:
        super().__init__(
            task_type_name=NAIVE_TASK_TYPE, task_type_version=NAIVE_TASK_TYPE_VERSION, metadata_type=NaiveMeta
        )
        self._plugin = ParallelJobPlugin()
        self._settings = ConnectorSettings()
        self._api: client.CustomObjectsApi | None = None

    @property
    def api(self) -> client.CustomObjectsApi:
        if self._api is None:
            self._api = _custom_objects()
        return self._api

    def _manifest(
        self, template: TaskTemplate, output_prefix: str, inputs: LiteralMap | None, metadata: TaskExecutionMetadata
    ) -> tuple[str, str, dict[str, Any]]:
        context = task_context(metadata, output_prefix, NAIVE_TASK_TYPE, self._settings, self._plugin.max_name_length)
        built = self._plugin.build_object(TaskRequest(template, inputs, output_prefix, context, self._settings))
        labels = {**context.labels, MANAGED_BY_LABEL: _MANAGED_BY}
        manifest = dict(built.manifest)
        manifest["metadata"] = {
            "name": context.name,
            "namespace": context.namespace,
            "labels": labels,
            "annotations": context.annotations,
        }
        return context.namespace, context.name, manifest

    async def create(
        self,
        task_template: TaskTemplate,
        output_prefix: str,
        inputs: LiteralMap | None = None,
        task_execution_metadata: TaskExecutionMetadata | None = None,
        **kwargs: Any,
    ) -> NaiveMeta:
        namespace, name, manifest = self._manifest(task_template, output_prefix, inputs, task_execution_metadata)
        await asyncio.to_thread(
            self.api.create_namespaced_custom_object,
            PARALLEL_JOB.group,
            PARALLEL_JOB.version,
            namespace,
            PARALLEL_JOB.plural,
            manifest,
        )
        return NaiveMeta(namespace=namespace, name=name)

    async def get(self, resource_meta: NaiveMeta, **kwargs: Any) -> Resource:
        obj = await asyncio.to_thread(
            self.api.get_namespaced_custom_object,
            PARALLEL_JOB.group,
            PARALLEL_JOB.version,
            resource_meta.namespace,
            PARALLEL_JOB.plural,
            resource_meta.name,
        )
        observation = self._plugin.observe(obj)
        return Resource(phase=observation.phase, message=observation.message)

    async def delete(self, resource_meta: NaiveMeta, **kwargs: Any) -> None:
        await asyncio.to_thread(
            self.api.delete_namespaced_custom_object,
            PARALLEL_JOB.group,
            PARALLEL_JOB.version,
            resource_meta.namespace,
            PARALLEL_JOB.plural,
            resource_meta.name,
        )


ConnectorRegistry.register(NaiveParallelJobConnector(), override=True)
