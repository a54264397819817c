"""Resource-meta signing at its limits: key length, key count, key file and meta size at and past
each bound, every refusal's message whole, the modes' edges and the deferred signer."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from k8s_operator_connector.meta_signing import (
    MAX_KEYS,
    MAX_META_BYTES,
    MIN_KEY_BYTES,
    DeferredMetaSigner,
    MetaRejected,
    MetaSigner,
    MetaSigningSettings,
    load_keys,
)
from k8s_operator_connector.settings_reader import SettingsError

KEY = b"k" * MIN_KEY_BYTES
PAYLOAD = b'{"name":"job-1","namespace":"ns"}'


def keys_file(tmp_path: Path, content: bytes) -> str:
    path = tmp_path / "keys"
    path.write_bytes(content)
    return str(path)


def refusal(keys_path: str) -> str:
    with pytest.raises(SettingsError) as raised:
        load_keys(keys_path)
    return str(raised.value)


def test_the_limits() -> None:
    assert (MIN_KEY_BYTES, MAX_KEYS, MAX_META_BYTES) == (32, 16, 16 * 1024)


def test_a_key_of_32_bytes_is_taken_and_one_of_31_is_refused(tmp_path: Path) -> None:
    assert load_keys(keys_file(tmp_path, KEY + b"\n")) == (KEY,)
    path = keys_file(tmp_path, b"# comment\n" + KEY[:-1] + b"\n")
    assert refusal(path) == (
        f"metaSigning.keysPath={path}: the key on line 2 of keys has 31 bytes; at least 32 are required "
        "(e.g. `openssl rand -hex 32`)"
    )


def test_16_keys_are_taken_and_17_refused(tmp_path: Path) -> None:
    keys = [bytes([ord("a") + index]) * MIN_KEY_BYTES for index in range(MAX_KEYS + 1)]
    assert load_keys(keys_file(tmp_path, b"\n".join(keys[:MAX_KEYS]))) == tuple(keys[:MAX_KEYS])
    path = keys_file(tmp_path, b"\n".join(keys))
    assert refusal(path) == f"metaSigning.keysPath={path}: 17 keys; at most 16 (the first signs, all verify)"


def test_a_key_file_of_64_kib_is_read_and_a_larger_one_refused(tmp_path: Path) -> None:
    padding = b"#" * (64 * 1024 - len(KEY) - 2) + b"\n"
    assert load_keys(keys_file(tmp_path, padding + KEY + b"\n")) == (KEY,)
    path = keys_file(tmp_path, b"#" + padding + KEY + b"\n")
    assert refusal(path) == f"metaSigning.keysPath={path}: keys is larger than 65536 bytes"


def test_an_unreadable_key_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = keys_file(tmp_path, KEY + b"\n")

    def denied(self: Path) -> bytes:  # root reads any mode bits, so the refusal is simulated
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    assert refusal(path) == f"metaSigning.keysPath={path}: cannot read keys (Permission denied)"


def test_an_empty_keys_path_is_named_and_the_ways_out_listed() -> None:
    assert refusal("") == (
        "metaSigning.keysPath=(empty): no signing key found, and metaSigning.mode requires one. Mount the Secret "
        "with the keys there (docs/install.md, 'The resource-meta signing key'), point metaSigning.keysPath at "
        "it, or set metaSigning.mode: off for local development only"
    )


def test_a_keys_directory_reads_only_its_visible_regular_files(tmp_path: Path) -> None:
    (tmp_path / ".hidden").write_bytes(b"h" * MIN_KEY_BYTES + b"\n")
    (tmp_path / "subdirectory").mkdir()
    (tmp_path / "subdirectory" / "key").write_bytes(b"s" * MIN_KEY_BYTES + b"\n")
    (tmp_path / "key").write_bytes(KEY + b"\n")
    assert load_keys(str(tmp_path)) == (KEY,)


def test_a_meta_of_16_kib_is_looked_at_and_one_byte_more_is_refused_unread() -> None:
    signer = MetaSigner("migrate", (KEY,))
    at_limit = b'{"x":"' + b"a" * (MAX_META_BYTES - 8) + b'"}'
    assert len(at_limit) == MAX_META_BYTES and signer.open("t", at_limit) == at_limit
    with pytest.raises(MetaRejected) as raised:
        signer.open("t", at_limit + b" ")
    assert str(raised.value) == "resource_meta: 16385 bytes, more than the 16384 allowed"


@pytest.mark.parametrize(
    ("mode", "data", "message"),
    [
        ("required", b"junk", "resource_meta: not a resource meta written by this connector"),
        (
            "required",
            PAYLOAD,
            "resource_meta: not signed, so refused. It was forged, or issued before metaSigning was enabled; "
            "to accept such metas while those tasks drain, set metaSigning.mode: migrate",
        ),
        ("required", b"hmac-sha256:" + b"zz" * 32 + b":" + PAYLOAD, "resource_meta: malformed signature"),
        (
            "migrate",
            b"hmac-sha256:" + b"00" * 32 + b":" + PAYLOAD,
            "resource_meta: signature does not verify for task type t: the meta was forged or altered, issued for "
            "another task type, or signed with a key no longer in metaSigning.keysPath",
        ),
    ],
)
def test_each_refusal_says_why(mode: str, data: bytes, message: str) -> None:
    with pytest.raises(MetaRejected) as raised:
        MetaSigner(mode, (KEY,)).open("t", data)
    assert str(raised.value) == message


def test_migrate_logs_each_unsigned_meta_it_accepts_and_required_accepts_signed_ones_silently(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="k8s_operator_connector.meta_signing"):
        assert MetaSigner("migrate", (KEY,)).open("parallel_job", PAYLOAD) == PAYLOAD
        signer = MetaSigner("required", (KEY,))
        assert signer.open("parallel_job", signer.seal("parallel_job", PAYLOAD)) == PAYLOAD
    assert [record.getMessage() for record in caplog.records] == [
        "accepted an unsigned parallel_job resource_meta (metaSigning.mode: migrate)"
    ]


def test_off_opens_metas_signed_before_it_was_switched_off_without_checking_them() -> None:
    signed = MetaSigner("required", (KEY,)).seal("t", PAYLOAD)
    assert MetaSigner("off").open("t", signed) == PAYLOAD
    with pytest.raises(MetaRejected, match="malformed signature"):
        MetaSigner("off").open("t", signed[:76] + b";" + signed[77:])  # the separator after the MAC


def test_off_warns_at_start(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="k8s_operator_connector.meta_signing"):
        MetaSigner.from_settings(MetaSigningSettings("off", ""))
    assert (
        caplog.records[0]
        .getMessage()
        .startswith(
            "metaSigning.mode is off: resource metas are neither signed nor verified, so anyone who reaches the "
            "gRPC port can name objects for GetTask and DeleteTask."
        )
    )


def test_the_deferred_signer_loads_its_keys_once_at_first_use_and_retries_until_they_are_there(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keys"
    deferred = DeferredMetaSigner(MetaSigningSettings("required", str(path)))
    with pytest.raises(SettingsError, match=f"metaSigning.keysPath={path}: no signing key found"):
        deferred.seal("t", PAYLOAD)
    path.write_bytes(KEY + b"\n")
    sealed = deferred.seal("parallel_job", PAYLOAD)
    assert MetaSigner("required", (KEY,)).open("parallel_job", sealed) == PAYLOAD
    assert deferred.open("parallel_job", sealed) == PAYLOAD
    with pytest.raises(MetaRejected, match="does not verify for task type custom_resource"):
        deferred.open("custom_resource", sealed)
    path.unlink()  # loaded once: the keys stay in memory
    assert deferred.load() is deferred.load()
    assert deferred.signing_keys() == (KEY,)
    deferred.ready()
