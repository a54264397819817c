"""The wheels `./pants package` built (the tests' runtime_package_dependencies) and their versions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SDK = "flytekitplugins-k8s-operator"
BACKEND = "flyte-k8s-operator-connector"


@dataclass(frozen=True)
class Wheel:
    name: str
    version: str
    path: Path

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"


def built_wheels(root: Path | None = None) -> dict[str, Wheel]:
    """Our two wheels under `root` (default: the working directory) by distribution name (a wheel
    file is `<name>-<version>-<tags>.whl`); exactly one of each (a stale one is an error)."""
    wheels: dict[str, Wheel] = {}
    for path in sorted((root or Path.cwd()).rglob("*.whl")):
        name, version = path.name.split("-")[:2]
        wheel = Wheel(name.replace("_", "-"), version, path)
        if wheel.name in (SDK, BACKEND):
            assert wheel.name not in wheels, f"two wheels of {wheel.name}: {wheels[wheel.name].path}, {path}"
            wheels[wheel.name] = wheel
    assert SDK in wheels and BACKEND in wheels, f"our wheels found: {sorted(wheels)}"
    return wheels


def distribution_files(wheel: Wheel) -> list[Path]:
    """What `./pants publish` uploads for one distribution: its wheel and its sdist."""
    sdist = wheel.path.parent / f"{wheel.name}-{wheel.version}.tar.gz"
    return [wheel.path, sdist] if sdist.exists() else [wheel.path]
