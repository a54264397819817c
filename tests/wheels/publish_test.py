"""Both wheels publish to a package index and install from it by name into a fresh venv.

The wheels are the ones `./pants package` builds (runtime_package_dependencies); they are
uploaded with twine (the tool `./pants publish` drives) to a pypiserver on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import sysconfig
import time
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SDK = "flytekitplugins-k8s-operator"
BACKEND = "flyte-k8s-operator-connector"


def built_wheels() -> dict[str, Path]:
    wheels = {path.name.split("-")[0].replace("_", "-"): path for path in Path.cwd().rglob("*.whl")}
    assert SDK in wheels and BACKEND in wheels, f"wheels in the sandbox: {sorted(wheels)}"
    return wheels


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def index(tmp_path: Path) -> Iterator[str]:
    packages = tmp_path / "packages"
    packages.mkdir()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "pypiserver", "run", "-p", str(port), "-i", "127.0.0.1", "-a", ".", "-P", ".",
         str(packages)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert server.poll() is None, "pypiserver exited"
            assert time.monotonic() < deadline, "pypiserver did not start"
            time.sleep(0.1)
    yield url
    server.terminate()
    server.wait(30)


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_wheels_publish_install_by_name_and_register_with_flytekit(index: str, tmp_path: Path):
    wheels = built_wheels()
    run([sys.executable, "-m", "twine", "upload", "--non-interactive", "--repository-url", index,
         "-u", "publisher", "-p", "unused", str(wheels[SDK]), str(wheels[BACKEND])])  # fmt: skip

    env_dir = tmp_path / "fresh-venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    # Our two wheels come from the index, by name; their third-party dependencies (flytekit
    # and friends) are the test's own, made visible through a .pth file rather than downloaded.
    run([str(python), "-m", "pip", "install", "--no-deps", "--no-cache-dir", "--isolated",
         "--index-url", f"{index}/simple/", SDK, BACKEND])  # fmt: skip
    site_packages = Path(
        run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    )
    own_site = sysconfig.get_paths()["purelib"]
    third_party = [p for p in sys.path if p.startswith(own_site) or "site-packages" in p]
    (site_packages / "test-dependencies.pth").write_text("\n".join(third_party) + "\n")

    probe = """
import json, importlib.metadata as md
import flytekit  # importing flytekit loads every `flytekit.plugins` entry point
from flytekit.extend.backend.base_connector import ConnectorRegistry
import flytekitplugins.k8s_operator as sdk, k8s_operator_connector
from flyte_k8s_operator.v1 import parallel_job_pb2
print(json.dumps({
    "sdk_file": sdk.__file__,
    "backend_file": k8s_operator_connector.__file__,
    "entry_points": sorted(f"{e.name}={e.value}" for e in md.entry_points(group="flytekit.plugins")),
    "task_types": sorted(t for c in ConnectorRegistry.list_connectors() for t in c.supported_task_types),
    "backend_requires": md.requires("flyte-k8s-operator-connector"),
    "versions": [md.version("flytekitplugins-k8s-operator"), md.version("flyte-k8s-operator-connector")],
}))
"""
    clean_env = {key: value for key, value in os.environ.items() if not key.startswith("PEX")}
    clean_env.pop("PYTHONPATH", None)
    report = json.loads(run([str(python), "-c", probe], env=clean_env, cwd=tmp_path).stdout.strip().splitlines()[-1])
    assert report["sdk_file"].startswith(str(site_packages))
    assert report["backend_file"].startswith(str(site_packages))
    assert "k8s_operator=flytekitplugins.k8s_operator" in report["entry_points"]
    assert "k8s_operator_connector=k8s_operator_connector.connectors" in report["entry_points"]
    assert {"parallel_job", "custom_resource"} <= set(report["task_types"])
    # The build wrote the requirement between the wheels as a compatible range, not a pin.
    assert any(re.match(r"flytekitplugins-k8s-operator \(?~=0\.1", r) for r in report["backend_requires"])
    assert report["versions"] == ["0.1.0", "0.1.0"]


def test_the_sdk_wheel_carries_the_generated_protos_and_no_kubernetes_client():
    wheel = built_wheels()[SDK]
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    assert "flyte_k8s_operator/v1/parallel_job_pb2.py" in names
    assert "flyte_k8s_operator/v1/custom_resource_pb2.py" in names
    requirements = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert not any("kubernetes" in line for line in requirements), requirements
