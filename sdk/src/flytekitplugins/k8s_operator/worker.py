"""The entrypoint ParallelJob workers run before ``pyflyte-execute``.

Every worker of a ParallelJob runs the same container command. Left alone, all of them would
write ``outputs.pb`` (and ``error.pb``, decks, checkpoints) to the task's one output prefix and
race. The task's command is therefore::

    python -m flytekitplugins.k8s_operator.worker pyflyte-execute --inputs ... --output-prefix P ...

This module reads ``WORKER_INDEX`` and, for every worker but the leader (index 0), rewrites

* ``--output-prefix P`` to ``P/workers/<index>``,
* ``--checkpoint-path C`` and ``--prev-checkpoint C`` (when not empty) to ``C/workers/<index>``,

and runs the command, so the leader alone writes the task's outputs. ``pyflyte-execute`` (and
``pyflyte-fast-execute``/``pyflyte-map-execute``) run in this process through flytekit's own
click commands, exactly as their console scripts do: importing this package has already
imported flytekit, and a second interpreter would import it again (seconds per worker). Any
other command replaces this process (``os.execvp``). It also sets, unless already set:

* ``FLYTE_K8S_OPERATOR_EXCHANGE_PREFIX`` to ``P/exchange`` (the original prefix), the place
  where :func:`~flytekitplugins.k8s_operator.exchange.share` writes;
* ``FLYTE_FAIL_ON_ERROR=true``, so a worker whose function raises exits non-zero and the
  operator's restart and success policies see the failure (``pyflyte-execute`` otherwise exits
  0 after writing ``error.pb``).

When the command fails, the entrypoint writes the worker's error as the container's termination
message (see :mod:`~flytekitplugins.k8s_operator.termination_message`): the exception type and
message from the ``error.pb`` ``pyflyte-execute`` wrote below the worker's output prefix, so the
operator and the connector can tell the user what broke, in which worker and pod.

It works the same after ``pyflyte-fast-execute``, which runs the rest of the command as is.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, MutableMapping, Sequence
from typing import NoReturn

from flytekitplugins.k8s_operator.constants import (
    EXCHANGE_PREFIX_ENV,
    WORKER_INDEX_ENV,
    WORKER_OUTPUT_SUBDIR,
)
from flytekitplugins.k8s_operator.termination_message import (
    bounded,
    message_from_error_document,
    read_error_message,
    termination_message_path,
    write_termination_message,
)

__all__ = ["main", "prepare", "run", "worker_index_from_env"]

_FAIL_ON_ERROR_ENV = "FLYTE_FAIL_ON_ERROR"
# Console scripts of flytekit run in-process: script name -> click command in flytekit.bin.entrypoint.
_IN_PROCESS_COMMANDS = {
    "pyflyte-execute": "execute_task_cmd",
    "pyflyte-fast-execute": "fast_execute_task_cmd",
    "pyflyte-map-execute": "map_execute_task_cmd",
}
_PER_WORKER_OPTIONS = ("--output-prefix", "--checkpoint-path", "--prev-checkpoint")


def worker_index_from_env(environ: Mapping[str, str]) -> int:
    """``WORKER_INDEX`` as an int, 0 when unset.

    Raises:
        ValueError: the variable is set but not a non-negative integer.
    """
    raw = environ.get(WORKER_INDEX_ENV, "").strip()
    if not raw:
        return 0
    if not raw.isdigit():
        raise ValueError(f"{WORKER_INDEX_ENV} must be a non-negative integer, got {raw!r}")
    return int(raw)


def _join(prefix: str, *parts: str) -> str:
    return "/".join([prefix.rstrip("/"), *parts])


def _option_value(args: Sequence[str], option: str) -> str | None:
    """The value of ``option`` (``--opt V`` or ``--opt=V``) before a bare ``--``, if present."""
    for position, arg in enumerate(args):
        if arg == "--":
            break
        if arg == option and position + 1 < len(args):
            return args[position + 1]
        if arg.startswith(option + "="):
            return arg[len(option) + 1 :]
    return None


def _rewrite(args: Sequence[str], index: int) -> list[str]:
    """``args`` with the per-worker options pointed at ``<value>/workers/<index>``."""
    rewritten = list(args)
    position = 0
    while position < len(rewritten):
        arg = rewritten[position]
        if arg == "--":
            break
        option, _, inline = arg.partition("=")
        if option in _PER_WORKER_OPTIONS:
            if inline:
                rewritten[position] = f"{option}={_join(inline, WORKER_OUTPUT_SUBDIR, str(index))}"
            elif position + 1 < len(rewritten) and rewritten[position + 1]:
                rewritten[position + 1] = _join(rewritten[position + 1], WORKER_OUTPUT_SUBDIR, str(index))
                position += 1
        position += 1
    return rewritten


def prepare(args: Sequence[str], environ: MutableMapping[str, str]) -> list[str]:
    """The command this worker runs, updating ``environ`` for it (see the module docs).

    Raises:
        ValueError: no command was given, or ``WORKER_INDEX`` is malformed.
    """
    if not args:
        raise ValueError("usage: python -m flytekitplugins.k8s_operator.worker pyflyte-execute [ARGS...]")
    index = worker_index_from_env(environ)
    output_prefix = _option_value(args, "--output-prefix")
    if output_prefix and not environ.get(EXCHANGE_PREFIX_ENV):
        environ[EXCHANGE_PREFIX_ENV] = _join(output_prefix, "exchange")
    environ.setdefault(_FAIL_ON_ERROR_ENV, "true")
    return list(args) if index == 0 else _rewrite(args, index)


def _exit_code(status: object) -> int:
    if status is None:
        return 0
    return status if isinstance(status, int) else 1


def report_failure(command: Sequence[str], exit_code: int, environ: Mapping[str, str]) -> str | None:
    """Writes the termination message of a failed command; returns it (None if not written)."""
    path = termination_message_path(environ)
    if path is None:
        return None
    output_prefix = _option_value(command, "--output-prefix")
    error = read_error_message(output_prefix) if output_prefix else None
    if error is not None:
        message = message_from_error_document(error)
    else:
        message = bounded(f"{os.path.basename(command[0])} exited with {exit_code} and recorded no error.pb")
    return message if write_termination_message(path, message) else None


def run(command: Sequence[str]) -> NoReturn:
    """Runs a flytekit console script in-process, or ``exec``s any other command."""
    name = os.path.basename(command[0])
    if name in _IN_PROCESS_COMMANDS:
        from flytekit.bin import entrypoint  # - only here, after the environment is set

        sys.argv = list(command)
        try:
            getattr(entrypoint, _IN_PROCESS_COMMANDS[name]).main(args=list(command[1:]), prog_name=name)
            exit_code = 0
        except SystemExit as stop:  # click's main always exits
            exit_code = _exit_code(stop.code)
        except Exception as error:  # flytekit itself broke: still say what, then fail as Python would
            path = termination_message_path(os.environ)
            if path is not None:
                write_termination_message(path, bounded(f"{type(error).__name__}: {error}"))
            raise
        if exit_code:
            report_failure(command, exit_code, os.environ)
        sys.exit(exit_code)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvp(command[0], list(command))


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Runs the worker: prepares the command and runs it (never returns)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        command = prepare(args, os.environ)
    except ValueError as error:
        print(f"flytekitplugins.k8s_operator.worker: {error}", file=sys.stderr)
        sys.exit(2)
    run(command)


if __name__ == "__main__":
    main()
