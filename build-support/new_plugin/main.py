"""``./pants run build-support:new-plugin -- --name NAME --group GROUP --version VERSION --kind KIND``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from new_plugin.names import InvalidNameError, plugin_names
from new_plugin.plan import Plan, RefusedError, plan_plugin


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="./pants run build-support:new-plugin --",
        description=(
            "Add a plugin for your operator's custom resource, following the ParallelJob example: proto, "
            "SDK task, connector plugin with tests, the bundle's RBAC component for it, demo workflow."
        ),
    )
    parser.add_argument("--name", required=True, help="task type and module name, snake_case (e.g. job_set)")
    parser.add_argument("--group", required=True, help="the CRD's API group (e.g. jobset.x-k8s.io)")
    parser.add_argument("--version", required=True, help="the CRD's API version (e.g. v1alpha2)")
    parser.add_argument("--kind", required=True, help="the CRD's kind, UpperCamelCase (e.g. JobSet)")
    parser.add_argument("--plural", help="the CRD's plural resource name (default: lowercased kind + 's')")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--namespaced", dest="namespaced", action="store_true", default=True, help="(default)")
    scope.add_argument("--cluster", dest="namespaced", action="store_false", help="the resource is cluster-scoped")
    parser.add_argument("--dry-run", action="store_true", help="list what would be written and edited, write nothing")
    parser.add_argument("--root", type=Path, help="the monorepo's root (default: the nearest parent with pants.toml)")
    return parser.parse_args(argv)


def find_root(start: Path) -> Path:
    for directory in (start, *start.parents):
        if (directory / "pants.toml").is_file():
            return directory
    raise RefusedError(f"no pants.toml in {start} or its parents: run it inside the monorepo or pass --root")


def describe(plan: Plan, dry_run: bool) -> str:
    verb = {"create": "would create" if dry_run else "created", "edit": "would edit" if dry_run else "edited"}
    lines = [f"{verb[change.action]:>12}  {change.path}: {change.summary}" for change in plan.changes]
    lines += [f"        note  {note}" for note in plan.notes]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    try:
        names = plugin_names(
            arguments.name, arguments.group, arguments.version, arguments.kind, arguments.plural, arguments.namespaced
        )
        root = (arguments.root or find_root(Path.cwd())).resolve()
        plan = plan_plugin(names, root)
    except InvalidNameError as error:
        print(f"new-plugin: {error}", file=sys.stderr)
        return 2
    except RefusedError as error:
        print(f"new-plugin: refusing to generate {arguments.name!r}, {error}", file=sys.stderr)
        return 1
    if not arguments.dry_run:
        plan.apply(root)
    print(describe(plan, arguments.dry_run))
    if not arguments.dry_run:
        print(
            f"\nNext: run the new tests (Pants generates the protos), e.g.\n"
            f"  ./pants test sdk/src/flytekitplugins/k8s_operator/{names.name}_test.py "
            f"backend/src/k8s_operator_connector/plugins/{names.name}_test.py operator_bundle/config:tests\n"
            f"then fill in build_object and observe for your CRD (docs/writing-a-plugin.md)."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
