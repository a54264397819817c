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

from flyte_operator_demo.connector_config import DEFAULT_NAMESPACE, write_connector_config
from flyte_operator_demo.local_cluster import LocalCluster
from flyte_operator_demo.paths import find_crd
from flyte_operator_demo.worker_environment import prepare_worker_environment
from kube_emulator import KubeEmulator

CONNECTOR_CONFIG_ENV = "K8S_OPERATOR_CONNECTOR_CONFIG"


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    work_dir = Path(tempfile.mkdtemp(prefix="local-runs-"))
    prepare_worker_environment(os.environ, work_dir / "bin")
    with LocalCluster(find_crd(), work_dir) as running:
        os.environ[CONNECTOR_CONFIG_ENV] = str(write_connector_config(work_dir / "connector.yaml", running.kubeconfig))
        import k8s_operator_connector.connectors  # noqa: F401 - registers the connectors with flytekit

        yield running


def objects_left(emulator: KubeEmulator, namespace: str = DEFAULT_NAMESPACE) -> list[str]:
    """``kind/name`` of every ParallelJob, Job and pod in the namespace."""
    return [
        f"{plural}/{item['metadata']['name']}"
        for plural in ("paralleljobs", "jobs", "pods")
        for item in emulator.list(plural, namespace)
    ]
