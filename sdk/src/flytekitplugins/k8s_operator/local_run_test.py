import asyncio
import io
from datetime import timedelta

import pytest
from flyteidl.core.execution_pb2 import TaskExecution, TaskLog
from flytekit.extend.backend.base_connector import Resource

from flytekitplugins.k8s_operator.local_run import LocalRunReporter, describe, keep_objects, wait_for


@pytest.mark.parametrize(("raw", "keep"), [("", False), ("0", False), ("no", False), ("1", True), (" TRUE ", True)])
def test_keep_objects(raw: str, keep: bool) -> None:
    assert keep_objects({"FLYTE_K8S_OPERATOR_KEEP_OBJECTS": raw}) is keep
    assert keep_objects({}) is False


def test_keep_objects_refuses_other_values_naming_the_variable() -> None:
    with pytest.raises(ValueError, match="FLYTE_K8S_OPERATOR_KEEP_OBJECTS='maybe': use 1/true/yes"):
        keep_objects({"FLYTE_K8S_OPERATOR_KEEP_OBJECTS": "maybe"})


def test_reporter_prints_changes_and_each_link_once() -> None:
    stream = io.StringIO()
    reporter = LocalRunReporter("wf.t", stream)
    link = TaskLog(name="logs (worker 0)", uri="kubectl logs p")
    for _ in range(2):
        reporter.report(Resource(phase=TaskExecution.RUNNING, message="1/2 running", log_links=[link]))
    reporter.report(Resource(phase=TaskExecution.SUCCEEDED, message="", log_links=[link]))
    assert stream.getvalue().splitlines() == [
        "[wf.t] RUNNING 1/2 running",
        "[wf.t] log link logs (worker 0): kubectl logs p",
        "[wf.t] SUCCEEDED",
    ]


def _wait(answers: list[Resource], timeout: timedelta | None) -> tuple[Resource, bool]:
    async def get() -> Resource:
        return answers.pop(0) if len(answers) > 1 else answers[0]

    return asyncio.run(wait_for(get, LocalRunReporter("t", io.StringIO()), timeout, lambda: False, lambda s: None))


def test_wait_for_returns_the_terminal_answer() -> None:
    answers = [Resource(phase=TaskExecution.RUNNING), Resource(phase=TaskExecution.FAILED, message="boom")]
    resource, timed_out = _wait(answers, None)
    assert (resource.phase, resource.message, timed_out) == (TaskExecution.FAILED, "boom", False)


def test_wait_for_ends_at_the_timeout() -> None:
    resource, timed_out = _wait([Resource(phase=TaskExecution.RUNNING)], timedelta(milliseconds=1))
    assert timed_out and resource.phase == TaskExecution.FAILED
    assert resource.message == "timed out: still RUNNING after the task's timeout of 0:00:00.001000"


def test_wait_for_exits_after_an_abort() -> None:
    async def get() -> Resource:
        return Resource(phase=TaskExecution.RUNNING)

    # Driven by hand: asyncio.run would wait for the task SystemExit left behind.
    waiting = wait_for(get, LocalRunReporter("t", io.StringIO()), None, lambda: True, lambda s: None)
    with pytest.raises(SystemExit):
        waiting.send(None)


def test_describe_never_raises() -> None:
    class Meta:
        kind, namespace, name = "ParallelJob", "ns", "local-1"

    assert describe(Meta()) == "ParallelJob ns/local-1"
    assert describe(object()) == "object"
