from __future__ import annotations

import base64
import json
import os
import zlib

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from k8s_operator_connector.pending_create import (
    MAX_SEALED_CHARS,
    PendingCreateError,
    PendingCreates,
    binding,
    derive_keys,
)

OLD_KEY = b"old-signing-key-0123456789abcdef-0123"
NEW_KEY = b"new-signing-key-0123456789abcdef-0123"
BOUND = binding("parallel_job", "ns", "obj", "p/d/e/n0/0")
MANIFEST = {
    "apiVersion": "workloads.example.com/v1alpha1",
    "kind": "ParallelJob",
    "metadata": {"name": "obj", "namespace": "ns"},
    "spec": {"template": {"spec": {"containers": [{"env": [{"name": "TOKEN", "value": "s3cr3t-value"}]}]}}},
}


def sealer(*keys: bytes) -> PendingCreates:
    return PendingCreates(lambda: keys)


def test_a_sealed_manifest_round_trips_and_hides_its_content() -> None:
    sealed = sealer(OLD_KEY).seal(MANIFEST, BOUND)
    assert sealed.startswith("v1.") and "s3cr3t" not in sealed and "ParallelJob" not in sealed
    assert "s3cr3t" not in base64.b64decode(sealed[3:]).decode("latin-1")
    assert sealer(OLD_KEY).open(sealed, BOUND) == MANIFEST
    # Deterministic (a repeated CreateTask must answer the same meta), yet another task's differs.
    assert sealer(OLD_KEY).seal(MANIFEST, BOUND) == sealed
    other = sealer(OLD_KEY).seal(MANIFEST, binding("parallel_job", "ns", "obj", "p/d/e/n0/1"))
    assert other[3:19] != sealed[3:19]  # the nonce too


def test_keys_rotate_as_signing_keys_do_the_first_seals_every_one_opens() -> None:
    sealed = sealer(OLD_KEY).seal(MANIFEST, BOUND)
    assert sealer(NEW_KEY, OLD_KEY).open(sealed, BOUND) == MANIFEST
    with pytest.raises(PendingCreateError, match="does not open with any key in metaSigning.keysPath"):
        sealer(NEW_KEY).open(sealed, BOUND)


def test_the_encryption_key_is_derived_not_the_signing_key_itself() -> None:
    ((derived, nonce_key),) = derive_keys((OLD_KEY,))
    assert len(derived) == len(nonce_key) == 32 and len({derived, nonce_key, OLD_KEY[:32]}) == 3
    sealed = base64.b64decode(sealer(OLD_KEY).seal(MANIFEST, BOUND)[3:])
    with pytest.raises(Exception):  # noqa: B017 (cryptography's InvalidTag)
        AESGCM(OLD_KEY[:32]).decrypt(sealed[:12], sealed[12:], BOUND)
    assert AESGCM(derived).decrypt(sealed[:12], sealed[12:], BOUND)


@pytest.mark.parametrize(
    "other",
    [
        binding("custom_resource", "ns", "obj", "p/d/e/n0/0"),
        binding("parallel_job", "other", "obj", "p/d/e/n0/0"),
        binding("parallel_job", "ns", "obj2", "p/d/e/n0/0"),
        binding("parallel_job", "ns", "obj", "p/d/e/n0/1"),
    ],
)
def test_a_sealed_manifest_opens_only_for_its_own_task(other: bytes) -> None:
    sealed = sealer(OLD_KEY).seal(MANIFEST, BOUND)
    with pytest.raises(PendingCreateError, match="does not open"):
        sealer(OLD_KEY).open(sealed, other)


def test_without_signing_keys_each_process_has_its_own_key() -> None:
    here, elsewhere = sealer(), sealer()  # metaSigning.mode off
    sealed = here.seal(MANIFEST, BOUND)
    assert here.open(sealed, BOUND) == MANIFEST
    with pytest.raises(PendingCreateError, match="with metaSigning.mode off, it was sealed by another"):
        elsewhere.open(sealed, BOUND)


def test_a_manifest_too_large_for_a_meta_is_refused_naming_the_sizes() -> None:
    big = {"data": base64.b64encode(os.urandom(12 * 1024)).decode()}
    with pytest.raises(PendingCreateError) as raised:
        sealer(OLD_KEY).seal(big, BOUND)
    assert str(raised.value).startswith("its manifest is ")
    assert str(raised.value).endswith(f"more than the {MAX_SEALED_CHARS} a resource meta carries for a quota wait")
    # Compressible manifests far larger than the bound fit: what counts is the sealed size.
    assert sealer(OLD_KEY).open(sealer(OLD_KEY).seal({"data": "a" * 200_000}, BOUND), BOUND)["data"] == "a" * 200_000


