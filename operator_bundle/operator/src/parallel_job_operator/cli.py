"""`python -m parallel_job_operator`: run the operator with Kopf.

Scope: `--namespace NS` (repeatable) or `--all-namespaces` (the default when neither is
given). `--liveness http://0.0.0.0:8080/healthz` serves Kopf's liveness endpoint.
"""

from __future__ import annotations

import argparse
import importlib
import os
from collections.abc import Sequence

import kopf


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="parallel-job-operator", description="Reconcile ParallelJobs into Jobs.")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        dest="namespaces",
        help="serve ParallelJobs in this namespace only (repeatable)",
    )
    scope.add_argument(
        "-A",
        "--all-namespaces",
        action="store_true",
        dest="clusterwide",
        help="serve ParallelJobs in every namespace (the default)",
    )
    parser.add_argument(
        "--liveness",
        dest="liveness_endpoint",
        default=None,
        help="serve Kopf's liveness probe at this URL, e.g. http://0.0.0.0:8080/healthz",
    )
    parser.add_argument(
        "--resync-seconds",
        type=float,
        default=None,
        help="reconcile every unfinished ParallelJob this often (default 10)",
    )
    parser.add_argument("--verbose", action="store_true", help="log at INFO level")
    parser.add_argument("--debug", action="store_true", help="log at DEBUG level")
    args = parser.parse_args(argv)
    if args.resync_seconds is not None and args.resync_seconds <= 0:
        parser.error("--resync-seconds must be positive")
    if not args.namespaces:
        args.clusterwide = True
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.resync_seconds is not None:
        # Read by the handlers module when it registers the timer, so set it before the import.
        os.environ["PARALLEL_JOB_OPERATOR_RESYNC_SECONDS"] = str(args.resync_seconds)
    kopf.configure(verbose=args.verbose, debug=args.debug)
    handlers = importlib.import_module("parallel_job_operator.handlers")
    kopf.run(
        registry=handlers.REGISTRY,
        standalone=True,  # one replica (the Deployment uses the Recreate strategy); no peering CRDs needed
        clusterwide=args.clusterwide,
        namespaces=args.namespaces,
        liveness_endpoint=args.liveness_endpoint,
    )
