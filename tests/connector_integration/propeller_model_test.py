"""The propeller/flyteadmin model on hand-made answer sequences (see propeller_model.py for the sources)."""

import pytest
from flyteidl.core.execution_pb2 import TaskExecution, TaskLog

from connector_integration.propeller_model import Answer, PropellerModel, merge_logs, status

QUEUED, INITIALIZING, WAITING = TaskExecution.QUEUED, TaskExecution.INITIALIZING, TaskExecution.WAITING_FOR_RESOURCES
RUNNING, SUCCEEDED, FAILED = TaskExecution.RUNNING, TaskExecution.SUCCEEDED, TaskExecution.FAILED
RETRYABLE = TaskExecution.RETRYABLE_FAILED


def log(name: str, uri: str = "", pending: bool = False, hide: bool = False) -> TaskLog:
    return TaskLog(name=name, uri=uri or f"https://logs/{name}", ShowWhilePending=pending, HideOnceFinished=hide)


def phases(model: PropellerModel) -> list[tuple[str, int, str]]:
    return [(event.phase_name, event.version, event.reason or event.error) for event in model.recorded]


def test_launch_is_recorded_before_any_answer_and_a_round_without_one_adds_nothing():
    model = PropellerModel()
    model.not_synced_yet()
    assert phases(model) == [("QUEUED", 2, "launched")]
    assert len(model.emitted) == 1


def test_a_queued_answer_is_sent_but_flyteadmin_keeps_launched():
    model = PropellerModel()
    model.answer(Answer(QUEUED, "waiting for the operator"))
    assert [(e.phase_name, e.version) for e in model.emitted] == [("QUEUED", 2), ("QUEUED", 0)]
    assert phases(model) == [("QUEUED", 2, "launched")]  # AlreadyExists: version 0 is not above 2
    assert model.console.reason == "launched"


def test_only_the_first_message_of_a_pending_phase_reaches_the_console():
    model = PropellerModel()
    model.run([Answer(INITIALIZING, "2/2 workers pending"), Answer(INITIALIZING, "ErrImagePull: no such image")])
    assert phases(model) == [("QUEUED", 2, "launched"), ("INITIALIZING", 0, "2/2 workers pending")]


def test_a_phase_change_carries_the_new_message_even_back_and_forth():
    model = PropellerModel()
    model.run([Answer(INITIALIZING, "pending"), Answer(WAITING, "quota"), Answer(INITIALIZING, "scheduled")])
    assert phases(model)[1:] == [("INITIALIZING", 0, "pending"), ("WAITING_FOR_RESOURCES", 0, "quota"),
                                 ("INITIALIZING", 0, "scheduled")]  # fmt: skip
    assert model.console.reasons == ["launched", "pending", "quota", "scheduled"]


def test_running_drops_the_message_and_later_answers_change_nothing():
    model = PropellerModel()
    model.answer(Answer(RUNNING, "0/2 running", (log("w0"),), {"running": 0}))
    model.answer(Answer(RUNNING, "2/2 running", (log("w0"), log("w1")), {"running": 2}))
    assert phases(model)[1:] == [("RUNNING", 0, "")]
    assert model.recorded[1].log_names == ["w0"]
    assert (model.console.reason, model.console.custom_info) == ("launched", {"running": 0})


def test_links_without_show_while_pending_are_dropped_while_pending():
    model = PropellerModel()
    model.answer(Answer(INITIALIZING, "pending", (log("early", pending=True), log("late"))))
    assert [entry.name for entry in model.console.logs] == ["early"]


def test_links_stay_after_the_end_unless_hidden_once_finished():
    model = PropellerModel()
    model.answer(Answer(RUNNING, "", (log("kept"), log("hidden", hide=True))))
    model.answer(Answer(SUCCEEDED, "done", (log("summary"),), {"succeeded": 2}))
    assert [entry.name for entry in model.console.logs] == ["summary", "kept"]
    assert phases(model)[-1] == ("SUCCEEDED", 0, "")


def test_failures_become_errors_and_nothing_follows_a_terminal_event():
    model = PropellerModel()
    model.run([Answer(RETRYABLE, "BackoffLimitExceeded: worker 1 exited 3"), Answer(RUNNING, "again")])
    assert phases(model)[1:] == [("FAILED", 0, "failed to run the job: BackoffLimitExceeded: worker 1 exited 3")]
    assert model.emitted[-1].phase == RUNNING  # propeller would send it; flyteadmin refuses it
    assert model.console.error.endswith("worker 1 exited 3")


def test_unknown_phases_are_a_system_error():
    with pytest.raises(ValueError, match="unknown execution phase"):
        status(Answer(TaskExecution.UNDEFINED))


def test_merge_logs_replaces_by_uri_or_name():
    merged = merge_logs([log("a", "u1"), log("b", "u2"), log("c", "u3")], [log("a", "u9"), log("x", "u2")])
    assert [(entry.name, entry.uri) for entry in merged] == [("a", "u9"), ("x", "u2"), ("c", "u3")]
    assert merge_logs([log("a")], []) == [log("a")]
