from __future__ import annotations

import json

import kubernetes.client  # type: ignore[import-untyped]
import pytest
from kubernetes.client import ApiException  # type: ignore[import-untyped]

from kube_emulator.testing.parallel_jobs import GROUP, PLURAL, VERSION, parallel_job

COUNT = f"count/{PLURAL}.{GROUP}"


def _quota(core, hard: dict[str, str], name: str = "compute") -> None:
    core.create_namespaced_resource_quota("default", {"metadata": {"name": name}, "spec": {"hard": hard}})


def test_a_create_beyond_an_object_count_quota_is_403_exceeded_quota(core, custom):
    _quota(core, {COUNT: "1"})
    custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, parallel_job("a"))
    with pytest.raises(ApiException) as raised:
        custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, parallel_job("b"))
    assert raised.value.status == 403
    status = json.loads(raised.value.body)
    assert status["reason"] == "Forbidden"
    assert status["message"] == (
        f'{PLURAL}.{GROUP} "b" is forbidden: exceeded quota: compute, '
        f"requested: {COUNT}=1, used: {COUNT}=1, limited: {COUNT}=1"
    )
    # Admission runs before storage: a repeated create of an existing name is refused by quota too.
    with pytest.raises(ApiException) as again:
        custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, parallel_job("a"))
    assert again.value.status == 403


def test_raising_the_quota_or_freeing_an_object_admits_the_next_create(core, custom):
    _quota(core, {COUNT: "1"})
    custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, parallel_job("a"))
    custom.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "a")
    custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, parallel_job("b"))
    core.patch_namespaced_resource_quota("compute", "default", {"spec": {"hard": {COUNT: "2"}}})
    custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, parallel_job("c"))


def test_quotas_count_per_namespace_and_per_resource(core, custom):
    _quota(core, {COUNT: "0", "count/configmaps": "1"})
    core.create_namespace({"metadata": {"name": "other"}})
    custom.create_namespaced_custom_object(GROUP, VERSION, "other", PLURAL, parallel_job("a"))
    core.create_namespaced_config_map("default", {"metadata": {"name": "c1"}})
    with pytest.raises(ApiException) as raised:
        core.create_namespaced_config_map("default", {"metadata": {"name": "c2"}})
    assert "exceeded quota: compute, requested: count/configmaps=1" in json.loads(raised.value.body)["message"]


def test_leases_are_served_with_optimistic_concurrency(client):
    leases = kubernetes.client.CoordinationV1Api(client)
    body = {"metadata": {"name": "sweeper"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}}
    created = leases.create_namespaced_lease("default", body)
    assert created.spec.holder_identity == "a"
    created.spec.holder_identity = "b"
    updated = leases.replace_namespaced_lease("sweeper", "default", created)
    assert updated.spec.holder_identity == "b"
    created.spec.holder_identity = "c"  # still the first resourceVersion: stale
    with pytest.raises(ApiException) as raised:
        leases.replace_namespaced_lease("sweeper", "default", created)
    assert raised.value.status == 409
    assert leases.read_namespaced_lease("sweeper", "default").spec.holder_identity == "b"
