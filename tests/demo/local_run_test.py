"""demo:local end to end: the same module ``./pants run demo:local`` runs, as a child process.

It starts the API emulator, the operator and the kubelet, runs the workflows through
``pyflyte run`` and prints the result the workers computed. Generous timeouts, no timing asserts.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from embedded_cluster_tool import my_workflows

from demo.demo_process import run_demo
from flyte_operator_demo import local
from flyte_operator_demo.workflows import FAILURE_MESSAGE, WORKERS, expected_sum_of_squares

N = 200


def test_main_shaped_and_failing_workflows_run_end_to_end() -> None:
    completed = run_demo("--n", str(N))
    output = completed.stdout
    assert completed.returncode == 0, output + completed.stderr
    assert f"RESULT of workflow main: {expected_sum_of_squares(N)}" in output
    for index in range(WORKERS):
        assert f"shared by worker {index}: {{'worker': {index}, 'partial': " in output
    assert f"the sum of squares below {N} is {expected_sum_of_squares(N)}" in output  # the report Job's log
    assert "custom_resource Job local-" in output and ": SUCCEEDED report Job: 1/1 pods succeeded" in output
    assert "log link kubectl logs (worker 0)" in output
    # The shaped workflow: a pod template (renamed primary), a secret read through flytekit's
    # secrets API after the kubelet's webhook injected it, and the interruptible toleration.
    assert "RESULT of workflow shaped: " in output
    assert "the digest matches the Secret demo-credentials created for this run" in output
    assert (
        "worker pod: container 'worker' (the pod template named it 'task'), label inject-flyte-secrets=true" in output
    )
    assert "'flyte-operator-demo/interruptible', 'flyte-operator-demo/pod-template'" in output
    assert "secret env from the webhook: ['_FSEC_DEMO-CREDENTIALS_TOKEN']" in output
    # The failing workflow: the worker's message, the operator's restart, the connector's failure.
    assert "workflow failing FAILED as intended" in output
    assert FAILURE_MESSAGE in output
    assert "restarts worker 1: " in output and "RETRYABLE_FAILED BackoffLimitExceeded" in output
    # Each finished run's objects are deleted once the demo has shown them: nothing is left behind.
    assert output.count("  deleted ParallelJob local-") == 3 and "still present after" not in output
    # The failing worker's own error reaches the connector's message (its termination message).
    assert f"failed (BackoffLimitExceeded): ValueError: {FAILURE_MESSAGE}" in output


def test_a_users_own_workflow_file_runs_with_its_inputs_and_leaves_nothing(tmp_path: Path) -> None:
    project = tmp_path / "my_project"
    project.mkdir()
    workflow_file = shutil.copy(my_workflows.__file__, project / "my_workflows.py")
    completed = run_demo(str(workflow_file), "my_wf", "--x", "5")
    output = completed.stdout
    assert completed.returncode == 0, output + completed.stderr
    assert "RESULT of workflow my_wf: 15 " in output  # 5 * 1 + 5 * 2: both workers ran
    assert "ParallelJob flytesnacks-development/local-" in output and "(task scaled_sum)" in output
    assert output.count("  deleted ParallelJob local-") == 1 and "still present after" not in output
    assert "RESULT of workflow main" not in output


def test_a_workflow_the_file_does_not_have_fails_with_pyflytes_message(tmp_path: Path) -> None:
    workflow_file = shutil.copy(my_workflows.__file__, tmp_path / "my_workflows.py")
    completed = run_demo(str(workflow_file), "no_such_wf")
    assert completed.returncode != 0
    assert "workflow no_such_wf FAILED" in completed.stdout
    assert "no_such_wf" in completed.stdout.split("=== pyflyte", 1)[1]


def test_a_missing_workflow_file_or_name_is_refused_by_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Refused while parsing the arguments, before any cluster starts: called in this process.
    with pytest.raises(SystemExit) as missing:
        local.main([str(tmp_path / "nowhere.py"), "wf"])
    assert missing.value.code == 2
    assert f"WORKFLOW_FILE {tmp_path / 'nowhere.py'}: no such file" in capsys.readouterr().err
    (tmp_path / "wf.py").write_text("")
    with pytest.raises(SystemExit) as unnamed:
        local.main([str(tmp_path / "wf.py")])
    assert unnamed.value.code == 2
    assert "WORKFLOW_NAME: which workflow of " in capsys.readouterr().err
