"""Security: no secret in logs or answers; the connector's gRPC port with TLS and mTLS.

The secret travels as propeller sends it, in the task's container env and in the
execution metadata's env vars. It legitimately reaches the Kubernetes object (the pods
need it); it must not reach the connector's log, a phase message, custom info or a log link.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from flyteidl.core.execution_pb2 import TaskExecution
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from benchmarks.processes import free_port
from reliability.conftest import Served
from reliability.harness import (
    NAMESPACE,
    PARALLEL_JOBS,
    ConnectorProcess,
    PropellerClient,
    connector_config,
    create_request,
    parallel_jobs,
    set_status,
)

SECRET = "s3cr3t-Tok3n-9f8e7d6c5b4a"
QUOTA_MESSAGE = (
    'paralleljobs "x" is forbidden: exceeded quota: compute, requested: pods=2, used: pods=9, limited: pods=10'
)


def secret_request(execution: str, **kwargs):
    return create_request(
        execution=execution,
        env={"API_TOKEN": SECRET, "PLAIN": "visible"},
        container_env={"DB_PASSWORD": SECRET},
        **kwargs,
    )


def answers_text(client: PropellerClient, include_meta: bool = True) -> str:
    parts = []
    for answer in client.answers:
        if hasattr(answer, "resource_meta") and not include_meta:
            continue
        parts.append(json_format.MessageToJson(answer))
        if hasattr(answer, "resource_meta"):
            parts.append(answer.resource_meta.decode(errors="replace"))
    return "\n".join(parts)


def test_secrets_stay_out_of_logs_messages_custom_info_and_log_links(served: Served):
    client = served.client
    client.answers.clear()
    # Succeeds; fails by the operator; fails by bad input; fails by RBAC; vanishes behind our back.
    ok = client.start_task(secret_request("sec-ok"))
    bad = client.start_task(secret_request("sec-bad", custom={"workers": 0}))
    failing = client.start_task(secret_request("sec-fail"))
    vanishing = client.start_task(secret_request("sec-gone"))
    rule = served.api.faults.forbid(verb="create", resource="paralleljobs")
    forbidden = client.start_task(secret_request("sec-forbidden"))
    served.api.faults.remove(rule)
    names = {o["metadata"]["name"]: o for o in parallel_jobs(served.api)}
    name = {ex: next(n for n in names if ex in n) for ex in ("sec-ok", "sec-fail", "sec-gone")}
    # The pods do get the secret: it is in the object, where Kubernetes keeps pod env.
    assert SECRET in str(names[name["sec-ok"]]["spec"]["template"])
    set_status(served.api, name["sec-ok"], "Running")
    client.poll_until_phase(ok, TaskExecution.RUNNING)
    set_status(served.api, name["sec-ok"], "Succeeded")
    set_status(served.api, name["sec-fail"], "Failed", reason="BackoffLimitExceeded", message="worker 1 exited 1")
    served.api.delete(PARALLEL_JOBS, name["sec-gone"], NAMESPACE)
    assert client.poll_until_terminal(ok).phase == TaskExecution.SUCCEEDED
    assert client.poll_until_terminal(failing).phase == TaskExecution.RETRYABLE_FAILED
    assert client.poll_until_terminal(vanishing).phase == TaskExecution.RETRYABLE_FAILED
    assert client.poll_until_terminal(bad).phase == TaskExecution.FAILED
    assert client.poll_until_terminal(forbidden).phase == TaskExecution.FAILED
    assert any(answer.log_links for answer in (ok.last, failing.last) if answer is not None)
    for run in (ok, bad, failing, vanishing, forbidden):
        client.abort(run)
    text = answers_text(client)
    assert "custom.workers" in text and "workers running" in text  # the scan sees real answers
    assert SECRET not in text
    log = served.connector.log_text()
    assert log.strip(), "the connector's log was captured"
    assert SECRET not in log


def test_quota_wait_keeps_secrets_out_of_resource_meta(served: Served):
    served.api.faults.add(verb="create", resource="paralleljobs", status=403, message=QUOTA_MESSAGE)
    run = served.client.start_task(secret_request("sec-quota"))
    waiting = served.client.get("parallel_job", run.resource_meta)
    assert waiting.phase == TaskExecution.WAITING_FOR_RESOURCES
    assert SECRET not in waiting.message
    served.api.faults.clear()
    served.client.abort(run)
    assert SECRET not in served.connector.log_text()
    assert SECRET.encode() not in run.resource_meta


# -- TLS ---------------------------------------------------------------------------------------


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(directory: Path, name: str) -> None:
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.crt",
            "-days", "1", "-subj", f"/CN={name}", cwd=directory)  # fmt: skip


def make_cert(directory: Path, ca: str, name: str, usage: str) -> None:
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", "/CN=localhost", cwd=directory)  # fmt: skip
    (directory / f"{name}.ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        f"keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage={usage}\n"
    )
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-out", f"{name}.crt", "-days", "1", "-extfile", f"{name}.ext", cwd=directory)  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    make_ca(directory, "ca")
    make_ca(directory, "other-ca")
    make_cert(directory, "ca", "server", "serverAuth")
    make_cert(directory, "ca", "client", "clientAuth")
    make_cert(directory, "other-ca", "stranger", "clientAuth")
    return directory


def credentials(pki: Path, ca: str = "ca", client: str = "") -> grpc.ChannelCredentials:
    if client:
        return grpc.ssl_channel_credentials(
            (pki / f"{ca}.crt").read_bytes(), (pki / f"{client}.key").read_bytes(), (pki / f"{client}.crt").read_bytes()
        )
    return grpc.ssl_channel_credentials((pki / f"{ca}.crt").read_bytes())


def serve_module(served: Served, pki: Path, label: str, args: list[str], creds) -> ConnectorProcess:
    process = ConnectorProcess(
        served.work_dir,
        connector_config(served.kubeconfig),
        label=label,
        serve_module=True,
        extra_args=args,
        credentials=creds,
    )
    return process.start()


def assert_rejected(address: str, creds: grpc.ChannelCredentials | None) -> None:
    client = PropellerClient(address, creds)
    try:
        with pytest.raises(grpc.RpcError) as raised:
            client.list_agents(timeout=5)
        assert raised.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    finally:
        client.close()


def run_flow(served: Served, client: PropellerClient, execution: str) -> None:
    categories = {c.name for agent in client.list_agents().agents for c in agent.supported_task_categories}
    assert {"parallel_job", "custom_resource"} <= categories
    run = client.start_task(create_request(execution=execution))
    name = next(o["metadata"]["name"] for o in parallel_jobs(served.api) if execution in o["metadata"]["name"])
    set_status(served.api, name, "Succeeded")
    assert client.poll_until_terminal(run).phase == TaskExecution.SUCCEEDED
    client.abort(run)


@pytest.fixture
def processes() -> Iterator[list[ConnectorProcess]]:
    started: list[ConnectorProcess] = []
    yield started
    for process in started:
        process.stop()


def test_tls_serves_clients_that_trust_the_ca_and_refuses_others(served: Served, pki: Path, processes):
    tls = serve_module(
        served, pki, "tls", ["--tls-cert", str(pki / "server.crt"), "--tls-key", str(pki / "server.key")],
        credentials(pki),
    )  # fmt: skip
    processes.append(tls)
    client = tls.client()
    try:
        run_flow(served, client, "tls-flow")
    finally:
        client.close()
    address = f"127.0.0.1:{tls.port}"
    assert_rejected(address, None)  # plaintext
    assert_rejected(address, credentials(pki, ca="other-ca"))  # does not trust our CA
    assert "(TLS)" in tls.log_text()


def test_mtls_requires_a_client_certificate_from_the_ca(served: Served, pki: Path, processes):
    args = ["--tls-cert", str(pki / "server.crt"), "--tls-key", str(pki / "server.key")]
    mtls = serve_module(
        served, pki, "mtls", [*args, "--tls-client-ca", str(pki / "ca.crt")], credentials(pki, client="client")
    )
    processes.append(mtls)
    client = mtls.client()
    try:
        run_flow(served, client, "mtls-flow")
    finally:
        client.close()
    address = f"127.0.0.1:{mtls.port}"
    assert_rejected(address, credentials(pki))  # no client certificate
    assert_rejected(address, credentials(pki, client="stranger"))  # signed by another CA


def test_serve_module_without_tls_listens_like_pyflyte(served: Served, pki: Path, processes):
    plain = serve_module(served, pki, "plain", [], None)
    processes.append(plain)
    client = plain.client()
    try:
        run_flow(served, client, "plain-flow")
    finally:
        client.close()
    assert "(insecure)" in plain.log_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tls-cert", "x.crt"], "--tls-cert and --tls-key go together"),
        (["--tls-client-ca", "ca.crt"], "--tls-client-ca needs --tls-cert"),
    ],
)
def test_serve_module_refuses_half_a_tls_configuration(args: list[str], message: str, capsys):
    from k8s_operator_connector.serve import parse_args

    with pytest.raises(SystemExit):
        parse_args(args)
    assert message in capsys.readouterr().err


# -- health checks next to TLS (the production overlay's probes) -------------------------------


def health_status(channel: grpc.Channel, service: str = "") -> int:
    check = health_pb2_grpc.HealthStub(channel).Check
    return check(health_pb2.HealthCheckRequest(service=service), timeout=5).status


def test_health_answers_over_tls_and_alone_without_tls_on_the_health_port(served: Served, pki: Path, processes):
    health_port = free_port()
    args = ["--tls-cert", str(pki / "server.crt"), "--tls-key", str(pki / "server.key")]
    tls = serve_module(served, pki, "tls-health", [*args, "--health-port", str(health_port)], credentials(pki))
    processes.append(tls)
    serving = health_pb2.HealthCheckResponse.SERVING
    with grpc.secure_channel(f"127.0.0.1:{tls.port}", credentials(pki)) as channel:
        for service in ("", "flyteidl.service.AsyncAgentService", "flyteidl.service.AgentMetadataService"):
            assert health_status(channel, service) == serving, service
        with pytest.raises(grpc.RpcError) as unknown:
            health_status(channel, "no.such.Service")
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    with grpc.insecure_channel(f"127.0.0.1:{health_port}") as channel:
        assert health_status(channel) == serving  # what the kubelet's gRPC probe asks
        # The plaintext port serves health checks and nothing else.
        client = PropellerClient(f"127.0.0.1:{health_port}")
        try:
            with pytest.raises(grpc.RpcError) as refused:
                client.list_agents(timeout=5)
        finally:
            client.close()
        assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert f"health checks without TLS on 127.0.0.1:{health_port}" in tls.log_text()


def test_serve_module_refuses_a_health_port_that_is_taken_by_another_listener(capsys):
    from k8s_operator_connector.serve import parse_args

    for args in (["--port", "8000", "--health-port", "8000"], ["--health-port", "9090"]):
        with pytest.raises(SystemExit):
            parse_args(args)
        assert "--health-port must differ from --port and --prometheus-port" in capsys.readouterr().err
