"""Case results and the table the suite prints."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

MAX_REASON_WIDTH = 160


class Outcome(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skipped"


@dataclass(frozen=True)
class CaseResult:
    """One case run against one task type: its outcome and why, in a sentence."""

    task_type: str
    case: str
    outcome: Outcome
    reason: str
    seconds: float = 0.0


def table(results: Iterable[CaseResult]) -> str:
    """A fixed-width table: task type, case, outcome, seconds, reason (long reasons wrap)."""
    rows = [("TASK TYPE", "CASE", "RESULT", "TIME", "REASON")]
    for result in results:
        reason = " ".join(result.reason.split())
        chunks = [reason[i : i + MAX_REASON_WIDTH] for i in range(0, len(reason), MAX_REASON_WIDTH)] or [""]
        rows.append((result.task_type, result.case, result.outcome.value.upper(), f"{result.seconds:.1f}s", chunks[0]))
        rows.extend(("", "", "", "", chunk) for chunk in chunks[1:])
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)) + "  " + row[4]
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


def summary(results: list[CaseResult]) -> str:
    counts = {outcome: sum(1 for r in results if r.outcome is outcome) for outcome in Outcome}
    return (
        f"{counts[Outcome.PASS]} passed, {counts[Outcome.FAIL]} failed, {counts[Outcome.SKIP]} skipped "
        f"({len(results)} cases)"
    )


def exit_code(results: list[CaseResult]) -> int:
    """1 if any case failed (skips are not failures), else 0."""
    return 1 if any(result.outcome is Outcome.FAIL for result in results) else 0
