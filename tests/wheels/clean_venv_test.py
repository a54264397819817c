"""The published wheels, installed the way a user installs them, serve and package.

`./pants package` builds the wheels (runtime_package_dependencies); they are published to a
pypiserver on 127.0.0.1 and installed by name into a fresh virtualenv with plain
`pip install` (pip's own configured index for third-party packages, no lockfile, no
constraints), with pip itself first upgraded as install guides say. One venv serves every
check, in two steps:

1. the SDK wheel alone: it stays light, and `pyflyte package` of a workflow writes the task
   template;
2. then the backend wheel: `pyflyte serve connector` starts, ListAgents names the task types,
   and the standard gRPC health service answers SERVING.

What can overlap does, to keep the test short: the venv is made while the wheels are published,
and the three connector servers (one whole, two with a module hidden) start at once.

A run-time requirement a wheel does not declare shows up as "No module named 'X'" when the
server starts; the checks fail naming X (proved by hiding httpx and grpc_health).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tarfile
import time
import venv
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from flyteidl.admin import agent_pb2
from flyteidl.service import agent_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from benchmarks.processes import free_port
from wheels.artifacts import BACKEND, SDK, Wheel, built_wheels
from wheels.index_server import package_index
from wheels.publishing import CREDENTIALS, publish

# A resolve that backtracks is a bug in the wheels' declared ranges; stop it with a clear message.
PIP_TIMEOUT_S = 20 * 60
SERVER_START_TIMEOUT_S = 180
TASK_TYPES = {"parallel_job", "custom_resource"}
MISSING_MODULE = re.compile(r"No module named '([\w.]+)'")

WORKFLOW = """
from flytekit import task, workflow
from flytekitplugins.k8s_operator import CustomResourceTask, ObjectOutput, ParallelJob


@task(task_config=ParallelJob(workers=3, max_restarts=1))
def square(x: int) -> int:
    return x * x


# Declaring it compiles CEL: the SDK wheel must bring its CEL library.
count = CustomResourceTask(
    name="count",
    manifest={"apiVersion": "batch/v1", "kind": "Job", "spec": {}},
    success_condition="has(object.status.succeeded) && object.status.succeeded >= 1",
    outputs={"pods": ObjectOutput(int, "object.status.succeeded")},
)


@workflow
def main(x: int = 3) -> int:
    count()
    return square(x=x)
"""

# Run inside the venv: the task templates of a `pyflyte package` archive, as JSON.
READ_TEMPLATES = """
import json, sys, tarfile
from google.protobuf import json_format
from flyteidl.admin.task_pb2 import TaskSpec
templates = []
with tarfile.open(sys.argv[1]) as archive:
    for member in archive.getmembers():
        if member.name.endswith(".pb"):
            data = archive.extractfile(member).read()
            spec = TaskSpec()
            try:
                spec.ParseFromString(data)
            except Exception:
                continue
            if spec.template.type:
                templates.append(json_format.MessageToDict(spec.template))
print(json.dumps(templates))
"""

# Run inside the venv: `pyflyte` with some modules made unimportable (as if not installed).
PYFLYTE_WITHOUT = """
import sys
hidden = set(sys.argv[1].split(",")) - {""}


class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in hidden:
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return None


