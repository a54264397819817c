"""The service config the bundle gives propeller spreads calls over every address of the name.

Propeller hands ``defaultServiceConfig`` to grpc-go unchanged (flyteorg/flyte v1.16.8, commit
51877f899c9f95e0cb5efe90444eb0c6c6ea48a9, flyteplugins/go/tasks/plugins/webapi/connector/
client.go ``getGrpcConnection``: grpc.WithDefaultServiceConfig). grpcio reads the same JSON
(gRPC's service config format), so the bundle's exact string is checked here against two live
servers. The name's addresses come from an ``ipv4:`` target listing both: in the cluster the
headless Service gives the ``dns:///`` name one address per ready pod (routing_test checks the
Service is headless and the endpoint uses ``dns:///``).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
import yaml

CONFIG = Path(__file__).resolve().parent / "flyte" / "propeller-connector.yaml"
METHOD = "/loadsharing.Who/Am"
# A bound on calls, not on time: round_robin takes turns over the connections that are ready,
# so once the second connection is up the next call or two reach it.
MAX_CALLS = 5000


def _bundle_service_config() -> str:
    connectors = yaml.safe_load(CONFIG.read_text())["plugins"]["connector-service"]["connectors"]
    return str(connectors["k8s-operator-connector"]["defaultServiceConfig"])


def _server(name: bytes) -> tuple[grpc.Server, int]:
    handler = grpc.method_handlers_generic_handler(
        "loadsharing.Who", {"Am": grpc.unary_unary_rpc_method_handler(lambda request, context: name)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), handlers=[handler])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


@pytest.fixture
def two_replicas() -> Iterator[str]:
    """A target naming two live servers, as a headless Service's name resolves to two pods."""
    first, first_port = _server(b"first")
    second, second_port = _server(b"second")
    try:
        yield f"ipv4:127.0.0.1:{first_port},127.0.0.1:{second_port}"
    finally:
        first.stop(None)
        second.stop(None)


def _servers_reached(target: str, options: list[tuple[str, str | int]], calls: int) -> set[bytes]:
    """Which servers answered, calling until both did or ``calls`` calls were made."""
    with grpc.insecure_channel(target, options=options) as channel:
        ask = channel.unary_unary(METHOD)
        answers: set[bytes] = set()
        for _ in range(calls):
            answers.add(ask(b"", wait_for_ready=True, timeout=60))
            if answers == {b"first", b"second"}:
                break
        return answers


def test_the_bundles_service_config_sends_calls_to_both_replicas(two_replicas):
    options: list[tuple[str, str | int]] = [
        ("grpc.service_config", _bundle_service_config()),
        # Only the service config chooses the balancer, as in propeller (no resolver config).
        ("grpc.service_config_disable_resolution", 1),
    ]
    assert _servers_reached(two_replicas, options, MAX_CALLS) == {b"first", b"second"}


def test_without_a_service_config_every_call_reaches_one_replica(two_replicas):
    """gRPC's default balancer, pick_first: what propeller does without the setting."""
    options: list[tuple[str, str | int]] = [("grpc.service_config_disable_resolution", 1)]
    assert len(_servers_reached(two_replicas, options, 200)) == 1
