"""A local kubelet stand-in: runs the emulator's batch/v1 Jobs as local processes or simulations."""

from kube_emulator.kubelet.kubelet import Kubelet
from kube_emulator.kubelet.outcomes import OutcomePolicy, PodOutcome
from kube_emulator.kubelet.zygote import ZygoteSettings

__all__ = ["Kubelet", "OutcomePolicy", "PodOutcome", "ZygoteSettings"]
