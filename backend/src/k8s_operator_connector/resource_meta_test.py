import contextlib
import json

import pytest
from flyteidl.core.execution_pb2 import TaskExecution
from hypothesis import given
from hypothesis import strategies as st

from k8s_operator_connector.meta_signing import MetaRejected
from k8s_operator_connector.resource_meta import OperatorResourceMeta, ResourceMetaError, signed_meta_type
from k8s_operator_connector.testing.metric_values import metric_value
from k8s_operator_connector.testing.signing_keys import signer_for_tests

Meta = signed_meta_type(signer_for_tests(), "parallel_job")
# Accepts unsigned metas, so these tests reach the structure checks behind the signature.
Unsigned = signed_meta_type(signer_for_tests("migrate"), "parallel_job")
META = Meta(
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
    assert Meta.decode(META.encode()) == META


def test_the_encoding_is_canonical_and_repeatable():
    """A repeated CreateTask must answer the same bytes; the MAC covers exactly these."""
    assert META.encode() == Meta.decode(META.encode()).encode()
    assert META.payload() == json.dumps(json.loads(META.payload()), sort_keys=True, separators=(",", ":")).encode()


def test_the_unbound_base_class_neither_encodes_nor_decodes():
    plain = OperatorResourceMeta(group="", version="v1", plural="p", kind="K", namespace="ns", name="n")
    with pytest.raises(TypeError, match="signed_meta_type"):
        plain.encode()
    with pytest.raises(TypeError, match="signed_meta_type"):
        OperatorResourceMeta.decode(b"{}")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\xfe", "not a resource meta written by this connector"),
        (b"[1, 2]", "not a resource meta written by this connector"),
        (b"{\xff}", "not JSON"),
        (b"{1: 2}", "not JSON"),
        (json.dumps({"group": "g"}).encode(), "resource_meta.version: missing"),
        (json.dumps({**json.loads(META.payload()), "name": 5}).encode(), "resource_meta.name: expected str"),
        (json.dumps({**json.loads(META.payload()), "failure_phase": True}).encode(), "failure_phase: expected int"),
        (b"{" + b" " * (17 * 1024) + b"}", "more than the 16384 allowed"),
    ],
)
def test_undecodable_metas_name_the_problem(data, message):
    with pytest.raises(MetaRejected, match=message):
        Unsigned.decode(data)


def test_refused_metas_are_counted_by_task_type():
    before = metric_value("meta_verification_failures_total", task_type="parallel_job")
    forged = b"{" + META.encode()[1:]
    for data in (META.payload(), forged, META.encode()[:-1] + b"x"):
        with pytest.raises(MetaRejected):
            Meta.decode(data)
    assert metric_value("meta_verification_failures_total", task_type="parallel_job") == before + 3
    Meta.decode(META.encode())
    assert metric_value("meta_verification_failures_total", task_type="parallel_job") == before + 3


def test_a_signed_meta_with_a_bad_payload_still_names_the_field():
    sealed = Meta.signer.seal("parallel_job", json.dumps({"group": "g"}).encode())  # type: ignore[union-attr]
    with pytest.raises(ResourceMetaError, match="resource_meta.version: missing"):
        Meta.decode(sealed)


@given(st.binary(max_size=512))
def test_decoding_arbitrary_bytes_raises_only_meta_rejections(data):
    for meta_type in (Meta, Unsigned):
        with contextlib.suppress(MetaRejected):
            meta_type.decode(data)


@given(st.dictionaries(st.sampled_from(["group", "version", "plural", "kind", "namespace", "name", "uid"]), st.text()))
def test_decoding_arbitrary_objects_raises_only_meta_rejections(document):
    with contextlib.suppress(MetaRejected):
        Unsigned.decode(json.dumps(document).encode())


def failure_meta(message: str):
    """CreateTask's answer for a task that failed before creating an object (no resource)."""
    return Meta("", "", "", "", "ns", "n", failure_phase=TaskExecution.FAILED, failure_message=message)


def test_a_failure_without_an_object_round_trips():
    """Regression: CreateTask's answer for an invalid task (no resource) must decode in GetTask."""
    meta = failure_meta("custom.workers: must be between 1 and 1000, got 0")
    assert Meta.decode(meta.encode()) == meta


@pytest.mark.parametrize("character", ["x", "é", "\u2603", "\U0001f600", '"'])
def test_failure_messages_are_cut_so_metas_stay_small(character):
    """Cut by encoded size: non-ASCII text escapes to 6 (or 12) bytes a character in the meta's
    JSON, and a meta over the decode limit would turn a clear failure into an INTERNAL error."""
    meta = failure_meta(character * 100_000)
    assert len(meta.encode()) < 16 * 1024
    assert Meta.decode(meta.encode()) == meta
    assert len(json.dumps(meta.failure_message)) - 2 <= 4096
    assert len(json.dumps(meta.failure_message + character)) - 2 > 4096  # no shorter than it must be
