"""What the generator writes and edits, checked as a whole before anything is written."""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from new_plugin.edits import EditError, insert_above_marker
from new_plugin.names import PluginNames

TEMPLATES = Path(__file__).parent / "templates"
SDK_DIR = "sdk/src/flytekitplugins/k8s_operator"
PLUGINS_DIR = "backend/src/k8s_operator_connector/plugins"
DEMO_PACKAGE = "demo/src/flyte_operator_demo"
# One kustomize Component per plugin; the directory's kustomization.yaml lists them (no glob in kustomize).
BUNDLE_PLUGINS = "operator_bundle/config/plugins"


class RefusedError(Exception):
    """The plugin cannot be generated here; nothing was written. The message lists every reason."""


@dataclass(frozen=True)
class FileChange:
    """One file the plan writes: ``created`` or ``edited`` (with what the edit adds)."""

    path: str
    content: str
    action: str
    summary: str


@dataclass
class Plan:
    changes: list[FileChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def apply(self, root: Path) -> None:
        for change in self.changes:
            target = root / change.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(change.content)


def render(template: str, names: PluginNames, **extra: str) -> str:
    """A template of templates/ with ``$$placeholders`` filled; unknown placeholders are errors."""
    text = (TEMPLATES / template).read_text()
    return string.Template(text).substitute(names.substitutions(), **extra)


def sorted_from_imports(lines: list[str]) -> str:
    """``from X import Y`` lines in the order ruff's isort wants within one section."""
    return "\n".join(sorted(lines, key=lambda line: line.split()[1].lower()))


def _new_files(names: PluginNames, root: Path) -> dict[str, tuple[str, str]]:
    """Path -> (content, summary) of every file the plugin adds."""
    n = names
    # ruff's isort order within the first-party section: `flyte_k8s_operator` sorts before
    # `flytekitplugins` whatever the name; the SDK test's two `flytekitplugins` imports depend on it.
    sdk_imports = "from flytekit.extend import TaskPlugins"
    sdk_first_party = (
        f"from flyte_k8s_operator.{n.name}.v1 import {n.name}_pb2\n"
        "from flytekitplugins.k8s_operator.operator_task import OperatorTask"
    )
    sdk_test_imports = (
        "from flytekit import task\n"
        "from flytekit.tools.translator import get_serializable\n"
        "from google.protobuf import json_format"
    )
    sdk_test_first_party = f"from flyte_k8s_operator.{n.name}.v1 import {n.name}_pb2\n" + sorted_from_imports(
        [
            f"from flytekitplugins.k8s_operator.{n.name} import {n.camel}, {n.camel}Task",
            "from flytekitplugins.k8s_operator.constants import LOCAL_MODE_ENV, LOCAL_MODE_FUNCTION",
        ]
    )
    files = {
        f"{n.proto_dir}/{n.name}.proto": (render("proto.tmpl", n), f"message {n.proto_package}.{n.camel}"),
        f"{n.proto_dir}/BUILD": (render("proto_BUILD.tmpl", n), "protobuf_sources()"),
        f"{SDK_DIR}/{n.name}.py": (
            render("sdk_module.tmpl", n, third_party_imports=sdk_imports, first_party_imports=sdk_first_party),
            f"config {n.camel}, task {n.camel}Task (task type {n.name!r}, version 1)",
        ),
        f"{SDK_DIR}/{n.name}_test.py": (
            render("sdk_test.tmpl", n, third_party_imports=sdk_test_imports, first_party_imports=sdk_test_first_party),
            "SDK tests: template, proto, validation, function mode",
        ),
        f"{PLUGINS_DIR}/{n.name}.py": (
            render("backend_plugin.tmpl", n),
            f"{n.camel}Plugin: build_object and observe for {n.plural}.{n.group}, registered on its last line",
        ),
        f"{PLUGINS_DIR}/{n.name}_test.py": (
            render("backend_test.tmpl", n),
            "tests of build_object, observe and registration",
        ),
    }
    component = f"{BUNDLE_PLUGINS}/{n.name}"
    files[f"{component}/kustomization.yaml"] = (
        render("bundle_component.tmpl", n),
        "kustomize Component: the connector's RBAC for this plugin",
    )
    files[f"{component}/connector_rules.yaml"] = (
        render("bundle_connector_rules.tmpl", n),
        f"ClusterRole rule: {n.plural}.{n.group} create/get/list/watch/delete/patch",
    )
    if (root / DEMO_PACKAGE / "images.py").is_file():
        files[f"{DEMO_PACKAGE}/{n.name}_workflow.py"] = (
            render("demo_workflow.tmpl", n),
            f"workflow {n.name}_demo",
        )
    return files


def _edits(names: PluginNames) -> dict[str, list[tuple[str, Callable[[str, str], str]]]]:
    """Path -> [(summary, edit(text, path) -> new text)] of every shared file the plugin extends.

    One line in the bundle's list of plugin components. Propeller's configuration is not among
    them: it routes every task type the connector's ListAgents answer names
    (docs/writing-a-plugin.md, "Routing").
    """
    n = names
    return {
        f"{BUNDLE_PLUGINS}/kustomization.yaml": [
            (
                f"component {n.name} listed",
                lambda text, path: insert_above_marker(text, "new-plugin: plugin components", [f"- {n.name}"], path),
            )
        ],
    }


def plan_plugin(names: PluginNames, root: Path) -> Plan:
    """Every file the plugin writes, with its content; RefusedError lists all clashes and broken markers."""
    problems: list[str] = []
    plan = Plan()
    for existing in (
        f"{PLUGINS_DIR}/{names.name}.py",
        f"{SDK_DIR}/{names.name}.py",
        names.proto_dir,
        f"{BUNDLE_PLUGINS}/{names.name}",
    ):
        if (root / existing).exists():
            problems.append(f"{existing} already exists: a plugin named {names.name!r} is there")
    if problems:
        raise RefusedError("nothing was written:\n" + "\n".join(f"  - {problem}" for problem in problems))
    for path, (content, summary) in _new_files(names, root).items():
        if (root / path).exists():
            problems.append(f"{path} already exists")
        plan.changes.append(FileChange(path, content, "create", summary))
    for path, edits in _edits(names).items():
        source = root / path
        if not source.is_file():
            problems.append(f"{path} is missing; run the generator at the root of the monorepo")
            continue
        text = source.read_text()
        summaries = []
        for summary, edit in edits:
            try:
                text = edit(text, path)
            except EditError as error:
                problems.append(str(error))
            else:
                summaries.append(summary)
        plan.changes.append(FileChange(path, text, "edit", "; ".join(summaries)))
    if problems:
        unique = list(dict.fromkeys(problems))
        raise RefusedError("nothing was written:\n" + "\n".join(f"  - {problem}" for problem in unique))
    if not (root / DEMO_PACKAGE / "images.py").is_file():
        plan.notes.append(f"no demo workflow: {DEMO_PACKAGE}/images.py is not there")
    if not names.namespaced:
        plan.notes.append(
            "cluster-scoped: the connector names and caches objects per execution namespace, so each GetTask "
            "of this plugin reads the object with one GET (see docs/writing-a-plugin.md)"
        )
    return plan
