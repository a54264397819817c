import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from k8s_operator_connector import plugin_registry
from k8s_operator_connector.operator_plugin import BuiltObject, Observation, OperatorPlugin, TaskRequest
from k8s_operator_connector.plugin_registry import (
    PluginRegistrationError,
    enabled_plugins,
    load_plugin_modules,
    register,
    registered_plugins,
)
from k8s_operator_connector.plugins.custom_resource import CustomResourcePlugin
from k8s_operator_connector.plugins.parallel_job import ParallelJobPlugin
from k8s_operator_connector.settings import ConnectorSettings, SettingsError


class _Plugin(OperatorPlugin):
    task_type = "spark_app"

    def build_object(self, request: TaskRequest) -> BuiltObject:
        raise NotImplementedError

    def observe(self, obj: Mapping[str, Any]) -> Observation:
        raise NotImplementedError


class _Rival(_Plugin):
    pass


class _Unnamed(_Plugin):
    task_type = ""


@pytest.fixture
def empty_registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, OperatorPlugin]:
    registry: dict[str, OperatorPlugin] = {}
    monkeypatch.setattr(plugin_registry, "_registered", registry)
    return registry


def test_the_two_plugin_modules_register_themselves():
    plugins = registered_plugins()
    assert sorted(plugins) == ["custom_resource", "parallel_job"]
    assert isinstance(plugins["parallel_job"], ParallelJobPlugin)
    assert isinstance(plugins["custom_resource"], CustomResourcePlugin)


def test_the_registry_is_read_only():
    with pytest.raises(TypeError):
        registered_plugins()["spark_app"] = _Plugin()  # type: ignore[index]


def test_register_returns_the_plugin_and_a_second_instance_of_its_class_replaces_it(empty_registry):
    first, second = _Plugin(), _Plugin()
    assert register(first) is first
    register(second)  # the module imported again, e.g. under another name
    assert empty_registry == {"spark_app": second}


def test_two_classes_for_one_task_type_are_refused_naming_both(empty_registry):
    register(_Plugin())
    twice = r"'spark_app' is registered twice: by .*\._Plugin and by .*\._Rival"
    with pytest.raises(PluginRegistrationError, match=twice):
        register(_Rival())
    assert type(empty_registry["spark_app"]) is _Plugin


@pytest.mark.parametrize(
    ("plugin", "message"), [(_Unnamed(), "_Unnamed.task_type must be a non-empty string"), (object(), "OperatorPlugin")]
)
def test_what_is_not_a_named_plugin_is_refused(empty_registry, plugin, message):
    with pytest.raises(PluginRegistrationError, match=re.escape(message)):
        register(plugin)
    assert empty_registry == {}


def test_every_plugin_module_of_a_package_is_imported_but_not_tests_or_private_helpers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_registry
):
    package = tmp_path / "registry_probe_plugins"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "spark_app.py").write_text(
        "from k8s_operator_connector.operator_plugin import OperatorPlugin\n"
        "from k8s_operator_connector.plugin_registry import register\n\n\n"
        "class SparkAppPlugin(OperatorPlugin):\n"
        "    task_type = 'spark_app'\n"
        "    build_object = observe = None\n\n\n"
        "register(SparkAppPlugin())\n"
    )
    for skipped in ("spark_app_test.py", "test_spark.py", "_shared.py", "conftest.py"):
        (package / skipped).write_text(f"raise AssertionError('{skipped} was imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    load_plugin_modules("registry_probe_plugins")
    assert list(empty_registry) == ["spark_app"]
    assert "registry_probe_plugins.spark_app" in sys.modules


def test_a_plugin_module_that_fails_to_import_stops_the_registry_with_its_error(tmp_path, monkeypatch):
    package = tmp_path / "registry_broken_plugins"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "broken.py").write_text("raise RuntimeError('broken plugin')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(RuntimeError, match="broken plugin"):
        load_plugin_modules("registry_broken_plugins")


def test_without_task_types_every_registered_plugin_is_enabled():
    enabled = enabled_plugins(ConnectorSettings())
    assert sorted(plugin.task_type for plugin in enabled) == ["custom_resource", "parallel_job"]


def test_the_configured_task_types_choose_the_plugins_once_each():
    enabled = enabled_plugins(ConnectorSettings(task_types=("parallel_job", "parallel_job")))
    assert [type(plugin) for plugin in enabled] == [ParallelJobPlugin]
    assert enabled_plugins(ConnectorSettings(task_types=())) == []


def test_a_task_type_without_a_plugin_names_the_key_and_the_registered_ones():
    with pytest.raises(SettingsError, match=r"taskTypes has 'spark'; registered plugins serve: .*parallel_job"):
        enabled_plugins(ConnectorSettings(task_types=("parallel_job", "spark")))
