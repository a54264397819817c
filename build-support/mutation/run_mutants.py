"""Mutation testing of the connector's core modules with mutmut, each against its own unit tests.

Not part of CI (it takes minutes per module). Run from the buildroot:

    ./pants export --resolve=python-default      # the locked dependencies, as a venv
    ./pants export-codegen common/proto::        # the generated protobuf modules
    python3 build-support/mutation/run_mutants.py [module ...]

mutmut comes from PyPI into a throwaway venv under /tmp (it is not in the lockfile); that venv
sees the exported venv's packages through a .pth file. Each module is mutated in a scratch copy
of the backend package under /tmp, and every mutant runs only against the module's own unit
tests (``<module>_test.py`` and ``<module>_*_test.py`` beside it, and those in ``MORE_TESTS``).
One line per module is printed: mutants, killed (a test failed or timed out), survived, and the
score. mutmut's own results stay in the scratch copy: ``cd <scratch> && mutmut results`` lists
the survivors, ``mutmut show <name>`` shows one.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

MUTMUT = "mutmut==3.8.1"
PACKAGE = Path("backend/src/k8s_operator_connector")
EXPORTED_VENV = Path("dist/export/python/virtualenvs/python-default/3.11.7")
CODEGEN = Path("dist/codegen/common/proto")
SDK_SOURCES = Path("sdk/src")
DEFAULT_MODULES = (
    "api_errors.py",
    "console_phase.py",
    "custom_config.py",
    "executions.py",
    "final_phase.py",
    "flyte_pod_config.py",
    "flyte_secrets.py",
    "log_links.py",
    "log_template.py",
    "meta_signing.py",
    "naming.py",
    "object_outputs.py",
    "orphans.py",
    "pending_create.py",
    "plugin_registry.py",
    "pod_defaults.py",
    "pod_security.py",
    "resource_meta.py",
    "settings.py",
    "settings_reader.py",
    "shared_values.py",
    "status_conventions.py",
    "task_context.py",
    "task_policy.py",
    "warning_events.py",
    "watch_health.py",
    "plugins/custom_resource.py",
    "plugins/parallel_job.py",
)
# A module's unit tests are named after it; these modules also have tests named after another module.
MORE_TESTS = {
    "settings_reader.py": ("settings_test.py", "settings_edges_test.py"),
    "naming.py": ("task_context_test.py",),
    # The plugin's outputs path is tested beside object_outputs.py, which it calls.
    "plugins/custom_resource.py": ("object_outputs_test.py",),
    # The example settings file with every key set, read from YAML.
    "task_policy.py": ("settings_edges_test.py",),
}


def own_tests(module: str) -> list[str]:
    path = PACKAGE / module
    found = [path.with_name(f"{path.stem}_test.py"), *sorted(path.parent.glob(f"{path.stem}_*_test.py"))]
    found += [PACKAGE / test for test in MORE_TESTS.get(module, ())]
    return [str(test.relative_to(PACKAGE)) for test in found if test.exists()]


def mutmut_venv(root: Path) -> Path:
    """A venv with mutmut that also sees the exported, locked dependencies."""
    python = root / "bin" / "python"
    if not (root / "bin" / "mutmut").exists():
        subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", MUTMUT], check=True)
    site_packages = next((root / "lib").glob("python3.*/site-packages"))
    exported = next((EXPORTED_VENV.resolve() / "lib").glob("python3.*/site-packages"))
    paths = [exported, CODEGEN.resolve(), SDK_SOURCES.resolve()]
    lines = "".join(f"import site; site.addsitedir({str(path)!r})\n" for path in paths)
    (site_packages / "flyte_operator_kit_locked.pth").write_text(lines)
    return root / "bin" / "mutmut"


def run_module(mutmut: Path, module: str, scratch_root: Path) -> dict[str, int]:
    tests = own_tests(module)
    if not tests:
        raise SystemExit(f"{module}: no unit tests beside it; name them in MORE_TESTS")
    scratch = scratch_root / module.replace("/", "_").removesuffix(".py")
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(PACKAGE, scratch / PACKAGE.name)
    selection = "".join(f"\n    {PACKAGE.name}/{test}" for test in tests)
    (scratch / "setup.cfg").write_text(
        textwrap.dedent(
            f"""\
            [mutmut]
            source_paths = {PACKAGE.name}
            only_mutate = {PACKAGE.name}/{module}
            pytest_add_cli_args = -p no:cacheprovider -q
            """
        )
        + f"pytest_add_cli_args_test_selection ={selection}\n"
    )
    with (scratch / "mutmut-run.log").open("w") as log:
        subprocess.run([str(mutmut), "run"], cwd=scratch, check=False, stdout=log, stderr=subprocess.STDOUT)
    subprocess.run([str(mutmut), "export-cicd-stats"], cwd=scratch, check=True, stdout=subprocess.DEVNULL)
    stats: dict[str, int] = json.loads((scratch / "mutants" / "mutmut-cicd-stats.json").read_text())
    checked = sum(stats[key] for key in ("killed", "survived", "timeout", "no_tests", "suspicious", "segfault"))
    if checked < stats["total"]:
        print(f"{module}: only {checked} of {stats['total']} mutants checked; see {scratch / 'mutmut-run.log'}")
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", default=DEFAULT_MODULES, help="paths under k8s_operator_connector/")
    parser.add_argument("--venv", type=Path, default=Path("/tmp/flyte-operator-kit-mutmut"))
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/flyte-operator-kit-mutants"))
    args = parser.parse_args()
    for needed, command in (
        (EXPORTED_VENV, "./pants export --resolve=python-default"),
        (CODEGEN, "./pants export-codegen common/proto::"),
    ):
        if not needed.exists():
            raise SystemExit(f"{needed} is missing: run `{command}` first (in the buildroot)")
    mutmut = mutmut_venv(args.venv)
    print("module | mutants | killed | survived | no tests | score")
    for module in args.modules:
        stats = run_module(mutmut, module, args.scratch)
        killed = stats["killed"] + stats["timeout"]
        total = stats["total"]
        score = f"{100 * killed / total:.0f}%" if total else "-"
        print(f"{module} | {total} | {killed} | {stats['survived']} | {stats['no_tests']} | {score}", flush=True)


if __name__ == "__main__":
    main()
