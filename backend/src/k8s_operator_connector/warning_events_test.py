from typing import Any, cast

import pytest

from k8s_operator_connector.kube_api import KubeApi
from k8s_operator_connector.warning_events import WarningEvent, WarningEvents, owner_names, parse_warning

NS = "flytesnacks-development"


def event(
    name: str,
    reason: str = "FailedScheduling",
    message: str = "0/3 nodes are available: 3 Insufficient cpu.",
    kind: str = "Pod",
    at: str = "2026-11-30T08:00:00Z",
    type_: str = "Warning",
) -> dict[str, Any]:
    return {
        "metadata": {"name": f"{name}.1", "namespace": NS},
        "involvedObject": {"kind": kind, "name": name, "namespace": NS},
        "type": type_,
        "reason": reason,
        "message": message,
        "lastTimestamp": at,
    }


def watcher(tracked: set[str], max_kept: int = 100) -> WarningEvents:
    # No API: the tests feed the list and watch events the watch thread would apply.
    return WarningEvents(cast(KubeApi, None), NS, lambda ns, name: ns == NS and name in tracked, max_kept)


def test_owner_names_are_the_name_and_its_dash_prefixes():
    assert owner_names("a1-n0-0-x7-w1-abcde") == [
        "a1-n0-0-x7-w1-abcde",
        "a1-n0-0-x7-w1",
        "a1-n0-0-x7",
        "a1-n0-0",
        "a1-n0",
        "a1",
    ]
    assert owner_names("plain") == ["plain"]
    assert len(owner_names("-".join("x" * 40))) == 16


def test_parse_takes_warnings_about_something_only():
    namespace, warning = parse_warning(event("pj-w0-x")) or ("", None)
    assert namespace == NS and warning is not None
    assert warning.describe() == "Pod pj-w0-x: FailedScheduling: 0/3 nodes are available: 3 Insufficient cpu."
    assert warning.resource_shortage
    assert parse_warning(event("pj-w0-x", type_="Normal")) is None
    assert parse_warning({"type": "Warning", "involvedObject": {"name": ""}}) is None
    assert parse_warning({"type": "Warning", "involvedObject": "pod"}) is None


def test_hostile_text_is_flattened_and_bounded():
    _, warning = parse_warning(event("p", reason="", message="line1\n\n" + "x" * 5000, kind="")) or ("", None)
    assert warning is not None
    assert (warning.kind, warning.reason) == ("object", "Warning")
    assert warning.message.startswith("line1 x") and len(warning.message) == 300


@pytest.mark.parametrize(
    ("reason", "message", "shortage"),
    [
        ("FailedScheduling", "0/3 nodes are available", True),
        ("FailedCreate", 'Error creating: pods "pj-w0-x" is forbidden: exceeded quota: team, requested: cpu=2', True),
        ("Failed", 'Failed to pull image "nope:1": not found', False),
        ("FailedCreate", 'admission webhook "flyte-pod-webhook.flyte.org" denied the request: bad secret', False),
        ("BackOff", "Back-off pulling image", False),
    ],
)
def test_resource_shortage(reason, message, shortage):
    assert WarningEvent("Pod", "p", reason, message, 0).resource_shortage is shortage


def test_events_are_kept_for_the_tracked_object_they_concern():
    warnings = watcher({"pj"})
    warnings._apply("ADDED", event("pj-w0-abcde"))  # a pod of pj
    warnings._apply("ADDED", event("other-w0-abcde"))  # not ours: dropped
    warnings._apply("ADDED", event("pjx-w0", message="no"))  # a prefix match needs the dash
    assert warnings.latest(NS, "pj") == WarningEvent(
        "Pod", "pj-w0-abcde", "FailedScheduling", "0/3 nodes are available: 3 Insufficient cpu.", 1796025600.0
    )
    assert len(warnings) == 1
    assert warnings.latest(NS, "other") is None


def test_the_latest_event_wins_by_its_time_not_its_arrival():
    warnings = watcher({"pj"})
    warnings._apply("ADDED", event("pj-w0-a", reason="Failed", message="pull", at="2026-11-30T08:00:05Z"))
    warnings._apply("MODIFIED", event("pj-w1-b", at="2026-11-30T08:00:01Z"))
    assert warnings.latest(NS, "pj").reason == "Failed"  # type: ignore[union-attr]
    warnings._apply("DELETED", event("pj-w0-a", reason="Failed"))  # expiry keeps what it explained
    assert warnings.latest(NS, "pj") is not None


def test_a_relist_replaces_everything_and_the_cap_drops_the_oldest():
    warnings = watcher({f"pj{i}" for i in range(5)}, max_kept=3)
    for i in range(5):
        warnings._apply("ADDED", event(f"pj{i}-w0"))
    assert [warnings.latest(NS, f"pj{i}") is not None for i in range(5)] == [False, False, True, True, True]
    warnings._replace_all([event("pj0-w0")])
    assert [warnings.latest(NS, f"pj{i}") is not None for i in range(5)] == [True, False, False, False, False]
