"""The connector image built from the published wheel serves: `./pants run tests/wheels:wheel-image`.

After `./pants package ::`, this serves dist/'s two wheels from a pypiserver on 127.0.0.1,
builds backend/wheel.Containerfile with podman the way docs/releasing.md tells a site to
(pip in the build installs the connector wheel from that index and every third-party package
from pip's default index, no lockfile), then runs the image's own entry point
(`pyflyte serve connector`) with the bundle's connector.yaml and a signing key mounted where
the Deployment mounts them (read-only), a read-only root filesystem, user 65532 and no
capabilities, and checks from the host over gRPC that ListAgents names the
task types and the standard gRPC health service answers SERVING. The container, the image
and the index are removed afterwards. Each failure prints one `wheel-image: ...` line (with
the container's output when it has one) and exits 1.

podman runs through build-support/container-engine/kit-podman (the storage where
make-base-image put the base image); the base image is $BASE_IMAGE (never pulled).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
from flyteidl.admin import agent_pb2
from flyteidl.service import agent_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from benchmarks.processes import free_port
from wheels.artifacts import BACKEND, SDK, Wheel, built_wheels
from wheels.index_server import package_index

PODMAN = Path("build-support/container-engine/kit-podman")
CONTAINERFILE = Path("backend/wheel.Containerfile")
# The bundle's own connector configuration, mounted where the Deployment mounts its ConfigMap.
CONNECTOR_CONFIG = Path("operator_bundle/config/connector/connector.yaml")
CONFIG_DIR_IN_IMAGE = "/etc/flyte-k8s-operator"
KEYS_DIR_IN_IMAGE = "/var/run/secrets/flyte-k8s-operator/meta-signing"
HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
TASK_TYPES = {"parallel_job", "custom_resource"}
BUILD_TIMEOUT_S = 40 * 60
SERVE_TIMEOUT_S = 180


class CheckFailed(Exception):
    """One failed step; the message says which and why."""


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PODMAN), *args], capture_output=True, text=True, timeout=timeout, check=False)


def dist_wheels(dist: Path) -> dict[str, Wheel]:
    if not dist.is_dir():
        raise CheckFailed(f"{dist}/ does not exist: run `./pants package ::` first")
    try:
        return built_wheels(dist)
    except AssertionError as error:
        raise CheckFailed(f"{dist}/: {error} (run `./pants package ::`; remove stale wheels)") from error


def require_base_image(base_image: str) -> None:
    engine = podman("version")
    if engine.returncode != 0:
        raise CheckFailed(f"podman does not work here: {engine.stderr.strip()[-1000:]}")
    if podman("image", "exists", base_image).returncode != 0:
        raise CheckFailed(
            f"base image {base_image} is not in podman's storage (it is never pulled): build it with "
            "build-support/container-engine/make-base-image, or set BASE_IMAGE to one that is there"
        )


def build_image(version: str, index_url: str, base_image: str, tag: str) -> None:
    """The documented `podman build` of backend/wheel.Containerfile, against our local index."""
    started = time.monotonic()
    # Host network: pip in the build reaches the index on 127.0.0.1 and pip's default index. The
    # host's CA bundle: this network re-signs HTTPS. --layers=false: no layer cache (a rebuild
    # must reinstall) and one commit per stage rather than per instruction (vfs copies the tree).
    command = ["build", "--isolation", "chroot", "--pull=never", "--layers=false", "--network", "host",
               "-v", f"{HOST_CA_BUNDLE}:{HOST_CA_BUNDLE}:ro",
               "--build-arg", f"BASE_IMAGE={base_image}", "--build-arg", f"VERSION={version}",
               "--build-arg", f"PIP_EXTRA_INDEX_URL={index_url}/simple/",
               "-f", str(CONTAINERFILE), "-t", tag, "backend"]  # fmt: skip
    try:
        result = podman(*command, timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired as error:
        raise CheckFailed(f"podman build did not finish in {BUILD_TIMEOUT_S}s") from error
    if result.returncode != 0:
        raise CheckFailed(f"podman build of {CONTAINERFILE} failed:\n{(result.stdout + result.stderr)[-4000:]}")
    print(f"wheel-image: built {tag} in {time.monotonic() - started:.0f}s", flush=True)


def mounts(work: Path) -> list[str]:
    """The bundle's connector.yaml and a fresh signing key, as the Deployment mounts them."""
    config_dir, keys_dir = work / "config", work / "meta-signing"
    config_dir.mkdir()
    keys_dir.mkdir()
    shutil.copyfile(CONNECTOR_CONFIG, config_dir / "connector.yaml")
    (keys_dir / "keys").write_text(secrets.token_hex(32) + "\n")
    for path in (work, config_dir, keys_dir):
        path.chmod(0o755)  # the image runs as user 65532
    for path in (config_dir / "connector.yaml", keys_dir / "keys"):
        path.chmod(0o644)
    return ["-v", f"{config_dir}:{CONFIG_DIR_IN_IMAGE}:ro", "-v", f"{keys_dir}:{KEYS_DIR_IN_IMAGE}:ro"]