sys.meta_path.insert(0, Hide())
sys.argv = ["pyflyte", *sys.argv[2:]]
from flytekit.clis.sdk_in_container.pyflyte import main
main()
"""


@dataclass
class Venv:
    root: Path
    env: dict[str, str]
    index: str

    @property
    def python(self) -> str:
        return str(self.root / "bin" / "python")

    def run(self, *args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.python, *args], capture_output=True, text=True, cwd=cwd, env=self.env, timeout=timeout, check=False
        )
        assert result.returncode == 0, f"{args} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        return result

    def pip_install(self, wheel: Wheel, report: Path) -> dict:
        """`pip install NAME==VERSION` with our index added to pip's own; the install report."""
        command = [self.python, "-m", "pip", "install", "--extra-index-url", f"{self.index}/simple/",
                   "--report", str(report), wheel.requirement]  # fmt: skip
        started = time.monotonic()
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, env=self.env, timeout=PIP_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as timeout:
            tail = (timeout.stdout or b"")[-3000:]
            pytest.fail(
                f"pip install {wheel.requirement} did not finish in {PIP_TIMEOUT_S}s (backtracking?):\n{tail!r}"
            )
        # Printed, not asserted: how long a user's install takes (pytest -s shows it).
        print(f"pip install {wheel.requirement}: {time.monotonic() - started:.0f}s")
        assert (
            result.returncode == 0
        ), f"pip install {wheel.requirement} failed:\n{result.stdout[-4000:]}\n{result.stderr}"
        return json.loads(report.read_text())

    def module_found(self, *modules: str) -> dict[str, bool]:
        probe = (
            "import importlib.util, json, sys;"
            " print(json.dumps({m: importlib.util.find_spec(m) is not None for m in sys.argv[1:]}))"
        )
        return json.loads(self.run("-c", probe, *modules, cwd=self.root).stdout)


def clean_environment(home: Path) -> dict[str, str]:
    """The test's environment minus what the Pants sandbox adds (PEX, PYTHONPATH)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEX") and k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env.setdefault("HOME", str(home))
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def installed_from(report: dict) -> dict[str, str]:
    return {item["metadata"]["name"]: item["download_info"]["url"] for item in report["install"]}


@pytest.fixture(scope="module")
def wheels() -> dict[str, Wheel]:
    return built_wheels()


def make_venv(fresh: Venv) -> None:
    """A new venv whose pip is first upgraded from pip's own index, as install guides say.

    The pip pyenv's CPython 3.11.7 bundles (23.2.1) took twice the CPU of a current one to resolve
    flytekit (it weighs some 76,000 links of the index's pages); Debian's python3.11 bundles an
    older one (23.0.1). The bundled pip is still what builds the image from the published wheel
    (tests/wheels:wheel-image, backend/wheel.Containerfile).
    """
    venv.EnvBuilder(with_pip=True, clear=True).create(fresh.root)
    fresh.run("-m", "pip", "install", "--upgrade", "pip", cwd=fresh.root, timeout=PIP_TIMEOUT_S)


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory, wheels: dict[str, Wheel]) -> Iterator[Venv]:
    """A new venv (made in a thread) and the index the wheels are published to meanwhile."""
    root = tmp_path_factory.mktemp("venv") / "clean"
    env = clean_environment(tmp_path_factory.mktemp("home"))
    with package_index(tmp_path_factory.mktemp("index"), CREDENTIALS) as url, ThreadPoolExecutor(1) as pool:
        fresh = Venv(root, env, url)
        made = pool.submit(make_venv, fresh)
        result = publish([wheels[SDK].path, wheels[BACKEND].path], url, *CREDENTIALS)
        assert result.returncode == 0, result.stdout + result.stderr
        made.result()
        yield fresh


@pytest.fixture(scope="module")
def index(fresh_venv: Venv) -> str:
    return fresh_venv.index


@dataclass
class SdkOnly:
    venv: Venv
    report: dict
    modules: dict[str, bool]
    requires: list[str]
    templates: list[dict]


@pytest.fixture(scope="module")
def sdk_only(tmp_path_factory: pytest.TempPathFactory, fresh_venv: Venv, wheels: dict[str, Wheel]) -> SdkOnly:
    """Step 1: the SDK wheel alone in the fresh venv, and what it can do there."""
    work = tmp_path_factory.mktemp("sdk")
    report = fresh_venv.pip_install(wheels[SDK], work / "sdk-report.json")
    modules = fresh_venv.module_found(
        "flytekitplugins.k8s_operator", "kubernetes", "k8s_operator_connector", "grpc_health"
    )
    requires_probe = f"import importlib.metadata as md, json; print(json.dumps(md.requires({SDK!r})))"
    requires = json.loads(fresh_venv.run("-c", requires_probe, cwd=work).stdout)
    return SdkOnly(fresh_venv, report, modules, requires, packaged_templates(fresh_venv, work))


def packaged_templates(venv_: Venv, work: Path) -> list[dict]:
    """`pyflyte package` of WORKFLOW in ``venv_`` (no connector config); the archive's task templates."""
    package = work / "my_workflows"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "workflows.py").write_text(WORKFLOW)
    archive = work / "flyte-package.tgz"
    venv_.run("-m", "flytekit.clis.sdk_in_container.pyflyte", "--pkgs", "my_workflows", "package",
              "--image", "registry.example/app:1.0", "--output", str(archive), "--force", cwd=work)  # fmt: skip
    assert tarfile.is_tarfile(archive)
    return json.loads(venv_.run("-c", READ_TEMPLATES, str(archive), cwd=work).stdout)


