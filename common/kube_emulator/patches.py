"""PATCH bodies: JSON merge patch (RFC 7386), strategic merge as merge, JSON patch (RFC 6902,
applied by the ``jsonpatch`` library).

Status codes as the API server's patch handler answers (kubernetes
staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go, ``jsonPatcher.applyJSPatch``):
a patch that cannot be decoded is 400 Bad Request, one that fails to apply (a failed ``test``,
a missing path) is 422 Unprocessable Entity, and nothing is changed.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

from kube_emulator.errors import bad_request, unprocessable, unsupported_media_type

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


def _failed(message: str) -> Exception:
    return unprocessable(f"the server rejected our request due to an error in our request: {message}")


def json_patch(target: dict[str, Any], operations: list[Any]) -> dict[str, Any]:
    """Applies the operations in order to a deep copy of ``target``; the first that fails names itself."""
    doc: Any = copy.deepcopy(target)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise bad_request(f"invalid JSON patch operation: {operation!r}")
        try:
            step = jsonpatch.JsonPatch([operation])
        except (jsonpatch.InvalidJsonPatch, jsonpatch.JsonPointerException) as error:
            raise bad_request(f"invalid JSON patch operation {operation!r}: {error}") from None
        try:
            doc = step.apply(doc, in_place=True)
        except jsonpatch.JsonPatchTestFailed:
            # jsonpatch's own message can hold the whole document; the API server's names the path.
            raise _failed(f"testing value {operation['path']} failed: test failed") from None
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
            raise _failed(f"{operation['op']} {operation['path']}: {error}") from None
    if not isinstance(doc, dict):
        raise _failed("the patched document is not an object")
    return doc
