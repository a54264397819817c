from __future__ import annotations

import json

import pytest
from kubernetes.client import ApiException  # type: ignore[import-untyped]

from kube_emulator.testing.parallel_jobs import GROUP, PLURAL, VERSION, parallel_job


def test_injected_503_fails_n_times_and_changes_nothing(api, custom):
    api.faults.add(verb="create", resource=PLURAL, status=503, times=2)
    for _ in range(2):
        with pytest.raises(ApiException) as raised:
            custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, parallel_job("a"))
        assert raised.value.status == 503
        assert api.get(PLURAL, "a") is None
    custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, parallel_job("a"))
    assert api.requests.count(verb="create", resource=PLURAL) == 3
    assert api.requests.count(verb="create", resource=PLURAL, status=503) == 2


def test_429_carries_retry_after(api):
    import urllib.error
    import urllib.request

    api.faults.add(verb="list", resource="configmaps", status=429, retry_after=7, times=1)
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(f"{api.url}/api/v1/namespaces/default/configmaps")
    assert raised.value.code == 429
    assert raised.value.headers["Retry-After"] == "7"
    assert json.loads(raised.value.read())["details"]["retryAfterSeconds"] == 7


def test_official_client_honours_retry_after(api, core):
    api.faults.add(verb="list", resource="configmaps", status=429, retry_after=0, times=1)
    core.list_namespaced_config_map("default")  # urllib3 retries a 429 by itself
    assert api.requests.count(verb="list", resource="configmaps") == 2


def test_forbidden_rule_uses_the_rbac_message(api, custom):
    api.faults.forbid(verb="create", resource=PLURAL, user="system:serviceaccount:flyte:connector")
    with pytest.raises(ApiException) as raised:
        custom.create_namespaced_custom_object(GROUP, VERSION, "ns1", PLURAL, parallel_job("a"))
    status = json.loads(raised.value.body)
    assert raised.value.status == 403 and status["reason"] == "Forbidden"
    assert status["message"] == (
        'paralleljobs.workloads.example.com is forbidden: User "system:serviceaccount:flyte:connector" '
        'cannot create resource "paralleljobs" in API group "workloads.example.com" in the namespace "ns1"'
    )


def test_latency_only_rule_still_succeeds(api, core):
    api.faults.add(verb="get", resource="namespaces", latency=0.01, times=1)
    assert core.read_namespace("default").metadata.name == "default"


def test_status_subresource_faults_are_separate(api, custom):
    custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, parallel_job("a"))
    api.faults.add(verb="patch", resource=f"{PLURAL}/status", status=500)
    custom.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "a", {"spec": {"workers": 2}})
    with pytest.raises(ApiException):
        custom.patch_namespaced_custom_object_status(GROUP, VERSION, "default", PLURAL, "a", {"status": {"phase": "x"}})
    assert "status" not in api.get(PLURAL, "a")
    api.faults.clear()


def test_removed_crd_answers_404(api, custom):
    api.uninstall_crd("paralleljobs.workloads.example.com")
    with pytest.raises(ApiException) as raised:
        custom.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)
    assert raised.value.status == 404


def test_request_ring_and_reset(api, core):
    core.list_namespaced_config_map("default")
    recent = api.requests.recent()[-1]
    assert (recent.method, recent.verb, recent.resource, recent.namespace, recent.status) == (
        "GET",
        "list",
        "configmaps",
        "default",
        200,
    )
    api.requests.reset()
    assert api.requests.count() == 0
