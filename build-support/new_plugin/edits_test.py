import pytest

from new_plugin.edits import EditError, insert_above_marker


def test_inserts_above_the_marker_with_its_indentation():
    text = 'items = (\n    "one",\n    # new-plugin: items\n)\n'
    result = insert_above_marker(text, "new-plugin: items", ['"two",'], "f.py")
    assert result == 'items = (\n    "one",\n    "two",\n    # new-plugin: items\n)\n'


def test_a_missing_or_repeated_marker_or_an_existing_entry_is_refused():
    with pytest.raises(EditError, match="is missing"):
        insert_above_marker("x = 1\n", "new-plugin: items", ["y"], "f.py")
    with pytest.raises(EditError, match="appears 2 times"):
        insert_above_marker("# new-plugin: items\n# new-plugin: items\n", "new-plugin: items", ["y"], "f.py")
    with pytest.raises(EditError, match="already there"):
        insert_above_marker("  - a\n  # new-plugin: items\n", "new-plugin: items", ["- a"], "f.yaml")
