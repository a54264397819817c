"""Signed resource metas: the connector acts only on metas it issued itself.

A resource meta is the only thing a GetTask or DeleteTask caller sends, so without a
signature anyone who reaches the gRPC port could name any object. Every meta the
connector hands out is ``hmac-sha256:<hex MAC>:<canonical JSON>``; the MAC (HMAC-SHA256,
``hmac`` from the standard library) covers a version tag, the task type the meta was
issued for and the JSON bytes exactly as sent, so nothing is re-serialised before it is
checked. Keys come from a mounted Kubernetes Secret (``metaSigning.keysPath``): the first
key signs, every key verifies, so keys rotate without failing tasks in flight.

``metaSigning.mode``:

- ``required`` (default): a meta that is unsigned or does not verify is refused.
- ``migrate``: new metas are signed; unsigned metas (written before signing was enabled)
  are still accepted, with a warning, while such tasks drain. Signed metas must verify.
- ``off``: nothing is signed or verified (local development only; a warning at start).

With ``required`` or ``migrate`` and no usable key the connector does not start.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from k8s_operator_connector.settings_reader import SettingsError, SettingsReader

logger = logging.getLogger(__name__)

MODES = ("required", "migrate", "off")
DEFAULT_KEYS_PATH = "/var/run/secrets/flyte-k8s-operator/meta-signing"
MIN_KEY_BYTES = 32
MAX_KEYS = 16
#: Upper bound of an encoded meta, checked before anything else looks at the bytes.
MAX_META_BYTES = 16 * 1024
_MAX_KEY_FILE_BYTES = 64 * 1024
_SCHEME = b"hmac-sha256:"
_MAC_HEX_LENGTH = 64
_DOMAIN = b"flyte-k8s-operator-connector/resource-meta/v1\x00"


class MetaRejected(ValueError):
    """A resource meta the connector will not act on; the message says why."""


@dataclass(frozen=True)
class MetaSigningSettings:
    mode: str = "required"
    keys_path: str = DEFAULT_KEYS_PATH


def parse_meta_signing(reader: SettingsReader) -> MetaSigningSettings:
    mode = reader.get("mode", str, MetaSigningSettings.mode)
    if mode not in MODES:
        raise SettingsError(f"{reader.path('mode')} is {mode!r}; allowed: {', '.join(MODES)}")
    keys_path = reader.get("keysPath", str, DEFAULT_KEYS_PATH)
    reader.finish()
    return MetaSigningSettings(mode=mode, keys_path=keys_path)


def _key_files(path: Path) -> list[Path]:
    if path.is_dir():
        # A mounted Secret: one file per data key, plus Kubernetes' hidden ..data links.
        return sorted(p for p in path.iterdir() if not p.name.startswith(".") and p.is_file())
    if path.is_file():
        return [path]
    return []


def load_keys(keys_path: str) -> tuple[bytes, ...]:
    """The keys in ``keys_path`` (a file, or a directory of files read in name order): one
    key per non-empty line, ``#`` starts a comment line. Raises SettingsError naming the setting."""
    where = f"metaSigning.keysPath={keys_path or '(empty)'}"
    keys: list[bytes] = []
    for file in _key_files(Path(keys_path)) if keys_path else []:
        try:
            if file.stat().st_size > _MAX_KEY_FILE_BYTES:
                raise SettingsError(f"{where}: {file.name} is larger than {_MAX_KEY_FILE_BYTES} bytes")
            lines = file.read_bytes().splitlines()
        except OSError as error:
            raise SettingsError(f"{where}: cannot read {file.name} ({error.strerror})") from error
        for number, line in enumerate(lines, start=1):
            key = line.strip()
            if not key or key.startswith(b"#"):
                continue
            if len(key) < MIN_KEY_BYTES:
                raise SettingsError(
                    f"{where}: the key on line {number} of {file.name} has {len(key)} bytes; "
                    f"at least {MIN_KEY_BYTES} are required (e.g. `openssl rand -hex 32`)"
                )
            keys.append(key)
    if not keys:
        raise SettingsError(
            f"{where}: no signing key found, and metaSigning.mode requires one. Mount the Secret "
            "with the keys there (docs/install.md, 'The resource-meta signing key'), point "
            "metaSigning.keysPath at it, or set metaSigning.mode: off for local development only"
        )
    if len(keys) > MAX_KEYS:
        raise SettingsError(f"{where}: {len(keys)} keys; at most {MAX_KEYS} (the first signs, all verify)")
    return tuple(keys)


