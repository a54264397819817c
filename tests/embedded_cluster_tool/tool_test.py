"""The embedded cluster as a tool (``python -m embedded_cluster``, what ``./pants run
common/embedded_cluster:start`` runs): started as a child process, a workflow file of the user's is run
against it with ``pyflyte run`` through the environment it printed, and its served connector
answers over gRPC; Ctrl-C stops it with nothing left running. Generous waits, no timing asserts.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import grpc
import pytest
from embedded_cluster_tool import my_workflows
from flyteidl.admin import agent_pb2
from flyteidl.service import agent_pb2_grpc

from kube_emulator import wait_for_output

START_TIMEOUT_SECONDS = 600
RUN_TIMEOUT_SECONDS = 600


def child_environment() -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if key != "KUBECONFIG"}
    environment["PYTHONPATH"] = os.pathsep.join(os.path.abspath(entry) for entry in sys.path if entry)
    return environment


def read_exports(path: Path) -> dict[str, str]:
    """``export NAME=VALUE`` lines, as a shell would read them."""
    settings = {}
    for line in path.read_text().splitlines():
        (assignment,) = shlex.split(line.removeprefix("export "))
        name, value = assignment.split("=", 1)
        settings[name] = value
    return settings


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def printed_pid(output: str, what: str) -> int:
    for line in output.splitlines():
        if f"{what} pid " in line:
            return int(line.split(f"{what} pid ", 1)[1].split(",")[0])
    raise AssertionError(f"no {what} pid in:\n{output}")


@pytest.fixture
def workflow_dir(tmp_path: Path) -> Path:
    """The user's workflow file alone in a directory of its own (no package around it)."""
    directory = tmp_path / "my_project"
    directory.mkdir()
    shutil.copy(my_workflows.__file__, directory / "my_workflows.py")
    return directory


@pytest.fixture
def tool(tmp_path: Path, workflow_dir: Path) -> Iterator[tuple[subprocess.Popen[str], Path, Path]]:
    """``python -m embedded_cluster`` running, with its env file; killed if a test leaves it running."""
    env_file, log_path = tmp_path / "cluster.env", tmp_path / "cluster.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "embedded_cluster",
                "--workflows-dir",
                str(workflow_dir),
                "--env-file",
                str(env_file),
            ],
            env=child_environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            wait_for_output(process, log_path, "Ctrl-C stops the cluster.", START_TIMEOUT_SECONDS)
            yield process, env_file, log_path
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def test_pyflyte_runs_a_users_workflow_through_the_printed_environment_and_ctrl_c_leaves_nothing(
    tool: tuple[subprocess.Popen[str], Path, Path], workflow_dir: Path
) -> None:
    process, env_file, log_path = tool
    settings = read_exports(env_file)
    printed = log_path.read_text()
    assert set(settings) == {"KUBECONFIG", "K8S_OPERATOR_CONNECTOR_CONFIG", "EMBEDDED_CLUSTER_CONNECTOR"}
    for name, value in settings.items():
        assert f"export {name}={shlex.quote(value)}" in printed

    # Another shell: pyflyte (with the connector registered, as the installed wheel does) and the printed settings.
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "embedded_cluster.pyflyte_with_connector",
            "run",
            "my_workflows.py",
            "my_wf",
            "--x",
            "7",
        ],
        env={**child_environment(), **settings},
        cwd=workflow_dir,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.strip().splitlines()[-1] == "21", completed.stdout  # 7 * 1 + 7 * 2: both workers ran
    assert "parallel_job ParallelJob local-" in completed.stdout and ": SUCCEEDED" in completed.stdout

    # The served connector answers as propeller calls it, at the printed address.
    with grpc.insecure_channel(settings["EMBEDDED_CLUSTER_CONNECTOR"]) as channel:
        agents = agent_pb2_grpc.AgentMetadataServiceStub(channel).ListAgents(agent_pb2.ListAgentsRequest(), timeout=30)
    task_types = {category.name for agent in agents.agents for category in agent.supported_task_categories}
    assert {"parallel_job", "custom_resource"} <= task_types, agents

    operator, connector = printed_pid(printed, "operator"), printed_pid(printed, "connector")
    api = urlparse(printed.split("API emulator ", 1)[1].split(";", 1)[0])
    work_dir = Path(settings["KUBECONFIG"]).parent
    process.send_signal(signal.SIGINT)
    assert process.wait(120) == 0, log_path.read_text()
    output = log_path.read_text()
    assert "SIGINT: stopping the connector, the kubelet, the operator and the API emulator" in output
    assert "stopped; nothing of the embedded cluster is left running" in output
    assert not pid_alive(operator) and not pid_alive(connector), output
    with pytest.raises(OSError), socket.create_connection((api.hostname or "", api.port or 0), timeout=5):
        pass
    assert not work_dir.exists()


def test_a_workflows_dir_that_does_not_exist_is_refused_by_name(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "embedded_cluster", "--workflows-dir", str(tmp_path / "missing")],
        env=child_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 2
    assert f"--workflows-dir {tmp_path / 'missing'}: not a directory" in completed.stderr
