import pytest
from flyteidl.core.execution_pb2 import TaskExecution

from k8s_operator_connector.console_phase import for_console
from k8s_operator_connector.operator_plugin import Observation
from k8s_operator_connector.warning_events import WarningEvent

QUOTA = WarningEvent("Job", "pj-w0", "FailedCreate", 'pods "pj-w0-x" is forbidden: exceeded quota: team', 0)
IMAGE = WarningEvent("Pod", "pj-w0-x", "Failed", 'Failed to pull image "nope:1": not found', 0)


def test_pending_without_a_warning_is_queued():
    pending = Observation.of(TaskExecution.INITIALIZING, "2/2 workers pending", ("p0", ""), workers=2)
    shaped = for_console(pending, None)
    assert (shaped.phase, shaped.message, shaped.pods, shaped.info) == (
        TaskExecution.QUEUED, "2/2 workers pending", ("p0", ""), (("workers", 2),),
    )  # fmt: skip


def test_a_shortage_waits_for_resources_and_other_warnings_initialize():
    pending = Observation.of(TaskExecution.INITIALIZING, "2/2 workers pending")
    quota = for_console(pending, QUOTA)
    assert quota.phase == TaskExecution.WAITING_FOR_RESOURCES
    assert (
        quota.message
        == '2/2 workers pending; Job pj-w0: FailedCreate: pods "pj-w0-x" is forbidden: exceeded quota: team'
    )
    image = for_console(Observation.of(TaskExecution.QUEUED), IMAGE)
    assert (image.phase, image.message) == (TaskExecution.INITIALIZING, IMAGE.describe())
    assert len(for_console(Observation.of(TaskExecution.QUEUED, "x" * 600), IMAGE).message) == 512


@pytest.mark.parametrize(
    "phase",
    [
        TaskExecution.RUNNING,
        TaskExecution.SUCCEEDED,
        TaskExecution.RETRYABLE_FAILED,
        TaskExecution.WAITING_FOR_RESOURCES,
    ],
)
def test_other_phases_pass_through_even_with_a_warning(phase):
    observation = Observation.of(phase, "as the plugin said")
    assert for_console(observation, IMAGE) is observation
