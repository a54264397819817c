"""An HTTP Kubernetes API emulator and a local kubelet stand-in, for tests and the demo.

See docs/kube-emulator.md.
"""

from kube_emulator.accounting import RequestLog, RequestRecord
from kube_emulator.emulator import KubeEmulator
from kube_emulator.errors import ApiError
from kube_emulator.faults import FaultRule, Faults
from kube_emulator.resources import ResourceType
from kube_emulator.waiting import interrupt_once_logged, wait_for_output, wait_until

__all__ = [
    "ApiError",
    "FaultRule",
    "Faults",
    "KubeEmulator",
    "RequestLog",
    "RequestRecord",
    "ResourceType",
    "interrupt_once_logged",
    "wait_for_output",
    "wait_until",
]
