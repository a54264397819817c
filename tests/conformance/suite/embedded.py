"""The embedded cluster the suite starts for itself: the API emulator with the bundle's CRD, the
example (Kopf) operator as a child process, the local kubelet, and ``pyflyte serve connector``.

The suite then reaches it as it reaches any cluster: through the kubeconfig written here and the
connector's gRPC address. The connector's configuration is also stored where the bundle keeps it
(a ConfigMap in namespace ``flyte``), so the suite reads it the same way. Only fault injection
(``faults``) is beyond what a real cluster offers.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from conformance.suite.cluster import CONFIG_MAPS, CONNECTOR_CONFIG_KEY, ClusterView, wait_for
from embedded_cluster.cluster import EmbeddedCluster
from kube_emulator.faults import Faults
from reliability.harness import BUNDLE_CRD, ConnectorProcess, connector_config

CONFIG_NAMESPACE = "flyte"
KUBECONFIG_WAIT_SECONDS = 60.0
CONFIG_MAP_NAME = "flyte-k8s-operator-connector-config-embedded"
POD_DEFAULTS = {
    "default-labels": {"conformance.flyte-operator-kit/pod-default": "label"},
    "default-annotations": {"conformance.flyte-operator-kit/pod-default": "annotation"},
    "default-env-vars": {"CONFORMANCE_POD_DEFAULT": "env"},
}


def embedded_connector_config(kubeconfig: Path) -> dict[str, Any]:
    """The reliability tests' connector configuration with a short retention and podDefaults to check."""
    config = connector_config(
        kubeconfig,
        finishedRetentionSeconds=2,
        cleanupIntervalSeconds=0.5,
        podDefaults=POD_DEFAULTS,
    )
    config["taskPolicy"] = {"serviceAccounts": ["default"]}
    return config


class EmbeddedTarget:
    """The embedded cluster and a served connector: started in that order, stopped in reverse."""

    def __init__(
        self, work_dir: Path, extra_crds: Sequence[dict[str, Any]] = (), pythonpath: Sequence[Path] = ()
    ) -> None:
        """``extra_crds``: CRDs installed beside the bundle's (e.g. a plugin's kind); ``pythonpath``:
        source roots the connector searches first (e.g. a copy of the repository with a new plugin)."""
        self.work_dir = work_dir
        self.cluster = EmbeddedCluster(BUNDLE_CRD, work_dir)
        self.extra_crds = list(extra_crds)
        self.pythonpath = list(pythonpath)
        self.connector: ConnectorProcess | None = None

    @property
    def kubeconfig(self) -> Path:
        return self.cluster.kubeconfig

    @property
    def address(self) -> str:
        assert self.connector is not None
        return self.connector.address

    @property
    def faults(self) -> Faults:
        return self.cluster.emulator.faults

    def start(self) -> EmbeddedTarget:
        """The connector starts while the operator does (each is a Python process importing for
        seconds; on 2 cores that halves the wait): it needs only the API, up right after the
        emulator starts and writes the kubeconfig."""
        failures: list[BaseException] = []
        serving = threading.Thread(target=self._serve_connector, args=(failures,), name="connector-start")
        serving.start()
        try:
            self.cluster.start()
        finally:
            serving.join()
        if failures:
            raise failures[0]
        return self

    def _serve_connector(self, failures: list[BaseException]) -> None:
        try:
            if not wait_for(self.kubeconfig.exists, KUBECONFIG_WAIT_SECONDS):
                raise TimeoutError(f"the emulator wrote no kubeconfig within {KUBECONFIG_WAIT_SECONDS:.0f} s")
            for crd in self.extra_crds:
                self.cluster.emulator.install_crd(crd)
            config = embedded_connector_config(self.kubeconfig)
            view = ClusterView(self.kubeconfig)
            try:
                body = {"metadata": {"name": CONFIG_MAP_NAME}, "data": {CONNECTOR_CONFIG_KEY: yaml.safe_dump(config)}}
                view.create(CONFIG_MAPS, CONFIG_NAMESPACE, body)
            finally:
                view.close()
            self.connector = ConnectorProcess(self.work_dir, config, pythonpath=self.pythonpath).start()
        except BaseException as error:  # re-raised by start(), in the caller's thread
            failures.append(error)

    def restart_connector(self) -> None:
        """A new connector process on the same port: it imports the plugins' sources afresh."""
        assert self.connector is not None
        self.connector.stop()
        self.connector.start()

    def stop(self) -> None:
        if self.connector is not None:
            self.connector.stop()
        self.cluster.stop()

    def __enter__(self) -> EmbeddedTarget:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
