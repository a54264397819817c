"""Text edits of shared files: insertions above marker comments, sorted imports and ``__all__`` entries.

Every function takes the file's text and returns the new text, or raises :class:`EditError`
saying why the edit cannot be made (missing marker, entry already there), so that a plan can
check every edit before writing anything.
"""

from __future__ import annotations

import ast


class EditError(ValueError):
    """An edit cannot be made; the message names the file and the reason."""


def _marker_line(text: str, marker: str, path: str) -> int:
    lines = text.splitlines()
    found = [index for index, line in enumerate(lines) if line.lstrip().startswith(f"# {marker}")]
    if len(found) != 1:
        problem = "is missing" if not found else f"appears {len(found)} times"
        raise EditError(f"{path}: the marker comment `# {marker}` {problem}; restore it from the repository")
    return found[0]


def insert_above_marker(text: str, marker: str, block: list[str], path: str) -> str:
    """``block`` inserted above the marker comment, each line indented like the marker.

    Raises EditError when the marker is not there exactly once or when the block's first
    line already appears in the marked region (between the marker and the previous blank
    or less indented line), i.e. the entry exists.
    """
    lines = text.splitlines(keepends=True)
    at = _marker_line(text, marker, path)
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    region_start = at
    while region_start > 0:
        previous = lines[region_start - 1]
        if not previous.strip() or not previous.startswith(indent):
            break
        region_start -= 1
    existing = {line.strip() for line in lines[region_start:at]}
    if block[0].strip() in existing:
        raise EditError(f"{path}: `{block[0].strip()}` is already there (above `# {marker}`)")
    new_lines = [f"{indent}{line}\n" if line else "\n" for line in block]
    return "".join(lines[:at] + new_lines + lines[at:])


def _import_sort_key(module: str) -> str:
    # ruff's isort order for `from` imports of one section: module names, case-insensitively.
    return module.lower()


def insert_import(text: str, module: str, names: list[str], path: str) -> str:
    """``from MODULE import NAMES`` added to the module-level import block, in sorted position.

    It goes among the existing ``from`` imports that share MODULE's top-level package, so the
    result stays sorted the way ruff (isort) wants it. Raises EditError if MODULE is already
    imported or no import of its package exists.
    """
    package = module.split(".")[0]
    tree = ast.parse(text)
    siblings = [
        node
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == package
    ]
    if not siblings:
        raise EditError(f"{path}: no module-level `from {package}... import` to put `from {module} import` next to")
    if any(node.module == module for node in siblings):
        raise EditError(f"{path}: `{module}` is already imported")
    statement = f"from {module} import {', '.join(names)}"
    if len(statement) > 120:
        statement = f"from {module} import (\n" + "".join(f"    {name},\n" for name in names) + ")"
    lines = text.splitlines(keepends=True)
    after = [node for node in siblings if _import_sort_key(node.module or "") > _import_sort_key(module)]
    last_line = max(node.end_lineno or node.lineno for node in siblings)
    position = after[0].lineno - 1 if after else last_line
    return "".join(lines[:position] + [statement + "\n"] + lines[position:])


def insert_all_names(text: str, names: list[str], path: str) -> str:
    """NAMES added to the module's ``__all__`` list (one quoted name per line), in sorted position."""
    tree = ast.parse(text)
    assignment = next(
        (
            node
            for node in tree.body
            if isinstance(node, ast.Assign)
            and any(isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets)
            and isinstance(node.value, ast.List)
        ),
        None,
    )
    if assignment is None or not isinstance(assignment.value, ast.List):
        raise EditError(f"{path}: no `__all__ = [...]` list to add {', '.join(names)} to")
    elements = assignment.value.elts
    present = [element.value for element in elements if isinstance(element, ast.Constant)]
    clashes = sorted(set(names) & set(present))
    if clashes:
        raise EditError(f"{path}: {', '.join(clashes)} already exported")
    if not elements or any(element.lineno == assignment.lineno for element in elements):
        raise EditError(f"{path}: `__all__` must list one name per line for the generator to extend it")
    lines = text.splitlines(keepends=True)
    indent = lines[elements[0].lineno - 1][: elements[0].col_offset]
    # Largest name first: each insertion lies at or below the ones still to come.
    for name in sorted(names, reverse=True):
        later = [e for e in elements if isinstance(e, ast.Constant) and isinstance(e.value, str) and e.value > name]
        position = later[0].lineno - 1 if later else (elements[-1].end_lineno or elements[-1].lineno)
        lines.insert(position, f'{indent}"{name}",\n')
    return "".join(lines)
