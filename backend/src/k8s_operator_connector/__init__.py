"""A Flyte connector that runs tasks as Kubernetes custom resources.

The generic machinery (naming, metadata, a watch-backed status cache, abort, retention
cleanup, error mapping, log links) lives in this package; each operator is a small plugin
under :mod:`k8s_operator_connector.plugins` implementing
:class:`~k8s_operator_connector.operator_plugin.OperatorPlugin`. ``flytekit_entry_point`` (the
wheel's ``flytekit.plugins`` entry point) registers one connector per plugin with flytekit's
``ConnectorRegistry`` when ``pyflyte serve connector`` loads its plugins.
"""
