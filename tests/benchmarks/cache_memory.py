"""`./pants run tests/benchmarks:cache-memory -- --objects N`: where the watch cache's bytes go.

Builds N ParallelJob objects as the connector creates them (the plugin's manifest, the
machinery's name, labels and annotations) and as the API server returns them (uid,
resourceVersion, creationTimestamp, a Running status with worker pods), serializes them into
list pages of 500 and feeds the pages, each freshly JSON-decoded as the API client does, to an
``ObjectCache`` with the real plugin's ``observe``. tracemalloc reports the bytes the cache
keeps per object, the peak while the list was in flight, and the source lines that allocated
what is kept. One JSON line; figures only.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tracemalloc
import uuid
from typing import Any

from flytekit.models.literals import LiteralMap

from benchmarks.serving import OPERATOR_TASK_TYPE, OPERATOR_TASK_TYPE_VERSION
from benchmarks.workload import execution_metadata, task_template
from k8s_operator_connector.connector import _with_identity
from k8s_operator_connector.kube_api import DEFAULT_PAGE_SIZE, KubeApi
from k8s_operator_connector.object_cache import ObjectCache
from k8s_operator_connector.operator_plugin import TaskRequest
from k8s_operator_connector.plugins.parallel_job import ParallelJobPlugin
from k8s_operator_connector.settings import ConnectorSettings
from k8s_operator_connector.task_context import task_context

NAMESPACE = "bench-memory"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=10_000, help="objects in the cache")
    parser.add_argument("--workers", type=int, default=2, help="workers (pods) per ParallelJob")
    parser.add_argument("--top", type=int, default=12, help="source lines to show")
    return parser.parse_args(argv)


def _objects(count: int, workers: int) -> list[dict[str, Any]]:
    """The objects as a list answer holds them (built once per index, then serialized)."""
    plugin, settings = ParallelJobPlugin(), ConnectorSettings()
    template = task_template(OPERATOR_TASK_TYPE, OPERATOR_TASK_TYPE_VERSION, workers)
    objects = []
    manifest: dict[str, Any] | None = None
    for index in range(count):
        output_prefix = f"s3://bucket/metadata/bench{index:06d}/n0/0"
        metadata = execution_metadata(OPERATOR_TASK_TYPE, NAMESPACE, index)
        context = task_context(metadata, output_prefix, plugin.task_type, settings, plugin.max_name_length)
        if manifest is None:  # the same template for every task: build its manifest once
            request = TaskRequest(template, LiteralMap({}), output_prefix, context, settings)
            manifest = plugin.build_object(request).manifest
        obj = _with_identity(manifest, context)
        obj["metadata"].update(
            uid=str(uuid.uuid4()),
            resourceVersion=str(1000 + index),
            creationTimestamp="2026-11-30T10:00:00Z",
            generation=1,
        )
        obj["status"] = {
            "phase": "Running",
            "workerCounts": {"pending": 0, "running": workers, "succeeded": 0, "failed": 0},
            "workers": [{"index": i, "pod": f"{context.name}-w{i}-abcde", "phase": "Running"} for i in range(workers)],
        }
        objects.append(obj)
    return objects


def main(argv: list[str] | None = None) -> int:
    arguments = _arguments(argv)
    objects = _objects(arguments.objects, arguments.workers)
    pages = [
        json.dumps({"items": objects[start : start + DEFAULT_PAGE_SIZE]}).encode()
        for start in range(0, len(objects), DEFAULT_PAGE_SIZE)
    ]
    del objects
    plugin = ParallelJobPlugin()
    # No list or watch runs: the pages are handed to the cache as ListWatch would.
    cache = ObjectCache(KubeApi.__new__(KubeApi), plugin.watch_resources(ConnectorSettings())[0], NAMESPACE, "",
                        plugin.observe, tombstone_seconds=3600)  # fmt: skip
    gc.collect()
    tracemalloc.start(1)
    before = tracemalloc.take_snapshot()
    cache._list_starting()
    for page in pages:
        cache._list_page(json.loads(page)["items"])
    cache._list_finished()
    gc.collect()
    _, peak = tracemalloc.get_traced_memory()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    count = len(cache)
    lines = after.compare_to(before, "lineno")
    print(
        json.dumps(
            {
                "benchmark": "cache_memory",
                "objects": count,
                "bytes_per_object": round(sum(stat.size_diff for stat in lines) / count, 1),
                "peak_during_list_mb": round(peak / 2**20, 1),
                "page_json_kib": round(sum(len(page) for page in pages) / len(pages) / 1024, 1),
                "where": [
                    {"line": str(stat.traceback[0]), "bytes_per_object": round(stat.size_diff / count, 1)}
                    for stat in lines[: arguments.top]
                ],
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
