"""Text edits of shared files: insertions above marker comments.

Every function takes the file's text and returns the new text, or raises :class:`EditError`
saying why the edit cannot be made (missing marker, entry already there), so that a plan can
check every edit before writing anything.
"""

from __future__ import annotations


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
