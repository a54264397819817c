import hashlib
import hmac
import json

import pytest

from k8s_operator_connector.meta_signing import (
    MAX_KEYS,
    MetaRejected,
    MetaSigner,
    MetaSigningSettings,
    load_keys,
    parse_meta_signing,
)
from k8s_operator_connector.settings import SettingsError, parse_settings
from k8s_operator_connector.settings_reader import SettingsReader

OLD = b"old-key-0123456789abcdef0123456789abcdef"
NEW = b"new-key-0123456789abcdef0123456789abcdef"
PAYLOAD = json.dumps({"name": "job-1", "namespace": "ns"}, sort_keys=True, separators=(",", ":")).encode()


def test_a_sealed_payload_opens_and_carries_an_hmac_sha256_of_exactly_those_bytes():
    sealed = MetaSigner("required", (NEW,)).seal("parallel_job", PAYLOAD)
    scheme, mac, payload = sealed.split(b":", 2)
    assert (scheme, payload) == (b"hmac-sha256", PAYLOAD)
    expected = hmac.new(
        NEW, b"flyte-k8s-operator-connector/resource-meta/v1\x00parallel_job\x00" + PAYLOAD, hashlib.sha256
    )
    assert mac == expected.hexdigest().encode()
    assert MetaSigner("required", (NEW,)).open("parallel_job", sealed) == PAYLOAD


def test_rotation_the_first_key_signs_and_every_key_verifies():
    before = MetaSigner("required", (OLD,)).seal("parallel_job", PAYLOAD)
    rotating = MetaSigner("required", (NEW, OLD))
    assert rotating.open("parallel_job", before) == PAYLOAD
    after = rotating.seal("parallel_job", PAYLOAD)
    assert after != before
    assert MetaSigner("required", (NEW,)).open("parallel_job", after) == PAYLOAD
    with pytest.raises(MetaRejected, match="no longer in metaSigning.keysPath"):
        MetaSigner("required", (NEW,)).open("parallel_job", before)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda sealed: sealed.replace(b'"job-1"', b'"job-2"'),  # altered payload
        lambda sealed: sealed[:20] + (b"0" if sealed[20:21] != b"0" else b"1") + sealed[21:],  # altered MAC
        lambda sealed: sealed + b" ",  # appended bytes
    ],
    ids=["payload", "mac", "appended"],
)
def test_altered_metas_do_not_verify(tamper):
    signer = MetaSigner("required", (NEW,))
    with pytest.raises(MetaRejected, match="signature does not verify"):
        signer.open("parallel_job", tamper(signer.seal("parallel_job", PAYLOAD)))


def test_a_meta_issued_for_one_task_type_does_not_verify_for_another():
    signer = MetaSigner("required", (NEW,))
    with pytest.raises(MetaRejected, match="for task type custom_resource"):
        signer.open("custom_resource", signer.seal("parallel_job", PAYLOAD))


def test_a_forged_meta_signed_with_another_key_does_not_verify():
    forged = MetaSigner("required", (b"attacker-key-0123456789abcdef0123456789",)).seal("parallel_job", PAYLOAD)
    with pytest.raises(MetaRejected, match="signature does not verify"):
        MetaSigner("required", (NEW,)).open("parallel_job", forged)


@pytest.mark.parametrize(
    "data",
    [b"hmac-sha256:zz" + b"0" * 62 + b":{}", b"hmac-sha256:" + b"0" * 10 + b":{}", b"hmac-sha256:" + b"0" * 64 + b"{}"],
    ids=["not-hex", "short", "no-separator"],
)
def test_malformed_signatures_are_refused(data):
    with pytest.raises(MetaRejected, match="malformed signature"):
        MetaSigner("required", (NEW,)).open("parallel_job", data)


def test_unsigned_metas_by_mode():
    with pytest.raises(MetaRejected, match="not signed.*metaSigning.mode: migrate"):
        MetaSigner("required", (NEW,)).open("parallel_job", PAYLOAD)
    assert MetaSigner("migrate", (NEW,)).open("parallel_job", PAYLOAD) == PAYLOAD
    assert MetaSigner("off").open("parallel_job", PAYLOAD) == PAYLOAD
    # migrate signs what it issues; off does not.
    assert MetaSigner("migrate", (NEW,)).seal("parallel_job", PAYLOAD).startswith(b"hmac-sha256:")
    assert MetaSigner("off").seal("parallel_job", PAYLOAD) == PAYLOAD


