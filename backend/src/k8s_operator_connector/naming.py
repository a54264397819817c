"""Deterministic, DNS-1123-safe names and label values derived from a task execution.

The same task attempt always gets the same object name, so a repeated CreateTask finds
(and adopts) the object it created before; a new retry attempt gets a new name.
"""

from __future__ import annotations

import hashlib
import re

MAX_LABEL_VALUE = 63
_NOT_DNS = re.compile(r"[^a-z0-9-]+")
_NOT_LABEL = re.compile(r"[^A-Za-z0-9._-]+")
_HASH_LENGTH = 10


def _digest(text: str, length: int = _HASH_LENGTH) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def dns_label(readable_parts: list[str], unique_key: str, max_length: int) -> str:
    """A DNS-1123 label: readable parts, then a hash of ``unique_key``.

    The hash (of the exact, unsanitized key) keeps names distinct when sanitizing or
    truncating makes readable prefixes collide; the result starts with a letter.
    """
    if max_length < _HASH_LENGTH + 3:
        raise ValueError(f"max_length must be at least {_HASH_LENGTH + 3}, got {max_length}")
    suffix = _digest(unique_key)
    parts = readable_parts
    readable = "-".join(p for p in (_NOT_DNS.sub("-", part.lower()).strip("-") for part in parts) if p)
    budget = max_length - len(suffix) - 1
    prefix = readable[:budget].strip("-")
    if not prefix or not prefix[0].isalpha():
        prefix = ("f-" + prefix)[:budget].strip("-")
    return f"{prefix}-{suffix}"


def label_value(value: str) -> str:
    """A valid label value (<= 63 chars of [A-Za-z0-9._-], alphanumeric at both ends)."""
    cleaned = _NOT_LABEL.sub("-", value).strip("-._")
    if len(cleaned) <= MAX_LABEL_VALUE and cleaned == value:
        return cleaned
    # Altered or shortened: keep it recognisable and unique with a hash of the original.
    head = cleaned[: MAX_LABEL_VALUE - _HASH_LENGTH - 1].strip("-._")
    return f"{head}-{_digest(value)}" if head else _digest(value)
