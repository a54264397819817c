"""Fixtures shared by the plugin's tests: fixed serialization settings and golden templates."""

import json
import os
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flytekit.configuration import Image, ImageConfig, SerializationSettings
from flytekit.core.base_task import PythonTask
from flytekit.tools.translator import get_serializable
from google.protobuf import json_format

from flytekitplugins.k8s_operator.constants import LOCAL_MODE_ENV

TESTDATA = Path(__file__).parent / "testdata"


@pytest.fixture
def settings() -> SerializationSettings:
    """Registration settings with a fixed image, project, domain and version."""
    return SerializationSettings(
        image_config=ImageConfig(default_image=Image(name="default", fqn="ghcr.io/example/app", tag="1.0.0")),
        project="flytesnacks",
        domain="development",
        version="v1",
        env={},
    )


def template_dict(task: PythonTask, settings: SerializationSettings) -> dict[str, Any]:
    """The serialized TaskTemplate as JSON, minus what depends on the test module or flytekit version."""
    template = get_serializable(OrderedDict(), settings, task).template
    data = json_format.MessageToDict(template.to_flyte_idl())
    data["metadata"]["runtime"].pop("version", None)
    function = getattr(task, "task_function", None)
    if function is not None:  # pytest names test modules after their directory, Pants alike
        module = function.__module__
        data["id"]["name"] = data["id"]["name"].replace(module, "<test module>")
        data["container"]["args"] = [arg.replace(module, "<test module>") for arg in data["container"]["args"]]
    return data


@pytest.fixture
def serialize(settings: SerializationSettings) -> Callable[[PythonTask], dict[str, Any]]:
    """Serializes a task with :func:`settings` into a normalized TaskTemplate dict."""
    return lambda task: template_dict(task, settings)


@pytest.fixture
def golden() -> Callable[[str, dict[str, Any]], None]:
    """Compares a dict with testdata/<name>.json; UPDATE_GOLDEN=1 rewrites the file instead."""

    def check(name: str, actual: dict[str, Any]) -> None:
        path = TESTDATA / f"{name}.json"
        text = json.dumps(actual, indent=2, sort_keys=True) + "\n"
        if os.environ.get("UPDATE_GOLDEN") == "1":
            path.write_text(text)
        assert json.loads(path.read_text()) == actual, f"{path} differs; UPDATE_GOLDEN=1 rewrites it"

    return check


@pytest.fixture(autouse=True)
def _no_local_mode(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests start without FLYTE_K8S_OPERATOR_LOCAL_MODE and worker variables from the environment."""
    for name in (LOCAL_MODE_ENV, "WORKER_INDEX", "WORKER_COUNT", "FLYTE_K8S_OPERATOR_EXCHANGE_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    yield
