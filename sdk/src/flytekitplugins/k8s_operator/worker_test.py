import os
import subprocess
import sys

import pytest

from flytekitplugins.k8s_operator.worker import prepare, worker_index_from_env

ARGS = [
    "pyflyte-execute",
    "--inputs",
    "s3://b/run/inputs.pb",
    "--output-prefix",
    "s3://b/run/n0/0",
    "--raw-output-data-prefix",
    "s3://b/raw",
    "--checkpoint-path",
    "s3://b/run/ckpt/",
    "--prev-checkpoint",
    "",
    "--resolver",
    "flytekit.core.python_auto_container.default_task_resolver",
    "--",
    "task-module",
    "app.tasks",
    "task-name",
    "--output-prefix",
]


def test_leader_runs_the_command_unchanged() -> None:
    environ = {"WORKER_INDEX": "0", "WORKER_COUNT": "3"}
    assert prepare(ARGS, environ) == ARGS
    assert environ["FLYTE_K8S_OPERATOR_EXCHANGE_PREFIX"] == "s3://b/run/n0/0/exchange"
    assert environ["FLYTE_FAIL_ON_ERROR"] == "true"


def test_other_workers_write_below_the_output_prefix() -> None:
    environ = {"WORKER_INDEX": "2", "WORKER_COUNT": "3"}
    command = prepare(ARGS, environ)
    assert command[command.index("--output-prefix") + 1] == "s3://b/run/n0/0/workers/2"
    assert command[command.index("--checkpoint-path") + 1] == "s3://b/run/ckpt/workers/2"
    assert command[command.index("--prev-checkpoint") + 1] == ""  # no previous checkpoint: unchanged
    assert command[command.index("--inputs") + 1] == "s3://b/run/inputs.pb"
    assert command[command.index("--raw-output-data-prefix") + 1] == "s3://b/raw"
    assert command[-6:] == ARGS[-6:]  # the task's own arguments after "--" are untouched
    assert environ["FLYTE_K8S_OPERATOR_EXCHANGE_PREFIX"] == "s3://b/run/n0/0/exchange"


def test_inline_option_values_and_fast_execute() -> None:
    args = ["pyflyte-fast-execute", "--additional-distribution", "s3://d", "--", "pyflyte-execute"]
    args += ["--output-prefix=/out", "--prev-checkpoint", "/prev"]
    command = prepare(args, {"WORKER_INDEX": "1"})
    # Everything after the first bare "--" is left alone: fast-execute passes it on, so the
    # entrypoint must come after pyflyte-fast-execute (as ParallelJobTask serializes it).
    assert command == args
    command = prepare(args[4:], {"WORKER_INDEX": "1"})
    assert command == ["pyflyte-execute", "--output-prefix=/out/workers/1", "--prev-checkpoint", "/prev/workers/1"]


def test_environment_set_by_the_connector_wins() -> None:
    environ = {"WORKER_INDEX": "1", "FLYTE_K8S_OPERATOR_EXCHANGE_PREFIX": "gs://x/ex", "FLYTE_FAIL_ON_ERROR": "false"}
    prepare(ARGS, environ)
    assert environ["FLYTE_K8S_OPERATOR_EXCHANGE_PREFIX"] == "gs://x/ex"
    assert environ["FLYTE_FAIL_ON_ERROR"] == "false"


@pytest.mark.parametrize("raw", ["-1", "one", "1.0"])
def test_malformed_worker_index(raw: str) -> None:
    with pytest.raises(ValueError, match=f"WORKER_INDEX must be a non-negative integer, got '{raw}'"):
        worker_index_from_env({"WORKER_INDEX": raw})
    assert worker_index_from_env({}) == 0


def test_main_execs_the_command() -> None:
    script = "import os, sys; print(sys.argv[1:], os.environ['FLYTE_K8S_OPERATOR_EXCHANGE_PREFIX'])"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "flytekitplugins.k8s_operator.worker",
            sys.executable,
            "-c",
            script,
            "--output-prefix",
            "/o",
        ],
        env={"WORKER_INDEX": "3", "PATH": os.defpath, "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "['--output-prefix', '/o/workers/3'] /o/exchange"


def test_main_without_a_command_is_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flytekitplugins.k8s_operator.worker"],
        env={"PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "usage: python -m flytekitplugins.k8s_operator.worker pyflyte-execute" in result.stderr
