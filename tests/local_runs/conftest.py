"""One embedded cluster (API emulator, operator, kubelet) and the connector, in-process, for the module.

Tasks are called as a data scientist calls them locally: flytekit's local execution submits them
through the connector registered in this process, exactly what ``pyflyte run`` does.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from embedded_cluster.cluster import EmbeddedCluster
from embedded_cluster.connector_config import DEFAULT_NAMESPACE, write_connector_config
from embedded_cluster.crd import find_crd
from embedded_cluster.worker_environment import prepare_worker_environment
from kube_emulator import KubeEmulator

CONNECTOR_CONFIG_ENV = "K8S_OPERATOR_CONNECTOR_CONFIG"


@pytest.fixture(scope="session")
def cluster() -> Iterator[EmbeddedCluster]:
    work_dir = Path(tempfile.mkdtemp(prefix="local-runs-"))
    zygote = prepare_worker_environment(os.environ, work_dir / "bin")
    with EmbeddedCluster(find_crd(), work_dir, zygote) as running:
        os.environ[CONNECTOR_CONFIG_ENV] = str(write_connector_config(work_dir / "connector.yaml", running.kubeconfig))
        import k8s_operator_connector.flytekit_entry_point  # noqa: F401 - registers the connectors with flytekit

        yield running


def objects_left(emulator: KubeEmulator, namespace: str = DEFAULT_NAMESPACE) -> list[str]:
    """``kind/name`` of every ParallelJob, Job and pod in the namespace."""
    return [
        f"{plural}/{item['metadata']['name']}"
        for plural in ("paralleljobs", "jobs", "pods")
        for item in emulator.list(plural, namespace)
    ]
