"""A create that waits for quota travels in the resource meta, compressed and encrypted.

When quota refuses a create, GetTask retries it later, possibly on another replica or
after a restart, and GetTask carries no task template to rebuild the object from: the
manifest must be kept somewhere every replica can read. It goes into the resource meta,
because propeller stores that for the task (in the FlyteWorkflow object's status) and sends
it with every GetTask. Manifests hold env values (secrets, at times), and whoever can read
FlyteWorkflow objects must not read them, so the manifest is sealed:

- canonical JSON, compressed with zlib, then encrypted with AES-256-GCM (``cryptography``);
- under a key derived with HKDF-SHA256 from each meta-signing key (the first seals, every
  one opens, so keys rotate as they do for signatures), never the signing key itself;
- with the task type, namespace, name and task execution id as associated data, so a sealed
  manifest opens only for the meta it was issued in;
- deterministically: the nonce is an HMAC of the task and the compressed manifest (a
  synthetic IV, under a second derived key), so a repeated CreateTask answers the same meta,
  as it must, and a nonce repeats only with the very same plaintext for the same task;
- bounded: a sealed manifest longer than :data:`MAX_SEALED_CHARS` is refused (the meta,
  and so every GetTask, would grow past what propeller should carry per task).

With ``metaSigning.mode: off`` there is no key: each process makes a random one, so a quota
wait then survives neither a restart nor another replica (local development only).
docs/reliability.md ("A quota wait across replicas") records why this design was chosen.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import zlib
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

#: Base64 characters of a sealed manifest; with the rest of a meta it stays under the 16 KiB
#: ``meta_signing.MAX_META_BYTES`` that GetTask accepts.
MAX_SEALED_CHARS = 12 * 1024
_VERSION = "v1."
_NONCE_BYTES = 12
_INFO = b"flyte-k8s-operator-connector/pending-create/v1/"
_MAX_MANIFEST_BYTES = 1024 * 1024  # what opening may inflate to (a zip bomb stops here)


class PendingCreateError(ValueError):
    """A sealed manifest that cannot be made or opened; the message says why."""


Keys = tuple[bytes, bytes]  # (AES-256 key, nonce HMAC key)


def _derive(key: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO + purpose).derive(key)


def derive_keys(signing_keys: tuple[bytes, ...]) -> tuple[Keys, ...]:
    """Per signing key (HKDF-SHA256), in the same order: an encryption key and a nonce key."""
    return tuple((_derive(key, b"encrypt"), _derive(key, b"nonce")) for key in signing_keys)


def binding(task_type: str, namespace: str, name: str, task_execution_id: str) -> bytes:
    return "\x00".join((task_type, namespace, name, task_execution_id)).encode()


class PendingCreates:
    """Seals and opens manifests with keys from ``keys`` (the signing keys), read at first use."""

    def __init__(self, keys: Callable[[], tuple[bytes, ...]]) -> None:
        self._signing_keys = keys
        self._keys: tuple[Keys, ...] | None = None

    def _derived(self) -> tuple[Keys, ...]:
        if self._keys is None:
            signing_keys = self._signing_keys()
            # metaSigning.mode off: nothing to derive from; this process's own keys, lost with it.
            self._keys = derive_keys(signing_keys) if signing_keys else ((os.urandom(32), os.urandom(32)),)
        return self._keys

    def seal(self, manifest: Mapping[str, Any], bound_to: bytes) -> str:
        plain = zlib.compress(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode(), 9)
        key, nonce_key = self._derived()[0]
        synthetic = hmac.new(nonce_key, len(bound_to).to_bytes(4, "big") + bound_to + plain, hashlib.sha256)
        nonce = synthetic.digest()[:_NONCE_BYTES]
        sealed = _VERSION + base64.b64encode(nonce + AESGCM(key).encrypt(nonce, plain, bound_to)).decode()
        if len(sealed) > MAX_SEALED_CHARS:
            raise PendingCreateError(
                f"its manifest is {len(sealed)} bytes compressed and encrypted, more than the {MAX_SEALED_CHARS} "
                "a resource meta carries for a quota wait"
            )
        return sealed

    def open(self, sealed: str, bound_to: bytes) -> dict[str, Any]:
        if not sealed.startswith(_VERSION) or len(sealed) > MAX_SEALED_CHARS:
            raise PendingCreateError("the sealed manifest is not one this connector writes")
        try:
            data = base64.b64decode(sealed[len(_VERSION) :], validate=True)
        except ValueError as error:
            raise PendingCreateError("the sealed manifest is not base64") from error
        nonce, ciphertext = data[:_NONCE_BYTES], data[_NONCE_BYTES:]
        for key, _ in self._derived():
            try:
                plain = AESGCM(key).decrypt(nonce, ciphertext, bound_to)
            except (InvalidTag, ValueError):
                continue
            return _manifest(plain)
        raise PendingCreateError(
            "the sealed manifest does not open with any key in metaSigning.keysPath (the key that sealed it was "
            "removed, or, with metaSigning.mode off, it was sealed by another connector process)"
        )


def _manifest(compressed: bytes) -> dict[str, Any]:
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(compressed, _MAX_MANIFEST_BYTES)
    except zlib.error as error:
        raise PendingCreateError("the sealed manifest does not decompress") from error
    if inflater.unconsumed_tail:
        raise PendingCreateError(f"the sealed manifest inflates past {_MAX_MANIFEST_BYTES} bytes")
    try:
        manifest = json.loads(text)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError both are
        raise PendingCreateError("the sealed manifest is not JSON") from error
    if not isinstance(manifest, dict):
        raise PendingCreateError("the sealed manifest is not an object")
    return manifest