@pytest.mark.parametrize(
    ("sealed", "message"),
    [
        ("", "not one this connector writes"),
        ("v2.AAAA", "not one this connector writes"),
        ("v1." + "A" * MAX_SEALED_CHARS, "not one this connector writes"),
        ("v1.not base64!", "not base64"),
        ("v1." + base64.b64encode(b"short").decode(), "does not open"),
    ],
)
def test_what_is_not_a_sealed_manifest_is_refused(sealed: str, message: str) -> None:
    with pytest.raises(PendingCreateError, match=message):
        sealer(OLD_KEY).open(sealed, BOUND)


def _sealed_raw(plain: bytes) -> str:
    ((key, _),) = derive_keys((OLD_KEY,))
    nonce = os.urandom(12)
    return "v1." + base64.b64encode(nonce + AESGCM(key).encrypt(nonce, plain, BOUND)).decode()


def test_decompression_is_bounded_and_the_content_checked() -> None:
    bomb = zlib.compress(b"[" + b"0," * 2_000_000 + b"0]", 9)
    with pytest.raises(PendingCreateError, match="inflates past"):
        sealer(OLD_KEY).open(_sealed_raw(bomb), BOUND)
    with pytest.raises(PendingCreateError, match="does not decompress"):
        sealer(OLD_KEY).open(_sealed_raw(b"not zlib"), BOUND)
    with pytest.raises(PendingCreateError, match="not an object"):
        sealer(OLD_KEY).open(_sealed_raw(zlib.compress(json.dumps([1]).encode())), BOUND)


# Sealed by this connector (pending_create.py as of 2026-11-30) with OLD_KEY for BOUND. A process
# of the next version must still open what a replica of this one sealed (a rolling upgrade).
KNOWN_SEALED = (
    "v1.fdFUOENEYcjqC9cHrVxG69Zm2OZkxlL2KIGh+jo+buU+y/qpJD5Ni7B9z82+kIRWjfhViudMXg6XBna3A4AiuF6IdC0Drixq"
    "zQXPd8GScj0GRYMRfap6lyqn1uufkg=="
)


def test_a_manifest_sealed_by_an_earlier_process_still_opens() -> None:
    bound = binding("parallel_job", "ns", "obj", "p/d/e/n0/0")  # computed here: the binding's format counts too
    assert sealer(OLD_KEY).open(KNOWN_SEALED, bound) == {
        "kind": "ParallelJob",
        "metadata": {"name": "obj", "namespace": "ns"},
    }


def test_the_sealed_form_does_not_depend_on_the_manifests_key_order() -> None:
    reordered = dict(reversed(list(MANIFEST.items())))
    assert sealer(OLD_KEY).seal(reordered, BOUND) == sealer(OLD_KEY).seal(MANIFEST, BOUND)


def test_the_size_bound_holds_at_and_just_past_it_before_decoding() -> None:
    at_limit = "v1." + "A" * (MAX_SEALED_CHARS - 3)
    with pytest.raises(PendingCreateError) as raised:
        sealer(OLD_KEY).open(at_limit, BOUND)
    assert str(raised.value) == "the sealed manifest is not base64"  # looked at: within the bound
    with pytest.raises(PendingCreateError) as raised:
        sealer(OLD_KEY).open(at_limit + "A", BOUND)
    assert str(raised.value) == "the sealed manifest is not one this connector writes"


def test_base64_is_read_strictly() -> None:
    sealed = sealer(OLD_KEY).seal(MANIFEST, BOUND)
    with pytest.raises(PendingCreateError) as raised:
        sealer(OLD_KEY).open(sealed[:10] + "!" + sealed[10:], BOUND)
    assert str(raised.value) == "the sealed manifest is not base64"


def test_each_refusal_of_the_content_says_what_is_wrong() -> None:
    for plain, message in (
        (b"not zlib", "the sealed manifest does not decompress"),
        (zlib.compress(b"{not json"), "the sealed manifest is not JSON"),
        (zlib.compress(b"[1]"), "the sealed manifest is not an object"),
    ):
        with pytest.raises(PendingCreateError) as raised:
            sealer(OLD_KEY).open(_sealed_raw(plain), BOUND)
        assert str(raised.value) == message
    with pytest.raises(PendingCreateError) as raised:
        sealer(NEW_KEY).open(sealer(OLD_KEY).seal(MANIFEST, BOUND), BOUND)
    assert str(raised.value) == (
        "the sealed manifest does not open with any key in metaSigning.keysPath (the key that sealed it was "
        "removed, or, with metaSigning.mode off, it was sealed by another connector process)"
    )
