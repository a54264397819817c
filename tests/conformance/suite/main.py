"""``./pants run tests/conformance -- [OPTIONS]``: prove the connector and its plugins on a cluster.

Without ``--kubeconfig`` the suite starts the embedded cluster (API emulator, example operator,
local kubelet, served connector) and runs against it through its kubeconfig and gRPC address,
exactly as against an existing cluster given with ``--kubeconfig PATH --connector HOST:PORT``.
Prints one row per case (pass, fail or skipped, with the reason) and exits 1 if any case failed.
See docs/conformance.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import grpc

from conformance.suite.cluster import ClusterView
from conformance.suite.context import Target
from conformance.suite.report import exit_code, summary, table
from conformance.suite.runner import run_suite
from conformance.suite.samples import Sample, SampleError, builtin_samples, load_sample
from conformance.suite.task_requests import Execution
from kube_emulator.faults import Faults
from reliability.harness import PropellerClient

DEFAULT_CONNECTOR_CONFIG = "flyte/flyte-k8s-operator-connector-config"


class TargetError(Exception):
    """The cluster or the connector cannot be reached at all: no case can run."""


def _names(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="./pants run tests/conformance --", description=__doc__.split("\n\n")[0])
    target = parser.add_argument_group("target (default: the embedded cluster, started by the suite)")
    target.add_argument("--kubeconfig", type=Path, help="an existing cluster's kubeconfig (needs --connector)")
    target.add_argument("--context", default="", help="kubeconfig context (default: its current one)")
    target.add_argument("--connector", default="", help="the connector's gRPC address HOST:PORT, e.g. a port-forward")
    target.add_argument("--ca-cert", type=Path, help="speak TLS to the connector, trusting this CA bundle")
    target.add_argument(
        "--tls-server-name", default="", help="the name to expect in the connector's certificate (with --ca-cert)"
    )
    target.add_argument(
        "--connector-config",
        default=DEFAULT_CONNECTOR_CONFIG,
        help="NAMESPACE/NAME-PREFIX of the ConfigMap holding the connector's connector.yaml (default: %(default)s)",
    )
    what = parser.add_argument_group("what to run")
    what.add_argument(
        "--task-types", type=_names, default=[], help="comma-separated (default: all the connector serves)"
    )
    what.add_argument("--cases", type=_names, default=[], help="comma-separated case names (default: all)")
    what.add_argument("--plugin", default="", help="a plugin's task type: run the generic cases with --sample")
    what.add_argument(
        "--sample",
        default="",
        help="MODULE:ATTRIBUTE or FILE.py:ATTRIBUTE: the plugin's sample task (docs/conformance.md)",
    )
    where = parser.add_argument_group("where the tasks run")
    where.add_argument("--namespace", default="flytesnacks-development")
    where.add_argument("--project", default="flytesnacks")
    where.add_argument("--domain", default="development")
    where.add_argument("--service-account", default="default")
    where.add_argument("--image", default="busybox:1.36", help="the tasks' image: any with sh and sleep")
    limits = parser.add_argument_group("limits")
    limits.add_argument("--timeout", type=float, default=120.0, help="seconds a task may take to reach a phase")
    limits.add_argument("--connect-timeout", type=float, default=30.0, help="seconds to wait for the connector")
    limits.add_argument("--max-retention-wait", type=float, default=90.0, help="skip retention if it takes longer")
    return parser


def _check(arguments: argparse.Namespace, parse: argparse.ArgumentParser) -> None:
    if arguments.kubeconfig is not None and not arguments.connector:
        parse.error("--kubeconfig needs --connector HOST:PORT (e.g. a kubectl port-forward, docs/conformance.md)")
    if arguments.connector and arguments.kubeconfig is None:
        parse.error("--connector needs --kubeconfig (the suite checks objects and pods through it)")
    if bool(arguments.plugin) != bool(arguments.sample):
        parse.error("--plugin TASK_TYPE and --sample MODULE:ATTRIBUTE go together")
    if arguments.tls_server_name and arguments.ca_cert is None:
        parse.error("--tls-server-name needs --ca-cert (it names the server in a TLS certificate)")
    if "/" not in arguments.connector_config:
        parse.error(f"--connector-config {arguments.connector_config!r}: expected NAMESPACE/NAME-PREFIX")


def run(
    arguments: argparse.Namespace, samples: dict[str, Sample], kubeconfig: Path, connector: str, faults: Faults | None
) -> int:
    """The suite against a kubeconfig and a connector address; prints the table, returns the exit code."""
    started = time.monotonic()
    credentials = None
    if arguments.ca_cert is not None:
        try:
            credentials = grpc.ssl_channel_credentials(root_certificates=arguments.ca_cert.read_bytes())
        except OSError as error:
            raise TargetError(f"cannot read --ca-cert {arguments.ca_cert}: {error.strerror}") from error
    try:
        cluster = ClusterView(kubeconfig, arguments.context)
    except Exception as error:  # kubernetes.config raises several types for a bad file
        raise TargetError(f"cannot use the kubeconfig {kubeconfig}: {error}") from error
    client = PropellerClient(connector, credentials, arguments.tls_server_name)
    try:
        try:
            client.list_agents(timeout=arguments.connect_timeout)
        except grpc.RpcError as error:
            raise TargetError(
                f"cannot reach the connector at {connector}: {error.code().name} {error.details()} "
                "(is the port-forward running? docs/conformance.md)"
            ) from error
        namespace, _, prefix = arguments.connector_config.partition("/")
        execution = Execution(
            namespace=arguments.namespace,
            project=arguments.project,
            domain=arguments.domain,
            service_account=arguments.service_account,
            image=arguments.image,
        )
        target = Target(
            cluster,
            client,
            execution,
            cluster.connector_settings(namespace, prefix),
            faults=faults,
            timeout=arguments.timeout,
            max_retention_wait=arguments.max_retention_wait,
        )
        results = run_suite(target, samples, arguments.task_types, arguments.plugin, arguments.cases)
    finally:
        client.close()
        cluster.close()
    print(table(results))
    print(f"{summary(results)} in {time.monotonic() - started:.1f}s")
    return exit_code(results)


def main(argv: Sequence[str] | None = None) -> int:
    parse = parser()
    arguments = parse.parse_args(argv)
    _check(arguments, parse)
    try:
        samples = builtin_samples(arguments.image)
        if arguments.plugin:  # before any cluster starts: a bad sample fails at once
            samples[arguments.plugin] = load_sample(arguments.sample, arguments.plugin)
        if arguments.kubeconfig is not None:
            return run(arguments, samples, arguments.kubeconfig, arguments.connector, None)
        from conformance.suite.embedded import CONFIG_MAP_NAME, CONFIG_NAMESPACE, EmbeddedTarget

        arguments.connector_config = f"{CONFIG_NAMESPACE}/{CONFIG_MAP_NAME}"
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="conformance-") as scratch, EmbeddedTarget(Path(scratch)) as embedded:
            print(
                f"embedded cluster up in {time.monotonic() - started:.1f}s: kubeconfig {embedded.kubeconfig}, "
                f"connector {embedded.address}",
                flush=True,
            )
            return run(arguments, samples, embedded.kubeconfig, embedded.address, embedded.faults)
    except (SampleError, TargetError) as error:
        print(f"conformance: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
