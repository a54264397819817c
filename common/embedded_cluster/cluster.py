"""The embedded cluster: a Kubernetes stand-in on this machine, with the example operator and a kubelet.

* the HTTP Kubernetes API emulator (``kube_emulator``) with the bundle's ParallelJob CRD,
  serving from a thread of this process;
* the example operator, ``python -m parallel_job_operator --all-namespaces``, as a child
  process in its own session (Ctrl-C reaches only this process, which stops it last);
* the local kubelet (``kube_emulator.kubelet``), a thread that runs each Job's container
  command as a local process, with this process's environment; given the ``ZygoteSettings``
  from ``prepare_worker_environment``, it forks ``python -m``/``-c`` pods from one interpreter
  that imported flytekit once.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import TracebackType

from embedded_cluster.operator_process import OperatorProcess
from kube_emulator import KubeEmulator
from kube_emulator.kubelet import Kubelet, ZygoteSettings


class EmbeddedCluster:
    """The emulator, the operator and the kubelet, started in that order and stopped in reverse."""

    def __init__(self, crd: Path, work_dir: Path, zygote: ZygoteSettings | None = None) -> None:
        self.work_dir = work_dir
        self.zygote = zygote
        self.emulator = KubeEmulator(crds=[crd])
        self.kubeconfig = work_dir / "kubeconfig"
        self.operator = OperatorProcess(self.kubeconfig, work_dir / "operator.log")
        self.kubelet: Kubelet | None = None
        self.startup_seconds: dict[str, float] = {}

    def start(self) -> EmbeddedCluster:
        started = time.monotonic()
        self.emulator.start()
        self.emulator.write_kubeconfig(self.kubeconfig)
        self.startup_seconds["api emulator"] = time.monotonic() - started
        started = time.monotonic()
        self.operator.start()
        self.startup_seconds["operator"] = time.monotonic() - started
        started = time.monotonic()
        self.kubelet = Kubelet(self.emulator.api_client(), zygote=self.zygote).start()
        self.startup_seconds["kubelet"] = time.monotonic() - started
        return self

    def stop(self) -> None:
        if self.kubelet is not None:
            self.kubelet.stop()
        self.operator.stop()
        self.emulator.stop()

    def __enter__(self) -> EmbeddedCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
