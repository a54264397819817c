"""`./pants run tests/benchmarks:cel`: what CEL costs a custom_resource task (docs/build.md).

Prints one JSON line: the import time of the CEL library, and per expression the compile time
(parse, check, plan) and the evaluation time on a Job object (converting the object once, as the
connector does per observation, is reported separately). Figures only, no thresholds.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import time
import timeit
from typing import Any

from flytekitplugins.k8s_operator.conditions import bind, parse_condition, parse_progress_template

EXPRESSIONS = {
    "exists": "object.status.conditions.exists(c, c.type == 'Complete' && c.status == 'True')",
    "two_fields": "has(object.status.succeeded) && object.status.succeeded >= object.spec.completions",
    "missing": "object.status.phase == 'Succeeded'",
}
PROGRESS = "{object.status.succeeded}/{object.spec.completions} done"
JOB: dict[str, Any] = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {
        "name": "f7a3b-n0-0",
        "namespace": "flytesnacks-development",
        "labels": {"app.kubernetes.io/managed-by": "flyte", "execution-id": "f7a3b"},
        "annotations": {"custom-resource.flyte-k8s-operator.flyte.org/success-condition": EXPRESSIONS["exists"]},
    },
    "spec": {
        "completions": 3,
        "parallelism": 3,
        "backoffLimit": 6,
        "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox:1.36"}]}},
    },
    "status": {
        "succeeded": 3,
        "startTime": "2026-11-30T10:00:00Z",
        "completionTime": "2026-11-30T10:01:00Z",
        "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": "2026-11-30T10:01:00Z"},
            {"type": "Complete", "status": "True", "lastTransitionTime": "2026-11-30T10:01:00Z"},
        ],
    },
}


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _import_ms() -> float:
    """celpy's import time in a fresh interpreter (this one has imported it already)."""
    probe = "import time; t = time.perf_counter(); import celpy; print(time.perf_counter() - t)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return _ms(float(result.stdout))


def main() -> None:
    report: dict[str, Any] = {"python": sys.version.split()[0], "import_ms": _import_ms()}
    bound = bind(JOB)
    report["bind_ms"] = _ms(timeit.timeit(lambda: bind(JOB), number=200) / 200)
    for name, text in EXPRESSIONS.items():
        started = time.perf_counter()
        condition = parse_condition(text, name)
        compiled = time.perf_counter() - started
        evaluate = timeit.timeit(functools.partial(condition.holds, bound), number=200) / 200
        report[name] = {"compile_ms": _ms(compiled), "eval_ms": _ms(evaluate), "holds": condition.holds(bound)[0]}
    template = parse_progress_template(PROGRESS, "progress_template")
    report["progress_render_ms"] = _ms(timeit.timeit(lambda: template.render(bound), number=200) / 200)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
