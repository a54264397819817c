import datetime
from typing import Any

import pytest

from flytekitplugins.k8s_operator.manifest import (
    ManifestError,
    find_placeholders,
    render_manifest,
    validate_manifest,
)


def test_find_placeholders() -> None:
    assert find_placeholders("{{inputs.a}}-{{ inputs.b_2 }}-{{  inputs.a  }}") == frozenset({"a", "b_2"})
    assert find_placeholders("no placeholders, {single} braces") == frozenset()
    with pytest.raises(ManifestError, match=r"spec.x: '\{\{ outputs.a \}\}' is not a placeholder"):
        find_placeholders("{{ outputs.a }}", "spec.x")


def test_validate_returns_used_inputs() -> None:
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "{{ inputs.x }}", "b": ["{{ inputs.y }}"]}}
    assert validate_manifest(manifest, ["x", "y", "unused"]) == frozenset({"x", "y"})


@pytest.mark.parametrize(
    ("value", "inputs", "expected"),
    [
        ("{{ inputs.n }}", {"n": 3}, 3),
        (" {{inputs.n}} ", {"n": 3}, 3),
        ("{{ inputs.f }}", {"f": 0.5}, 0.5),
        ("{{ inputs.b }}", {"b": True}, True),
        ("{{ inputs.s }}", {"s": "x"}, "x"),
        ("n={{ inputs.n }}", {"n": 3}, "n=3"),
        ("{{ inputs.b }}/{{ inputs.b }}", {"b": False}, "false/false"),
        ("{{ inputs.f }}x", {"f": 2.0}, "2x"),
        (4.0, {}, 4),
        (4.5, {}, 4.5),
        (True, {}, True),
        (None, {}, None),
        ("plain", {}, "plain"),
        ("{{ inputs.t }}", {"t": datetime.datetime(2024, 5, 1, 10, 0)}, "2024-05-01T10:00:00"),
        ("at {{ inputs.t }}", {"t": datetime.datetime(2024, 5, 1, 10, 0)}, "at 2024-05-01T10:00:00"),
    ],
)
def test_render_values(value: Any, inputs: dict[str, Any], expected: Any) -> None:
    rendered = render_manifest({"spec": {"v": [value]}}, inputs)["spec"]["v"][0]
    assert rendered == expected
    assert type(rendered) is type(expected)


def test_render_does_not_modify_its_input() -> None:
    manifest = {"spec": {"v": "{{ inputs.n }}", "w": [1.0]}}
    render_manifest(manifest, {"n": 1})
    assert manifest == {"spec": {"v": "{{ inputs.n }}", "w": [1.0]}}


def test_render_names_missing_inputs() -> None:
    with pytest.raises(ManifestError, match=r"manifest.spec.args\[1\]: no value for input 'n' \(given: m\)"):
        render_manifest({"spec": {"args": ["x", "{{ inputs.n }}"]}}, {"m": 1})
