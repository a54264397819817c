"""Fixtures: an API emulator and a served connector per test module (starting one costs seconds)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kube_emulator import KubeEmulator
from reliability.harness import BUNDLE_CRD, ConnectorProcess, PropellerClient, connector_config


class Served:
    """An emulator plus a connector process configured for it."""

    def __init__(self, emulator: KubeEmulator, work_dir: Path, **config: Any) -> None:
        self.api = emulator
        self.work_dir = work_dir
        self.kubeconfig = emulator.write_kubeconfig(work_dir / "kubeconfig")
        self.connector = ConnectorProcess(work_dir, connector_config(self.kubeconfig, **config))
        self.connector.start()
        self.client: PropellerClient = self.connector.client()

    def restart_connector(self, crash: bool = True) -> None:
        """Kill (or stop) the connector process and start a new one on the same port."""
        self.client.close()
        if crash:
            self.connector.kill()
        else:
            self.connector.stop()
        self.connector.start()
        self.client = self.connector.client()

    def close(self) -> None:
        self.client.close()
        self.connector.stop()


@pytest.fixture(scope="module")
def served_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Served]]:
    made: list[tuple[Served, KubeEmulator]] = []

    def make(crds: Any = (BUNDLE_CRD,), **config: Any) -> Served:
        emulator = KubeEmulator(crds=list(crds))
        emulator.start()
        served = Served(emulator, tmp_path_factory.mktemp("served"), **config)
        made.append((served, emulator))
        return served

    yield make
    for served, emulator in made:
        served.close()
        emulator.stop()


@pytest.fixture(scope="module")
def served(served_factory: Callable[..., Served]) -> Served:
    """The module's connector with the default test configuration."""
    return served_factory()


@pytest.fixture(autouse=True)
def _no_faults_left(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "served" in request.fixturenames:
        served: Served = request.getfixturevalue("served")
        served.api.faults.clear()
