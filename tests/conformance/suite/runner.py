"""Runs the cases of each task type against a target and collects their results."""

from __future__ import annotations

import time
import traceback
from collections.abc import Sequence

import grpc

from conformance.suite.cases import FULL_CASES, GENERIC_CASES, Case
from conformance.suite.cluster import SECRETS
from conformance.suite.context import Fail, Skip, Target, TaskTypeRun
from conformance.suite.report import CaseResult, Outcome
from conformance.suite.samples import Sample
from conformance.suite.task_requests import SECRET_GROUP, SECRET_KEY
from k8s_operator_connector.connector import CONNECTOR_NAME
from k8s_operator_connector.kube_api import KubeApiError
from k8s_operator_connector.operator_plugin import InvalidTaskError
from k8s_operator_connector.plugins.custom_resource import allowed_kind
from k8s_operator_connector.settings import parse_settings
from k8s_operator_connector.settings_reader import SettingsError


def served_task_types(target: Target) -> dict[str, int]:
    """Task type -> version of this project's connectors, as ListAgents names them (flytekit's own
    connectors, e.g. sensor and webhook, are served by the same server and left out)."""
    served: dict[str, int] = {}
    for agent in target.client.list_agents(timeout=30).agents:
        if agent.name != CONNECTOR_NAME:
            continue
        for category in agent.supported_task_categories:
            served[category.name] = category.version
    return served


def run_case(target: Target, run: TaskTypeRun, name: str, case: Case) -> CaseResult:
    started = time.monotonic()
    try:
        reason, outcome = case(target, run), Outcome.PASS
    except Fail as failure:
        reason, outcome = str(failure), Outcome.FAIL
    except Skip as skip:
        reason, outcome = str(skip), Outcome.SKIP
    except grpc.RpcError as error:
        reason, outcome = f"the connector answered {error.code().name}: {error.details()}", Outcome.FAIL
    except KubeApiError as error:
        reason, outcome = f"the Kubernetes API answered {error.status} {error.reason}: {error.message}", Outcome.FAIL
    except Exception as error:  # a bug in the suite or an answer it cannot read: still a row, not a crash
        last = traceback.extract_tb(error.__traceback__)[-1]
        reason = f"{type(error).__name__}: {error} (at {last.filename}:{last.lineno})"
        outcome = Outcome.FAIL
    return CaseResult(run.task_type, name, outcome, reason, time.monotonic() - started)


def _ensure_secret(target: Target) -> bool:
    """The Secret the tasks' secret request names, so Flyte's webhook finds it; True if created here."""
    namespace = target.execution.namespace
    if target.cluster.get(SECRETS, namespace, SECRET_GROUP) is not None:
        return False
    body = {"metadata": {"name": SECRET_GROUP}, "stringData": {SECRET_KEY: "conformance"}, "type": "Opaque"}
    target.cluster.create(SECRETS, namespace, body)
    return True


def _kind_not_allowed(target: Target, sample: Sample) -> str:
    """Why the connector will refuse every task of ``sample`` (the kind it creates is not in the
    configuration's customResource.allowedKinds, when the suite found that configuration), or "".
    Decided by the connector's own parsing and allowlist check."""
    if sample.creates_kind is None or target.connector_settings is None:
        return ""
    group, version, kind = sample.creates_kind
    api_version = f"{group}/{version}" if group else version
    section = {"customResource": target.connector_settings.get("customResource") or {}}
    try:
        allowed_kind(parse_settings(section), api_version, kind)
    except (SettingsError, InvalidTaskError) as refusal:
        return (
            f"its sample creates a {api_version} {kind}, which the connector's customResource.allowedKinds "
            f"does not list ({refusal}): list it, with the RBAC to create it, to run these cases "
            "(demo/sandbox does both for batch/v1 Job)"
        )
    return ""


def run_suite(
    target: Target,
    samples: dict[str, Sample],
    task_types: Sequence[str] = (),
    plugin: str = "",
    only: Sequence[str] = (),
) -> list[CaseResult]:
    """Every case for each task type (the ones given, else all the connector serves)."""
    served = served_task_types(target)
    results: list[CaseResult] = []
    wanted = [plugin] if plugin else list(task_types) or sorted(served)
    created_secret = _ensure_secret(target)
    try:
        for task_type in wanted:
            cases = GENERIC_CASES if plugin else FULL_CASES
            if task_type not in served:
                reason = f"the connector does not serve it (ListAgents: {', '.join(sorted(served)) or 'nothing'})"
                results.append(CaseResult(task_type, "served", Outcome.FAIL, reason))
                continue
            sample = samples.get(task_type)
            if sample is None:
                reason = f"no sample task for {task_type}: pass --plugin {task_type} --sample MODULE:ATTRIBUTE"
                results.append(CaseResult(task_type, "*", Outcome.SKIP, reason))
                continue
            not_allowed = _kind_not_allowed(target, sample)
            if not_allowed:
                results.append(CaseResult(task_type, "*", Outcome.SKIP, not_allowed))
                continue
            run = TaskTypeRun(task_type, sample, plugin_mode=bool(plugin))
            for name, case in cases:
                if only and name not in only:
                    continue
                results.append(run_case(target, run, name, case))
    finally:
        if created_secret:
            target.cluster.delete(SECRETS, target.execution.namespace, SECRET_GROUP)
    return results