@pytest.fixture(scope="module")
def full_venv(
    tmp_path_factory: pytest.TempPathFactory, sdk_only: SdkOnly, wheels: dict[str, Wheel]
) -> tuple[Venv, dict]:
    """Step 2: the backend wheel added to the same venv."""
    report = sdk_only.venv.pip_install(wheels[BACKEND], tmp_path_factory.mktemp("backend") / "backend-report.json")
    sdk_only.venv.run("-m", "pip", "check", cwd=sdk_only.venv.root)
    return sdk_only.venv, report


# The connectors the tests serve from the full venv: by the modules hidden from them.
WHOLE: tuple[str, ...] = ()
HIDDEN = ("httpx", "grpc_health")


@dataclass
class Connector:
    process: subprocess.Popen[str]
    port: int
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def missing_modules(self) -> list[str]:
        return sorted(set(MISSING_MODULE.findall(self.output())))

    def problem(self, what: str) -> str:
        missing = self.missing_modules()
        named = f"; missing module(s): {', '.join(missing)}" if missing else ""
        return f"{what}{named}\n--- connector output (tail) ---\n{self.output()[-3000:]}"


@contextmanager
def connector(venv_: Venv, work: Path, hidden: tuple[str, ...] = ()) -> Iterator[Connector]:
    """`pyflyte serve connector` from the venv (optionally with modules hidden); stopped on exit."""
    port = free_port()
    log = work / f"connector-{port}.log"
    args = ["serve", "connector", "--port", str(port), "--prometheus_port", str(free_port())]
    # The venv's own `pyflyte` script, as a user runs it; hiding modules needs a wrapper.
    command = (
        [venv_.python, "-c", PYFLYTE_WITHOUT, ",".join(hidden)] if hidden else [str(venv_.root / "bin" / "pyflyte")]
    )
    # The connector does not start without its resource-meta signing key (metaSigning).
    keys = work / "meta-signing-keys"
    keys.write_text("wheel-test-signing-key-0123456789abcdef\n")
    config = work / "connector.yaml"
    config.write_text(f"metaSigning: {{keysPath: {keys}}}\n")
    env = {**venv_.env, "HOME": str(work), "K8S_OPERATOR_CONNECTOR_CONFIG": str(config)}
    with log.open("w") as sink:
        process = subprocess.Popen(
            [*command, *args], stdout=sink, stderr=subprocess.STDOUT, cwd=work, env=env, text=True
        )
    try:
        yield Connector(process, port, log)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)


@pytest.fixture(scope="module")
def connectors(
    tmp_path_factory: pytest.TempPathFactory, full_venv: tuple[Venv, dict]
) -> Iterator[dict[tuple[str, ...], Connector]]:
    """Every connector the tests check, started at once: each start pays flytekit's import."""
    venv_, _ = full_venv
    with ExitStack() as stack:
        yield {
            hidden: stack.enter_context(connector(venv_, tmp_path_factory.mktemp("connector"), hidden))
            for hidden in (WHOLE, *((module,) for module in HIDDEN))
        }


def health_status(channel: grpc.Channel, service: str = "") -> int:
    request = health_pb2.HealthCheckRequest(service=service)
    return health_pb2_grpc.HealthStub(channel).Check(request, timeout=10).status


