"""`python -m kube_emulator --port 0 --crd crd.yaml --kubeconfig /tmp/kubeconfig`

Prints one line `kube-emulator ready url=<URL> kubeconfig=<PATH>` once it serves, then runs
until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
from pathlib import Path

from kube_emulator.emulator import KubeEmulator


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m kube_emulator", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--crd", action="append", default=[], help="a CRD YAML file (repeatable)")
    parser.add_argument(
        "--namespace",
        action="append",
        default=[],
        help="a namespace to create at start (repeatable; default, kube-system, kube-public always)",
    )
    parser.add_argument("--kubeconfig", type=Path, help="where to write a kubeconfig (default: a temp file)")
    parser.add_argument(
        "--strict-namespaces",
        action="store_true",
        help="reject creates in namespaces that do not exist, like a real cluster",
    )
    return parser.parse_args(argv)


async def _serve(arguments: argparse.Namespace) -> None:
    emulator = KubeEmulator(
        host=arguments.host,
        port=arguments.port,
        crds=arguments.crd,
        namespaces=["default", "kube-system", "kube-public", *arguments.namespace],
        strict_namespaces=arguments.strict_namespaces,
    )
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    async with emulator:
        kubeconfig = arguments.kubeconfig or Path(tempfile.mkdtemp(prefix="kube-emulator-")) / "kubeconfig"
        emulator.write_kubeconfig(kubeconfig)
        print(f"kube-emulator ready url={emulator.url} kubeconfig={kubeconfig}", flush=True)
        await stopped.wait()


def main(argv: list[str] | None = None) -> int:
    asyncio.run(_serve(_arguments(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
