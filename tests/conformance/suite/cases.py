"""The conformance cases. Each takes the target and the task type's run, and passes (returning a
sentence saying what it saw), fails (``Fail``) or is skipped (``Skip``), always saying why."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc
from flyteidl.core.execution_pb2 import TaskExecution

from conformance.suite.cluster import CONFIG_MAPS, PODS, wait_for
from conformance.suite.context import Fail, Found, Skip, Target, TaskTypeRun
from conformance.suite.objects import contains_container, descendant_pods, names, pod_specs
from conformance.suite.samples import shell
from conformance.suite.task_requests import create_request, execution_labels, privileged_pod, secret_request
from conformance.suite.tasks import TERMINAL, TaskWatch, create, describe, observe_fn, phase_name, run_to_terminal
from k8s_operator_connector.flyte_secrets import injection_metadata
from k8s_operator_connector.resource_meta import OperatorResourceMeta
from k8s_operator_connector.task_context import MANAGED_BY, MANAGED_BY_LABEL, TASK_EXECUTION_ANNOTATION

SUCCESS_SECONDS = 1
ABORT_SLEEP_SECONDS = 600
DEFAULT_RETENTION_SECONDS = 600.0  # the connector's default finishedRetentionSeconds
DEFAULT_CLEANUP_INTERVAL_SECONDS = 30.0
NEEDS_EMULATOR = "needs fault injection into the Kubernetes API, which only the embedded emulator offers"

Case = Callable[[Target, TaskTypeRun], str]


def build_fn(run: TaskTypeRun) -> str:
    return "build_object()" if run.plugin_mode else f"the {run.task_type} plugin's build_object()"


def _task_execution_id(target: Target, name: str) -> str:
    execution = target.execution
    return f"{execution.project}/{execution.domain}/{name}/n0/0"


def _needs_success(run: TaskTypeRun) -> TaskWatch:
    if run.succeeded is None:
        raise Skip("needs the task of the 'succeeds' case, which did not succeed")
    return run.succeeded


# -- create and observe ----------------------------------------------------------------------------


def succeeds(target: Target, run: TaskTypeRun) -> str:
    """CreateTask (twice: idempotent), GetTask until SUCCEEDED, as propeller and the console see it."""
    name = run.execution_name(target, "ok")
    command = shell(f"sleep {SUCCESS_SECONDS}")
    request = create_request(run.sample, target.execution, name, command, secrets=run.sample.uses_container)

    def holds_the_container(found: Found) -> None:
        obj, image = found.obj, target.execution.image
        if run.sample.uses_container and obj is not None and not contains_container(obj, image, command):
            raise Fail(
                f"{build_fn(run)} put no container with the task's image {image} and command "
                f"{command} into the {found.kind} {found.namespace}/{found.name}: the operator cannot run the task"
            )

    watch = run_to_terminal(target, run, request, name, holds_the_container)
    console = watch.model.console
    if watch.found.phase != TaskExecution.SUCCEEDED:
        raise Fail(f"the task ended {describe(watch.last)}, expected SUCCEEDED (phases: {watch.history()})")
    if console.phase != TaskExecution.SUCCEEDED:
        raise Fail(
            f"the Flyte console would show {phase_name(console.phase)}, not SUCCEEDED (phases: {watch.history()})"
        )
    if not watch.found.name or watch.found.obj is None:
        raise Fail(
            "GetTask's custom info names no object (kind, namespace, name) the cluster has: "
            f"{dict(watch.last.custom_info) if watch.last else {}}"
        )
    run.succeeded = watch
    run.kind = watch.found.kind
    return (
        f"{watch.found.kind} {watch.found.namespace}/{watch.found.name} SUCCEEDED; phases {watch.history()}; "
        f"console events {' -> '.join(event.phase_name for event in watch.model.recorded)}"
    )


def object_metadata(target: Target, run: TaskTypeRun) -> str:
    """The object carries the execution's labels and annotations and the connector's own identity."""
    watch = _needs_success(run)
    found = watch.found
    assert found.obj is not None
    metadata = found.obj["metadata"]
    labels, annotations = metadata.get("labels") or {}, metadata.get("annotations") or {}
    sent = execution_labels(target.execution, watch.execution_name)
    problems = [f"label {k}={v} missing" for k, v in sent.items() if labels.get(k) != v]
    problems += [
        f"annotation {k}={v} missing" for k, v in target.execution.annotations.items() if annotations.get(k) != v
    ]
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY:
        problems.append(f"label {MANAGED_BY_LABEL}={MANAGED_BY} missing")
    expected_id = _task_execution_id(target, watch.execution_name)
    if annotations.get(TASK_EXECUTION_ANNOTATION) != expected_id:
        problems.append(
            f"annotation {TASK_EXECUTION_ANNOTATION} is {annotations.get(TASK_EXECUTION_ANNOTATION)!r}, "
            f"expected {expected_id!r}"
        )
    if problems:
        raise Fail(f"{found.kind} {found.namespace}/{found.name}: " + "; ".join(problems))
    return f"{len(labels)} labels, {len(annotations)} annotations on {found.kind} {found.name} as Flyte sent them"


def _pod_metadata_sources(
    target: Target, run: TaskTypeRun
) -> tuple[str, list[tuple[str, dict[str, Any], dict[str, Any]]]]:
    """The pods the task ran (or, if none was seen, the pod templates in its object)."""
    watch = _needs_success(run)
    if not run.sample.uses_container:
        raise Skip(f"{run.task_type} tasks create their manifest as written: pod metadata is the task author's")
    if watch.found.pods:
        pods = [
            (f"pod {pod['metadata']['name']}", pod.get("metadata") or {}, pod.get("spec") or {})
            for pod in watch.found.pods
        ]
        return "pods", pods
    assert watch.found.obj is not None
    templates = [
        (f"{watch.found.kind} {path}", dict(meta), dict(spec)) for path, meta, spec in pod_specs(watch.found.obj)
    ]
    if not templates:
        raise Fail(f"no pod was seen and the {watch.found.kind} holds no pod template")
    return "pod templates (no pod was seen while the task ran)", templates


def secret_annotations(target: Target, run: TaskTypeRun) -> str:
    """Pods carry the execution's labels, and Flyte's secret-injection label and ``flyte.secrets/s<i>``
    annotations as propeller writes them."""
    what, sources = _pod_metadata_sources(target, run)
    sent = execution_labels(target.execution, _needs_success(run).execution_name)
    labels, annotations = injection_metadata([secret_request().secrets[0].to_flyte_idl()])
    problems = []
    for where, metadata, _ in sources:
        have_labels, have_annotations = metadata.get("labels") or {}, metadata.get("annotations") or {}
        problems += [f"{where}: label {k}={v} missing" for k, v in labels.items() if have_labels.get(k) != v]
        problems += [
            f"{where}: annotation {k} is {have_annotations.get(k)!r}, expected {v!r}"
            for k, v in annotations.items()
            if have_annotations.get(k) != v
        ]
        problems += [f"{where}: label {k}={v} missing" for k, v in sent.items() if have_labels.get(k) != v]
    if problems:
        raise Fail("; ".join(problems[:6]))
    return f"{len(sources)} {what} carry {', '.join(sorted(annotations))} and {', '.join(sorted(labels))}"


def pod_defaults(target: Target, run: TaskTypeRun) -> str:
    """Pods get the connector's podDefaults (Flyte's default-labels, default-annotations, default-env-vars)."""
    settings = target.connector_settings
    if settings is None:
        raise Skip("the connector's configuration was not found in the cluster (see --connector-config)")
    defaults = settings.get("podDefaults") or {}
    labels = defaults.get("default-labels") or {}
    annotations = defaults.get("default-annotations") or {}
    env = {k: str(v) for k, v in (defaults.get("default-env-vars") or {}).items()}
    if not (labels or annotations or env):
        raise Skip("podDefaults sets no default-labels, default-annotations or default-env-vars: nothing to check")
    what, sources = _pod_metadata_sources(target, run)
    problems = []
    for where, metadata, spec in sources:
        problems += [
            f"{where}: label {k}={v} missing" for k, v in labels.items() if (metadata.get("labels") or {}).get(k) != v
        ]
        problems += [
            f"{where}: annotation {k}={v} missing"
            for k, v in annotations.items()
            if (metadata.get("annotations") or {}).get(k) != v
        ]
        containers = spec.get("containers") or [{}]
        have_env = {e.get("name"): e.get("value") for e in containers[0].get("env") or []}
        problems += [
            f"{where}: env {k}={v} missing from {containers[0].get('name')}"
            for k, v in env.items()
            if have_env.get(k) != v
        ]
    if problems:
        raise Fail("; ".join(problems[:6]))
    counts = f"{len(labels)} labels, {len(annotations)} annotations, {len(env)} env vars"
    return f"{len(sources)} {what} carry the {counts} of podDefaults"


# -- abort and cleanup -------------------------------------------------------------------------------


def abort(target: Target, run: TaskTypeRun) -> str:
    """A running task aborted with DeleteTask (twice: idempotent): its object and pods go."""
    name = run.execution_name(target, "abort")
    request = create_request(run.sample, target.execution, name, shell(f"sleep {ABORT_SLEEP_SECONDS}"))
    watch = TaskWatch(target, run.task_type, create(target, request), name)
    running = watch.until(lambda resource: resource.phase == TaskExecution.RUNNING, target.timeout)
    if running is None:
        raise Fail(
            f"{observe_fn(run)} never returned RUNNING within {target.timeout:.0f} s; last: {describe(watch.last)}"
        )
    found = watch.found
    if found.obj is None:
        raise Fail(f"GetTask's custom info names no object the cluster has: last {describe(watch.last)}")
    uid = found.obj["metadata"].get("uid", "")
    pods = wait_for(lambda: descendant_pods(target.cluster, found.namespace, uid), target.timeout) or []
    target.client.delete(run.task_type, found.resource_meta)
    target.client.delete(run.task_type, found.resource_meta)
    resource = target.cluster.resource_of_kind(found.kind)
    if not wait_for(lambda: target.cluster.get(resource, found.namespace, found.name) is None, target.timeout):
        raise Fail(
            f"DeleteTask returned, but {found.kind} {found.namespace}/{found.name} still exists "
            f"{target.timeout:.0f} s later"
        )
    left = wait_for(lambda: not descendant_pods(target.cluster, found.namespace, uid) or None, target.timeout)
    if pods and not left:
        raise Fail(
            f"the {found.kind} is gone but its pods "
            f"{names(descendant_pods(target.cluster, found.namespace, uid))} are not"
        )
    if not pods:
        return f"{found.kind} {found.name} deleted (no pod of it was seen running, so none to see go)"
    return f"{found.kind} {found.name} and its {len(pods)} pods gone after DeleteTask"


def retention(target: Target, run: TaskTypeRun) -> str:
    """A finished object is removed by the connector after finishedRetentionSeconds (propeller never deletes it)."""
    watch = _needs_success(run)
    settings = target.connector_settings or {}
    retention_seconds = float(settings.get("finishedRetentionSeconds", DEFAULT_RETENTION_SECONDS))
    interval = float(settings.get("cleanupIntervalSeconds", DEFAULT_CLEANUP_INTERVAL_SECONDS))
    source = (
        "from the connector's ConfigMap" if target.connector_settings else "the default; its ConfigMap was not found"
    )
    budget = retention_seconds + interval + 10
    waited = time.monotonic() - watch.found.finished_at
    if budget - waited > target.max_retention_wait:
        raise Skip(
            f"finishedRetentionSeconds={retention_seconds:.0f} ({source}) is longer than --max-retention-wait "
            f"{target.max_retention_wait:.0f} s"
        )
    found = watch.found
    resource = target.cluster.resource_of_kind(found.kind)
    if not wait_for(lambda: target.cluster.get(resource, found.namespace, found.name) is None, max(budget - waited, 1)):
        raise Fail(
            f"the SUCCEEDED {found.kind} {found.namespace}/{found.name} still exists {budget:.0f} s after it finished "
            f"(finishedRetentionSeconds={retention_seconds:.0f}, cleanupIntervalSeconds={interval:.0f}): "
            "the connector's cleanup did not remove it"
        )
    after = time.monotonic() - found.finished_at
    return f"removed {after:.1f} s after it finished (finishedRetentionSeconds={retention_seconds:g})"


# -- the trust boundary ------------------------------------------------------------------------------


def forged_meta(target: Target, run: TaskTypeRun) -> str:
    """GetTask and DeleteTask refuse a resource meta the connector did not issue (unsigned, or altered)."""
    namespace = target.execution.namespace
    victim = f"conformance-victim-{target.run_id}-{run.task_type.replace('_', '-')}"[:63]
    target.cluster.create(CONFIG_MAPS, namespace, {"metadata": {"name": victim}, "data": {"keep": "me"}})
    try:
        unsigned = OperatorResourceMeta(
            group="", version="v1", plural="configmaps", kind="ConfigMap", namespace=namespace, name=victim,
            task_execution_id=_task_execution_id(target, "forged"),
        ).payload()  # fmt: skip
        answered = _answers(target, run, unsigned)
        seen = ["unsigned meta"]
        if run.succeeded is not None:
            genuine = run.succeeded.found.resource_meta
            altered = genuine.replace(
                run.succeeded.found.name.encode(), victim.encode()[: len(run.succeeded.found.name)]
            )
            answered += _answers(target, run, altered)
            seen.append("a signed meta with the object name changed")
        if target.cluster.get(CONFIG_MAPS, namespace, victim) is None:
            raise Fail(f"the ConfigMap {namespace}/{victim} a forged meta named was deleted")
        if answered:
            raise Fail("the connector acted on a meta it did not issue: " + "; ".join(answered))
        return f"refused: {', '.join(seen)}"
    finally:
        target.cluster.delete(CONFIG_MAPS, namespace, victim)


def _answers(target: Target, run: TaskTypeRun, meta: bytes) -> list[str]:
    """What GetTask and DeleteTask did with ``meta`` that they should have refused."""
    answered = []
    try:
        resource = target.client.get(run.task_type, meta)
        answered.append(f"GetTask answered {describe(resource)}")
    except grpc.RpcError:
        pass
    try:
        target.client.delete(run.task_type, meta)
        answered.append("DeleteTask succeeded")
    except grpc.RpcError:
        pass
    return answered


def privileged_request(target: Target, run: TaskTypeRun) -> str:
    """A task asking for a privileged or host-network pod fails at once and creates nothing."""
    attempts: list[tuple[str, Any, str]] = []
    image, command = target.execution.image, shell("true")
    if run.sample.uses_container:
        attempts.append(("privileged", {"k8s_pod": privileged_pod(image, command)}, "privileged"))
        attempts.append(("hostnet", {"k8s_pod": privileged_pod(image, command, hostNetwork=True)}, "hostNetwork"))
    elif run.sample.privileged_custom is not None:
        attempts.append(("privileged", {"custom": run.sample.privileged_custom()}, "privileged"))
    else:
        raise Skip(f"the {run.task_type} sample has no container and no privileged variant")
    seen = []
    for label, change, phrase in attempts:
        name = run.execution_name(target, label)
        meta = create(target, create_request(run.sample, target.execution, name, command, **change))
        resource = target.client.get(run.task_type, meta)
        if resource.phase != TaskExecution.FAILED or phrase not in resource.message:
            raise Fail(
                f"a {label} pod request answered {describe(resource)}; "
                f"expected FAILED naming {phrase} (podSecurity.level)"
            )
        made = target.cluster.objects(PODS, target.execution.namespace, f"execution-id={name}")
        if run.kind:
            made += target.cluster.objects(
                target.cluster.resource_of_kind(run.kind), target.execution.namespace, f"execution-id={name}"
            )
        if made:
            raise Fail(f"a refused {label} request still created {names(made)}")
        target.client.delete(run.task_type, meta)  # aborting a refused task is harmless
        seen.append(f"{label}: FAILED, {_around(resource.message, phrase)}")
    return "; ".join(seen)


def _around(message: str, phrase: str, width: int = 60) -> str:
    at = max(message.find(phrase), 0)
    return repr(message[max(at - width, 0) : at + len(phrase) + width])


# -- faults only the emulator can inject -------------------------------------------------------------


def watch_recovery(target: Target, run: TaskTypeRun) -> str:
    """The API ends the connector's watches and expires their resourceVersion (410 Gone) mid-task:
    GetTask still follows the task to SUCCEEDED."""
    if target.faults is None:
        raise Skip(NEEDS_EMULATOR)
    name = run.execution_name(target, "watch")
    request = create_request(run.sample, target.execution, name, shell("sleep 2"))
    watch = TaskWatch(target, run.task_type, create(target, request), name)
    if watch.until(lambda resource: resource.phase == TaskExecution.RUNNING, target.timeout) is None:
        raise Fail(f"never RUNNING within {target.timeout:.0f} s; last: {describe(watch.last)}")
    target.faults.expire_watches(4)
    closed = target.faults.close_watches()
    final = watch.until(lambda resource: resource.phase in TERMINAL, target.timeout)
    if final is None or final.phase != TaskExecution.SUCCEEDED:
        raise Fail(f"after the watches were cut, the task ended {describe(watch.last)} (phases: {watch.history()})")
    return f"{closed} watches closed and expired while RUNNING; then {watch.history()}"


FULL_CASES: list[tuple[str, Case]] = [
    ("succeeds", succeeds),
    ("object-metadata", object_metadata),
    ("secret-annotations", secret_annotations),
    ("pod-defaults", pod_defaults),
    ("forged-meta", forged_meta),
    ("privileged-request", privileged_request),
    ("abort", abort),
    ("retention", retention),
    ("watch-recovery", watch_recovery),
]
# --plugin: what every plugin owes, whatever its operator.
GENERIC_CASES: list[tuple[str, Case]] = [
    ("succeeds", succeeds),
    ("object-metadata", object_metadata),
    ("abort", abort),
    ("retention", retention),
]
