"""A tiny clusterwide Kopf operator runs against the emulator in a thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import kopf
import pytest

from kube_emulator import KubeEmulator, wait_until
from kube_emulator.testing.parallel_jobs import GROUP, PLURAL, VERSION, parallel_job


@pytest.fixture
def operator(api: KubeEmulator) -> Iterator[list[str]]:
    registry = kopf.OperatorRegistry()
    deleted: list[str] = []

    @kopf.on.login(registry=registry)
    def login(**_: object) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=api.url, insecure=True)

    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
    def created(spec: kopf.Spec, patch: kopf.Patch, **_: object) -> None:
        patch.status["phase"] = "Running"
        patch.status["workers"] = spec["workers"]

    @kopf.on.update(GROUP, VERSION, PLURAL, field="spec.workers", registry=registry)
    def resized(new: Any, patch: kopf.Patch, **_: object) -> None:
        patch.status["workers"] = new

    @kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry)
    def removed(name: str, **_: object) -> None:
        deleted.append(name)

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: object) -> None:
        settings.watching.server_timeout = 10
        settings.posting.level = 0

    stop, ready = threading.Event(), threading.Event()

    def run() -> None:
        asyncio.run(
            kopf.operator(registry=registry, clusterwide=True, standalone=True, stop_flag=stop, ready_flag=ready)
        )

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(60)
    try:
        yield deleted
    finally:
        stop.set()
        thread.join(60)


def test_kopf_reacts_to_a_custom_resource_and_patches_status(api, operator, custom):
    custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, parallel_job("pj", workers=2))

    def status() -> dict:
        return (api.get(PLURAL, "pj") or {}).get("status", {})

    wait_until(lambda: status().get("phase") == "Running", what="Kopf to set status.phase")
    assert status()["workers"] == 2
    # Kopf added its finalizer because a deletion handler exists.
    assert api.get(PLURAL, "pj")["metadata"]["finalizers"]

    custom.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "pj", {"spec": {"workers": 5}})
    wait_until(lambda: status().get("workers") == 5, what="Kopf to see the update")

    custom.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "pj")
    wait_until(lambda: api.get(PLURAL, "pj") is None, what="Kopf to remove its finalizer")
    assert operator == ["pj"]
