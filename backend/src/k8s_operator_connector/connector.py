"""The Flyte connector that drives one operator plugin: create, get, delete.

CreateTask is idempotent (the same attempt always maps to the same object; an existing
one is adopted), GetTask answers from the watch-backed cache with a single GET only for
objects the cache has not seen (never waiting for a list in flight), and DeleteTask
deletes with foreground propagation and treats "already gone" as done. Kubernetes failures
become phases with messages that say what to do, never a silent retry and never an answer
without a phase.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flyteidl.core.execution_pb2 import TaskExecution
from flytekit.extend.backend.base_connector import AsyncConnectorBase, Resource
from flytekit.models.literals import LiteralMap
from flytekit.models.task import TaskExecutionMetadata, TaskTemplate

from k8s_operator_connector.admission import TaskAdmission
from k8s_operator_connector.api_errors import create_failure, is_quota_exceeded, observe_failure
from k8s_operator_connector.console_phase import SHAPED_PHASES, for_console
from k8s_operator_connector.executions import execution_name, with_owner_reference
from k8s_operator_connector.final_phase import record_served
from k8s_operator_connector.kube_api import KubeApiError
from k8s_operator_connector.log_links import LinkSubject, render_log_links
from k8s_operator_connector.metrics import QUOTA_WAITS
from k8s_operator_connector.object_cache import ObjectCache, Tracked
from k8s_operator_connector.operator_plugin import (
    TERMINAL_PHASES,
    BuiltObject,
    InvalidTaskError,
    Observation,
    OperatorPlugin,
    TaskRequest,
)
from k8s_operator_connector.ownership import Refused, check_owner, check_served, owner_of
from k8s_operator_connector.pending_create import PendingCreateError, binding
from k8s_operator_connector.resource_meta import OperatorResourceMeta, signed_meta_type
from k8s_operator_connector.runtime import ConnectorRuntime
from k8s_operator_connector.task_context import TaskContext, task_context

logger = logging.getLogger(__name__)

CONNECTOR_NAME = "Kubernetes Operator Connector"
T = TypeVar("T")


class OperatorConnector(AsyncConnectorBase):
    """A flytekit async connector for one :class:`OperatorPlugin`."""

    name = CONNECTOR_NAME

    def __init__(self, plugin: OperatorPlugin, runtime: ConnectorRuntime) -> None:
        self.meta_type = signed_meta_type(runtime.signer, plugin.task_type)
        super().__init__(
            task_type_name=plugin.task_type,
            task_type_version=plugin.task_type_version,
            metadata_type=self.meta_type,
        )
        self.plugin = plugin
        self.runtime = runtime
        self.admission = TaskAdmission(runtime.settings)
        self._watching = False

    async def _in_thread(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.runtime.executor, function, *args)

    # -- CreateTask --------------------------------------------------------------------

    async def create(
        self,
        task_template: TaskTemplate,
        output_prefix: str,
        inputs: LiteralMap | None = None,
        task_execution_metadata: TaskExecutionMetadata | None = None,
        **kwargs: Any,
    ) -> OperatorResourceMeta:
        return await self._in_thread(self._create, task_template, output_prefix, inputs, task_execution_metadata)

    def _create(
        self,
        template: TaskTemplate,
        output_prefix: str,
        inputs: LiteralMap | None,
        metadata: TaskExecutionMetadata | None,
    ) -> OperatorResourceMeta:
        # Create nothing that could not be handed back as a sealed meta (a missing signing key).
        self.runtime.signer.ready()
        settings = self.runtime.settings
        context = task_context(metadata, output_prefix, self.plugin.task_type, settings, self.plugin.max_name_length)
        if template.task_type_version != self.plugin.task_type_version:
            return self._failed(
                context,
                f"task_type_version: {self.plugin.task_type} tasks of version {template.task_type_version} "
                f"are not supported by this connector (it serves version {self.plugin.task_type_version}); "
                "upgrade the connector or pin the SDK plugin to a matching version",
            )
        if not settings.watches_namespace(context.namespace):
            return self._failed(
                context,
                f"namespace {context.namespace} is outside the connector's namespaces "
                f"({', '.join(settings.namespaces)}); add it to the connector's configuration",
            )
        refusal = self.admission.context_refusal(context)
        if refusal:
            return self._failed(context, refusal)
        try:
            built = self.plugin.build_object(TaskRequest(template, inputs, output_prefix, context, settings))
        except InvalidTaskError as error:
            return self._failed(context, f"invalid {self.plugin.task_type} task: {error}")
        manifest = _with_identity(built.manifest, context)
        refusal = self.admission.object_refusal(manifest)
        if refusal:
            return self._failed(context, refusal)
        if settings.executions.owner_references:
            manifest = self._owned_by_execution(manifest, context, metadata)
        meta = self.meta_type(
            group=built.resource.group,
            version=built.resource.version,
            plural=built.resource.plural,
            kind=built.resource.kind,
            namespace=context.namespace,
            name=context.name,
            task_execution_id=context.task_execution_id,
            task_id=_task_id(template),
        )
        cache = self._cache(meta)
        created = self._create_or_adopt(built, manifest, meta, cache)
        if isinstance(created, OperatorResourceMeta):
            return created
        meta.uid = created.uid
        return meta

    def _owned_by_execution(
        self, manifest: dict[str, Any], context: TaskContext, metadata: TaskExecutionMetadata | None
    ) -> dict[str, Any]:
        """The manifest with an owner reference to the execution's FlyteWorkflow, which lives in
        the namespace propeller sent: only an object in that namespace can have it as owner."""
        execution = execution_name(context.task_execution_id)
        if not execution or metadata is None or metadata.namespace != context.namespace:
            return manifest
        reference = self.runtime.execution_owners.reference(context.namespace, execution)
        return with_owner_reference(manifest, reference) if reference else manifest

    def _create_or_adopt(
        self, built: BuiltObject, manifest: dict[str, Any], meta: OperatorResourceMeta, cache: ObjectCache
    ) -> Tracked | OperatorResourceMeta:
        api = self.runtime.api
        try:
            return cache.record(api.create(built.resource, meta.namespace, manifest))
        except KubeApiError as error:
            if error.status != 409:
                outcome = create_failure(error, built.resource, meta.namespace, meta.name)
                if outcome is None:
                    raise
                if outcome.phase == TaskExecution.WAITING_FOR_RESOURCES:
                    return self._wait_for_quota(meta, manifest, outcome.message)
                meta.failure_phase, meta.failure_message = outcome.phase, outcome.message
                return meta
        # 409: this attempt's object exists already (a repeated CreateTask): adopt it.
        existing = api.get(built.resource, meta.namespace, meta.name)
        owner = owner_of(existing)
        if owner != meta.task_execution_id:
            meta.failure_phase = TaskExecution.FAILED
            meta.failure_message = (
                f"{built.resource} {meta.namespace}/{meta.name} exists but belongs to "
                f"{owner or 'something other than Flyte'}; not adopting it"
            )
            return meta
        logger.info("adopted existing %s %s/%s", built.resource, meta.namespace, meta.name)
        return cache.record(existing)

    def _wait_for_quota(self, meta: OperatorResourceMeta, manifest: dict[str, Any], why: str) -> OperatorResourceMeta:
        """The meta carries the manifest, sealed, so any replica's GetTask can retry the create."""
        try:
            meta.pending_create = self.runtime.pending_creates.seal(manifest, self._bound_to(meta))
        except PendingCreateError as error:
            meta.failure_phase = TaskExecution.RETRYABLE_FAILED
            meta.failure_message = (
                f"{why}; this task cannot wait for quota: {error}. Raise the quota in {meta.namespace}, or make the "
                "task's object smaller (fewer or shorter env values, a smaller custom_resource manifest)"
            )
            return meta
        QUOTA_WAITS.inc()
        meta.awaiting_quota = True
        return meta

    def _bound_to(self, meta: OperatorResourceMeta) -> bytes:
        return binding(self.plugin.task_type, meta.namespace, meta.name, meta.task_execution_id)

    def _failed(self, context: TaskContext, message: str) -> OperatorResourceMeta:
        logger.warning("task %s failed before creating an object: %s", context.task_execution_id, message)
        return self.meta_type(
            group="",
            version="",
            plural="",
            kind="",
            namespace=context.namespace,
            name=context.name,
            task_execution_id=context.task_execution_id,
            failure_phase=TaskExecution.FAILED,
            failure_message=message,
        )

    # -- GetTask -----------------------------------------------------------------------

    async def get(self, resource_meta: OperatorResourceMeta, **kwargs: Any) -> Resource:
        meta = resource_meta
        if meta.failure_phase:
            return Resource(phase=meta.failure_phase, message=meta.failure_message)
        self._check_scope(meta)
        cache = self._cache(meta)
        tracked = cache.current(meta.key)
        if tracked is not None:
            observation = self._checked(meta, tracked)
        else:
            observation = await self._in_thread(self._observe_slowly, meta, cache)
        resource = self._resource(meta, observation)
        if resource.phase in TERMINAL_PHASES:
            self._final_phase_served(meta, cache)
        return resource

    def _final_phase_served(self, meta: OperatorResourceMeta, cache: ObjectCache) -> None:
        """The first terminal answer for a live object starts its retention: noted in memory now,
        on the object in the background (final_phase.py)."""
        now = time.time()
        tracked = cache.lookup(meta.key)
        if tracked is not None and cache.mark_served(meta.key, meta.uid, now):
            api = self.runtime.api
            self.runtime.executor.submit(
                record_served, api, meta.resource, meta.namespace, meta.name, meta.uid or tracked.uid, now
            )

    def _observe_slowly(self, meta: OperatorResourceMeta, cache: ObjectCache) -> Observation:
        """For objects the cache has not seen, or while the watch is down: one GET.

        Never waits for a list in flight: during a start's first list, an object its pages have
        not brought yet costs one GET (and is then current until the list ends)."""
        settings = self.runtime.settings
        current = cache.current(meta.key)
        if current is not None:
            return self._checked(meta, current)
        tracked = cache.lookup(meta.key)
        tombstone = cache.tombstone(meta.key)
        if tracked is None and tombstone is not None and (not meta.uid or tombstone.uid == meta.uid):
            check_owner(tombstone.owner, meta.task_execution_id, _where(meta))
            if tombstone.observation.terminal:
                return tombstone.observation
            return Observation.of(
                TaskExecution.RETRYABLE_FAILED,
                f"{meta.resource} {meta.namespace}/{meta.name} was deleted outside Flyte before it finished",
            )
        try:
            obj = self.runtime.api.get(meta.resource, meta.namespace, meta.name)
            check_owner(owner_of(obj), meta.task_execution_id, _where(meta))  # before the cache keeps it
            return self._checked(meta, cache.record(obj))
        except KubeApiError as error:
            if error.status == 404 and meta.awaiting_quota:
                return self._retry_pending_create(meta, cache)
            outcome = observe_failure(error, meta.resource, meta.namespace, meta.name)
            if outcome is not None:
                return Observation.of(outcome.phase, outcome.message)
            stale_for = cache.stale_for()
            if stale_for >= settings.stale_after_seconds:
                return Observation.of(
                    TaskExecution.RETRYABLE_FAILED,
                    f"could not observe {meta.resource} {meta.namespace}/{meta.name} for {stale_for:.0f}s "
                    f"(limit staleAfterSeconds={settings.stale_after_seconds:.0f}): {error}",
                )
            if tracked is not None:
                return self._checked(meta, tracked)
            return Observation.of(TaskExecution.INITIALIZING, f"waiting for the Kubernetes API: {error}")

    def _retry_pending_create(self, meta: OperatorResourceMeta, cache: ObjectCache) -> Observation:
        if not meta.pending_create:
            return Observation.of(
                TaskExecution.RETRYABLE_FAILED,
                "this task waited for quota under a connector version that kept its manifest in one process's "
                "memory, and that process restarted or another replica answered; a new attempt will create it",
            )
        try:
            manifest = self.runtime.pending_creates.open(meta.pending_create, self._bound_to(meta))
        except PendingCreateError as error:
            return Observation.of(
                TaskExecution.RETRYABLE_FAILED,
                f"this task waited for quota, but its create cannot be retried: {error}; a new attempt will create it",
            )
        refusal = self.admission.object_refusal(manifest)  # the policy may have tightened meanwhile
        if refusal:
            return Observation.of(TaskExecution.FAILED, refusal)
        try:
            tracked = cache.record(self.runtime.api.create(meta.resource, meta.namespace, manifest))
        except KubeApiError as error:
            if is_quota_exceeded(error):
                return Observation.of(TaskExecution.WAITING_FOR_RESOURCES, f"waiting for quota: {error.message}")
            if error.status == 409:
                existing = self.runtime.api.get(meta.resource, meta.namespace, meta.name)
                try:
                    check_owner(owner_of(existing), meta.task_execution_id, _where(meta))
                except Refused as refused:
                    return Observation.of(TaskExecution.FAILED, f"not adopting it: {refused}")
                return self._checked(meta, cache.record(existing))
            outcome = create_failure(error, meta.resource, meta.namespace, meta.name)
            if outcome is None:
                return Observation.of(TaskExecution.WAITING_FOR_RESOURCES, f"retrying create: {error}")
            return Observation.of(outcome.phase, outcome.message)
        return self._checked(meta, tracked)

    def _checked(self, meta: OperatorResourceMeta, tracked: Tracked) -> Observation:
        check_owner(tracked.owner, meta.task_execution_id, _where(meta))
        if meta.uid and tracked.uid and tracked.uid != meta.uid:
            return Observation.of(
                TaskExecution.RETRYABLE_FAILED,
                f"{meta.resource} {meta.namespace}/{meta.name} was replaced outside Flyte (uid changed)",
            )
        observation = tracked.observation
        if observation.phase not in SHAPED_PHASES:
            return observation
        return for_console(observation, self.runtime.latest_warning(meta.namespace, meta.name))

    def _resource(self, meta: OperatorResourceMeta, observation: Observation) -> Resource:
        now = time.time()
        observation = observation.at(now)
        settings = self.runtime.settings
        subject = LinkSubject(meta.namespace, meta.name, meta.task_execution_id, meta.task_id)
        links = render_log_links(settings.log_links, observation, subject, settings.max_log_links, now)
        info = {"kind": meta.kind, "namespace": meta.namespace, "name": meta.name, **dict(observation.info)}
        return Resource(
            phase=observation.phase,
            message=observation.message,
            log_links=links,
            custom_info=info,
            outputs=observation.outputs,
        )

    # -- DeleteTask --------------------------------------------------------------------

    async def delete(self, resource_meta: OperatorResourceMeta, **kwargs: Any) -> None:
        meta = resource_meta
        if meta.failure_phase:
            return  # nothing was created
        self._check_scope(meta)
        await self._in_thread(self._delete, meta)

    def _delete(self, meta: OperatorResourceMeta) -> None:
        """Delete the object this meta's task created: checked owner, and that very object (uid)."""
        cache = self._cache(meta)
        tracked = cache.current(meta.key)
        if tracked is not None:
            owner, uid = tracked.owner, tracked.uid
        else:
            try:
                obj = self.runtime.api.get(meta.resource, meta.namespace, meta.name)
            except KubeApiError as error:
                if error.status != 404:
                    raise
                cache.mark_deleted_by_connector(meta.key)
                logger.info("abort of %s: already gone", _where(meta))
                return
            owner, uid = owner_of(obj), str((obj.get("metadata") or {}).get("uid") or "")
        check_owner(owner, meta.task_execution_id, _where(meta))
        if meta.uid and uid and uid != meta.uid:
            logger.warning("abort of %s: replaced since it was created (uid changed); not deleting it", _where(meta))
            return
        try:
            existed = self.runtime.api.delete(
                meta.resource, meta.namespace, meta.name, propagation="Foreground", uid=meta.uid or uid
            )
        except KubeApiError as error:
            if error.status == 403:
                raise KubeApiError(
                    403,
                    error.reason,
                    f"forbidden to delete {meta.resource} {meta.namespace}/{meta.name}: {error.message}. "
                    f"Grant the connector's service account delete on {meta.resource}.",
                ) from error
            raise
        self._cache(meta).mark_deleted_by_connector(meta.key)
        logger.info("aborted %s %s/%s (existed: %s)", meta.resource, meta.namespace, meta.name, existed)

    def _check_scope(self, meta: OperatorResourceMeta) -> None:
        """Before any API call or watch: a resource type this task type serves, in a namespace
        the connector works in."""
        settings = self.runtime.settings
        check_served(meta.resource, self.plugin.watch_resources(settings), self.plugin.task_type, _where(meta))
        if not settings.watches_namespace(meta.namespace):
            raise Refused(
                f"refused: {_where(meta)} is outside the connector's namespaces ({', '.join(settings.namespaces)})"
            )

    def _cache(self, meta: OperatorResourceMeta) -> ObjectCache:
        if not self._watching:
            self._watching = True
            self.runtime.start_watching(self.plugin.watch_resources(self.runtime.settings), self.plugin.observe)
        return self.runtime.cache_for(meta.resource, meta.namespace, self.plugin.observe)


def _task_id(template: TaskTemplate) -> str:
    """ "project/domain/name/version" of the task, for log links ("" when the template has no id)."""
    task = template.id
    if task is None:
        return ""
    return f"{task.project}/{task.domain}/{task.name}/{task.version}"


def _where(meta: OperatorResourceMeta) -> str:
    return f"{meta.resource} {meta.namespace}/{meta.name}"


def _with_identity(manifest: dict[str, Any], context: TaskContext) -> dict[str, Any]:
    """The plugin's manifest with the machinery's name, namespace, labels and annotations."""
    result = dict(manifest)
    metadata = dict(result.get("metadata") or {})
    metadata["name"] = context.name
    metadata["namespace"] = context.namespace
    metadata.pop("generateName", None)
    metadata["labels"] = {**(metadata.get("labels") or {}), **context.labels}
    metadata["annotations"] = {**(metadata.get("annotations") or {}), **context.annotations}
    result["metadata"] = metadata
    return result
