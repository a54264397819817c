"""Golden tests of the secret annotations against Flyte's own vectors.

Upstream sources (github.com/flyteorg/flyte at tag v1.16.8, commit
51877f899c9f95e0cb5efe90444eb0c6c6ea48a9):
- flyteplugins/go/tasks/pluginmachinery/utils/secrets/marshaler_test.go
  (TestMarshalSecretsToMapStrings: "forbidden characters", "Without group")
- flyteplugins/go/tasks/pluginmachinery/encoding/encoder_test.go
  (TestFixedLengthUniqueID*: "f" + Base32Encoder of an FNV-1a hash)
Text format: github.com/golang/protobuf v1.5.4 (commit 75de7c059e36b64f01d0dd234ff2fff404ec3374,
the version flyteplugins' go.mod pins), proto/text_encode.go writeQuotedString.
"""

from __future__ import annotations

import pytest
from flyteidl.core import security_pb2
from google.protobuf import field_mask_pb2, wrappers_pb2

from k8s_operator_connector import flyte_secrets
from k8s_operator_connector.flyte_secrets import (
    SecretRequestError,
    encode,
    go_text,
    injection_metadata,
    secret_annotations,
)

# (secret, annotations) from marshaler_test.go.
UPSTREAM_SECRET_VECTORS = [
    (security_pb2.Secret(group=";':/\\"), {"flyte.secrets/s0": "m4zg54lqhiqceozhhixvyxbcbi"}),
    (security_pb2.Secret(key="my_key"), {"flyte.secrets/s0": "nnsxsoraejwxsx2lmv3secq"}),
]

# (hash, input, encoded without the "f" prefix) from encoder_test.go; the hashes use the digits
# of Flyte's alphabet (1..6), which the secret vectors above do not all reach.
UPSTREAM_ENCODER_VECTORS = [
    (32, "xx", "lfryc2i"),
    (32, "xxxxxx", "ufiti6i"),
    (32, "xxxxxxxxxxxxxxxxxxxxxxxx", "uaa3aji"),
    (32, "x-y", "z2jizji"),
    (32, "x-y-z", "xzsoqrq"),
    (32, "x-y-z-m-n-y-z-m-n-y-z-m-n", "e63sz6y"),
    (64, "x-y-z-m-n-y-z-m-n-y-z-m-n", "wp4bky2kucex5"),
    (128, "x-y-z-m-n-y-z-m-n-y-z-m-n-z-m-n-y-z-m-n", "bmesl15enghpjepzjm5cp1zfqe"),
]

_FNV = {  # bits: (offset basis, prime), from the FNV specification
    32: (0x811C9DC5, 0x01000193),
    64: (0xCBF29CE484222325, 0x100000001B3),
    128: (0x6C62272E07BB014262B821756295C58D, 0x0000000001000000000000000000013B),
}


