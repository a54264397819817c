import pytest
from flyteidl.core.execution_pb2 import TaskExecution

from k8s_operator_connector.log_links import LinkSubject, phase_group, render_log_links, task_values
from k8s_operator_connector.operator_plugin import Observation
from k8s_operator_connector.settings import LogLinkTemplate

# The identifiers of dummyTaskExecID() in flyteorg/flyte v1.16.8 (51877f899c9f95e0cb5efe90444eb0c6c6ea48a9)
# flyteplugins/go/tasks/pluginmachinery/tasklog/template_test.go, as the connector stores them.
SUBJECT = LinkSubject(
    namespace="my-namespace",
    object_name="pj-a1b2",
    task_execution_id="my-execution-project/my-execution-domain/my-execution-name/n0-0-n0/1",
    task_id="my-task-project/my-task-domain/my-task-name/1",
)
RUNNING = Observation(TaskExecution.RUNNING, pods=("pj-w0-x", "pj-w1-y"), container="my-container", created_at=123)


def test_task_execution_identifier_vector_end_to_end():
    # TestTemplateLogPlugin "task-with-task-execution-identifier", from the connector's own values.
    template = LogLinkTemplate(
        "console",
        "https://flyte.corp.net/console/projects/{{ .executionProject }}/domains/{{ .executionDomain }}/executions/"
        "{{ .executionName }}/nodeId/{{ .nodeID }}/taskId/{{ .taskID }}/attempt/{{ .taskRetryAttempt }}/view/logs",
    )
    [link] = render_log_links((template,), RUNNING, SUBJECT, max_links=8, now=12345)
    assert link.uri == (
        "https://flyte.corp.net/console/projects/my-execution-project/domains/my-execution-domain/executions/"
        "my-execution-name/nodeId/n0-0-n0/taskId/my-task-name/attempt/1/view/logs"
    )


def test_times_are_the_objects_creation_and_now_in_utc():
    values = task_values(SUBJECT, RUNNING, now=12345.9)
    assert values["podunixstarttime"] == "123"
    assert values["podunixfinishtime"] == "12345"
    assert values["podrfc3339starttime"] == "1970-01-01T00:02:03Z"
    assert values["podrfc3339finishtime"] == "1970-01-01T03:25:45Z"
    assert (values["taskversion"], values["taskproject"], values["taskdomain"]) == (
        "1",
        "my-task-project",
        "my-task-domain",
    )


def test_unknown_identity_leaves_the_variables_untouched():
    local = LinkSubject(namespace="default", object_name="local-ab12", task_execution_id="local/s3://b/out/")
    values = task_values(local, Observation(TaskExecution.RUNNING), now=5)
    assert "executionname" not in values and "taskid" not in values and "podunixstarttime" not in values
    template = LogLinkTemplate("x", "{{ .executionName }}/{{ .objectName }}")
    [link] = render_log_links((template,), Observation(TaskExecution.RUNNING), local, max_links=8, now=5)
    assert link.uri == "{{ .executionName }}/local-ab12"


def test_a_version_with_slashes_stays_whole():
    subject = LinkSubject("ns", "o", task_id="p/d/wf.train/abc/def")
    assert task_values(subject, RUNNING, now=0)["taskversion"] == "abc/def"


def test_one_link_per_pod_with_the_workers_index():
    template = LogLinkTemplate("logs", "kubectl logs -n {{ .namespace }} {{ .podName }} -c {{ .containerName }}")
    pods = Observation(TaskExecution.RUNNING, pods=("pj-w0-x", "", "pj-w2-z"), container="worker")
    links = render_log_links((template,), pods, SUBJECT, max_links=8, now=0)
    assert [(link.name, link.uri) for link in links] == [
        ("logs (worker 0)", "kubectl logs -n my-namespace pj-w0-x -c worker"),
        ("logs (worker 2)", "kubectl logs -n my-namespace pj-w2-z -c worker"),
    ]
    index = LogLinkTemplate("w", "{{ .objectName }}/{{ .workerIndex }}")
    assert [link.uri for link in render_log_links((index,), pods, SUBJECT, 8, 0)] == ["pj-a1b2/0", "pj-a1b2/2"]


