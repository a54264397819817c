"""Sample tasks: what the suite asks each task type to run.

The suite supplies the work (a shell command whose duration each case chooses: short for the
success case, long for the abort case); a sample supplies the rest of the task template, i.e.
the task type, its schema version and ``custom`` (the config the SDK serializes). The two task
types this repository ships have built-in samples; a plugin's author names one with
``--plugin TASK_TYPE --sample MODULE:ATTRIBUTE`` (see :func:`load_sample`).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from flytekit.models import task as task_models

# Flyte's default primary container name for a pod template (flytekit's PodTemplate default).
PRIMARY_CONTAINER = "primary"


def shell(script: str) -> list[str]:
    """A command every image with a POSIX shell runs (busybox, python, distroless-debug...)."""
    return ["sh", "-c", script]


@dataclass(frozen=True)
class Sample:
    """How to make a task of one type that runs a given command."""

    task_type: str
    version: int
    # custom for a task whose work is `command`
    custom: Callable[[list[str]], dict[str, Any]]
    # True: the task's container runs the command (the connector puts it into the object's pods,
    # with Flyte's labels, secret annotations and podDefaults). False: `custom` carries the
    # command and the connector creates the object as written.
    uses_container: bool = True
    config: dict[str, str] = field(default_factory=dict)
    # custom for a task that asks for a privileged pod (task types without a container only)
    privileged_custom: Callable[[], dict[str, Any]] | None = None
    origin: str = "built-in"
    # (group, version, kind) of the object a task creates as written: the connector creates it
    # only when its customResource.allowedKinds lists it.
    creates_kind: tuple[str, str, str] | None = None


def _job_manifest(command: list[str], image: str, **pod_spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": image, "command": command}
    container.update(pod_spec.pop("container", {}))
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "spec": {
            "backoffLimit": 0,
            "template": {"spec": {"restartPolicy": "Never", "containers": [container], **pod_spec}},
        },
    }


def custom_resource_sample(image: str) -> Sample:
    """A batch/v1 Job through the generic task type (its allowlist must admit batch/v1 Job)."""

    def custom(command: list[str], **pod_spec: Any) -> dict[str, Any]:
        return {
            "manifest": _job_manifest(command, image, **pod_spec),
            "successCondition": "object.status.succeeded >= 1",
            "failureCondition": "object.status.failed >= 1",
        }

    return Sample(
        "custom_resource",
        1,
        custom,
        uses_container=False,
        privileged_custom=lambda: custom(
            shell("true"), hostNetwork=True, container={"securityContext": {"privileged": True}}
        ),
        creates_kind=("batch", "v1", "Job"),
    )


def builtin_samples(image: str) -> dict[str, Sample]:
    return {
        "parallel_job": Sample("parallel_job", 1, lambda command: {"workers": 2}),
        "custom_resource": custom_resource_sample(image),
    }


def _as_template(value: Any) -> task_models.TaskTemplate:
    """A TaskTemplate model from a flytekit task object, a TaskTemplate, or a zero-argument callable of either."""
    from flytekit.core.base_task import PythonTask

    if isinstance(value, task_models.TaskTemplate):
        return value
    if isinstance(value, PythonTask):
        from flytekit.configuration import Image, ImageConfig, SerializationSettings
        from flytekit.tools.translator import get_serializable

        image = Image(name="default", fqn="conformance.invalid/sample", tag="0")
        settings = SerializationSettings(image_config=ImageConfig(default_image=image, images=[image]))
        return get_serializable({}, settings, value).template  # type: ignore[no-any-return]
    if callable(value):
        return _as_template(value())
    raise TypeError(
        f"a sample must be a flytekit task (@task(task_config=...)), a flytekit.models.task.TaskTemplate, "
        f"or a function of no arguments returning one; got {type(value).__name__}"
    )


def _import(name: str) -> ModuleType:
    """A module by name, or from a ``.py`` file (the suite's PEX does not see PYTHONPATH)."""
    if not name.endswith(".py"):
        return importlib.import_module(name)
    path = Path(name)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None or not path.is_file():
        raise ImportError(f"no such file: {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # flytekit looks the task's module up by name
    spec.loader.exec_module(module)
    return module


class SampleError(ValueError):
    """--sample names nothing usable; the message says what was expected."""


def load_sample(reference: str, task_type: str) -> Sample:
    """``MODULE:ATTRIBUTE`` or ``FILE.py:ATTRIBUTE``: a flytekit task (``@task(task_config=MyConfig(...))``),
    a TaskTemplate, or a function of no arguments returning either. Its task type, version, custom and config
    are used; its container is replaced by the suite's (each case picks the command)."""
    module_name, _, attribute = reference.rpartition(":")
    if not module_name or not attribute:
        raise SampleError(
            f"--sample {reference!r}: expected MODULE:ATTRIBUTE or FILE.py:ATTRIBUTE, e.g. my_samples.py:sample"
        )
    try:
        module = _import(module_name)
    except (ImportError, OSError) as error:
        raise SampleError(f"--sample {reference!r}: cannot import {module_name}: {error}") from error
    try:
        value = getattr(module, attribute)
    except AttributeError as error:
        raise SampleError(f"--sample {reference!r}: {module_name} has no attribute {attribute}") from error
    try:
        template = _as_template(value)
    except TypeError as error:
        raise SampleError(f"--sample {reference!r}: {error}") from error
    if template.type != task_type:
        raise SampleError(f"--sample {reference!r} is a {template.type!r} task, not {task_type!r} (--plugin)")
    custom = dict(template.custom or {})
    return Sample(
        template.type,
        template.task_type_version,
        lambda command: custom,
        config=dict(template.config or {}),
        origin=reference,
    )
