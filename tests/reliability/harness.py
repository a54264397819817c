"""The served connector under test: the API emulator, a `pyflyte serve connector` child
process, a client that calls it as Flyte's propeller does, and an operator stand-in.

Everything talks over real sockets: the connector is a separate process that reads its
configuration from a YAML file and reaches the emulator over HTTP, and the tests reach
the connector over gRPC, so what is proven is what a deployment would run.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, TypeVar

import grpc
import yaml
from flyteidl.admin import agent_pb2
from flyteidl.core.execution_pb2 import TaskExecution
from flyteidl.service import agent_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from benchmarks.processes import child_environment, free_port, rss_kib, scrape_metrics
from k8s_operator_connector.testing.flyte_models import make_metadata, make_template
from k8s_operator_connector.testing.signing_keys import write_signing_key
from kube_emulator import KubeEmulator, wait_until
from kube_emulator.faults import FaultRule
from kube_emulator.kubelet.forked_popen import ForkedPopen, PythonLauncher

BUNDLE_CRD = Path("operator_bundle/config/crd/bases/workloads.example.com_paralleljobs.yaml")
PARALLEL_JOBS = "paralleljobs.workloads.example.com"
NAMESPACE = "flytesnacks-development"
PYFLYTE_MAIN = "from flytekit.clis.sdk_in_container.pyflyte import main; main()"
TERMINAL = frozenset({TaskExecution.SUCCEEDED, TaskExecution.FAILED, TaskExecution.RETRYABLE_FAILED})
PHASE = TaskExecution.Phase.Name
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def phase_name(phase: int) -> str:
    return str(PHASE(phase))


# -- the connector's configuration -------------------------------------------------------


def connector_config(kubeconfig: Path, **overrides: Any) -> dict[str, Any]:
    """The YAML document of K8S_OPERATOR_CONNECTOR_CONFIG; ``api`` overrides merge.

    Metas are signed with the tests' key, written beside the kubeconfig as a Secret would be mounted.
    """
    api = {"kubeconfig": str(kubeconfig), "qps": 500, "burst": 1000, "timeoutSeconds": 5, "maxRetries": 5}
    api.update(overrides.pop("api", {}))
    config: dict[str, Any] = {
        "metaSigning": {"mode": "required", "keysPath": str(write_signing_key(kubeconfig.parent))},
        "defaultNamespace": NAMESPACE,
        # The execution metadata's service account (make_metadata) must be admitted.
        "taskPolicy": {"serviceAccounts": ["default", "flyte-worker"]},
        "finishedRetentionSeconds": 600,
        "cleanupIntervalSeconds": 0.5,
        "staleAfterSeconds": 300,
        "api": api,
        "logLinks": [
            {"name": "kubectl", "template": "kubectl logs -n {{ .namespace }} {{ .podName }}"},
            {"name": "dashboard", "template": "https://grafana.example.com/d/{{ .namespace }}/{{ .objectName }}"},
        ],
        "customResource": {
            "allowedKinds": [{"group": "batch", "version": "v1", "kind": "Job", "plural": "jobs"}],
            "maxManifestBytes": 16 * 1024,
        },
    }
    config.update(overrides)
    return config


# -- the served connector ----------------------------------------------------------------

#: What `pyflyte serve connector` imports before it reads its configuration: imported once, in
#: the zygote these processes are forked from (docs/kube-emulator.md lists how that differs).
CONNECTOR_PRELOAD = ("flytekit.clis.sdk_in_container.pyflyte", "kubernetes", "grpc", "prometheus_client")


@functools.cache
def python_launcher() -> PythonLauncher:
    """One zygote per test process, with the environment every connector child starts from."""
    launcher = PythonLauncher(CONNECTOR_PRELOAD, child_environment({"PYTHONUNBUFFERED": "1"}))
    atexit.register(launcher.stop)
    return launcher


@dataclass
class ConnectorProcess:
    """`pyflyte serve connector` (or ``python -m k8s_operator_connector.serve``) as a child."""

    work_dir: Path
    config: dict[str, Any]
    label: str = "connector"
    serve_module: bool = False  # True: our TLS-capable server instead of pyflyte's
    extra_args: list[str] = field(default_factory=list)
    # Source roots searched before this process's own, e.g. a copy with a generated plugin.
    pythonpath: list[Path] = field(default_factory=list)
    credentials: grpc.ChannelCredentials | None = None
    server_name: str = ""
    port: int = 0
    metrics_port: int = 0
    process: subprocess.Popen[Any] | ForkedPopen | None = None
    log_path: Path | None = None
    _log: TextIO | None = None
    starts: int = 0

    def start(self, timeout: float = 180.0) -> ConnectorProcess:
        self.starts += 1
        self.port = self.port or free_port()
        self.metrics_port = free_port()  # a fresh one per start, as before: a killed process may hold the old
        config_path = self.work_dir / f"{self.label}-config.yaml"
        config_path.write_text(yaml.safe_dump(self.config))
        if self.serve_module:
            command = [sys.executable, "-m", "k8s_operator_connector.serve", "--host", "127.0.0.1"]
            command += ["--port", str(self.port), "--prometheus-port", str(self.metrics_port), *self.extra_args]
        else:
            command = [sys.executable, "-c", PYFLYTE_MAIN, "serve", "connector", "--port", str(self.port)]
            command += [
                "--prometheus_port",
                str(self.metrics_port),
                "--modules",
                "k8s_operator_connector.flytekit_entry_point",
            ]
        self.log_path = self.work_dir / f"{self.label}-{self.starts}.log"
        self._log = self.log_path.open("w")
        environment = child_environment(
            {"K8S_OPERATOR_CONNECTOR_CONFIG": str(config_path), "PYTHONUNBUFFERED": "1"}, self.pythonpath
        )
        self.process = python_launcher().popen(command, environment, os.getcwd(), self._log)
        self.wait_ready(timeout)
        return self

    @property
    def address(self) -> str:
        return f"{self.server_name or '127.0.0.1'}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def client(self) -> PropellerClient:
        return PropellerClient(f"127.0.0.1:{self.port}", self.credentials, self.server_name)

    def wait_ready(self, timeout: float) -> None:
        """Until ListAgents answers (the connectors are registered and the port serves) and,
        served by our module, until the gRPC health check says ready (the watches synced)."""
        client = self.client()
        deadline = time.monotonic() + timeout
        try:
            while True:
                self.check_alive()
                try:
                    client.list_agents(timeout=5)
                    if not self.serve_module or self.health(client.channel) == SERVING:
                        return
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{self.label} not ready after {timeout}s:\n{self.log_tail()}")
                    time.sleep(0.2)
                except grpc.RpcError as error:
                    if time.monotonic() > deadline:
                        message = f"{self.label} not serving after {timeout}s: {error}\n{self.log_tail()}"
                        raise TimeoutError(message) from error
                    time.sleep(0.2)
        finally:
            client.close()

    @staticmethod
    def health(channel: grpc.Channel, service: str = "") -> int:
        """The gRPC health status of ``service`` ("": readiness, "liveness")."""
        request = health_pb2.HealthCheckRequest(service=service)
        return health_pb2_grpc.HealthStub(channel).Check(request, timeout=5).status  # type: ignore[no-any-return]

    def scrape(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample on the metrics port, fetched over HTTP: {(name, sorted labels): value}."""
        return scrape_metrics(self.metrics_port)

    def check_alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.label} exited with {self.process.returncode}:\n{self.log_tail()}")

    def rss_kib(self) -> int:
        return rss_kib(self.pid)

    def log_text(self) -> str:
        if self._log is not None:
            self._log.flush()
        return "".join(path.read_text(errors="replace") for path in sorted(self.work_dir.glob(f"{self.label}-*.log")))

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed or cleaned up."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self._close_log()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


