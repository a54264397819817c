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


def test_every_dash_prefix_is_an_owner_down_to_one_character():
    assert owner_names("a-b-c") == ["a-b-c", "a-b", "a"]
    many = "-".join(f"p{index}" for index in range(20))
    assert owner_names(many)[-1] == "-".join(f"p{index}" for index in range(5))  # the 16th: 15 cuts


def test_a_deleted_event_changes_nothing_even_if_it_is_newer():
    warnings = watcher({"pj"})
    warnings._apply("ADDED", event("pj-w0-a", reason="BackOff", at="2026-11-30T08:00:00Z"))
    warnings._apply("DELETED", event("pj-w0-a", reason="Other", at="2026-11-30T09:00:00Z"))
    assert warnings.latest(NS, "pj").reason == "BackOff"  # type: ignore[union-attr]


def test_of_two_warnings_in_the_same_second_the_later_arrival_wins():
    # Event timestamps have second precision: the one that arrives last is the newer one.
    warnings = watcher({"pj"})
    warnings._apply("ADDED", event("pj-w0-a", reason="First"))
    warnings._apply("ADDED", event("pj-w1-b", reason="Second"))
    assert warnings.latest(NS, "pj").reason == "Second"  # type: ignore[union-attr]


def test_the_namespace_comes_from_the_involved_object_then_the_events_own():
    involved = event("pj")
    involved["metadata"]["namespace"] = "elsewhere"
    assert parse_warning(involved)[0] == NS  # type: ignore[index]
    own = event("pj")
    del own["involvedObject"]["namespace"]
    own["metadata"]["namespace"] = "events-ns"
    assert parse_warning(own)[0] == "events-ns"  # type: ignore[index]
    neither = event("pj")
    del neither["involvedObject"]["namespace"]
    del neither["metadata"]
    assert parse_warning(neither)[0] == ""  # type: ignore[index]


@pytest.mark.parametrize(
    "where",
    [
        {"lastTimestamp": "2026-11-30T08:00:07Z"},
        {"eventTime": "2026-11-30T08:00:07.000000Z"},  # events.k8s.io/v1 writers
        {"series": {"lastObservedTime": "2026-11-30T08:00:07.000000Z"}},
        {"metadata": {"namespace": NS, "creationTimestamp": "2026-11-30T08:00:07Z"}},
    ],
)
def test_the_events_time_is_the_latest_of_its_timestamps(where):
    parsed = parse_warning({**event("pj"), "lastTimestamp": None, **where})
    assert parsed is not None and parsed[1].at == 1796025607.0


def test_the_watch_asks_the_api_server_for_warnings_in_its_namespace_only():
    from k8s_operator_connector.testing.fake_kube_api import FakeKubeApi
    from k8s_operator_connector.warning_events import EVENTS

    api = FakeKubeApi((EVENTS,))
    api.put(EVENTS, event("pj-w0"))
    api.put(EVENTS, {**event("pj-w1", reason="Started"), "type": "Normal"})
    api.put(EVENTS, {**event("pj-w2"), "metadata": {"name": "pj-w2.1", "namespace": "other"}})
    warnings = WarningEvents(api, NS, lambda ns, name: name == "pj")
    warnings.start()
    try:
        assert warnings.wait_synced(timeout=30)
    finally:
        warnings.stop()
    assert warnings.latest(NS, "pj") is not None and warnings.latest(NS, "pj").name == "pj-w0"  # type: ignore[union-attr]
    assert ("list", f"/api/v1/namespaces/{NS}/events") in api.requests
