"""The bootstrap's failure paths: one clear message, and a re-run that needs no cleanup."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
# A standalone script (./pants runs it by path before any package exists): load it the same way.
_spec = importlib.util.spec_from_file_location("pants_bootstrap", HERE / "bootstrap.py")
assert _spec is not None and _spec.loader is not None
bootstrap = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bootstrap)


@pytest.fixture
def unreachable_index(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    # pip's own retries (5, with backoff: about 8 s per attempt) only delay the same error.
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.setenv("PANTS_BOOTSTRAP_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_an_unreachable_index_is_one_clear_error_and_the_next_attempt_starts_clean(unreachable_index: Path, capsys):
    # One test for both: each attempt creates a venv with pip, seconds of CPU on these 2 cores.
    with pytest.raises(bootstrap.BootstrapError, match="could not install Pants from the package index"):
        bootstrap.ensure_pants_venv()
    (venv,) = (path for path in unreachable_index.iterdir() if path.is_dir())
    assert not (venv / bootstrap.COMPLETE_MARKER).exists()
    (venv / "leftover-from-an-interrupted-run").write_text("")
    with pytest.raises(bootstrap.BootstrapError):
        bootstrap.ensure_pants_venv()
    assert "removing an unfinished earlier bootstrap" in capsys.readouterr().err
    assert not (venv / "leftover-from-an-interrupted-run").exists()


def test_verify_checks_size_and_digest(tmp_path: Path):
    tool = tmp_path / "tool.zip"
    tool.write_bytes(b"pinned bytes")
    digest = bootstrap.sha256_of(tool)
    assert bootstrap.verify(tool, digest, len(b"pinned bytes"))
    tool.write_bytes(b"pinned bytez")  # same size, other bytes: a corrupted cache
    assert not bootstrap.verify(tool, digest, len(b"pinned bytes"))
    assert not bootstrap.verify(tmp_path / "missing.zip", digest, 12)


def test_the_wrong_python_is_refused_with_what_to_do():
    if sys.version_info[:2] == (3, 9):
        pytest.skip("this interpreter is the one Pants needs")
    result = subprocess.run(
        [sys.executable, str(HERE / "bootstrap.py"), str(HERE.parents[1])], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert result.stderr.startswith("./pants: Pants 2.17 needs CPython 3.9")


def test_the_pins_are_exact_and_hashed():
    for name in ("pants-requirements.txt", "pex-requirements.txt", "protoc-requirements.txt"):
        text = (HERE / name).read_text()
        requirements = [line for line in text.splitlines() if line and line[0].isalpha()]
        assert requirements, name
        assert all("==" in line for line in requirements), name
        assert text.count("--hash=sha256:") >= len(requirements), name
