"""Reading the connector's Prometheus metrics in tests."""

from __future__ import annotations

from prometheus_client import REGISTRY


def metric_value(name: str, **labels: str) -> float:
    """The current value of one of the connector's metrics in the default registry (0 if unset)."""
    return REGISTRY.get_sample_value(f"k8s_operator_connector_{name}", labels) or 0.0
