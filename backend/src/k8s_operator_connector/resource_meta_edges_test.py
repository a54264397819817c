"""The resource meta at its limits: the 16 KiB decode bound, the 4 KiB failure message, every
required field, and the per-connector meta type."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flyteidl.core.execution_pb2 import TaskExecution

from k8s_operator_connector.meta_signing import MAX_META_BYTES, MetaRejected
from k8s_operator_connector.resource_meta import (
    MAX_FAILURE_MESSAGE,
    OperatorResourceMeta,
    ResourceMetaError,
    signed_meta_type,
)
from k8s_operator_connector.testing.signing_keys import signer_for_tests

REQUIRED = ("group", "version", "plural", "kind", "namespace", "name")
FIELDS: dict[str, Any] = {
    "group": "workloads.example.com",
    "version": "v1alpha1",
    "plural": "paralleljobs",
    "kind": "ParallelJob",
    "namespace": "ns",
    "name": "job-1",
}


def payload(**fields: Any) -> bytes:
    return json.dumps({**FIELDS, **fields}).encode()


def test_the_limits() -> None:
    assert (MAX_META_BYTES, MAX_FAILURE_MESSAGE) == (16 * 1024, 4096)


def test_a_payload_of_exactly_the_limit_decodes_and_one_byte_more_does_not() -> None:
    filler = MAX_META_BYTES - len(payload(uid=""))
    at_limit = payload(uid="u" * filler)
    assert len(at_limit) == MAX_META_BYTES
    assert OperatorResourceMeta.from_payload(at_limit).uid == "u" * filler
    over = payload(uid="u" * (filler + 1))
    with pytest.raises(
        ResourceMetaError, match=f"^resource_meta: {MAX_META_BYTES + 1} bytes, more than the 16384 allowed$"
    ):
        OperatorResourceMeta.from_payload(over)


@pytest.mark.parametrize("missing", REQUIRED)
def test_every_required_field_is_named_when_missing(missing: str) -> None:
    document = {key: value for key, value in FIELDS.items() if key != missing}
    with pytest.raises(ResourceMetaError, match=f"^resource_meta.{missing}: missing$"):
        OperatorResourceMeta.from_payload(json.dumps(document).encode())


def test_optional_fields_may_be_missing_and_later_ones_are_still_read() -> None:
    meta = OperatorResourceMeta.from_payload(payload(task_id="p/d/t/v", awaiting_quota=True))
    assert (meta.uid, meta.task_execution_id, meta.task_id, meta.awaiting_quota) == ("", "", "p/d/t/v", True)


def test_a_document_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ResourceMetaError, match="^resource_meta: expected a JSON object$"):
        OperatorResourceMeta.from_payload(b'["group"]')


@pytest.mark.parametrize("empty", ["name", "plural", "version"])
def test_an_object_meta_needs_a_name_plural_and_version(empty: str) -> None:
    with pytest.raises(ResourceMetaError, match="^resource_meta: name, plural and version must not be empty$"):
        OperatorResourceMeta.from_payload(payload(**{empty: ""}))
    # A task that failed before creating anything has only its failure.
    failed = OperatorResourceMeta.from_payload(payload(**{empty: ""}, failure_phase=TaskExecution.FAILED))
    assert failed.failure_phase == TaskExecution.FAILED


def test_the_payload_is_ascii_json() -> None:
    meta = OperatorResourceMeta(**FIELDS, failure_message="naïve ✓")
    assert b'"failure_message":"na\\u00efve \\u2713"' in meta.payload()
    assert meta.payload().isascii()


@pytest.mark.parametrize(
    ("message", "kept"),
    [
        ("x" * MAX_FAILURE_MESSAGE, MAX_FAILURE_MESSAGE),  # exactly the limit: kept whole
        ("x" * (MAX_FAILURE_MESSAGE + 1), MAX_FAILURE_MESSAGE),
        ("é" * 1000, MAX_FAILURE_MESSAGE // 6),  # "\\u00e9" is 6 bytes in the payload
        ('"' * 3000, MAX_FAILURE_MESSAGE // 2),  # '\\"' is 2
        # 4091 bytes, then 6 that would end at 4097: the "é" goes, although the text is one character past.
        ("x" * (MAX_FAILURE_MESSAGE - 5) + "é", MAX_FAILURE_MESSAGE - 5),
        ("", 0),
    ],
)
def test_a_failure_message_is_cut_to_what_encodes_in_4096_bytes(message: str, kept: int) -> None:
    meta = OperatorResourceMeta(**FIELDS, failure_message=message)
    assert meta.failure_message == message[:kept]
    assert len(json.dumps(meta.failure_message)) <= MAX_FAILURE_MESSAGE + 2


def test_a_connector_meta_type_is_bound_to_its_signer_and_task_type() -> None:
    signer = signer_for_tests()
    meta_type = signed_meta_type(signer, "parallel_job")
    assert (meta_type.__name__, meta_type.__module__) == (
        "OperatorResourceMeta[parallel_job]",
        "k8s_operator_connector.resource_meta",
    )
    assert issubclass(meta_type, OperatorResourceMeta)
    assert (meta_type.signer, meta_type.task_type) == (signer, "parallel_job")
    meta = meta_type(**FIELDS)
    assert meta_type.decode(meta.encode()) == meta
    with pytest.raises(MetaRejected):
        signed_meta_type(signer, "custom_resource").decode(meta.encode())


def test_the_unbound_type_says_how_to_encode_and_decode() -> None:
    with pytest.raises(TypeError, match=r"^encode a meta through its connector's meta type \(signed_meta_type\)$"):
        OperatorResourceMeta(**FIELDS).encode()
    with pytest.raises(TypeError, match=r"^decode a meta through its connector's meta type \(signed_meta_type\)$"):
        OperatorResourceMeta.decode(b"{}")
