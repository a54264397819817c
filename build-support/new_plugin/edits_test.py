import pytest

from new_plugin.edits import EditError, insert_above_marker, insert_all_names, insert_import

INIT = '''"""Doc."""

from a.b import c
from pkg.alpha import A
from pkg.gamma import (
    G1,
    G2,
)
from pkg.zeta import Z

__all__ = [
    "A",
    "G1",
    "Z",
    "helper",
]
'''


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


def test_imports_go_in_sorted_position():
    result = insert_import(INIT, "pkg.hotel", ["H"], "i.py")
    assert "    G2,\n)\nfrom pkg.hotel import H\nfrom pkg.zeta import Z\n" in result
    first = insert_import(INIT, "pkg.aaa", ["X"], "i.py")
    assert "from a.b import c\nfrom pkg.aaa import X\nfrom pkg.alpha import A\n" in first
    last = insert_import(INIT, "pkg.zz", ["X"], "i.py")
    assert "from pkg.zeta import Z\nfrom pkg.zz import X\n" in last
    with pytest.raises(EditError, match="already imported"):
        insert_import(INIT, "pkg.zeta", ["Z"], "i.py")


def test_all_names_go_in_sorted_position():
    result = insert_all_names(INIT, ["Delta", "DeltaTask"], "i.py")
    assert '    "A",\n    "Delta",\n    "DeltaTask",\n    "G1",\n' in result
    assert insert_all_names(INIT, ["zz"], "i.py").endswith('    "helper",\n    "zz",\n]\n')
    with pytest.raises(EditError, match="already exported"):
        insert_all_names(INIT, ["A"], "i.py")
