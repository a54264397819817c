"""The sweeper election against the API emulator, with clocks the test moves (no sleeping).

Expected behaviour is client-go's (v0.32.13, tools/leaderelection/leaderelection.go):
tryAcquireOrRenew, isLeaseValid on the observer's clock, release with an empty holder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from k8s_operator_connector.kube_api import KubeApi
from k8s_operator_connector.leader_election import LEASES, LeaseElector, lease_namespace
from k8s_operator_connector.lease_settings import LeaderElectionSettings, parse_leader_election
from k8s_operator_connector.settings import ApiSettings, SettingsError
from k8s_operator_connector.settings_reader import SettingsReader
from k8s_operator_connector.testing.metric_values import metric_value
from kube_emulator import KubeEmulator

SETTINGS = LeaderElectionSettings(
    lease_name="sweeper", lease_duration_seconds=15, renew_deadline_seconds=10, retry_period_seconds=2
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def emulator() -> Iterator[KubeEmulator]:
    with KubeEmulator() as api:
        yield api


@pytest.fixture
def kube(emulator: KubeEmulator, tmp_path: Path) -> KubeApi:
    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
    return KubeApi(ApiSettings(kubeconfig=str(kubeconfig), max_retries=0, timeout_seconds=5))


def candidate(kube: KubeApi, identity: str, clock: Clock, settings: LeaderElectionSettings = SETTINGS) -> LeaseElector:
    return LeaseElector(lambda: kube, settings, "default", identity=identity, clock=clock)


def lease(emulator: KubeEmulator) -> dict[str, Any]:
    found = emulator.get("leases.coordination.k8s.io", "sweeper", "default")
    assert found is not None
    return dict(found["spec"])


def test_the_first_candidate_creates_the_lease_and_the_second_waits(emulator: KubeEmulator, kube: KubeApi) -> None:
    clock = Clock()
    first, second = candidate(kube, "a", clock), candidate(kube, "b", clock)
    assert first.try_acquire_or_renew() and first.is_leader()
    assert metric_value("sweeper_leader") == 1.0
    assert not second.try_acquire_or_renew() and not second.is_leader()
    spec = lease(emulator)
    assert spec["holderIdentity"] == "a" and spec["leaseDurationSeconds"] == 15 and spec["leaseTransitions"] == 0
    assert spec["renewTime"].endswith("Z") and "." in spec["renewTime"]  # MicroTime
    clock.now += 14  # renewals keep it; the follower never gets it while the record changes
    acquired = spec["acquireTime"]
    assert first.try_acquire_or_renew()
    clock.now += 14
    assert not second.try_acquire_or_renew()
    assert lease(emulator)["acquireTime"] == acquired  # a renewal keeps acquireTime


def test_a_follower_takes_over_after_the_lease_duration_and_the_old_leader_steps_down(
    emulator: KubeEmulator, kube: KubeApi
) -> None:
    clock = Clock()
    first, second = candidate(kube, "a", clock), candidate(kube, "b", clock)
    assert first.try_acquire_or_renew()
    assert not second.try_acquire_or_renew()  # the follower starts its clock on this record
    clock.now += 14.9
    assert not second.try_acquire_or_renew()
    assert first.is_leader() is False  # 14.9 s without a renewal: past the 10 s renew deadline
    clock.now += 0.2  # 15.1 s since the follower saw the record change: expired
    assert second.try_acquire_or_renew() and second.is_leader()
    spec = lease(emulator)
    assert spec["holderIdentity"] == "b" and spec["leaseTransitions"] == 1
    # The old leader comes back: the lease is b's and valid, so it stays a follower.
    assert not first.try_acquire_or_renew() and not first.is_leader()


def test_release_hands_over_at_once(emulator: KubeEmulator, kube: KubeApi) -> None:
    clock = Clock()
    first, second = candidate(kube, "a", clock), candidate(kube, "b", clock)
    assert first.try_acquire_or_renew()
    assert not second.try_acquire_or_renew()
    first.release()
    assert not first.is_leader()
    spec = lease(emulator)
    assert "holderIdentity" not in spec and spec["leaseDurationSeconds"] == 1
    assert second.try_acquire_or_renew()  # no waiting: the holder is empty
    assert lease(emulator)["holderIdentity"] == "b"


def test_of_two_concurrent_writers_the_stale_one_gets_a_conflict(emulator: KubeEmulator, kube: KubeApi) -> None:
    clock = Clock()
    first, second = candidate(kube, "a", clock), candidate(kube, "b", clock)
    assert first.try_acquire_or_renew()
    first.release()

    class Racing:
        """The API as ``second`` sees it: ``first`` writes between second's read and write."""

        def get(self, *args: Any) -> dict[str, Any]:
            found = kube.get(*args)
            assert first.try_acquire_or_renew()
            return found

        def __getattr__(self, name: str) -> Any:
            return getattr(kube, name)

    racing = LeaseElector(lambda: Racing(), SETTINGS, "default", identity="b", clock=clock)  # type: ignore[arg-type,return-value]
    assert not racing.try_acquire_or_renew()  # 409 on the stale resourceVersion
    assert lease(emulator)["holderIdentity"] == "a"
    assert emulator.requests.count(verb="update", resource="leases", status=409) == 1
    assert not second.try_acquire_or_renew()


