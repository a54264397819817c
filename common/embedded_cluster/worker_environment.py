"""The environment the local kubelet gives worker processes.

Worker pods run ``python -m flytekitplugins.k8s_operator.worker pyflyte-execute ...``. Locally
that ``python`` must be this interpreter, with flytekit, the SDK and the workflow's code importable
(Pants runs `demo:local` from a PEX whose packages are only on ``sys.path``).
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Iterable, MutableMapping
from pathlib import Path

from kube_emulator.kubelet import ZygoteSettings
from kube_emulator.kubelet.zygote import DEFAULT_PRELOAD

#: flytekit's switch for rich (boxed, wrapped) tracebacks and log lines.
PLAIN_LOGS_ENV = "FLYTE_SDK_RICH_TRACEBACKS"
#: The names the shim answers to: the ones the kubelet's zygote forks for.
PYTHON_NAMES = ("python", "python3")
#: A workflow module that declares a CustomResourceTask compiles its CEL when a worker imports
#: it, and cel-python's first Environment builds its parser (lark's LALR tables, about 0.1 s of
#: CPU): built once in the zygote, as flytekit is imported once, not in every worker pod.
WORKER_PRELOAD = (*DEFAULT_PRELOAD, "celpy:Environment")


def write_python_shim(directory: Path, interpreter: str = sys.executable) -> Path:
    """A directory holding ``python``/``python3`` scripts that exec ``interpreter``.

    A script, not a symlink: a venv interpreter must be started by its own path to find its
    site-packages. A bash script: dash (Debian's ``/bin/sh``) drops environment variables whose
    names are not shell identifiers, such as Flyte's ``_FSEC_DEMO-CREDENTIALS_TOKEN``; bash
    passes them on, as a container runtime does.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for name in PYTHON_NAMES:
        shim = directory / name
        shim.write_text(f'#!/bin/bash\nexec {shlex.quote(interpreter)} "$@"\n', encoding="utf-8")
        shim.chmod(0o755)
    return directory


def import_path(extra: Iterable[str] = ()) -> str:
    """``PYTHONPATH`` for child interpreters: ``extra`` first, then this process's ``sys.path``."""
    entries: list[str] = []
    for entry in [*extra, *sys.path]:
        absolute = os.path.abspath(entry) if entry else os.getcwd()
        if absolute not in entries and os.path.exists(absolute):
            entries.append(absolute)
    return os.pathsep.join(entries)


def prepare_worker_environment(
    environ: MutableMapping[str, str], shim_directory: Path, extra_import_paths: Iterable[str] = ()
) -> ZygoteSettings:
    """Puts the ``python`` shim first on ``PATH`` and this process's imports on ``PYTHONPATH``.

    Returns the kubelet's zygote settings for that shim: pods whose command is ``python -m ...``
    or ``python -c ...`` (found in ``shim_directory``) are forked from one interpreter that has
    imported flytekit already, instead of each paying for the import."""
    write_python_shim(shim_directory)
    environ[PLAIN_LOGS_ENV] = "0"  # plain-text tracebacks: pod logs are read back as text
    environ["PATH"] = os.pathsep.join([str(shim_directory), environ.get("PATH", "")])
    environ["PYTHONPATH"] = import_path(extra_import_paths)
    return ZygoteSettings(
        interpreter=sys.executable,
        commands=frozenset(PYTHON_NAMES),
        command_directory=str(shim_directory),
        import_path=tuple(environ["PYTHONPATH"].split(os.pathsep)),
        preload=WORKER_PRELOAD,
    )


def module_root(workflow_file: Path) -> Path:
    """The directory ``pyflyte run FILE`` imports ``FILE`` from: the first parent without an
    ``__init__.py`` (flytekit names the module by the packages in between), so workers can too."""
    directory = workflow_file.resolve().parent
    while (directory / "__init__.py").is_file() and directory.parent != directory:
        directory = directory.parent
    return directory