# -- a client that calls the connector as propeller does ---------------------------------


def create_request(
    task_type: str = "parallel_job",
    execution: str = "a1b2c3",
    custom: dict[str, Any] | None = None,
    version: int = 1,
    env: dict[str, str] | None = None,
    container_env: dict[str, str] | None = None,
    namespace: str = NAMESPACE,
    inputs: Any = None,
    **template_args: Any,
) -> agent_pb2.CreateTaskRequest:
    template = make_template(task_type=task_type, custom=custom, version=version, env=container_env, **template_args)
    metadata = make_metadata(execution=execution, namespace=namespace, env=env)
    request = agent_pb2.CreateTaskRequest(
        template=template.to_flyte_idl(),
        output_prefix=f"s3://bucket/metadata/{execution}/n0/0",
        task_execution_metadata=metadata.to_flyte_idl(),
    )
    if inputs is not None:
        request.inputs.CopyFrom(inputs.to_flyte_idl())
    return request


@dataclass
class TaskRun:
    """What propeller keeps for one task: its resource_meta and the phases it saw."""

    task_type: str
    resource_meta: bytes
    phases: list[int] = field(default_factory=list)
    last: agent_pb2.Resource | None = None

    @property
    def terminal_phases(self) -> list[int]:
        return [phase for phase in self.phases if phase in TERMINAL]


