"""`python -m kube_emulator.kubelet --kubeconfig PATH`: run Jobs of that cluster as local processes."""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType

from kube_emulator.kubelet.kubelet import Kubelet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kube_emulator.kubelet", description=__doc__)
    parser.add_argument("--kubeconfig", required=True)
    arguments = parser.parse_args(argv)
    kubelet = Kubelet(kubeconfig=arguments.kubeconfig)

    def stop(signum: int, frame: FrameType | None) -> None:
        kubelet.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with kubelet:
        print("kube-emulator kubelet ready", flush=True)
        kubelet.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
