"""PATCH bodies: JSON merge patch (RFC 7386), strategic merge as merge, JSON patch (RFC 6902)."""

from __future__ import annotations

import copy
from typing import Any

from kube_emulator.errors import ApiError, bad_request, unprocessable, unsupported_media_type

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"


def apply_patch(content_type: str, target: dict[str, Any], patch: Any) -> dict[str, Any]:
    """Return a patched deep copy of `target`; never mutates it."""
    kind = content_type.split(";")[0].strip().lower()
    if kind in (MERGE, STRATEGIC):
        if not isinstance(patch, dict):
            raise bad_request("a merge patch must be a JSON object")
        # Strategic merge is treated as merge: lists are replaced, not merged by key.
        return merge_patch(target, patch)
    if kind == JSON_PATCH:
        if not isinstance(patch, list):
            raise bad_request("a JSON patch must be a JSON array of operations")
        return json_patch(target, patch)
    raise unsupported_media_type(content_type)


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _tokens(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise unprocessable(f"invalid JSON pointer: {pointer!r}")
    return [_unescape(t) for t in pointer[1:].split("/")]


def _failed(message: str) -> ApiError:
    return unprocessable(f"the server rejected our request due to an error in our request: {message}")


def _parent(doc: Any, pointer: str) -> tuple[Any, str]:
    tokens = _tokens(pointer)
    if not tokens:
        raise _failed(f"cannot operate on the document root: {pointer!r}")
    node = doc
    for token in tokens[:-1]:
        node = _child(node, token, pointer)
    return node, tokens[-1]


def _child(node: Any, token: str, pointer: str) -> Any:
    if isinstance(node, dict):
        if token not in node:
            raise _failed(f"doc is missing path: {pointer!r}")
        return node[token]
    if isinstance(node, list):
        try:
            return node[int(token)]
        except (ValueError, IndexError):
            raise _failed(f"doc is missing path: {pointer!r}") from None
    raise _failed(f"doc is missing path: {pointer!r}")


def _get(doc: Any, pointer: str) -> Any:
    node = doc
    for token in _tokens(pointer):
        node = _child(node, token, pointer)
    return node


def _add(doc: Any, pointer: str, value: Any) -> None:
    parent, token = _parent(doc, pointer)
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        if token == "-":
            parent.append(value)
            return
        try:
            index = int(token)
        except ValueError:
            raise _failed(f"invalid array index: {pointer!r}") from None
        if not 0 <= index <= len(parent):
            raise _failed(f"array index out of bounds: {pointer!r}")
        parent.insert(index, value)
    else:
        raise _failed(f"doc is missing path: {pointer!r}")


def _remove(doc: Any, pointer: str) -> Any:
    parent, token = _parent(doc, pointer)
    if isinstance(parent, dict):
        if token not in parent:
            raise _failed(f"unable to remove nonexistent key: {token}")
        return parent.pop(token)
    if isinstance(parent, list):
        try:
            return parent.pop(int(token))
        except (ValueError, IndexError):
            raise _failed(f"unable to remove item at index: {pointer!r}") from None
    raise _failed(f"doc is missing path: {pointer!r}")


def json_patch(target: dict[str, Any], operations: list[Any]) -> dict[str, Any]:
    doc = copy.deepcopy(target)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise bad_request(f"invalid JSON patch operation: {operation!r}")
        op, path = operation["op"], operation["path"]
        if op == "add":
            _add(doc, path, copy.deepcopy(operation.get("value")))
        elif op == "remove":
            _remove(doc, path)
        elif op == "replace":
            _remove(doc, path)
            _add(doc, path, copy.deepcopy(operation.get("value")))
        elif op == "move":
            _add(doc, path, _remove(doc, operation["from"]))
        elif op == "copy":
            _add(doc, path, copy.deepcopy(_get(doc, operation["from"])))
        elif op == "test":
            try:
                actual = _get(doc, path)
            except ApiError:
                raise _failed(f"testing value {path} failed: test failed") from None
            if actual != operation.get("value"):
                raise _failed(f"testing value {path} failed: test failed")
        else:
            raise bad_request(f"unexpected JSON patch operation: {op!r}")
    if not isinstance(doc, dict):
        raise _failed("the patched document is not an object")
    return doc
