"""One contract, two API servers: the in-memory FakeKubeApi the unit tests use, and the real
KubeApi over HTTP to the project's Kubernetes API emulator. Whatever the connector relies on
(uid and resourceVersion on create, the API server's 404/409/410 answers and messages, label
selectors, pages, watch events, injected faults) must look the same on both, so the fast unit
tests cannot pass on behaviour the cluster does not have."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import pytest

import kube_emulator
from k8s_operator_connector.kube_api import KubeApi, KubeApiError, ResourceType
from k8s_operator_connector.settings import ApiSettings
from k8s_operator_connector.testing.fake_kube_api import FakeKubeApi

JOBS = ResourceType("workloads.example.com", "v1alpha1", "paralleljobs", "ParallelJob")
UNSERVED = ResourceType("workloads.example.com", "v1alpha1", "nosuchthings", "NoSuchThing")
NAMESPACE = "flytesnacks-development"


@dataclass
class Server:
    api: KubeApi
    set_status: Callable[[str, dict[str, Any]], object]
    remove: Callable[[str], None]
    add_fault: Callable[..., Any]
    expire_watches: Callable[[], None]
    compact: Callable[[], None]


def _fake() -> Iterator[Server]:
    fake = FakeKubeApi((JOBS,))
    yield Server(
        fake,
        lambda name, status: fake.set_status(JOBS, NAMESPACE, name, status),
        lambda name: fake.remove(JOBS, NAMESPACE, name),
        fake.add,
        fake.expire_watches,
        fake.compact,
    )
    fake.close()


def _emulated(tmp_path: Path) -> Iterator[Server]:
    served = kube_emulator.ResourceType(
        JOBS.group, JOBS.version, JOBS.plural, JOBS.kind, True, subresources=frozenset({"status"})
    )
    with kube_emulator.KubeEmulator(resources=[served]) as emulator:
        api = KubeApi(ApiSettings(kubeconfig=str(emulator.write_kubeconfig(tmp_path / "kubeconfig")), max_retries=0))
        yield Server(
            api,
            lambda name, status: emulator.patch(JOBS.plural, name, {"status": status}, NAMESPACE, subresource="status"),
            lambda name: emulator.delete(JOBS.plural, name, NAMESPACE),
            lambda **rule: emulator.faults.add(**rule),
            emulator.faults.expire_watches,
            emulator.faults.compact,
        )
        api.close()


@pytest.fixture(params=["fake", "emulator"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    yield from (_fake() if request.param == "fake" else _emulated(tmp_path))


def job(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": JOBS.api_version,
        "kind": JOBS.kind,
        "metadata": {"name": name, "labels": labels},
        "spec": {"workers": 2},
        "status": {"phase": "ignored on create"},
    }


def error_of(call: Callable[[], Any]) -> KubeApiError:
    with pytest.raises(KubeApiError) as raised:
        call()
    return raised.value


def test_create_sets_what_the_server_owns(server: Server) -> None:
    created = server.api.create(JOBS, NAMESPACE, job("pj-a"))
    metadata = created["metadata"]
    assert metadata["namespace"] == NAMESPACE
    assert metadata["uid"] and metadata["creationTimestamp"].endswith("Z") and metadata["generation"] == 1
    assert int(metadata["resourceVersion"]) > 0
    assert "status" not in created  # status belongs to the /status subresource
    assert server.api.get(JOBS, NAMESPACE, "pj-a") == created
    second = server.api.create(JOBS, NAMESPACE, job("pj-b"))
    assert int(second["metadata"]["resourceVersion"]) > int(metadata["resourceVersion"])
    assert second["metadata"]["uid"] != metadata["uid"]


def test_a_second_create_of_a_name_is_409_already_exists(server: Server) -> None:
    server.api.create(JOBS, NAMESPACE, job("pj-a"))
    error = error_of(lambda: server.api.create(JOBS, NAMESPACE, job("pj-a")))
    assert (error.status, error.reason) == (409, "AlreadyExists")
    assert error.message == 'paralleljobs.workloads.example.com "pj-a" already exists'
    assert not error.retryable
    # The same name in another namespace is another object.
    server.api.create(JOBS, "other", job("pj-a"))


def test_a_missing_object_is_404_naming_it(server: Server) -> None:
    error = error_of(lambda: server.api.get(JOBS, NAMESPACE, "pj-missing"))
    assert (error.status, error.reason) == (404, "NotFound")
    assert error.message == 'paralleljobs.workloads.example.com "pj-missing" not found'
    assert server.api.delete(JOBS, NAMESPACE, "pj-missing") is False


def test_an_unserved_resource_is_404_without_a_name(server: Server) -> None:
    for call in (
        lambda: server.api.create(UNSERVED, NAMESPACE, {"metadata": {"name": "x"}}),
        lambda: server.api.list(UNSERVED, NAMESPACE),
    ):
        error = error_of(call)
        assert (error.status, error.message) == (404, "the server could not find the requested resource")


def test_delete_with_a_uid_deletes_only_that_object(server: Server) -> None:
    uid = server.api.create(JOBS, NAMESPACE, job("pj-a"))["metadata"]["uid"]
    assert server.api.delete(JOBS, NAMESPACE, "pj-a", uid="not-" + uid) is False  # 409: a replacement
    assert server.api.get(JOBS, NAMESPACE, "pj-a")["metadata"]["uid"] == uid
    assert server.api.delete(JOBS, NAMESPACE, "pj-a", uid=uid) is True
    assert error_of(lambda: server.api.get(JOBS, NAMESPACE, "pj-a")).status == 404


def test_an_update_must_name_the_current_version(server: Server) -> None:
    created = server.api.create(JOBS, NAMESPACE, job("pj-a"))
    server.set_status("pj-a", {"phase": "Running"})
    stale = {**created, "spec": {"workers": 3}}
    path = JOBS.path(NAMESPACE, "pj-a")
    error = error_of(lambda: server.api.request("PUT", path, body=stale, verb="update"))
    assert (error.status, error.reason) == (409, "Conflict")
    assert error.message == (
        'Operation cannot be fulfilled on paralleljobs.workloads.example.com "pj-a": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    current = server.api.get(JOBS, NAMESPACE, "pj-a")
    updated = server.api.request("PUT", path, body={**current, "spec": {"workers": 3}}, verb="update")
    assert updated["spec"] == {"workers": 3} and updated["status"] == {"phase": "Running"}
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]
    assert updated["metadata"]["generation"] == 2
    assert int(updated["metadata"]["resourceVersion"]) > int(current["metadata"]["resourceVersion"])
    missing = error_of(lambda: server.api.request("PUT", JOBS.path(NAMESPACE, "pj-x"), body=job("pj-x"), verb="update"))
    assert (missing.status, missing.message) == (404, 'paralleljobs.workloads.example.com "pj-x" not found')


def test_list_selects_by_label_and_pages(server: Server) -> None:
    for index in range(5):
        server.api.create(JOBS, NAMESPACE, job(f"pj-{index}", managed="yes" if index % 2 == 0 else "no"))
    server.api.create(JOBS, "other", job("pj-elsewhere", managed="yes"))
    items, version = server.api.list(JOBS, NAMESPACE, "managed=yes", page_size=2)
    assert [item["metadata"]["name"] for item in items] == ["pj-0", "pj-2", "pj-4"]
    assert version == server.api.get(JOBS, "other", "pj-elsewhere")["metadata"]["resourceVersion"]
    everywhere, _ = server.api.list(JOBS, None, "managed=yes", page_size=1)
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in everywhere] == [
        (NAMESPACE, "pj-0"),
        (NAMESPACE, "pj-2"),
        (NAMESPACE, "pj-4"),
        ("other", "pj-elsewhere"),
    ]
    assert [i["metadata"]["name"] for i in server.api.list(JOBS, NAMESPACE, "managed!=yes")[0]] == ["pj-1", "pj-3"]
    assert len(server.api.list(JOBS, NAMESPACE, "managed")[0]) == 5


def test_a_watch_from_a_list_sees_every_change_in_order(server: Server) -> None:
    server.api.create(JOBS, NAMESPACE, job("pj-before", managed="yes"))
    _, version = server.api.list(JOBS, NAMESPACE, "managed=yes")
    server.api.create(JOBS, NAMESPACE, job("pj-a", managed="yes"))
    server.api.create(JOBS, NAMESPACE, job("pj-unmanaged"))
    server.set_status("pj-a", {"phase": "Running"})
    server.remove("pj-a")
    events = list(islice(server.api.watch(JOBS, NAMESPACE, version, "managed=yes", timeout_seconds=30), 3))
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "pj-a"),
        ("MODIFIED", "pj-a"),
        ("DELETED", "pj-a"),
    ]
    assert events[1]["object"]["status"] == {"phase": "Running"}
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(set(versions)) and versions[0] > int(version)


def test_a_watch_without_a_version_starts_with_every_object(server: Server) -> None:
    server.api.create(JOBS, NAMESPACE, job("pj-b"))
    server.api.create(JOBS, NAMESPACE, job("pj-a"))
    events = list(islice(server.api.watch(JOBS, NAMESPACE, "", timeout_seconds=30), 2))
    assert sorted((e["type"], e["object"]["metadata"]["name"]) for e in events) == [
        ("ADDED", "pj-a"),
        ("ADDED", "pj-b"),
    ]


def test_a_watch_ends_when_its_timeout_does(server: Server) -> None:
    server.api.create(JOBS, NAMESPACE, job("pj-a"))
    _, version = server.api.list(JOBS, NAMESPACE)
    assert list(server.api.watch(JOBS, NAMESPACE, version, timeout_seconds=1)) == []


@pytest.mark.parametrize("expire", ["compact", "expire_watches"])
def test_a_watch_from_a_forgotten_version_gets_an_error_410_event(server: Server, expire: str) -> None:
    _, version = server.api.list(JOBS, NAMESPACE)
    server.api.create(JOBS, NAMESPACE, job("pj-a"))
    getattr(server, expire)()
    [event] = list(server.api.watch(JOBS, NAMESPACE, version, timeout_seconds=30))
    assert event["type"] == "ERROR"
    assert (event["object"]["kind"], event["object"]["code"], event["object"]["reason"]) == ("Status", 410, "Expired")


@pytest.mark.parametrize(
    ("verb", "call"),
    [
        ("create", lambda api: api.create(JOBS, NAMESPACE, job("pj-a"))),
        ("get", lambda api: api.get(JOBS, NAMESPACE, "pj-a")),
        ("list", lambda api: api.list(JOBS, NAMESPACE)),
        ("delete", lambda api: api.delete(JOBS, NAMESPACE, "pj-a")),
        ("watch", lambda api: next(api.watch(JOBS, NAMESPACE, "1"))),
    ],
)
@pytest.mark.parametrize(("status", "reason"), [(500, "InternalError"), (403, "Forbidden"), (422, "Invalid")])
def test_injected_faults_reach_the_caller_as_kube_api_errors(
    server: Server, verb: str, call: Callable[[KubeApi], Any], status: int, reason: str
) -> None:
    server.add_fault(verb=verb, resource=JOBS.plural, status=status, times=1, message=f"{verb} refused: exceeded quota")
    error = error_of(lambda: call(server.api))
    assert (error.status, error.reason, error.message) == (status, reason, f"{verb} refused: exceeded quota")
    assert error.retryable is (status == 500)


def test_retry_after_is_read_from_a_429(server: Server) -> None:
    server.add_fault(verb="get", resource=JOBS.plural, status=429, times=1, retry_after=7)
    error = error_of(lambda: server.api.get(JOBS, NAMESPACE, "pj-a"))
    assert (error.status, error.reason, error.retry_after, error.retryable) == (429, "TooManyRequests", 7.0, True)
