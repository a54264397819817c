"""What the cases share: the target (cluster and connector), and what earlier cases of a task type found."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from conformance.suite.cluster import ClusterView
from conformance.suite.samples import Sample
from conformance.suite.task_requests import Execution
from kube_emulator.faults import Faults
from reliability.harness import PropellerClient

if TYPE_CHECKING:
    from conformance.suite.tasks import TaskWatch


class Fail(Exception):
    """The case failed; the message says what was seen and where to look."""


class Skip(Exception):
    """The case cannot run here; the message says why."""


@dataclass
class Target:
    """A cluster reached through a kubeconfig and a connector reached over gRPC."""

    cluster: ClusterView
    client: PropellerClient
    execution: Execution
    # The connector's configuration read from its ConfigMap (None: not found or not readable).
    connector_settings: dict[str, Any] | None
    # Fault injection into the Kubernetes API: only when the suite runs the embedded emulator.
    faults: Faults | None = None
    # How long a task may take to reach a phase (seconds).
    timeout: float = 120.0
    # How long the suite waits for retention to remove a finished object before skipping.
    max_retention_wait: float = 90.0
    run_id: str = field(default_factory=lambda: secrets.token_hex(3))


@dataclass
class Found:
    """The object and pods one task made, as seen while it ran."""

    kind: str = ""
    namespace: str = ""
    name: str = ""
    obj: dict[str, Any] | None = None
    pods: list[dict[str, Any]] = field(default_factory=list)
    finished_at: float = 0.0
    phase: int = 0
    resource_meta: bytes = b""


@dataclass
class TaskTypeRun:
    """One task type under test, and what its earlier cases left for the later ones."""

    task_type: str
    sample: Sample
    # Plugin mode: only the generic cases, and failures name the plugin's functions.
    plugin_mode: bool = False
    succeeded: TaskWatch | None = None
    kind: str = ""

    def execution_name(self, target: Target, case: str) -> str:
        """A Flyte execution name unique to this run, case and task type (short: names keep it whole)."""
        initials = "".join(part[0] for part in self.task_type.split("_"))[:3]
        return f"cf{target.run_id}{initials}{case[:6]}".replace("-", "")
