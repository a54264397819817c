"""The plugin's names: validated command-line values and everything derived from them."""

from __future__ import annotations

import keyword
import re
import sys
from dataclasses import dataclass

MAX_NAME_LENGTH = 30
_SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
# A DNS-1123 subdomain with at least one dot: a CRD's group is always qualified.
_DNS_LABEL = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
_GROUP = re.compile(rf"{_DNS_LABEL}(?:\.{_DNS_LABEL})+")
_VERSION = re.compile(r"v[1-9][0-9]*(?:(?:alpha|beta)[1-9][0-9]*)?")
_KIND = re.compile(r"[A-Z][a-z0-9]*(?:[A-Z][a-z0-9]*)*")
_PLURAL = re.compile(_DNS_LABEL)
# Module names a plugin's modules must not repeat (besides the standard library's): the SDK and
# backend modules and the test files are named after the plugin, and tracebacks, test ids and
# imports in a plugin's tests should never leave a doubt which one is meant.
_TAKEN_MODULES = frozenset(
    {
        "flyte_k8s_operator",
        "flytekitplugins",
        "k8s_operator_connector",
        "parallel_job_operator",
        "kube_emulator",
        "flyte_operator_demo",
        "new_plugin",
        "flytekit",
        "flyteidl",
        "google",
        "grpc",
        "kubernetes",
        "yaml",
        "kopf",
        "pytest",
        "hypothesis",
        "conftest",
        "benchmarks",
        "reliability",
        "template",
    }
)


class InvalidNameError(ValueError):
    """A command-line value is not usable; the message says what is allowed."""


def camel_case(snake: str) -> str:
    """``job_set`` -> ``JobSet``."""
    return "".join(part.capitalize() for part in snake.split("_"))


@dataclass(frozen=True)
class PluginNames:
    """Everything the templates need, derived from NAME, GROUP, VERSION, KIND and PLURAL."""

    name: str
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def camel(self) -> str:
        """Class-name stem: ``job_set`` -> ``JobSet`` (config ``JobSet``, ``JobSetTask``, ``JobSetPlugin``)."""
        return camel_case(self.name)

    @property
    def upper(self) -> str:
        """Constant stem: ``JOB_SET``."""
        return self.name.upper()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    @property
    def proto_package(self) -> str:
        return f"flyte_k8s_operator.{self.name}.v1"

    @property
    def proto_dir(self) -> str:
        return f"common/proto/flyte_k8s_operator/{self.name}/v1"

    def substitutions(self) -> dict[str, str]:
        """The ``$placeholders`` of the templates."""
        return {
            "name": self.name,
            "group": self.group,
            "version": self.version,
            "kind": self.kind,
            "plural": self.plural,
            "namespaced": str(self.namespaced),
            "scope": "namespaced" if self.namespaced else "cluster-scoped",
            "camel": self.camel,
            "upper": self.upper,
            "api_version": self.api_version,
            "proto_package": self.proto_package,
            "proto_dir": self.proto_dir,
        }


def validate_name(name: str) -> str:
    if not _SNAKE_CASE.fullmatch(name):
        raise InvalidNameError(
            f"--name {name!r}: must be snake_case (lowercase letters, digits and single underscores, "
            "starting with a letter), e.g. job_set; it becomes the Flyte task type and a Python module"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidNameError(f"--name {name!r}: at most {MAX_NAME_LENGTH} characters, got {len(name)}")
    if re.fullmatch(r"v[0-9].*", name):
        raise InvalidNameError(
            f"--name {name!r}: looks like an API version (it would sit beside flyte_k8s_operator.v1)"
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise InvalidNameError(f"--name {name!r}: a Python keyword cannot name a module")
    if name.endswith("_test") or name.startswith("test_") or name in {"test", "tests"}:
        raise InvalidNameError(f"--name {name!r}: names like *_test / test_* are taken by test files")
    if name in sys.stdlib_module_names or name in _TAKEN_MODULES:
        raise InvalidNameError(
            f"--name {name!r}: a standard-library or dependency module has that name; pick another name"
        )
    return name


def validate_group(group: str) -> str:
    if len(group) > 253 or not _GROUP.fullmatch(group):
        raise InvalidNameError(
            f"--group {group!r}: must be a DNS subdomain with a dot (lowercase letters, digits, '-' and '.'), "
            "e.g. jobset.x-k8s.io"
        )
    return group


def validate_version(version: str) -> str:
    if not _VERSION.fullmatch(version):
        raise InvalidNameError(f"--version {version!r}: must be a Kubernetes API version like v1, v1alpha1 or v2beta3")
    return version


def validate_kind(kind: str) -> str:
    if not _KIND.fullmatch(kind) or len(kind) > 63:
        raise InvalidNameError(f"--kind {kind!r}: must be UpperCamelCase (letters and digits), e.g. JobSet")
    return kind


def validate_plural(plural: str) -> str:
    if not _PLURAL.fullmatch(plural):
        raise InvalidNameError(f"--plural {plural!r}: must be a lowercase DNS label, e.g. jobsets")
    return plural


def plugin_names(
    name: str, group: str, version: str, kind: str, plural: str | None = None, namespaced: bool = True
) -> PluginNames:
    """Validated names; raises InvalidNameError naming the first bad option."""
    kind = validate_kind(kind)
    return PluginNames(
        name=validate_name(name),
        group=validate_group(group),
        version=validate_version(version),
        kind=kind,
        plural=validate_plural(plural if plural is not None else kind.lower() + "s"),
        namespaced=namespaced,
    )