class PropellerClient:
    """Create twice, poll until terminal, delete twice: what propeller's connector plugin does."""

    def __init__(self, address: str, credentials: grpc.ChannelCredentials | None = None, server_name: str = "") -> None:
        options: list[tuple[str, int | str]] = [("grpc.max_receive_message_length", 16 * 1024 * 1024)]
        if server_name:
            options.append(("grpc.ssl_target_name_override", server_name))
        if credentials is not None:
            self.channel = grpc.secure_channel(address, credentials, options=options)
        else:
            self.channel = grpc.insecure_channel(address, options=options)
        self.tasks = agent_pb2_grpc.AsyncAgentServiceStub(self.channel)
        self.metadata = agent_pb2_grpc.AgentMetadataServiceStub(self.channel)
        self.answers: list[Any] = []  # every gRPC answer, for the secret scan
        self._lock = threading.Lock()

    def close(self) -> None:
        self.channel.close()

    def _keep(self, answer: Any) -> Any:
        with self._lock:
            if len(self.answers) < 100_000:
                self.answers.append(answer)
        return answer

    def list_agents(self, timeout: float = 30) -> agent_pb2.ListAgentsResponse:
        return self.metadata.ListAgents(agent_pb2.ListAgentsRequest(), timeout=timeout)

    def create(self, request: agent_pb2.CreateTaskRequest, timeout: float = 60) -> bytes:
        return self._keep(self.tasks.CreateTask(request, timeout=timeout)).resource_meta  # type: ignore[no-any-return]

    def create_retrying(self, request: agent_pb2.CreateTaskRequest, attempts: int = 20) -> bytes:
        """Propeller retries a failed CreateTask (a system error) with the same request."""
        for attempt in range(attempts):
            try:
                return self.create(request)
            except grpc.RpcError as error:
                if (
                    error.code() not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE)
                    or attempt == attempts - 1
                ):
                    raise
                time.sleep(0.2 + random.random() * 0.3)
        raise AssertionError("unreachable")

    @staticmethod
    def _category(task_type: str, version: int) -> agent_pb2.TaskCategory:
        return agent_pb2.TaskCategory(name=task_type, version=version)

    def get(self, task_type: str, resource_meta: bytes, version: int = 1, timeout: float = 60) -> agent_pb2.Resource:
        request = agent_pb2.GetTaskRequest(
            task_category=self._category(task_type, version), resource_meta=resource_meta
        )
        return self._keep(self.tasks.GetTask(request, timeout=timeout)).resource

    def delete(self, task_type: str, resource_meta: bytes, version: int = 1, timeout: float = 60) -> None:
        request = agent_pb2.DeleteTaskRequest(
            task_category=self._category(task_type, version), resource_meta=resource_meta
        )
        self._keep(self.tasks.DeleteTask(request, timeout=timeout))

    def start_task(self, request: agent_pb2.CreateTaskRequest, retrying: bool = False) -> TaskRun:
        """CreateTask twice for the same attempt, as propeller may after a lost answer."""
        create = self.create_retrying if retrying else self.create
        first = create(request)
        second = create(request)
        assert second == first, "a repeated CreateTask must answer the same resource_meta"
        return TaskRun(request.template.type, first)

    def poll(
        self, run: TaskRun, until: Callable[[agent_pb2.Resource], bool], timeout: float = 60
    ) -> agent_pb2.Resource:
        def reached() -> agent_pb2.Resource | None:
            resource = self.get(run.task_type, run.resource_meta)
            run.phases.append(resource.phase)
            run.last = resource
            return resource if until(resource) else None

        return wait_until(reached, timeout=timeout, interval=0.1, what=f"{run.task_type} task condition")

    def poll_until_terminal(self, run: TaskRun, timeout: float = 60) -> agent_pb2.Resource:
        return self.poll(run, lambda resource: resource.phase in TERMINAL, timeout)

    def poll_until_phase(self, run: TaskRun, phase: int, timeout: float = 60) -> agent_pb2.Resource:
        return self.poll(run, lambda resource: resource.phase == phase, timeout)

    def abort(self, run: TaskRun) -> None:
        """DeleteTask twice: the second must succeed too (abort is idempotent)."""
        self.delete(run.task_type, run.resource_meta)
        self.delete(run.task_type, run.resource_meta)


# -- the operator's part ------------------------------------------------------------------


def set_status(api: KubeEmulator, name: str, phase: str, workers: int = 2, reason: str = "", message: str = "") -> None:
    counts = {"pending": 0, "running": 0, "succeeded": 0, "failed": 0}
    counts[{"Pending": "pending", "Running": "running", "Succeeded": "succeeded", "Failed": "failed"}[phase]] = workers
    status: dict[str, Any] = {"phase": phase, "workerCounts": counts}
    if reason:
        status["reason"] = reason
    if message:
        status["message"] = message
    api.patch(PARALLEL_JOBS, name, {"status": status}, NAMESPACE, subresource="status")


