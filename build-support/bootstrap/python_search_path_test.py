"""python-search-path: the operating system's CPython 3.11 for Pants, only where it can make a venv."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "python-search-path"
PROBE_ARGUMENT = '"$4"'  # the script runs: CANDIDATE -I -S -c PROBE


def search_path(candidate: Path) -> str:
    environment = {**os.environ, "FLYTE_OPERATOR_KIT_SYSTEM_PYTHON": str(candidate)}
    result = subprocess.run([str(SCRIPT)], env=environment, capture_output=True, text=True, check=True)
    return result.stdout


def python_that_first_runs(tmp_path: Path, setup: str) -> Path:
    """This test's own CPython 3.11 as `python3.11`, running `setup` before the script's probe."""
    candidate = tmp_path / "bin" / "python3.11"
    candidate.parent.mkdir()
    run_probe = f"{setup}; exec(sys.argv[1])"
    candidate.write_text(f"#!/bin/sh\nexec {sys.executable} -I -S -c '{run_probe}' {PROBE_ARGUMENT}\n")
    candidate.chmod(0o755)
    return candidate


def test_a_cpython_311_that_can_make_a_venv_is_chosen_by_its_directory(tmp_path: Path) -> None:
    candidate = tmp_path / "bin" / "python3.11"
    candidate.parent.mkdir()
    candidate.symlink_to(os.path.realpath(sys.executable))
    assert search_path(candidate) == f'["{tmp_path / "bin"}"]\n'


def test_a_python_without_ensurepip_is_passed_over(tmp_path: Path) -> None:
    # Debian's python3.11 without python3.11-venv: `import ensurepip` fails.
    candidate = python_that_first_runs(tmp_path, 'import sys; sys.modules["ensurepip"] = None')
    assert search_path(candidate) == ""


def test_another_python_version_is_passed_over(tmp_path: Path) -> None:
    candidate = python_that_first_runs(tmp_path, "import sys; sys.version_info = (3, 12, 1)")
    assert search_path(candidate) == ""


def test_no_python_there_leaves_the_search_path_alone(tmp_path: Path) -> None:
    assert search_path(tmp_path / "python3.11") == ""


def test_the_probe_passes_for_the_unchanged_candidate(tmp_path: Path) -> None:
    # The wrapper itself changes nothing: the two refusals above come from their setup lines.
    candidate = python_that_first_runs(tmp_path, "import sys")
    assert search_path(candidate) == f'["{tmp_path / "bin"}"]\n'
