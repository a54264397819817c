"""``./pants run demo:register -- --image IMAGE``: registers the demo's workflows with a Flyte cluster.

Runs ``pyflyte register --non-fast`` (the image already holds the demo's code) with the image the
tasks declare (``FLYTE_OPERATOR_DEMO_IMAGE``), then prints how to launch and watch an execution.
The Flyte endpoint comes from ``--config`` (default: flytectl's ``~/.flyte/config.yaml``, which
``flytectl demo start`` writes).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from flyte_operator_demo import workflows
from flyte_operator_demo.images import DEFAULT_IMAGE, IMAGE_ENV

DEFAULT_CONFIG = Path.home() / ".flyte" / "config.yaml"
WORKFLOW_NAMES = ("main", "failing")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="demo:register", description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", default=os.environ.get(IMAGE_ENV) or DEFAULT_IMAGE, help="the tasks' image")
    parser.add_argument("--project", default="flytesnacks")
    parser.add_argument("--domain", default="development")
    parser.add_argument("--version", default="", help="registration version (default: derived from the image tag)")
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG, help=f"flytectl config (default {DEFAULT_CONFIG})"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the command instead of running it")
    return parser.parse_args(argv)


def default_version(image: str) -> str:
    """``demo-<tag>`` from ``repo:tag`` (``demo-latest`` without a tag)."""
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else "latest"
    return f"demo-{tag}".replace("@", "-")


def register_command(options: argparse.Namespace) -> list[str]:
    command = [sys.executable, "-m", "flytekit.clis.sdk_in_container.pyflyte", "--config", str(options.config)]
    command += ["register", "--non-fast", "--project", options.project, "--domain", options.domain]
    command += ["--image", options.image, "--version", options.version or default_version(options.image)]
    return [*command, workflows.__file__]


def launch_instructions(options: argparse.Namespace) -> list[str]:
    scope = f"-p {options.project} -d {options.domain}"
    config = f"--config {shlex.quote(str(options.config))}"
    lines = ["Launch, watch and abort:"]
    for name in WORKFLOW_NAMES:
        launch_plan = f"{workflows.__name__}.{name}"
        lines += [
            f"  flytectl {config} get launchplan {scope} {launch_plan} --latest --execFile {name}.yaml",
            f"  flytectl {config} create execution {scope} --execFile {name}.yaml",
        ]
    lines += [
        f"  flytectl {config} get execution {scope} <execution-name> --details",
        f"  flytectl {config} update execution {scope} <execution-name> --terminate   # abort",
        f"  console: http://localhost:30080/console/projects/{options.project}/domains/{options.domain}/executions",
    ]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    command = register_command(options)
    environment = {**os.environ, IMAGE_ENV: options.image}
    print("$", shlex.join(command), flush=True)
    if not options.dry_run:
        completed = subprocess.run(command, env=environment, check=False)
        if completed.returncode != 0:
            print(f"registration failed (exit {completed.returncode})", file=sys.stderr)
            return completed.returncode
    print("\n".join(launch_instructions(options)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