def _fnv1a(bits: int, data: bytes) -> bytes:
    value, prime = _FNV[bits]
    for byte in data:
        value = ((value ^ byte) * prime) % (1 << bits)
    return value.to_bytes(bits // 8, "big")


@pytest.mark.parametrize(("secret", "expected"), UPSTREAM_SECRET_VECTORS)
def test_annotations_match_propellers_vectors(secret, expected):
    assert secret_annotations([secret]) == expected


@pytest.mark.parametrize(("bits", "text", "expected"), UPSTREAM_ENCODER_VECTORS)
def test_base32_matches_flytes_encoder_vectors(bits, text, expected):
    assert encode(_fnv1a(bits, text.encode())) == expected


def test_the_text_is_gos_not_pythons():
    # Python's text_format writes group: ";\':/\\" (it escapes the quote); Go does not.
    assert go_text(security_pb2.Secret(group=";':/\\")) == 'group: ";\':/\\\\"\n'
    # Non-printable and non-ASCII bytes become three-digit octal escapes; \n \r \t " \ short ones.
    assert go_text(security_pb2.Secret(key="é\x7f\x01")) == 'key: "\\303\\251\\177\\001"\n'
    assert go_text(security_pb2.Secret(key='a\n\r\t"b')) == 'key: "a\\n\\r\\t\\"b"\n'


def test_every_field_in_declaration_order_and_enums_by_name():
    secret = security_pb2.Secret(
        group="db", group_version="v2", key="password", mount_requirement=security_pb2.Secret.ENV_VAR, env_var="PW"
    )
    assert go_text(secret) == (
        'group: "db"\ngroup_version: "v2"\nkey: "password"\nmount_requirement: ENV_VAR\nenv_var: "PW"\n'
    )
    # ANY is the proto3 default: left out, as Go leaves it out.
    assert go_text(security_pb2.Secret(group="db", mount_requirement=security_pb2.Secret.ANY)) == 'group: "db"\n'


@pytest.mark.parametrize("length", range(1, 11))
def test_no_padding_for_any_input_length(length):
    encoded = encode(b"x" * length)
    assert "=" not in encoded
    assert len(encoded) == -(-length * 8 // 5)  # ceil(bits / 5) characters, as Go's NoPadding writes
    assert set(encoded) <= set(flyte_secrets.FLYTE_BASE32_ALPHABET)


def test_a_wrong_alphabet_fails_the_golden_vectors(monkeypatch):
    """The vectors above catch the standard alphabet, upper or lower case."""
    for alphabet in ("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "abcdefghijklmnopqrstuvwxyz234567"):
        monkeypatch.setattr(
            flyte_secrets, "_TO_FLYTE", str.maketrans(flyte_secrets._STANDARD_BASE32_ALPHABET, alphabet)
        )
        assert any(secret_annotations([secret]) != expected for secret, expected in UPSTREAM_SECRET_VECTORS)
        assert any(encode(_fnv1a(b, t.encode())) != e for b, t, e in UPSTREAM_ENCODER_VECTORS)


def test_indices_follow_the_request_order_and_the_label_is_set():
    labels, annotations = injection_metadata([security_pb2.Secret(key="my_key"), security_pb2.Secret(group="g")])
    assert labels == {"inject-flyte-secrets": "true"}
    assert sorted(annotations) == ["flyte.secrets/s0", "flyte.secrets/s1"]
    assert annotations["flyte.secrets/s0"] == "nnsxsoraejwxsx2lmv3secq"


def test_no_secrets_no_label():
    assert injection_metadata([]) == ({}, {})


def test_an_unknown_mount_requirement_is_refused_as_propeller_refuses_it():
    with pytest.raises(SecretRequestError) as raised:
        secret_annotations([security_pb2.Secret(group="g", key="k", mount_requirement=7)])
    assert raised.value.field_name == "security_context.secrets[0].mount_requirement"
    assert "allowed: ANY, ENV_VAR, FILE" in str(raised.value)


def test_an_oversized_secret_is_refused():
    with pytest.raises(SecretRequestError, match=r"secrets\[0\]: encodes to more than 262144 bytes"):
        secret_annotations([security_pb2.Secret(group="g" * 200_000)])


def test_the_limit_is_propellers_an_annotation_of_exactly_256_kib_is_written():
    """marshaler.go refuses only ``len(encodedSecret) > totalAnnotationSizeLimitB`` (256 << 10)."""
    # go_text writes 'group: "<value>"\n' (10 bytes around the value); 5 bytes encode to 8 characters.
    at_limit = security_pb2.Secret(group="g" * (262144 * 5 // 8 - 10))
    assert len(secret_annotations([at_limit])["flyte.secrets/s0"]) == 262144
    with pytest.raises(SecretRequestError) as raised:
        secret_annotations([security_pb2.Secret(group=at_limit.group + "g")])
    assert str(raised.value) == "security_context.secrets[0]: encodes to more than 262144 bytes"


def test_each_five_bits_become_one_symbol_of_flytes_alphabet_in_order():
    # 32 symbols x 5 bits: 0, 1, ..., 31.
    sequence = int("".join(f"{symbol:05b}" for symbol in range(32)), 2).to_bytes(20, "big")
    assert encode(sequence) == flyte_secrets.FLYTE_BASE32_ALPHABET
    # Only padding is stripped from the end, never a symbol ("X" is 23, Flyte's "x").
    assert encode(b"\x00\x00\x00\x00\x17") == "aaaaaaax"


def test_spaces_and_printable_ascii_are_written_as_they_are_and_other_bytes_in_octal():
    """writeQuotedString: bytes 0x20..0x7e literally (but " and \\), the rest as \\ooo."""
    secret = security_pb2.Secret(group=" ~\x1f\x7fé")
    assert go_text(secret) == 'group: " ~\\037\\177\\303\\251"\n'


def test_scalar_fields_of_other_types_as_gos_text_format_writes_them():
    assert go_text(wrappers_pb2.BoolValue(value=True)) == "value: true\n"
    assert go_text(wrappers_pb2.BoolValue(value=False)) == ""  # proto3 default: left out
    assert go_text(wrappers_pb2.Int64Value(value=-42)) == "value: -42\n"
    # An enum number without a name is written as the number.
    assert go_text(security_pb2.Secret(key="k", mount_requirement=7)) == 'key: "k"\nmount_requirement: 7\n'


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (security_pb2.SecurityContext(), "flyteidl.core.SecurityContext.run_as"),
        (field_mask_pb2.FieldMask(), "google.protobuf.FieldMask.paths"),  # a repeated string
    ],
)
def test_messages_with_nested_or_repeated_fields_are_not_written(message, field):
    """Nested (run_as) or repeated fields would need Go's other text forms; Secret has none."""
    with pytest.raises(TypeError) as raised:
        go_text(message)
    assert str(raised.value) == f"{field}: only scalar fields are supported"
