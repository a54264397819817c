"""The plugin registry: every plugin module registers its plugin with one call on its last line.

    register(JobSetPlugin())

as flytekit's connectors call ``ConnectorRegistry.register(...)`` at the end of their module
and Flyte's Go plugins call ``RegisterK8sPlugin`` in an ``init()``. The registry imports every
module of the :mod:`k8s_operator_connector.plugins` package the first time it is asked, so a
new plugin is a new file there and nothing else: the task types the connector serves, the
configuration's allowed ``taskTypes`` and the bundle tests all read them from here.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Mapping
from types import MappingProxyType
from typing import TypeVar

from k8s_operator_connector.operator_plugin import OperatorPlugin
from k8s_operator_connector.settings import ConnectorSettings
from k8s_operator_connector.settings_reader import SettingsError

PLUGIN_PACKAGE = "k8s_operator_connector.plugins"
P = TypeVar("P", bound=OperatorPlugin)

_registered: dict[str, OperatorPlugin] = {}


class PluginRegistrationError(ValueError):
    """Two plugins claim one task type, or a plugin names no usable task type."""


def register(plugin: P) -> P:
    """Registers ``plugin`` under its ``task_type`` and returns it.

    Registering another instance of the same class again replaces it (a module imported twice);
    a different class for a task type already taken is an error naming both.
    """
    if not isinstance(plugin, OperatorPlugin):
        raise PluginRegistrationError(f"register() takes an OperatorPlugin instance, got {plugin!r}")
    task_type = getattr(plugin, "task_type", None)
    if not isinstance(task_type, str) or not task_type:
        raise PluginRegistrationError(f"{_qualified(plugin)}.task_type must be a non-empty string")
    existing = _registered.get(task_type)
    if existing is not None and type(existing) is not type(plugin):
        raise PluginRegistrationError(
            f"task type {task_type!r} is registered twice: by {_qualified(existing)} and by {_qualified(plugin)}"
        )
    _registered[task_type] = plugin
    return plugin


def _qualified(plugin: object) -> str:
    return f"{type(plugin).__module__}.{type(plugin).__qualname__}"


def _is_plugin_module(name: str) -> bool:
    return not (name.startswith(("_", "test_")) or name.endswith("_test") or name == "conftest")


def load_plugin_modules(package: str = PLUGIN_PACKAGE) -> None:
    """Imports every plugin module of ``package`` (not tests, not ``_private`` helpers)."""
    module = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(module.__path__), key=lambda found: found.name):
        if _is_plugin_module(info.name):
            importlib.import_module(f"{package}.{info.name}")


def registered_plugins() -> Mapping[str, OperatorPlugin]:
    """Every registered plugin by task type, in registration order (plugin modules by name)."""
    _load_plugin_package_once()
    return MappingProxyType(_registered)


@functools.cache
def _load_plugin_package_once() -> None:
    load_plugin_modules()


def enabled_plugins(settings: ConnectorSettings) -> list[OperatorPlugin]:
    """The plugins of the configuration's ``taskTypes`` (every registered one when it is unset).

    Raises SettingsError naming ``taskTypes`` and the registered task types for one that has
    no plugin.
    """
    plugins = registered_plugins()
    if settings.task_types is None:
        return list(plugins.values())
    for task_type in settings.task_types:
        if task_type not in plugins:
            raise SettingsError(f"taskTypes has {task_type!r}; registered plugins serve: {', '.join(sorted(plugins))}")
    return [plugins[task_type] for task_type in dict.fromkeys(settings.task_types)]
