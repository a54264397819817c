"""The ParallelJob spec, validated once into a typed value.

The CRD's schema already rejects most bad specs at admission; this check repeats the
rules the operator relies on, so a spec that slipped past (an edited CRD, a schema-less
test server) ends as a Failed ParallelJob with reason InvalidSpec instead of a crash loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from parallel_job_operator.constants import (
    MAX_RESTARTS,
    MAX_WORKERS,
    RESTART_POLICIES,
    SUCCESS_POLICIES,
    WORKER_CONTAINER,
)


class InvalidSpecError(ValueError):
    """The spec cannot be run; the message names the field and what is allowed."""


@dataclass(frozen=True)
class ParallelJobSpec:
    workers: int
    restart_policy: str
    max_restarts: int
    success_policy: str
    active_deadline_seconds: int | None
    template: Mapping[str, Any]


def _integer(spec: Mapping[str, Any], key: str, default: int | None, low: int, high: int | None) -> int | None:
    value = spec.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidSpecError(f"spec.{key} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        allowed = f"{low}..{high}" if high is not None else f">= {low}"
        raise InvalidSpecError(f"spec.{key} must be in {allowed}, got {value}")
    return int(value)


def _choice(spec: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> str:
    value = spec.get(key) or allowed[0]
    if value not in allowed:
        raise InvalidSpecError(f"spec.{key} must be one of {', '.join(allowed)}, got {value!r}")
    return str(value)


def _template(spec: Mapping[str, Any]) -> Mapping[str, Any]:
    template = spec.get("template")
    if not isinstance(template, Mapping):
        raise InvalidSpecError("spec.template must be a PodTemplateSpec")
    pod_spec = template.get("spec")
    containers = pod_spec.get("containers") if isinstance(pod_spec, Mapping) else None
    if not isinstance(containers, list) or not containers:
        raise InvalidSpecError("spec.template.spec.containers must list at least one container")
    names = [container.get("name") for container in containers if isinstance(container, Mapping)]
    if WORKER_CONTAINER not in names:
        raise InvalidSpecError(f"spec.template.spec.containers needs a container named {WORKER_CONTAINER!r}")
    return template


def parse_spec(spec: Mapping[str, Any] | None) -> ParallelJobSpec:
    """The validated spec; raises InvalidSpecError naming the first bad field."""
    if not isinstance(spec, Mapping):
        raise InvalidSpecError("spec is missing")
    workers = _integer(spec, "workers", None, 1, MAX_WORKERS)
    if workers is None:
        raise InvalidSpecError("spec.workers is required")
    return ParallelJobSpec(
        workers=workers,
        restart_policy=_choice(spec, "restartPolicy", RESTART_POLICIES),
        max_restarts=_integer(spec, "maxRestarts", 0, 0, MAX_RESTARTS) or 0,
        success_policy=_choice(spec, "successPolicy", SUCCESS_POLICIES),
        active_deadline_seconds=_integer(spec, "activeDeadlineSeconds", None, 1, None),
        template=_template(spec),
    )
