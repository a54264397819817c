"""The connector served over gRPC (``python -m k8s_operator_connector.serve``) as a child process,
as propeller (or the conformance suite) reaches it: ready once its gRPC health check says SERVING,
that is once every watch has listed."""

from __future__ import annotations

import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from embedded_cluster.child_process import ChildProcess, environment_with, free_port

CONNECTOR_CONFIG_ENV = "K8S_OPERATOR_CONNECTOR_CONFIG"
CONNECTOR_START_TIMEOUT_SECONDS = 180.0


def is_serving(address: str) -> bool:
    """Whether the gRPC health check (the server, ``""``) at ``address`` answers SERVING."""
    with grpc.insecure_channel(address) as channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
        except grpc.RpcError:
            return False
    return bool(response.status == health_pb2.HealthCheckResponse.SERVING)


class ConnectorServer(ChildProcess):
    """The connector with the settings in ``config`` (a YAML file), on a free port of 127.0.0.1."""

    def __init__(self, config: Path, log_path: Path) -> None:
        super().__init__("connector", log_path)
        self.config = config
        self.port = 0

    @property
    def address(self) -> str:
        """``HOST:PORT`` of its gRPC services (no TLS)."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> ConnectorServer:
        self.port = free_port()
        command = [sys.executable, "-m", "k8s_operator_connector.serve", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--prometheus-port", "0"]
        self.launch(command, environment_with({CONNECTOR_CONFIG_ENV: str(self.config), "PYTHONUNBUFFERED": "1"}))
        self.wait_until(lambda: is_serving(self.address), CONNECTOR_START_TIMEOUT_SECONDS)
        return self