def test_a_single_pod_keeps_the_template_name_and_max_links_bounds():
    template = LogLinkTemplate("logs", "{{ .podName }}")
    one = Observation(TaskExecution.RUNNING, pods=("p0",))
    assert [link.name for link in render_log_links((template,), one, SUBJECT, 8, 0)] == ["logs"]
    many = Observation(TaskExecution.RUNNING, pods=tuple(f"p{i}" for i in range(20)))
    assert len(render_log_links((template,), many, SUBJECT, 3, 0)) == 3
    assert render_log_links((template,), many, SUBJECT, 0, 0) == []
    assert render_log_links((template,), Observation(TaskExecution.RUNNING), SUBJECT, 8, 0) == []


@pytest.mark.parametrize(
    ("phase", "group"),
    [
        (TaskExecution.QUEUED, "pending"),
        (TaskExecution.INITIALIZING, "pending"),
        (TaskExecution.WAITING_FOR_RESOURCES, "pending"),
        (TaskExecution.RUNNING, "running"),
        (TaskExecution.SUCCEEDED, "succeeded"),
        (TaskExecution.FAILED, "failed"),
        (TaskExecution.RETRYABLE_FAILED, "failed"),
    ],
)
def test_phase_groups(phase, group):
    assert phase_group(phase) == group


def test_the_phase_filter_and_flytes_display_flags():
    running_only = LogLinkTemplate("run", "r/{{ .objectName }}", ("running",))
    everywhere = LogLinkTemplate("all", "a/{{ .objectName }}")
    after = LogLinkTemplate("after", "f/{{ .objectName }}", ("succeeded", "failed"))
    templates = (running_only, everywhere, after)

    def names(phase: int) -> list[str]:
        return [link.name for link in render_log_links(templates, Observation(phase), SUBJECT, 8, 0)]

    assert names(TaskExecution.INITIALIZING) == ["all"]
    assert names(TaskExecution.RUNNING) == ["run", "all"]
    assert names(TaskExecution.SUCCEEDED) == ["all", "after"]
    links = {link.name: link for link in render_log_links(templates, Observation(TaskExecution.RUNNING), SUBJECT, 8, 0)}
    # flyteadmin drops links without show_while_pending from QUEUED/INITIALIZING events and keeps
    # earlier links after the end unless hide_once_finished (transformers/task_execution.go).
    assert (links["run"].ShowWhilePending, links["run"].HideOnceFinished) == (False, True)
    assert (links["all"].ShowWhilePending, links["all"].HideOnceFinished) == (True, False)


SHOWN_AT = {
    "pending": TaskExecution.INITIALIZING,
    "running": TaskExecution.RUNNING,
    "succeeded": TaskExecution.SUCCEEDED,
}


@pytest.mark.parametrize(
    ("phases", "hidden_once_finished"),
    [(("succeeded",), False), (("failed", "running"), False), (("pending", "running"), True)],
)
def test_a_link_shown_in_either_final_phase_is_not_hidden_once_finished(phases, hidden_once_finished):
    template = LogLinkTemplate("x", "x/{{ .objectName }}", phases)
    [link] = render_log_links((template,), Observation(SHOWN_AT[phases[-1]]), SUBJECT, 8, 0)
    assert link.HideOnceFinished is hidden_once_finished


def test_times_are_utc_whatever_the_connectors_time_zone(monkeypatch):
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        values = task_values(SUBJECT, RUNNING, now=12345)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert (values["podrfc3339starttime"], values["podrfc3339finishtime"]) == (
        "1970-01-01T00:02:03Z",
        "1970-01-01T03:25:45Z",
    )