def test_migrate_still_refuses_a_signed_meta_that_does_not_verify():
    forged = MetaSigner("required", (OLD,)).seal("parallel_job", PAYLOAD)
    with pytest.raises(MetaRejected, match="signature does not verify"):
        MetaSigner("migrate", (NEW,)).open("parallel_job", forged)


def test_the_size_is_bounded_before_anything_else():
    with pytest.raises(MetaRejected, match="more than the 16384 allowed"):
        MetaSigner("required", (NEW,)).open("parallel_job", b"hmac-sha256:" + b"0" * 20_000)


def test_a_signer_without_keys_cannot_be_made_except_off():
    with pytest.raises(ValueError, match="needs at least one key"):
        MetaSigner("required")
    with pytest.raises(ValueError, match="unknown"):
        MetaSigner("sometimes", (NEW,))


# -- keys from the mounted Secret ----------------------------------------------------------


def test_keys_from_a_file_one_per_line_comments_and_blank_lines_skipped(tmp_path):
    path = tmp_path / "keys"
    path.write_bytes(b"# newest first\n" + NEW + b"\n\n  " + OLD + b"  \n")
    assert load_keys(str(path)) == (NEW, OLD)


def test_keys_from_a_mounted_secret_directory_in_file_name_order(tmp_path):
    """A Secret volume: a file per data key, plus Kubernetes' hidden ..data and timestamped dirs."""
    stamp = tmp_path / "..2026_11_30_07_00_00.123"
    stamp.mkdir()
    (stamp / "a-current").write_bytes(NEW + b"\n")
    (stamp / "b-previous").write_bytes(OLD + b"\n")
    (tmp_path / "..data").symlink_to(stamp.name)
    (tmp_path / "a-current").symlink_to("..data/a-current")
    (tmp_path / "b-previous").symlink_to("..data/b-previous")
    assert load_keys(str(tmp_path)) == (NEW, OLD)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no signing key found.*metaSigning.mode: off for local development only"),
        (b"", "no signing key found"),
        (b"# only a comment\n", "no signing key found"),
        (b"short\n", "line 1 of keys has 5 bytes; at least 32"),
        (b"\n".join([NEW] * (MAX_KEYS + 1)), f"at most {MAX_KEYS}"),
    ],
    ids=["missing", "empty", "comment-only", "short", "too-many"],
)
def test_unusable_keys_stop_the_connector_naming_the_setting(tmp_path, content, message):
    path = tmp_path / "keys"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SettingsError, match=message) as raised:
        load_keys(str(path))
    assert f"metaSigning.keysPath={path}" in str(raised.value)
    assert NEW.decode() not in str(raised.value)  # never print a key


def test_from_settings_loads_keys_or_refuses(tmp_path):
    path = tmp_path / "keys"
    path.write_bytes(NEW + b"\n")
    assert MetaSigner.from_settings(MetaSigningSettings("required", str(path))).open(
        "t", MetaSigner("required", (NEW,)).seal("t", PAYLOAD)
    )
    with pytest.raises(SettingsError, match="metaSigning.keysPath"):
        MetaSigner.from_settings(MetaSigningSettings("migrate", str(tmp_path / "absent")))
    assert MetaSigner.from_settings(MetaSigningSettings("off", str(tmp_path / "absent"))).mode == "off"


def test_settings_section():
    assert parse_settings({}).meta_signing == MetaSigningSettings(
        "required", "/var/run/secrets/flyte-k8s-operator/meta-signing"
    )
    parsed = parse_settings({"metaSigning": {"mode": "migrate", "keysPath": "/keys"}}).meta_signing
    assert parsed == MetaSigningSettings("migrate", "/keys")
    with pytest.raises(SettingsError, match="metaSigning.mode is 'sometimes'; allowed: required, migrate, off"):
        parse_meta_signing(SettingsReader({"mode": "sometimes"}, "metaSigning"))
    with pytest.raises(SettingsError, match="unknown key 'metaSigning.key'"):
        parse_settings({"metaSigning": {"key": "x"}})