def wait_until_serving(server: Connector) -> grpc.Channel:
    """A channel to the server once its gRPC health service says SERVING; else fail, naming missing modules."""
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while True:
        if server.process.poll() is not None:
            pytest.fail(server.problem(f"pyflyte serve connector exited with {server.process.returncode}"))
        try:
            grpc.channel_ready_future(channel).result(timeout=2)
        except grpc.FutureTimeoutError:
            if time.monotonic() > deadline:
                pytest.fail(server.problem(f"the connector did not listen within {SERVER_START_TIMEOUT_S}s"))
            continue
        break
    try:
        status = health_status(channel)
    except grpc.RpcError as error:
        pytest.fail(server.problem(f"the gRPC health service did not answer ({error.code().name})"))
    if status != health_pb2.HealthCheckResponse.SERVING:
        pytest.fail(server.problem(f"the gRPC health service answered {status}, not SERVING"))
    if server.missing_modules():
        pytest.fail(server.problem("the connector serves but logged a missing module"))
    return channel


def test_the_wheels_come_from_the_index_and_third_party_packages_from_pips_own(sdk_only: SdkOnly, full_venv, index):
    _, backend_report = full_venv
    sources = {**installed_from(sdk_only.report), **installed_from(backend_report)}
    assert sources[SDK].startswith(index) and sources[BACKEND].startswith(index), sources
    third_party = {name: url for name, url in sources.items() if name not in {SDK, BACKEND}}
    assert "flytekit" in third_party and not any(url.startswith(index) for url in third_party.values())


def test_the_sdk_wheel_alone_stays_light(sdk_only: SdkOnly):
    assert sdk_only.modules["flytekitplugins.k8s_operator"]
    heavy = [m for m in ("kubernetes", "k8s_operator_connector", "grpc_health") if sdk_only.modules[m]]
    assert heavy == [], f"installed with the SDK wheel alone: {heavy}"
    assert not any(re.match(r"kubernetes|grpcio-health|httpx", r) for r in sdk_only.requires), sdk_only.requires


def test_pyflyte_package_with_the_sdk_wheel_alone_writes_the_task_template(sdk_only: SdkOnly):
    (template,) = (t for t in sdk_only.templates if t["type"] == "parallel_job")
    assert template["id"]["name"] == "my_workflows.workflows.square"
    assert template["custom"]["workers"] == 3 and template["custom"]["maxRestarts"] == 1
    assert template["container"]["image"] == "registry.example/app:1.0"
    assert "pyflyte-execute" in template["container"]["args"]


def test_a_custom_resource_task_compiles_its_cel_with_the_sdk_wheel_alone(sdk_only: SdkOnly):
    assert any(r.startswith("cel-python") for r in sdk_only.requires), sdk_only.requires
    (template,) = (t for t in sdk_only.templates if t["type"] == "custom_resource")
    assert template["custom"]["successCondition"] == "has(object.status.succeeded) && object.status.succeeded >= 1"
    assert template["custom"]["outputs"] == {"pods": "object.status.succeeded"}


def test_with_both_wheels_and_no_connector_config_pyflyte_still_packages(full_venv, tmp_path: Path):
    """flytekit imports the connector wheel's plugin entry point in every pyflyte command; its
    signing key is needed only to serve, so packaging must work where no key exists."""
    venv_, _ = full_venv
    assert "parallel_job" in {t["type"] for t in packaged_templates(venv_, tmp_path)}


def test_the_backend_wheel_serves_lists_its_task_types_and_answers_health_checks(connectors):
    with wait_until_serving(connectors[WHOLE]) as channel:
        agents = agent_pb2_grpc.AgentMetadataServiceStub(channel).ListAgents(agent_pb2.ListAgentsRequest(), timeout=30)
        served = {category.name for agent in agents.agents for category in agent.supported_task_categories}
        assert served >= TASK_TYPES, served
        for service in ("flyteidl.service.AsyncAgentService", "flyteidl.service.AgentMetadataService"):
            assert health_status(channel, service) == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("module", HIDDEN)
def test_a_run_time_requirement_the_wheel_lacks_fails_the_check_naming_the_module(connectors, module):
    with pytest.raises(pytest.fail.Exception) as failure:
        wait_until_serving(connectors[(module,)])
    assert f"missing module(s): {module}" in str(failure.value), str(failure.value)
