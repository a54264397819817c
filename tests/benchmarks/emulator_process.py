"""The HTTP Kubernetes API emulator as a child process the benchmark controls over stdin.

`python -m benchmarks.emulator_process --crd FILE` serves `kube_emulator` in its own
process (so its CPU does not share a GIL with the gRPC client that measures latency),
prints `{"url": ..., "kubeconfig": ...}` once ready, then answers one JSON line per
JSON command line on stdin:

- `{"op": "counts", "resource": "paralleljobs"}`: API requests so far, by verb.
- `{"op": "set_phase", "resource": R, "namespace": NS, "phase": P, "workers": W}`: play the
  operator: write `status` on every object of R in NS (watchers see the changes).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kube_emulator import KubeEmulator

VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")


def _counts(api: KubeEmulator, command: dict[str, Any]) -> dict[str, Any]:
    return {verb: api.requests.count(verb=verb, resource=command["resource"]) for verb in VERBS}


def _set_phase(api: KubeEmulator, command: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    workers = int(command.get("workers") or 1)
    status = {
        "phase": command["phase"],
        "workerCounts": {"pending": 0, "running": workers, "succeeded": 0, "failed": 0},
        "workers": [{"index": i, "pod": f"pod-{i}", "phase": command["phase"]} for i in range(workers)],
    }
    names = [obj["metadata"]["name"] for obj in api.list(command["resource"], command["namespace"])]
    for name in names:
        api.patch(command["resource"], name, {"status": status}, command["namespace"], subresource="status")
    return {"updated": len(names), "seconds": time.perf_counter() - started}


def _answer(api: KubeEmulator, command: dict[str, Any]) -> dict[str, Any]:
    operations = {"counts": _counts, "set_phase": _set_phase}
    operation = operations.get(command.get("op", ""))
    if operation is None:
        return {"error": f"unknown op {command.get('op')!r}; known: {', '.join(operations)}"}
    return operation(api, command)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crd", action="append", default=[], help="a CRD YAML file (repeatable)")
    arguments = parser.parse_args()
    with KubeEmulator(crds=arguments.crd) as api:
        kubeconfig = api.write_kubeconfig(Path(tempfile.mkdtemp(prefix="bench-emulator-")) / "kubeconfig")
        print(json.dumps({"url": api.url, "kubeconfig": str(kubeconfig)}), flush=True)
        for line in sys.stdin:  # EOF (the benchmark exited or closed the pipe) stops the emulator
            if line.strip():
                print(json.dumps(_answer(api, json.loads(line))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
