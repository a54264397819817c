"""build-support:new-plugin end to end, in a copy of the repository: a plugin for the Kubernetes
JobSet (a CRD this repository has never seen), its files, its one edit (a line listing its
kustomize component) and the bundle as `kubectl kustomize` renders it, refusals that change
nothing, and the generated unit tests run with pytest against the copy's sources.

Outside Pants the copy holds the files git lists (tracked and untracked, not ignored); under
Pants it holds the sandbox, i.e. this target's dependencies (see BUILD). The generated proto is
compiled with protoc: $PROTOC, else the zip $FLYTE_OPERATOR_KIT_PROTOC_ZIP, else the zip the
bootstrap prepared in .pants-bootstrap/; without any, the pytest part is skipped, saying so.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from new_plugin.main import main as new_plugin

REPO = Path(__file__).resolve().parents[2]
JOBSET = ["--name", "job_set", "--group", "jobset.x-k8s.io", "--version", "v1alpha2", "--kind", "JobSet"]
PROTOC_ZIP_ENV = "FLYTE_OPERATOR_KIT_PROTOC_ZIP"
NEW_FILES = [
    "common/proto/flyte_k8s_operator/job_set/v1/job_set.proto",
    "common/proto/flyte_k8s_operator/job_set/v1/BUILD",
    "sdk/src/flytekitplugins/k8s_operator/job_set.py",
    "sdk/src/flytekitplugins/k8s_operator/job_set_test.py",
    "backend/src/k8s_operator_connector/plugins/job_set.py",
    "backend/src/k8s_operator_connector/plugins/job_set_test.py",
    "operator_bundle/config/plugins/job_set/kustomization.yaml",
    "operator_bundle/config/plugins/job_set/connector_rules.yaml",
]
# The one existing file the generator edits: the bundle's list of plugin components.
PLUGIN_COMPONENTS = "operator_bundle/config/plugins/kustomization.yaml"
FLYTE_CONFIGS = [
    "operator_bundle/config/flyte/propeller-connector.yaml",
    "operator_bundle/config/flyte/helm-values.yaml",
    "operator_bundle/config/flyte/sandbox/configmap.yaml",
    "operator_bundle/config/flyte/binary/configmap.yaml",
]


def repository_files() -> list[str]:
    if (REPO / ".git").exists():
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
        ).stdout.decode()
        return [path for path in listed.split("\0") if path and (REPO / path).is_file()]
    # A Pants sandbox: everything in it is a dependency of this test.
    return [str(path.relative_to(REPO)) for path in REPO.rglob("*") if path.is_file()]


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("repo")
    for path in repository_files():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / path, target)
    (root / "pants.toml").touch()  # the generator finds the root by it (absent from a sandbox)
    return root


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in root.rglob("*")
        if path.is_file()
    }


def run_generator(root: Path, *arguments: str) -> int:
    return new_plugin([*arguments, "--root", str(root)])


#: The copy's files before the JobSet plugin was generated into it.
BEFORE: dict[str, str] = {}


@pytest.fixture(scope="module")
def generated(copy: Path) -> Path:
    BEFORE.update(snapshot(copy))
    assert run_generator(copy, *JOBSET, "--dry-run") == 0
    assert snapshot(copy) == BEFORE, "--dry-run wrote something"
    assert run_generator(copy, *JOBSET) == 0
    return copy


def test_no_existing_python_file_changes(generated: Path) -> None:
    after = snapshot(generated)
    changed = sorted(path for path, digest in BEFORE.items() if after.get(path) != digest)
    assert [path for path in changed if path.endswith(".py")] == []
    assert "BUILD" not in changed


def test_the_only_existing_file_edited_gains_one_line_listing_the_component(generated: Path) -> None:
    after = snapshot(generated)
    assert sorted(path for path, digest in BEFORE.items() if after.get(path) != digest) == [PLUGIN_COMPONENTS]
    listed = yaml.safe_load((generated / PLUGIN_COMPONENTS).read_text())["components"]
    original = yaml.safe_load((REPO / PLUGIN_COMPONENTS).read_text())["components"]
    assert listed == [*original, "job_set"]
    assert len((generated / PLUGIN_COMPONENTS).read_text().splitlines()) == (
        len((REPO / PLUGIN_COMPONENTS).read_text().splitlines()) + 1
    )


def test_the_backend_module_is_short_before_the_author_fills_it_in(generated: Path) -> None:
    lines = (generated / "backend/src/k8s_operator_connector/plugins/job_set.py").read_text().splitlines()
    assert len(lines) < 60
    assert lines[-1] == "register(JobSetPlugin())"


def test_dry_run_lists_every_file_and_writes_nothing(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(copy)
    assert run_generator(copy, "--name", "ray_job", "--group", "ray.io", "--version", "v1", "--kind", "RayJob",
                         "--dry-run") == 0  # fmt: skip
    listed = capsys.readouterr().out
    assert snapshot(copy) == before
    assert "would create  backend/src/k8s_operator_connector/plugins/ray_job.py" in listed
    assert f"would edit  {PLUGIN_COMPONENTS}" in listed
    assert "would create  operator_bundle/config/plugins/ray_job/connector_rules.yaml" in listed


def test_the_new_files_are_there(generated: Path) -> None:
    for path in NEW_FILES:
        assert (generated / path).is_file(), path
    plugin = (generated / "backend/src/k8s_operator_connector/plugins/job_set.py").read_text()
    assert 'ResourceType("jobset.x-k8s.io", "v1alpha2", "jobsets", "JobSet", namespaced=True)' in plugin
    for function in ("task_type = JOB_SET_TASK_TYPE", "def build_object(", "def observe("):
        assert function in plugin
    assert "package flyte_k8s_operator.job_set.v1;" in (generated / NEW_FILES[0]).read_text()
    if (generated / "demo/src/flyte_operator_demo/images.py").is_file():
        assert (generated / "demo/src/flyte_operator_demo/job_set_workflow.py").is_file()


def kubectl() -> str:
    found = (
        os.environ.get("KUBECTL")
        or shutil.which("kubectl")
        or shutil.which("kubectl", path=os.pathsep.join(("/usr/local/bin", "/usr/bin", "/bin")))
    )
    if not found:
        pytest.fail("kubectl is not installed; this test renders the bundle with `kubectl kustomize`")
    return found


def connector_rules(root: Path, entry_point: str) -> list[dict[str, object]]:
    """The rules of the connector's ClusterRole as ``kubectl kustomize`` renders them from ``root``."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(root / "operator_bundle/config" / entry_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (role,) = (
        o
        for o in yaml.safe_load_all(result.stdout)
        if o and o["kind"] == "ClusterRole" and o["metadata"]["name"] == "flyte-k8s-operator-connector"
    )
    return list(role["rules"])


