"""``executions``: how objects follow the lifetime of their Flyte execution (executions.py)."""

from __future__ import annotations

from dataclasses import dataclass

from k8s_operator_connector.settings_reader import SettingsReader


@dataclass(frozen=True)
class ExecutionSettings:
    """``executions``: how objects follow the lifetime of their Flyte execution."""

    owner_references: bool = False
    orphan_sweep: bool = True
    orphan_grace_seconds: float = 300.0
    # Each execution's FlyteWorkflow is read at most this often (the sweep runs more often).
    orphan_check_interval_seconds: float = 60.0


def parse_executions(reader: SettingsReader) -> ExecutionSettings:
    settings = ExecutionSettings(
        owner_references=reader.get("ownerReferences", bool, ExecutionSettings.owner_references),
        orphan_sweep=reader.get("orphanSweep", bool, ExecutionSettings.orphan_sweep),
        orphan_grace_seconds=reader.number("orphanGraceSeconds", ExecutionSettings.orphan_grace_seconds, 0),
        orphan_check_interval_seconds=reader.number(
            "orphanCheckIntervalSeconds", ExecutionSettings.orphan_check_interval_seconds, 0
        ),
    )
    reader.finish()
    return settings