def test_an_unreachable_api_ends_leadership_after_the_renew_deadline(emulator: KubeEmulator, kube: KubeApi) -> None:
    clock = Clock()
    leader = candidate(kube, "a", clock)
    assert leader.try_acquire_or_renew()
    emulator.faults.add(verb="get", resource="leases", status=503)
    clock.now += 5
    assert not leader.try_acquire_or_renew()
    assert leader.is_leader()  # within the renew deadline it still leads
    clock.now += 5
    assert not leader.try_acquire_or_renew() and not leader.is_leader()
    assert metric_value("sweeper_leader") == 0.0


def test_run_releases_when_stopped(emulator: KubeEmulator, kube: KubeApi) -> None:
    import threading

    stopped = threading.Event()
    stopped.set()  # one round, then release
    elector = LeaseElector(lambda: kube, SETTINGS, "default", identity="a")
    elector.run(stopped)
    assert emulator.requests.count(verb="create", resource="leases", status=201) == 1
    assert "holderIdentity" not in lease(emulator)


def test_the_lease_namespace_defaults_to_the_pods_own_then_the_default_namespace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from k8s_operator_connector import leader_election

    assert lease_namespace(LeaderElectionSettings(lease_namespace="flyte"), "default") == "flyte"
    monkeypatch.setattr(leader_election, "SERVICE_ACCOUNT_NAMESPACE", tmp_path / "missing")
    assert lease_namespace(LeaderElectionSettings(), "default") == "default"
    (tmp_path / "namespace").write_text("flyte-connector\n")
    monkeypatch.setattr(leader_election, "SERVICE_ACCOUNT_NAMESPACE", tmp_path / "namespace")
    assert lease_namespace(LeaderElectionSettings(), "default") == "flyte-connector"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"leaseName": "Not_A_Name"}, "leaderElection.leaseName must be a DNS-1123 subdomain"),
        ({"leaseNamespace": "a.b"}, "leaderElection.leaseNamespace must be a DNS-1123 label"),
        ({"leaseName": "sweeper\n"}, "leaderElection.leaseName must be a DNS-1123 subdomain"),
        ({"leaseNamespace": "flyte\n"}, "leaderElection.leaseNamespace must be a DNS-1123 label"),
        ({"leaseDurationSeconds": 10, "renewDeadlineSeconds": 10}, "leaseDurationSeconds (10) must be greater than"),
        ({"leaseDurationSeconds": 1.5}, "leaderElection.leaseDurationSeconds must be int"),
        (
            {"renewDeadlineSeconds": 2, "retryPeriodSeconds": 2},
            "must be greater than 1.2 x leaderElection.retryPeriodSeconds",
        ),
        ({"leaseDuration": 10}, "unknown key 'leaderElection.leaseDuration'"),
    ],
)
def test_bad_settings_name_the_key(section: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        parse_leader_election(SettingsReader(section, "leaderElection"))


def test_settings_defaults_are_client_gos() -> None:
    settings = parse_leader_election(SettingsReader({}, "leaderElection"))
    assert (settings.lease_duration_seconds, settings.renew_deadline_seconds, settings.retry_period_seconds) == (
        15,
        10,
        2,
    )
    assert settings.lease_name == "flyte-k8s-operator-connector-sweeper" and settings.lease_namespace == ""
    assert LEASES.path("ns", "x") == "/apis/coordination.k8s.io/v1/namespaces/ns/leases/x"