@pytest.mark.parametrize("entry_point", ["default", "overlays/sandbox", "overlays/production"])
def test_the_bundle_picks_up_the_new_component(generated: Path, entry_point: str) -> None:
    """The connector's ClusterRole as rendered: the JobSet rule added, nothing else changed."""
    jobsets = {"apiGroups": ["jobset.x-k8s.io"], "resources": ["jobsets"],
               "verbs": ["create", "get", "list", "watch", "delete", "patch"]}  # fmt: skip
    assert connector_rules(generated, entry_point) == [*connector_rules(REPO, entry_point), jobsets]


def test_propellers_configuration_is_left_alone(generated: Path) -> None:
    """The connector's ListAgents answer routes the new task type (routing_test.py)."""
    after = snapshot(generated)
    assert {path: after[path] for path in FLYTE_CONFIGS} == {path: BEFORE[path] for path in FLYTE_CONFIGS}
    assert [path for path in after if path.startswith("operator_bundle/config/flyte/") and path not in BEFORE] == []


@pytest.mark.parametrize(
    "arguments",
    [
        JOBSET,  # a second run
        [
            "--name",
            "parallel_job",
            "--group",
            "workloads.example.com",
            "--version",
            "v1alpha1",
            "--kind",
            "ParallelJob",
        ],
        ["--name", "custom_resource", "--group", "a.example.com", "--version", "v1", "--kind", "Thing"],
    ],
)
def test_clashing_names_are_refused_and_change_nothing(
    generated: Path, arguments: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert f"refusing to generate {arguments[1]!r}, nothing was written" in (
        refused_without_a_change(generated, arguments, capsys)
    )


def refused_without_a_change(root: Path, arguments: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The generator's error output for ``arguments``, after checking it exits 1 and writes nothing."""
    before = snapshot(root)
    assert run_generator(root, *arguments) == 1
    assert snapshot(root) == before
    return capsys.readouterr().err


def test_a_broken_marker_refuses_before_writing(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    components = copy / PLUGIN_COMPONENTS
    original = components.read_text()
    components.write_text(original.replace("# new-plugin: plugin components", "# (marker removed)"))
    try:
        spark = ["--name", "spark_app", "--group", "sparkoperator.k8s.io", "--version", "v1beta2",
                 "--kind", "SparkApplication"]  # fmt: skip
        assert "kustomization.yaml: the marker comment `# new-plugin: plugin components` is missing" in (
            refused_without_a_change(copy, spark, capsys)
        )
    finally:
        components.write_text(original)


def test_a_leftover_bundle_component_refuses_before_writing(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    leftover = copy / "operator_bundle/config/plugins/flink_job"
    leftover.mkdir()
    try:
        flink = ["--name", "flink_job", "--group", "flink.apache.org", "--version", "v1beta1",
                 "--kind", "FlinkDeployment"]  # fmt: skip
        assert "operator_bundle/config/plugins/flink_job already exists: a plugin named 'flink_job'" in (
            refused_without_a_change(copy, flink, capsys)
        )
    finally:
        leftover.rmdir()


def test_invalid_names_are_refused(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_generator(copy, "--name", "JobSet", "--group", "a.io", "--version", "v1", "--kind", "JobSet") == 2
    assert "--name 'JobSet': must be snake_case" in capsys.readouterr().err


def find_protoc(scratch: Path) -> Path | None:
    if os.environ.get("PROTOC"):
        return Path(os.environ["PROTOC"])
    for archive in (os.environ.get(PROTOC_ZIP_ENV), REPO / ".pants-bootstrap" / "protoc-25.9.zip"):
        if archive and Path(archive).is_file():
            with zipfile.ZipFile(archive) as opened:
                opened.extractall(scratch)
            protoc = scratch / "bin" / "protoc"
            protoc.chmod(protoc.stat().st_mode | stat.S_IXUSR)
            return protoc
    return None


WALKTHROUGH = "docs/writing-a-plugin.md"
# The walkthrough's filled-in files: python blocks whose first line is "# <path>, filled in".
FILLED_IN = re.compile(r"```python\n# (?P<path>\S+), filled in\n(?P<code>.*?)```", re.S)


def run_pytest(root: Path, generated_code: Path, tests: list[str]) -> None:
    roots = [root / "sdk/src", root / "backend/src", generated_code]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([*map(str, roots), *sys.path])}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout


def test_the_generated_tests_pass_and_so_does_the_jobset_walkthrough(generated: Path, tmp_path: Path) -> None:
    protoc = find_protoc(tmp_path / "protoc")
    if protoc is None:
        pytest.skip(f"no protoc to compile the generated proto: set PROTOC or {PROTOC_ZIP_ENV} (the bootstrap's zip)")
    out = tmp_path / "gen"
    out.mkdir()
    protos = ["flyte_k8s_operator/v1/parallel_job.proto", "flyte_k8s_operator/v1/custom_resource.proto",
              "flyte_k8s_operator/job_set/v1/job_set.proto"]  # fmt: skip
    present = [proto for proto in protos if (generated / "common/proto" / proto).is_file()]
    subprocess.run([str(protoc), f"-I{generated / 'common/proto'}", f"--python_out={out}", *present], check=True)
    backend_test = "backend/src/k8s_operator_connector/plugins/job_set_test.py"
    run_pytest(generated, out, ["sdk/src/flytekitplugins/k8s_operator/job_set_test.py", backend_test])
    # docs/writing-a-plugin.md, section 3: the author fills in the module and its tests.
    filled_in = {m["path"]: m["code"] for m in FILLED_IN.finditer((REPO / WALKTHROUGH).read_text())}
    assert sorted(filled_in) == ["backend/src/k8s_operator_connector/plugins/job_set.py", backend_test]
    for path, code in filled_in.items():
        (generated / path).write_text(code)
    run_pytest(generated, out, [backend_test])
