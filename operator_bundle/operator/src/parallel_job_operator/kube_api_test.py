from types import SimpleNamespace

import pytest
from kubernetes.client.rest import ApiException

from parallel_job_operator.job_manifest import Owner, build_worker_job
from parallel_job_operator.kube_api import ForeignJobError, KubeApi
from parallel_job_operator.spec import parse_spec
from parallel_job_operator.testing_objects import UID, job, parallel_job

OWNER = Owner("pj", "ns", UID)
MANIFEST = build_worker_job(OWNER, parse_spec(parallel_job()["spec"]), 0)


class FakeBatch:
    def __init__(self, existing=None, create_status=409):
        self.existing = existing
        self.create_status = create_status
        self.patches = []

    def create_namespaced_job(self, namespace, body, field_manager):
        if self.create_status:
            raise ApiException(status=self.create_status)

    def read_namespaced_job(self, name, namespace):
        return self.existing

    def patch_namespaced_job(self, name, namespace, body, field_manager):
        self.patches.append((name, body))

    def delete_namespaced_job(self, name, namespace, propagation_policy):
        raise ApiException(status=404)


def _api(batch=None, custom=None):
    api = KubeApi(SimpleNamespace(sanitize_for_serialization=lambda obj: obj))
    api._batch = batch
    api._custom = custom
    return api


def test_created():
    assert _api(FakeBatch(create_status=0)).create_or_adopt_job(MANIFEST, OWNER) == "created"


def test_existing_job_of_ours_is_accepted():
    batch = FakeBatch(existing=job(0))
    assert _api(batch).create_or_adopt_job(MANIFEST, OWNER) == "existing"
    assert batch.patches == []


def test_unowned_job_is_adopted():
    batch = FakeBatch(existing=job(0, owner_uid=""))
    assert _api(batch).create_or_adopt_job(MANIFEST, OWNER) == "adopted"
    name, patch = batch.patches[0]
    assert name == "pj-w0"
    assert patch["metadata"]["ownerReferences"] == [OWNER.reference()]


def test_job_of_another_owner_is_refused():
    with pytest.raises(ForeignJobError, match="another object"):
        _api(FakeBatch(existing=job(0, owner_uid="other"))).create_or_adopt_job(MANIFEST, OWNER)


def test_other_create_errors_propagate():
    with pytest.raises(ApiException):
        _api(FakeBatch(create_status=422)).create_or_adopt_job(MANIFEST, OWNER)


def test_gone_objects():
    def missing(*args, **kwargs):
        raise ApiException(status=404)

    custom = SimpleNamespace(get_namespaced_custom_object=missing, patch_namespaced_custom_object_status=missing)
    api = _api(FakeBatch(), custom)
    assert api.read_parallel_job("ns", "pj") is None
    api.patch_parallel_job_status("ns", "pj", {"phase": "Running"})  # no error
    assert api.delete_job("ns", "pj-w0") is False
