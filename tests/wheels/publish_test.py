"""Publishing the wheels to an index that accepts or refuses them, with twine run as
`./pants publish` runs it (see publishing.py). A refusal must give one error naming it, a
non-zero exit, and leave the index as it was."""

from __future__ import annotations

import hashlib
import re
import subprocess
import zipfile
from pathlib import Path

from wheels.artifacts import SDK, built_wheels, distribution_files
from wheels.index_server import package_index
from wheels.publishing import CREDENTIALS, PYPIRC, publish

# twine's rich log lines start with the level name (after colour codes, which are dropped).
ERROR_LINE = re.compile(r"^\s*ERROR\s", re.MULTILINE)
COLOUR = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def output_of(result: subprocess.CompletedProcess[str]) -> str:
    return COLOUR.sub("", result.stdout + result.stderr)


def index_contents(root: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(root.iterdir())}


def test_the_pants_repository_config_names_local():
    assert "[local]" in PYPIRC.read_text()


def test_a_publish_with_the_right_credentials_uploads_the_wheel_and_the_sdist(tmp_path: Path):
    files = distribution_files(built_wheels()[SDK])
    with package_index(tmp_path / "index", CREDENTIALS) as url:
        result = publish(files, url, *CREDENTIALS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(index_contents(tmp_path / "index")) == sorted(f.name for f in files)


def test_wrong_credentials_give_one_error_a_non_zero_exit_and_upload_nothing(tmp_path: Path):
    files = distribution_files(built_wheels()[SDK])
    with package_index(tmp_path / "index", CREDENTIALS) as url:
        result = publish(files, url, CREDENTIALS[0], "wrong")
    output = output_of(result)
    assert result.returncode != 0
    assert len(ERROR_LINE.findall(output)) == 1, output
    assert "403 Forbidden" in output, output
    assert index_contents(tmp_path / "index") == {}


def test_a_version_already_on_the_index_is_refused_and_left_untouched(tmp_path: Path):
    files = distribution_files(built_wheels()[SDK])
    root = tmp_path / "index"
    with package_index(root, CREDENTIALS) as url:
        assert publish(files, url, *CREDENTIALS).returncode == 0
        before = index_contents(root)
        result = publish(files, url, *CREDENTIALS)
    output = output_of(result)
    assert result.returncode != 0
    assert len(ERROR_LINE.findall(output)) == 1, output
    # pypiserver answers twine with 400, as PyPI does (PyPI adds "File already exists").
    assert "400 Bad Request" in output, output
    assert index_contents(root) == before


def test_the_sdk_wheel_carries_the_generated_protos_and_no_kubernetes_client():
    wheel = built_wheels()[SDK].path
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    assert "flyte_k8s_operator/v1/parallel_job_pb2.py" in names
    assert "flyte_k8s_operator/v1/custom_resource_pb2.py" in names
    requirements = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert not any(re.search(r"kubernetes|grpcio-health|httpx|prometheus", line) for line in requirements), requirements
