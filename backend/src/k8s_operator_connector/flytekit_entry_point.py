"""Registers this package's connectors with flytekit (the `flytekit.plugins` entry point).

``pyflyte serve connector`` imports every installed flytekit plugin; importing this
module validates the configuration (a bad file stops the server with a message naming
the key) and registers one connector per enabled plugin of the plugin registry
(``taskTypes`` of the configuration, or every registered plugin).
"""

from __future__ import annotations

from flytekit.extend.backend.base_connector import ConnectorRegistry

from k8s_operator_connector.connector import OperatorConnector
from k8s_operator_connector.plugin_registry import enabled_plugins
from k8s_operator_connector.runtime import ConnectorRuntime
from k8s_operator_connector.settings import load_settings


def register_connectors(runtime: ConnectorRuntime) -> list[OperatorConnector]:
    connectors = [OperatorConnector(plugin, runtime) for plugin in enabled_plugins(runtime.settings)]
    for connector in connectors:
        ConnectorRegistry.register(connector, override=True)
    return connectors


RUNTIME = ConnectorRuntime(load_settings())
CONNECTORS = register_connectors(RUNTIME)
