"""The resource-meta signing key of the tests and the signers and key files made from it."""

from __future__ import annotations

from pathlib import Path

from k8s_operator_connector.meta_signing import MetaSigner

#: The resource-meta signing key of the tests (a real deployment mounts one from a Secret).
SIGNING_KEY = b"tests-only-signing-key-0123456789abcdef"


def signer_for_tests(mode: str = "required") -> MetaSigner:
    return MetaSigner(mode, (SIGNING_KEY,) if mode != "off" else ())


def write_signing_key(directory: Path) -> Path:
    """A key file as the mounted Secret provides it; returns the path for metaSigning.keysPath."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "meta-signing-keys"
    path.write_bytes(SIGNING_KEY + b"\n")
    return path
