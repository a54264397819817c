"""Object names and label values at their limits: Kubernetes' DNS-1123 label (63 characters) and
label value rules (at most 63 of [A-Za-z0-9._-], alphanumeric at both ends)."""

from __future__ import annotations

import hashlib
import re

import pytest

from k8s_operator_connector.naming import MAX_LABEL_VALUE, dns_label, label_value

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def test_a_name_is_its_readable_parts_then_a_hash_of_the_key() -> None:
    assert dns_label(["Train", "My_Task", "", "--"], "key", 40) == f"train-my-task-{digest('key')}"


def test_leading_and_trailing_dashes_of_each_part_are_dropped() -> None:
    assert dns_label(["--abc--", "d"], "key", 40) == f"abc-d-{digest('key')}"


def test_a_name_that_would_not_start_with_a_letter_gets_a_prefix() -> None:
    assert dns_label(["1st", "run"], "key", 40) == f"f-1st-run-{digest('key')}"
    assert dns_label(["", "--"], "key", 40) == f"f-{digest('key')}"


@pytest.mark.parametrize("max_length", [13, 14, 20, 52, 63])
def test_a_long_name_is_cut_to_exactly_its_limit(max_length: int) -> None:
    name = dns_label(["a" * 100], "key", max_length)
    assert len(name) == max_length and DNS_LABEL.match(name)
    assert name == "a" * (max_length - 11) + f"-{digest('key')}"


def test_a_cut_never_leaves_a_dash_before_the_hash() -> None:
    # The cut falls right after "abc-": the dash goes, the name is one shorter than the limit.
    assert dns_label(["abc-defgh"], "key", 15) == f"abc-{digest('key')}"


def test_the_shortest_limit_is_13() -> None:
    assert dns_label(["xyz"], "key", 13) == f"xy-{digest('key')}"
    with pytest.raises(ValueError, match="^max_length must be at least 13, got 12$"):
        dns_label(["x"], "key", 12)


@pytest.mark.parametrize("value", ["a", "Xylophone", "a.b_c-d", "9" * MAX_LABEL_VALUE])
def test_a_valid_value_up_to_63_characters_is_kept(value: str) -> None:
    assert label_value(value) == value


def test_the_limit_is_63() -> None:
    assert MAX_LABEL_VALUE == 63


@pytest.mark.parametrize(
    ("value", "head"),
    [
        ("9" * (MAX_LABEL_VALUE + 1), "9" * 52),  # 64 characters: cut to 52, a dash, 10 of hash
        ("-abc-", "abc"),  # not alphanumeric at the ends
        (".abc_", "abc"),
        ("a b/c", "a-b-c"),  # characters a label value cannot hold
        ("x" * 51 + "..y" + "z" * 20, "x" * 51),  # the cut leaves dots at the end: they go
    ],
)
def test_an_altered_value_keeps_a_readable_head_and_a_hash_of_the_original(value: str, head: str) -> None:
    result = label_value(value)
    assert result == f"{head}-{digest(value)}"
    assert len(result) <= MAX_LABEL_VALUE and LABEL_VALUE.match(result)


def test_a_value_with_nothing_readable_is_only_the_hash() -> None:
    assert label_value("///") == digest("///")
    assert label_value("") == ""
