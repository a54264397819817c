"""Operator plugins: one module per operator, each ending with ``register(ItsPlugin())``.

Adding a module here is all it takes: :mod:`k8s_operator_connector.plugin_registry` imports
every module of this package (not ``*_test``, not ``_private`` helpers) and ``flytekit_entry_point``
registers one flytekit connector per plugin (see docs/writing-a-plugin.md).
"""

from __future__ import annotations

from collections.abc import Mapping

from k8s_operator_connector.operator_plugin import OperatorPlugin
from k8s_operator_connector.plugin_registry import registered_plugins


def available_plugins() -> Mapping[str, OperatorPlugin]:
    """Every registered plugin by the task type it serves (``plugin_registry.registered_plugins``)."""
    return registered_plugins()
