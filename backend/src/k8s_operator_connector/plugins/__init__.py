"""Operator plugins: one module per operator (see docs/writing-a-plugin.md).

:func:`available_plugins` lists them without side effects (``connectors`` registers them with
flytekit on import). ``./pants run build-support:new-plugin`` adds generated plugins here.
"""

from __future__ import annotations

from k8s_operator_connector.plugin import OperatorPlugin
from k8s_operator_connector.plugins.custom_resource import CustomResourcePlugin
from k8s_operator_connector.plugins.parallel_job import ParallelJobPlugin


def available_plugins() -> dict[str, OperatorPlugin]:
    """One instance of every plugin, by the task type it serves."""
    plugins: list[OperatorPlugin] = [
        ParallelJobPlugin(),
        CustomResourcePlugin(),
        # new-plugin: registrations (`./pants run build-support:new-plugin` adds plugins above this line)
    ]
    return {plugin.task_type: plugin for plugin in plugins}
