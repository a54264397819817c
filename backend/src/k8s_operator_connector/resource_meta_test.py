import contextlib
import json

import pytest
from flyteidl.core.execution_pb2 import TaskExecution
from hypothesis import given
from hypothesis import strategies as st

from k8s_operator_connector.resource_meta import OperatorResourceMeta, ResourceMetaError

META = OperatorResourceMeta(
    group="workloads.example.com",
    version="v1alpha1",
    plural="paralleljobs",
    kind="ParallelJob",
    namespace="ns",
    name="job-1",
    uid="u-1",
    task_execution_id="p/d/e/n/0",
)


def test_round_trip():
    assert OperatorResourceMeta.decode(META.encode()) == META


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (json.dumps({"group": "g"}).encode(), "resource_meta.version: missing"),
        (json.dumps({**json.loads(META.encode()), "name": 5}).encode(), "resource_meta.name: expected str"),
        (json.dumps({**json.loads(META.encode()), "failure_phase": True}).encode(), "failure_phase: expected int"),
        (b" " * (300 * 1024), "more than the"),
    ],
)
def test_undecodable_metas_name_the_problem(data, message):
    with pytest.raises(ResourceMetaError, match=message):
        OperatorResourceMeta.decode(data)


@given(st.binary(max_size=512))
def test_decoding_arbitrary_bytes_raises_only_resource_meta_errors(data):
    with contextlib.suppress(ResourceMetaError):
        OperatorResourceMeta.decode(data)


@given(st.dictionaries(st.sampled_from(["group", "version", "plural", "kind", "namespace", "name", "uid"]), st.text()))
def test_decoding_arbitrary_objects_raises_only_resource_meta_errors(document):
    with contextlib.suppress(ResourceMetaError):
        OperatorResourceMeta.decode(json.dumps(document).encode())


def test_a_failure_without_an_object_round_trips():
    """Regression: CreateTask's answer for an invalid task (no resource) must decode in GetTask."""
    meta = OperatorResourceMeta(
        group="",
        version="",
        plural="",
        kind="",
        namespace="ns",
        name="n",
        failure_phase=TaskExecution.FAILED,
        failure_message="custom.workers: must be between 1 and 1000, got 0",
    )
    assert OperatorResourceMeta.decode(meta.encode()) == meta