class Signer(Protocol):
    def ready(self) -> None:
        """Raise (naming the setting) unless metas can be sealed now."""

    def seal(self, task_type: str, payload: bytes) -> bytes: ...

    def open(self, task_type: str, data: bytes) -> bytes: ...

    def signing_keys(self) -> tuple[bytes, ...]:
        """The keys (the first signs), for deriving other keys from; empty with mode off."""


class MetaSigner:
    """Seals metas with the first key and opens them with any key, as the mode says."""

    def __init__(self, mode: str, keys: tuple[bytes, ...] = ()) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown metaSigning.mode {mode!r}")
        if mode != "off" and not keys:
            raise ValueError(f"metaSigning.mode {mode} needs at least one key")
        self.mode = mode
        self._keys = keys

    def ready(self) -> None:
        pass

    def signing_keys(self) -> tuple[bytes, ...]:
        return self._keys

    @classmethod
    def from_settings(cls, settings: MetaSigningSettings) -> MetaSigner:
        if settings.mode == "off":
            logger.warning(
                "metaSigning.mode is off: resource metas are neither signed nor verified, so anyone "
                "who reaches the gRPC port can name objects for GetTask and DeleteTask. Local use only."
            )
            return cls("off")
        return cls(settings.mode, load_keys(settings.keys_path))

    @staticmethod
    def _mac(key: bytes, task_type: str, payload: bytes) -> bytes:
        message = _DOMAIN + task_type.encode() + b"\x00" + payload
        return hmac.new(key, message, hashlib.sha256).digest()

    def seal(self, task_type: str, payload: bytes) -> bytes:
        if self.mode == "off":
            return payload
        return _SCHEME + self._mac(self._keys[0], task_type, payload).hex().encode() + b":" + payload

    def open(self, task_type: str, data: bytes) -> bytes:
        """The payload of a meta this connector issued for ``task_type``; raises MetaRejected."""
        if len(data) > MAX_META_BYTES:
            raise MetaRejected(f"resource_meta: {len(data)} bytes, more than the {MAX_META_BYTES} allowed")
        if data.startswith(_SCHEME):
            return self._verified(task_type, data)
        if not data.startswith(b"{"):
            raise MetaRejected("resource_meta: not a resource meta written by this connector")
        if self.mode == "required":
            raise MetaRejected(
                "resource_meta: not signed, so refused. It was forged, or issued before metaSigning was "
                "enabled; to accept such metas while those tasks drain, set metaSigning.mode: migrate"
            )
        if self.mode == "migrate":
            logger.warning("accepted an unsigned %s resource_meta (metaSigning.mode: migrate)", task_type)
        return data

    def _verified(self, task_type: str, data: bytes) -> bytes:
        start = len(_SCHEME)
        mac_hex, separator = data[start : start + _MAC_HEX_LENGTH], data[start + _MAC_HEX_LENGTH : start + 65]
        payload = data[start + _MAC_HEX_LENGTH + 1 :]
        try:
            mac = bytes.fromhex(mac_hex.decode("ascii"))
        except ValueError:
            mac = b""
        if separator != b":" or len(mac) != hashlib.sha256().digest_size:
            raise MetaRejected("resource_meta: malformed signature")
        if self.mode == "off":
            return payload
        # Every key is tried (no early exit), each with a constant-time comparison.
        matches = [hmac.compare_digest(self._mac(key, task_type, payload), mac) for key in self._keys]
        if not any(matches):
            raise MetaRejected(
                f"resource_meta: signature does not verify for task type {task_type}: the meta was forged or "
                "altered, issued for another task type, or signed with a key no longer in metaSigning.keysPath"
            )
        return payload


class DeferredMetaSigner:
    """A :class:`MetaSigner` whose keys are loaded at its first use, not when it is made.

    flytekit imports every installed plugin in every ``pyflyte`` command (the wheel's entry
    point), so a key required only for serving must not break ``pyflyte run`` or ``package``.
    ``python -m k8s_operator_connector.serve`` calls :meth:`load` at start and so refuses to
    start without a key; under plain ``pyflyte serve connector`` every call fails naming
    ``metaSigning.keysPath`` until the key is there (each call tries again).
    """

    def __init__(self, settings: MetaSigningSettings) -> None:
        self._settings = settings
        self._signer: MetaSigner | None = None
        self._lock = threading.Lock()

    def load(self) -> MetaSigner:
        if self._signer is None:
            with self._lock:
                if self._signer is None:
                    self._signer = MetaSigner.from_settings(self._settings)
        return self._signer

    def ready(self) -> None:
        self.load()

    def seal(self, task_type: str, payload: bytes) -> bytes:
        return self.load().seal(task_type, payload)

    def open(self, task_type: str, data: bytes) -> bytes:
        return self.load().open(task_type, data)

    def signing_keys(self) -> tuple[bytes, ...]:
        return self.load().signing_keys()
