"""Serve the connectors over gRPC, optionally with TLS: ``python -m k8s_operator_connector.serve``.

``pyflyte serve connector`` listens only without TLS. This command serves the same
flytekit servicers (``AsyncConnectorService``, ``SyncConnectorService`` and
``ConnectorMetadataService``) and the same Prometheus metrics, and listens with TLS when
given a certificate and key (``--tls-cert``/``--tls-key``; ``--tls-client-ca`` also
requires client certificates signed by that CA). Without them it listens without TLS,
as ``pyflyte serve connector`` does.

The gRPC health service (``grpc.health.v1.Health``) answers on the same port, and with
``--health-port`` also without TLS on a port of its own that serves nothing else: the
kubelet's gRPC probe cannot speak TLS. The server (``""``) and the connector services are
the readiness check: NOT_SERVING until every watch has listed once, and once shutdown
begins. The service ``liveness`` is the liveness check: NOT_SERVING while a watch has been
disconnected longer than ``livenessStaleSeconds`` (:mod:`watch_health`).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import signal
import sys
from collections.abc import Sequence
from concurrent import futures
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from k8s_operator_connector.metrics import WATCHES
from k8s_operator_connector.settings import SettingsError, load_settings
from k8s_operator_connector.watch_health import Health, watch_health

DEFAULT_MODULES = ("k8s_operator_connector.flytekit_entry_point",)
LIVENESS = "liveness"
HEALTH_INTERVAL_SECONDS = 1.0
logger = logging.getLogger(__name__)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m k8s_operator_connector.serve", description=__doc__)
    parser.add_argument("--host", default="[::]", help="address to listen on (default: all)")
    parser.add_argument("--port", type=int, default=8000, help="gRPC port (default: 8000)")
    parser.add_argument("--prometheus-port", type=int, default=9090, help="metrics port; 0 turns metrics off")
    parser.add_argument("--worker", type=int, default=10, help="gRPC server threads (default: 10)")
    parser.add_argument(
        "--modules", action="append", default=None, help="modules that register connectors (repeatable)"
    )
    parser.add_argument("--tls-cert", type=Path, help="PEM certificate chain of this server")
    parser.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")
    parser.add_argument("--tls-client-ca", type=Path, help="PEM CA: require client certificates it signed")
    parser.add_argument(
        "--health-port", type=int, default=0, help="plaintext port serving only gRPC health checks; 0: none"
    )
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    if args.tls_client_ca and not args.tls_cert:
        parser.error("--tls-client-ca needs --tls-cert and --tls-key")
    if args.health_port and args.health_port in (args.port, args.prometheus_port):
        parser.error("--health-port must differ from --port and --prometheus-port")
    return args


def server_credentials(cert: Path, key: Path, client_ca: Path | None = None) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials(
        [(key.read_bytes(), cert.read_bytes())],
        root_certificates=client_ca.read_bytes() if client_ca else None,
        require_client_auth=client_ca is not None,
    )


SERVED = (
    "flyteidl.service.AsyncAgentService",
    "flyteidl.service.SyncAgentService",
    "flyteidl.service.AgentMetadataService",
)


async def health_servicer() -> health.aio.HealthServicer:
    """SERVING for the health service; the rest is set by :func:`report_health`."""
    servicer = health.aio.HealthServicer()
    await servicer.set(health.SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
    return servicer


def _status(ok: bool) -> health_pb2.HealthCheckResponse.ServingStatus.ValueType:
    return health_pb2.HealthCheckResponse.SERVING if ok else health_pb2.HealthCheckResponse.NOT_SERVING


async def report_health(servicer: health.aio.HealthServicer, state: Health) -> None:
    """Readiness on the server and the connector services, liveness on ``liveness``."""
    for service in ("", *SERVED):
        await servicer.set(service, _status(state.ready))
    await servicer.set(LIVENESS, _status(state.live))


async def report_health_forever(servicer: health.aio.HealthServicer, liveness_stale_seconds: float) -> None:
    previous = None
    while True:
        state = watch_health(WATCHES.watches(), liveness_stale_seconds)
        if state != previous:
            logger.info("health: ready=%s live=%s %s", state.ready, state.live, state.reason)
            previous = state
        await report_health(servicer, state)
        await asyncio.sleep(HEALTH_INTERVAL_SECONDS)


def start_watches() -> float:
    """Start the registered connectors' watches now (not at their first call), so readiness
    waits for the first sync; returns the liveness threshold from their settings."""
    registered = sys.modules.get("k8s_operator_connector.flytekit_entry_point")
    connectors = getattr(registered, "CONNECTORS", [])
    for connector in connectors:
        # A required but missing signing key stops the server here, naming metaSigning.keysPath.
        connector.runtime.signer.ready()
        settings = connector.runtime.settings
        connector.runtime.start_watching(connector.plugin.watch_resources(settings), connector.plugin.observe)
    if connectors:
        return float(connectors[0].runtime.settings.liveness_stale_seconds)
    return load_settings().liveness_stale_seconds


def stop_runtimes() -> None:
    """Stop the registered connectors' runtimes: watches end and the sweeper Lease is released,
    so another replica takes the sweeps over at once rather than after the lease duration."""
    registered = sys.modules.get("k8s_operator_connector.flytekit_entry_point")
    runtimes = {id(c.runtime): c.runtime for c in getattr(registered, "CONNECTORS", [])}
    for runtime in runtimes.values():
        runtime.stop()


async def serve(args: argparse.Namespace) -> None:
    from flyteidl.service.agent_pb2_grpc import (
        add_AgentMetadataServiceServicer_to_server,
        add_AsyncAgentServiceServicer_to_server,
        add_SyncAgentServiceServicer_to_server,
    )
    from flytekit.extend.backend.connector_service import (
        AsyncConnectorService,
        ConnectorMetadataService,
        SyncConnectorService,
    )

    for module in args.modules or DEFAULT_MODULES:
        importlib.import_module(module)
    if args.prometheus_port:
        from prometheus_client import start_http_server

        start_http_server(args.prometheus_port)
    server = grpc.aio.server(futures.ThreadPoolExecutor(max_workers=args.worker))
    add_AsyncAgentServiceServicer_to_server(AsyncConnectorService(), server)
    add_SyncAgentServiceServicer_to_server(SyncConnectorService(), server)
    add_AgentMetadataServiceServicer_to_server(ConnectorMetadataService(), server)
    health_checks = await health_servicer()
    liveness_stale_seconds = start_watches()
    await report_health(health_checks, watch_health(WATCHES.watches(), liveness_stale_seconds))
    reporter = asyncio.create_task(report_health_forever(health_checks, liveness_stale_seconds))
    health_pb2_grpc.add_HealthServicer_to_server(health_checks, server)
    health_server = None
    if args.health_port:
        health_server = grpc.aio.server()
        health_pb2_grpc.add_HealthServicer_to_server(health_checks, health_server)
        health_server.add_insecure_port(f"{args.host}:{args.health_port}")
    address = f"{args.host}:{args.port}"
    if args.tls_cert:
        server.add_secure_port(address, server_credentials(args.tls_cert, args.tls_key, args.tls_client_ca))
    else:
        server.add_insecure_port(address)
    await server.start()
    if health_server:
        await health_server.start()
    mode = "mTLS" if args.tls_client_ca else "TLS" if args.tls_cert else "insecure"
    print(f"k8s-operator-connector serving on {address} ({mode})", flush=True)
    if args.health_port:
        print(f"gRPC health checks without TLS on {args.host}:{args.health_port}", flush=True)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    reporter.cancel()
    await health_checks.enter_graceful_shutdown()
    await server.stop(grace=5)
    await asyncio.get_running_loop().run_in_executor(None, stop_runtimes)
    if health_server:
        await health_server.stop(grace=None)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        asyncio.run(serve(args))
    except SettingsError as error:
        print(f"k8s-operator-connector: not serving: {error}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
