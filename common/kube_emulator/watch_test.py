from __future__ import annotations

import threading

import kubernetes.watch  # type: ignore[import-untyped]
import pytest
from kubernetes.client import ApiException  # type: ignore[import-untyped]

from kube_emulator import KubeEmulator, wait_until


def _stream(core, **kwargs) -> list[tuple[str, str, str]]:
    events = kubernetes.watch.Watch().stream(core.list_namespaced_config_map, "default", **kwargs)
    return [(e["type"], e["object"].metadata.name if e["type"] != "ERROR" else "", "") for e in events]


def test_watch_without_resource_version_starts_with_added_for_existing(core):
    core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    seen = _stream(core, timeout_seconds=1)
    assert seen == [("ADDED", "a", "")]


def test_watch_from_resource_version_replays_later_events(core):
    first = core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    core.patch_namespaced_config_map("a", "default", {"data": {"k": "v"}})
    core.create_namespaced_config_map("default", {"metadata": {"name": "b"}})
    core.delete_namespaced_config_map("b", "default")
    seen = _stream(core, resource_version=first.metadata.resource_version, timeout_seconds=1)
    assert seen == [("MODIFIED", "a", ""), ("ADDED", "b", ""), ("DELETED", "b", "")]


def test_watch_delivers_live_events_with_selectors(api, core):
    received: list[tuple[str, str]] = []
    watch = kubernetes.watch.Watch()

    def consume() -> None:
        for event in watch.stream(
            core.list_namespaced_config_map,
            "default",
            label_selector="app=x",
            resource_version=str(api.resource_version),
            timeout_seconds=60,
        ):
            received.append((event["type"], event["object"].metadata.name))
            if event["type"] == "DELETED":
                watch.stop()

    consumer = threading.Thread(target=consume)
    consumer.start()
    wait_until(lambda: api.store.collection(("", "configmaps")).watchers, what="the watch to open")
    core.create_namespaced_config_map("default", {"metadata": {"name": "other"}})
    core.create_namespaced_config_map("default", {"metadata": {"name": "a", "labels": {"app": "x"}}})
    core.patch_namespaced_config_map("a", "default", {"metadata": {"labels": {"app": "y"}}})
    consumer.join(60)
    # Leaving the selector is seen as DELETED, like the real API server does.
    assert received == [("ADDED", "a"), ("DELETED", "a")]


def test_too_old_resource_version_gets_410_error_event(api, core):
    old = core.create_namespaced_config_map("default", {"metadata": {"name": "a"}}).metadata.resource_version
    core.patch_namespaced_config_map("a", "default", {"data": {"k": "v"}})
    api.faults.compact()
    # The official client raises ApiException(410) on the ERROR event.
    with pytest.raises(ApiException) as raised:
        list(
            kubernetes.watch.Watch().stream(
                core.list_namespaced_config_map, "default", resource_version=old, timeout_seconds=1
            )
        )
    assert raised.value.status == 410


def test_window_bounds_history():
    with KubeEmulator(watch_window=3) as api, api.api_client() as client:
        core = kubernetes.client.CoreV1Api(client)
        start = str(api.resource_version)
        for i in range(5):
            core.create_namespaced_config_map("default", {"metadata": {"name": f"c{i}"}})
        with pytest.raises(ApiException) as raised:
            list(
                kubernetes.watch.Watch().stream(
                    core.list_namespaced_config_map, "default", resource_version=start, timeout_seconds=1
                )
            )
        assert raised.value.status == 410


def test_expire_watches_fault_forces_410_once(api, core):
    rv = str(api.resource_version)
    api.faults.expire_watches()

    with pytest.raises(ApiException) as raised:
        list(
            kubernetes.watch.Watch().stream(
                core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=1
            )
        )
    assert raised.value.status == 410
    assert (
        list(
            kubernetes.watch.Watch().stream(
                core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=1
            )
        )
        == []
    )


def test_expire_watches_of_one_resource_leaves_other_watches_alone(api, core):
    rv = str(api.resource_version)
    api.faults.expire_watches(resource="configmaps")

    def watch(list_function):
        return list(kubernetes.watch.Watch().stream(list_function, "default", resource_version=rv, timeout_seconds=1))

    assert watch(core.list_namespaced_secret) == []
    with pytest.raises(ApiException) as raised:
        watch(core.list_namespaced_config_map)
    assert raised.value.status == 410
    assert watch(core.list_namespaced_config_map) == []


def test_close_watches_ends_open_streams_and_clients_rewatch(api, core):
    watch = kubernetes.watch.Watch()
    received: list[str] = []

    def consume() -> None:
        # Without timeout_seconds the official client re-opens a watch that the server ended.
        for event in watch.stream(
            core.list_namespaced_config_map, "default", resource_version=str(api.resource_version)
        ):
            received.append(event["object"].metadata.name)
            watch.stop()

    consumer = threading.Thread(target=consume)
    consumer.start()
    watchers = api.store.collection(("", "configmaps")).watchers
    wait_until(lambda: watchers, what="the watch to open")
    assert api.faults.close_watches() == 1
    wait_until(
        lambda: api.requests.count(verb="watch", resource="configmaps") == 2 and watchers,
        what="the client to watch again",
    )
    core.create_namespaced_config_map("default", {"metadata": {"name": "after"}})
    consumer.join(60)
    assert received == ["after"]


def test_restart_keeps_state_and_port_or_wipes(api, core):
    core.create_namespaced_config_map("default", {"metadata": {"name": "kept"}})
    port = api.port
    api.stop()
    api.start()
    assert api.port == port
    assert core.read_namespaced_config_map("kept", "default").metadata.name == "kept"
    api.stop()
    api.start(wipe=True)
    assert [c.metadata.name for c in core.list_namespaced_config_map("default").items] == []
    # The CRDs given to the constructor are installed again after a wipe.
    assert api.get("customresourcedefinitions", "paralleljobs.workloads.example.com") is not None


def test_a_watch_whose_client_went_away_is_unregistered_without_waiting_for_an_event(api):
    """aiohttp cancels the handler of a closed connection: an idle watch does not linger."""
    import socket

    watchers = api.store.collection(("", "configmaps")).watchers
    with socket.create_connection(("127.0.0.1", api.port), timeout=10) as connection:
        connection.sendall(b"GET /api/v1/namespaces/default/configmaps?watch=true HTTP/1.1\r\nHost: x\r\n\r\n")
        assert connection.recv(4096).startswith(b"HTTP/1.1 200 OK")
        wait_until(lambda: len(watchers) == 1, what="the watch to open")
    wait_until(lambda: not watchers, timeout=30, what="the closed watch to be unregistered")


def test_a_watch_streams_chunks_and_ends_with_the_last_chunk_when_the_emulator_cuts_it(api):
    import socket

    with socket.create_connection(("127.0.0.1", api.port), timeout=30) as connection:
        connection.sendall(b"GET /api/v1/namespaces/default/configmaps?watch=true HTTP/1.1\r\nHost: x\r\n\r\n")
        head = connection.recv(4096)
        assert b"Transfer-Encoding: chunked" in head, head
        wait_until(lambda: api.store.collection(("", "configmaps")).watchers, what="the watch to open")
        assert api.faults.close_watches() == 1
        received = head
        while not received.endswith(b"0\r\n\r\n"):
            chunk = connection.recv(4096)
            assert chunk, received
            received += chunk
