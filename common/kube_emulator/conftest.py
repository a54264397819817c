"""Fixtures of the emulator's tests: an emulator serving the ParallelJob CRD and clients of it."""

from __future__ import annotations

from collections.abc import Iterator

import kubernetes.client  # type: ignore[import-untyped]
import pytest

from kube_emulator import KubeEmulator
from kube_emulator.testing.parallel_jobs import CRD_FILE


@pytest.fixture
def api() -> Iterator[KubeEmulator]:
    with KubeEmulator(crds=[CRD_FILE]) as emulator:
        yield emulator


@pytest.fixture
def client(api: KubeEmulator) -> Iterator[kubernetes.client.ApiClient]:
    with api.api_client() as api_client:
        yield api_client


@pytest.fixture
def core(client: kubernetes.client.ApiClient) -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(client)


@pytest.fixture
def custom(client: kubernetes.client.ApiClient) -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(client)


@pytest.fixture
def batch(client: kubernetes.client.ApiClient) -> kubernetes.client.BatchV1Api:
    return kubernetes.client.BatchV1Api(client)
