"""The metadata checks of the real API server that catch real bugs: names and labels."""

from __future__ import annotations

import re
from typing import Any

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

# Kinds whose names must be DNS-1123 labels (63 chars) rather than subdomains (253 chars).
_DNS_LABEL_KINDS = frozenset({"Namespace", "Service"})


def name_problems(kind: str, name: str) -> list[tuple[str, str]]:
    if kind in _DNS_LABEL_KINDS:
        if len(name) > 63 or not _DNS_LABEL.fullmatch(name):
            return [
                (
                    "metadata.name",
                    f'Invalid value: "{name}": a lowercase RFC 1123 label must consist of '
                    "lower case alphanumeric characters or '-', and must start and end with an alphanumeric "
                    "character, and be at most 63 characters",
                )
            ]
        return []
    if len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
        return [
            (
                "metadata.name",
                f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of '
                "lower case alphanumeric characters, '-' or '.', and must start and end with an "
                "alphanumeric character",
            )
        ]
    return []


def _label_key_problems(field: str, key: str) -> list[tuple[str, str]]:
    prefix, slash, name = key.rpartition("/")
    problems = []
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        problems.append((field, f'Invalid value: "{key}": prefix part must be a DNS-1123 subdomain'))
    if not name or len(name) > 63 or not _LABEL_NAME.fullmatch(name):
        problems.append(
            (
                field,
                f'Invalid value: "{key}": name part must consist of alphanumeric characters, '
                "'-', '_' or '.', must start and end with an alphanumeric character, "
                "and be at most 63 characters",
            )
        )
    return problems


def metadata_problems(kind: str, metadata: dict[str, Any]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    labels = metadata.get("labels") or {}
    if not isinstance(labels, dict):
        return [("metadata.labels", "Invalid value: must be a map of strings")]
    for key, value in labels.items():
        problems += _label_key_problems("metadata.labels", str(key))
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.fullmatch(value):
            problems.append(
                (
                    "metadata.labels",
                    f'Invalid value: "{value}": a valid label must be an empty '
                    "string or consist of alphanumeric characters, '-', '_' or '.', must start and "
                    "end with an alphanumeric character, and be at most 63 characters",
                )
            )
    annotations = metadata.get("annotations") or {}
    if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
        problems.append(("metadata.annotations", "Invalid value: annotation values must be strings"))
    return problems
