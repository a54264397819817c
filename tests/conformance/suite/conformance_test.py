"""The suite as CI runs it: the command against the embedded cluster, and the --kubeconfig path."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from benchmarks.processes import child_environment
from conformance.suite.cases import NEEDS_EMULATOR
from conformance.suite.cluster import CONFIG_MAPS, CONNECTOR_CONFIG_KEY, ClusterView
from conformance.suite.embedded import CONFIG_MAP_NAME, CONFIG_NAMESPACE, EmbeddedTarget
from conformance.suite.main import main

EVERY_CASE = [
    "succeeds", "object-metadata", "secret-annotations", "pod-defaults", "forged-meta",
    "privileged-request", "abort", "retention", "watch-recovery",
]  # fmt: skip


def rows(output: str) -> dict[tuple[str, str], str]:
    """(task type, case) -> PASS/FAIL/SKIPPED from the printed table."""
    found = {}
    for line in output.splitlines():
        cells = line.split()
        if len(cells) >= 3 and cells[2] in ("PASS", "FAIL", "SKIPPED"):
            found[(cells[0], cells[1])] = cells[2]
    return found


def test_the_command_passes_against_the_embedded_cluster():
    finished = subprocess.run(
        [sys.executable, "-m", "conformance.suite.main", "--timeout", "60"],
        env=child_environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    print(finished.stdout, finished.stderr)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    table = rows(finished.stdout)
    for case in EVERY_CASE:
        assert table[("parallel_job", case)] == "PASS", case
    assert table[("custom_resource", "succeeds")] == "PASS"
    assert table[("custom_resource", "abort")] == "PASS"
    assert table[("custom_resource", "secret-annotations")] == "SKIPPED"  # its manifest is the author's
    assert "sensor" not in {task_type for task_type, _ in table}  # flytekit's own connectors are not ours


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedTarget]:
    with EmbeddedTarget(tmp_path_factory.mktemp("embedded")) as cluster:
        yield cluster


def existing(embedded: EmbeddedTarget, *arguments: str) -> list[str]:
    """Arguments for the embedded cluster as if it were an existing one: only its kubeconfig and address."""
    return [
        "--kubeconfig", str(embedded.kubeconfig), "--connector", embedded.address,
        "--connector-config", f"{CONFIG_NAMESPACE}/{CONFIG_MAP_NAME}", "--timeout", "60", *arguments,
    ]  # fmt: skip


def test_given_a_kubeconfig_fault_injection_cases_are_skipped_saying_why(embedded, capsys):
    code = main(existing(embedded, "--task-types", "parallel_job", "--cases", "succeeds,watch-recovery"))
    output = capsys.readouterr().out
    assert code == 0, output
    assert rows(output) == {("parallel_job", "succeeds"): "PASS", ("parallel_job", "watch-recovery"): "SKIPPED"}
    assert NEEDS_EMULATOR[:60] in " ".join(output.split())


def test_custom_resource_cases_are_skipped_when_the_allowlist_lacks_the_samples_kind(embedded, capsys):
    # The bundle's own configuration allows no kind: the cases would all fail on a refused create.
    view = ClusterView(embedded.kubeconfig)
    try:
        settings = {"metaSigning": {"keysPath": "/unused"}, "customResource": {"allowedKinds": []}}
        body = {"metadata": {"name": "bundle-default"}, "data": {CONNECTOR_CONFIG_KEY: yaml.safe_dump(settings)}}
        view.create(CONFIG_MAPS, CONFIG_NAMESPACE, body)
    finally:
        view.close()
    arguments = existing(embedded, "--task-types", "custom_resource")
    arguments[arguments.index(f"{CONFIG_NAMESPACE}/{CONFIG_MAP_NAME}")] = f"{CONFIG_NAMESPACE}/bundle-default"
    code = main(arguments)
    output = capsys.readouterr().out
    assert code == 0, output
    assert rows(output) == {("custom_resource", "*"): "SKIPPED"}
    assert "creates a batch/v1 Job, which the connector's customResource.allowedKinds does not list" in " ".join(
        output.split()
    )


def test_a_task_type_the_connector_does_not_serve_fails(embedded, capsys):
    assert main(existing(embedded, "--task-types", "no_such_type")) == 1
    output = capsys.readouterr().out
    assert rows(output) == {("no_such_type", "served"): "FAIL"}
    assert "the connector does not serve it (ListAgents: custom_resource, parallel_job)" in output


def test_an_unreachable_connector_is_one_clear_error(embedded, capsys):
    arguments = existing(embedded, "--connect-timeout", "1")
    arguments[arguments.index(embedded.address)] = "127.0.0.1:9"
    assert main(arguments) == 2
    assert "cannot reach the connector at 127.0.0.1:9" in capsys.readouterr().err


def test_an_unreadable_kubeconfig_is_one_clear_error(tmp_path: Path, capsys):
    assert main(["--kubeconfig", str(tmp_path / "missing"), "--connector", "127.0.0.1:9"]) == 2
    assert f"cannot use the kubeconfig {tmp_path / 'missing'}" in capsys.readouterr().err


def test_an_unreadable_ca_certificate_is_one_clear_error(embedded, tmp_path: Path, capsys):
    assert main(existing(embedded, "--ca-cert", str(tmp_path / "ca.crt"))) == 2
    assert f"cannot read --ca-cert {tmp_path / 'ca.crt'}: No such file or directory" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--kubeconfig", "k"], "--kubeconfig needs --connector HOST:PORT"),
        (["--connector", "h:1"], "--connector needs --kubeconfig"),
        (["--plugin", "job_set"], "--plugin TASK_TYPE and --sample MODULE:ATTRIBUTE go together"),
        (["--connector-config", "flat"], "expected NAMESPACE/NAME-PREFIX"),
        (["--tls-server-name", "connector.flyte"], "--tls-server-name needs --ca-cert"),
    ],
)
def test_argument_mistakes_name_the_option(arguments, message, capsys):
    with pytest.raises(SystemExit) as exited:
        main(arguments)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
