"""`python -m kube_emulator.benchmark [--objects N] [--watchers W]`: the figures in docs/kube-emulator.md.

Runs the emulator in a background thread of the same process as the official client, so both share
one interpreter (the GIL): the numbers are what a test sees.
"""

from __future__ import annotations

import argparse
import threading
import time

import kubernetes.client  # type: ignore[import-untyped]

from kube_emulator.emulator import KubeEmulator


def _rate(count: int, seconds: float) -> str:
    return f"{count} in {seconds:.2f} s ({count / seconds:,.0f}/s)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--watchers", type=int, default=20)
    parser.add_argument("--events", type=int, default=1_000)
    arguments = parser.parse_args()
    with KubeEmulator() as api, api.api_client() as client:
        core = kubernetes.client.CoreV1Api(client)
        started = time.perf_counter()
        for i in range(arguments.objects):
            body = {"metadata": {"name": f"cm-{i}", "labels": {"i": str(i % 10)}}}
            core.create_namespaced_config_map("default", body)
        print("create (official client):", _rate(arguments.objects, time.perf_counter() - started))

        started = time.perf_counter()
        for i in range(0, arguments.objects, max(1, arguments.objects // 1000)):
            core.read_namespaced_config_map(f"cm-{i}", "default")
        gets = len(range(0, arguments.objects, max(1, arguments.objects // 1000)))
        print(f"get among {arguments.objects} objects:", _rate(gets, time.perf_counter() - started))

        started = time.perf_counter()
        raw = core.list_namespaced_config_map("default", _preload_content=False)
        elapsed = time.perf_counter() - started
        print(f"list of {arguments.objects} (raw JSON): {elapsed:.2f} s, {len(raw.data):,} bytes")
        started = time.perf_counter()
        items = core.list_namespaced_config_map("default").items
        print(f"list of {len(items)} (client models): {time.perf_counter() - started:.2f} s")
        started = time.perf_counter()
        selected = core.list_namespaced_config_map("default", label_selector="i=3").items
        elapsed = time.perf_counter() - started
        print(f"list with labelSelector ({len(selected)} of {arguments.objects}): {elapsed:.2f} s")

        received = [0] * arguments.watchers
        rv = str(api.resource_version)
        done = threading.Barrier(arguments.watchers + 1)

        def consume(index: int) -> None:
            response = core.list_namespaced_config_map(
                "default", watch=True, resource_version=rv, _preload_content=False, timeout_seconds=600
            )
            buffer = b""
            for chunk in response.stream(65536):
                buffer += chunk
                received[index] += chunk.count(b"\n")
                if received[index] >= arguments.events:
                    break
            response.release_conn()
            done.wait()

        threads = [threading.Thread(target=consume, args=(i,), daemon=True) for i in range(arguments.watchers)]
        for thread in threads:
            thread.start()
        while sum(len(c.watchers) for c in api.store.collections.values()) < arguments.watchers:
            time.sleep(0.01)
        started = time.perf_counter()
        for i in range(arguments.events):
            api.patch("configmaps", f"cm-{i}", {"data": {"k": "v"}})
        done.wait()
        elapsed = time.perf_counter() - started
        print(
            f"watch fan-out: {arguments.events} changes x {arguments.watchers} watchers = "
            f"{_rate(arguments.events * arguments.watchers, elapsed)} events delivered"
        )


if __name__ == "__main__":
    main()
