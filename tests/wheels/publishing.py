"""Upload distributions with twine exactly as `./pants publish` does.

Pants 2.17.1 (pants/backend/python/goals/publish.py: `twine_upload_args`, `twine_env`) runs, per
distribution and repository,
    twine upload --non-interactive --config-file=<[twine].config> --repository=<name> <files>
passing `TWINE_{USERNAME,PASSWORD,REPOSITORY_URL}_<NAME>` from the environment on as
`TWINE_{USERNAME,PASSWORD,REPOSITORY_URL}`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# [twine].config in pants.toml; the distributions name `@local`.
PYPIRC = Path("build-support/pypirc")
CREDENTIALS = ("publisher", "s3cret")


def publish(files: list[Path], url: str, user: str, password: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PEX", "TWINE"))},
        "TWINE_REPOSITORY_URL": f"{url}/",
        "TWINE_USERNAME": user,
        "TWINE_PASSWORD": password,
        "NO_COLOR": "1",
    }
    command = [sys.executable, "-m", "twine", "upload", "--non-interactive", f"--config-file={PYPIRC}",
               "--repository=local", *map(str, files)]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)