@contextmanager
def running(tag: str, work: Path) -> Iterator[tuple[str, int]]:
    """The image's entry point serving on free host ports; the container is removed on exit."""
    name = f"wheel-image-check-{secrets.token_hex(4)}"
    port = free_port()
    command = ["run", "--detach", "--name", name, "--network", "host",
               "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
               "-e", f"K8S_OPERATOR_CONNECTOR_CONFIG={CONFIG_DIR_IN_IMAGE}/connector.yaml", *mounts(work),
               tag, "--port", str(port), "--prometheus_port", str(free_port())]  # fmt: skip
    result = podman(*command)
    try:
        if result.returncode != 0:
            raise CheckFailed(f"podman run failed:\n{result.stderr[-3000:]}")
        yield name, port
    finally:
        podman("rm", "--force", "--time", "10", name)


def container_output(name: str) -> str:
    logs = podman("logs", name)
    return f"\n--- container output (tail) ---\n{(logs.stdout + logs.stderr)[-3000:]}"


def container_running(name: str) -> bool:
    state = podman("inspect", "--format", "{{.State.Running}}", name)
    return state.stdout.strip() == "true"


def health(channel: grpc.Channel, service: str = "") -> int:
    request = health_pb2.HealthCheckRequest(service=service)
    return int(health_pb2_grpc.HealthStub(channel).Check(request, timeout=10).status)


def check_serving(name: str, port: int) -> None:
    """Health SERVING (the server and each connector service) and ListAgents naming the task types."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        deadline = time.monotonic() + SERVE_TIMEOUT_S
        while True:
            if not container_running(name):
                raise CheckFailed("the container exited before serving" + container_output(name))
            try:
                grpc.channel_ready_future(channel).result(timeout=2)
                break
            except grpc.FutureTimeoutError as waited:
                if time.monotonic() > deadline:
                    output = container_output(name)
                    raise CheckFailed(f"nothing listened on {port} within {SERVE_TIMEOUT_S}s{output}") from waited
        try:
            for service in ("", "flyteidl.service.AsyncAgentService", "flyteidl.service.AgentMetadataService"):
                status = health(channel, service)
                if status != health_pb2.HealthCheckResponse.SERVING:
                    shown = health_pb2.HealthCheckResponse.ServingStatus.Name(status)
                    raise CheckFailed(f"gRPC health of {service or 'the server'!r}: {shown}, not SERVING")
            agents = agent_pb2_grpc.AgentMetadataServiceStub(channel).ListAgents(
                agent_pb2.ListAgentsRequest(), timeout=30
            )
        except grpc.RpcError as error:
            output = container_output(name)
            raise CheckFailed(f"gRPC call failed: {error.code().name} {error.details()}{output}") from error
        served = {category.name for agent in agents.agents for category in agent.supported_task_categories}
        if not served >= TASK_TYPES:
            raise CheckFailed(f"ListAgents names {sorted(served)}, not all of {sorted(TASK_TYPES)}")
        print(f"wheel-image: serving; health SERVING; ListAgents: {', '.join(sorted(served))}", flush=True)


def check(dist: Path, base_image: str, keep_image: bool) -> None:
    wheels = dist_wheels(dist)
    require_base_image(base_image)
    version = wheels[BACKEND].version
    tag = f"localhost/flyte-operator-kit/connector-from-wheel:{version}"
    with tempfile.TemporaryDirectory(prefix="wheel-image-") as scratch:
        work = Path(scratch)
        index_root = work / "index"
        index_root.mkdir()
        for name in (SDK, BACKEND):
            shutil.copy(wheels[name].path, index_root)
        try:
            with package_index(index_root) as index_url:
                build_image(version, index_url, base_image, tag)
            with running(tag, work) as (name, port):
                check_serving(name, port)
        finally:
            if not keep_image:
                podman("rmi", "--force", tag)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dist", type=Path, default=Path("dist"), help="where `./pants package` wrote the wheels")
    parser.add_argument(
        "--base-image",
        default=os.environ.get("BASE_IMAGE", ""),
        help="the image to build on ($BASE_IMAGE); must already be in podman's storage",
    )
    parser.add_argument("--keep-image", action="store_true", help="keep the built image (for a closer look)")
    args = parser.parse_args()
    if not args.base_image:
        print("wheel-image: set BASE_IMAGE (or --base-image) to a base image in podman's storage", file=sys.stderr)
        return 1
    started = time.monotonic()
    try:
        check(args.dist, args.base_image, args.keep_image)
    except CheckFailed as failure:
        print(f"wheel-image: {failure}", file=sys.stderr)
        return 1
    print(f"wheel-image: passed in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