class OperatorStandIn:
    """Moves every ParallelJob Pending -> Running -> Succeeded/Failed at random times.

    The outcome of each object is fixed by ``decide(name)``; ``outcomes`` is the ground
    truth the tests compare the connector's phases with.
    """

    def __init__(self, api: KubeEmulator, decide: Callable[[str], bool], seed: int = 7, max_delay: float = 3.0) -> None:
        self.api = api
        self.decide = decide
        self.random = random.Random(seed)
        self.max_delay = max_delay
        self.outcomes: dict[str, str] = {}
        self._plans: dict[str, list[tuple[float, str]]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="operator-stand-in", daemon=True)
        self.patch_errors = 0

    def __enter__(self) -> OperatorStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            now = time.monotonic()
            for obj in self.api.list(PARALLEL_JOBS, NAMESPACE):
                name = obj["metadata"]["name"]
                if name not in self._plans and not obj["metadata"].get("deletionTimestamp"):
                    final = "Succeeded" if self.decide(name) else "Failed"
                    self.outcomes[name] = final
                    times = sorted(now + self.random.uniform(0, self.max_delay) for _ in range(3))
                    self._plans[name] = list(zip(times, ["Pending", "Running", final], strict=True))
            for name, plan in self._plans.items():
                while plan and plan[0][0] <= now:
                    _, phase = plan.pop(0)
                    try:
                        set_status(self.api, name, phase, reason="BackoffLimitExceeded" if phase == "Failed" else "")
                    except Exception:  # deleted meanwhile (abort, retention): nothing left to move
                        self.patch_errors += 1
                        plan.clear()

    @property
    def pending(self) -> int:
        return sum(1 for plan in self._plans.values() if plan)


# -- faults the emulator lacks, added from outside its API ---------------------------------


@dataclass
class RandomFaultRule(FaultRule):
    """A fault that hits each matching request with ``probability`` (seeded: repeatable order)."""

    probability: float = 0.05
    rng: random.Random = dataclasses.field(default_factory=lambda: random.Random(1))
    hits: int = 0
    seen: int = 0

    def matches(self, verb: str, resource: str, namespace: str | None, name: str | None) -> bool:
        if not super().matches(verb, resource, namespace, name):
            return False
        self.seen += 1
        if self.rng.random() < self.probability:
            self.hits += 1
            return True
        return False


@dataclass
class RecordingRule(FaultRule):
    """Never faults: records when each request reached the emulator, for per-second counts."""

    arrivals: list[tuple[float, str, str]] = dataclasses.field(default_factory=list)

    def matches(self, verb: str, resource: str, namespace: str | None, name: str | None) -> bool:
        self.arrivals.append((time.monotonic(), verb, resource))
        return False


AnyRule = TypeVar("AnyRule", bound=FaultRule)


def add_rule(api: KubeEmulator, rule: AnyRule) -> AnyRule:
    """Install a rule object the emulator's ``faults.add`` cannot build (same list, same lock)."""
    faults = api.faults
    with faults._lock:  # : the emulator has no public hook for custom rules
        faults._rules.insert(0, rule)
    return rule


def random_faults(
    api: KubeEmulator, probability: float, statuses: Iterable[int] = (500, 503), seed: int = 1
) -> list[RandomFaultRule]:
    """Each API call fails with ``probability`` (split over ``statuses``)."""
    statuses = list(statuses)
    rules: list[RandomFaultRule] = []
    for index, status in enumerate(statuses):
        rule = RandomFaultRule(
            None,
            None,
            None,
            None,
            status,
            None,
            0.0,
            None,
            "injected random fault",
            probability=probability / len(statuses),
            rng=random.Random(seed + index),
        )
        rules.append(add_rule(api, rule))
    return rules


def recording(api: KubeEmulator) -> RecordingRule:
    rule = RecordingRule(None, None, None, None, None, None, 0.0, None, None)
    return add_rule(api, rule)  # type: ignore[return-value]


def max_per_window(arrivals: list[float], window: float) -> int:
    """The most requests that arrived within any ``window`` seconds."""
    best, start = 0, 0
    for end, at in enumerate(arrivals):
        while at - arrivals[start] > window:
            start += 1
        best = max(best, end - start + 1)
    return best


def parallel_jobs(api: KubeEmulator) -> list[dict[str, Any]]:
    return api.list(PARALLEL_JOBS, NAMESPACE)
