"""How a pod's container runs: as a real local process, or simulated by a policy (no process)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, Protocol

from kube_emulator.kubelet import secret_webhook, termination
from kube_emulator.kubelet.zygote import Zygote


@dataclass(frozen=True)
class PodOutcome:
    """What a simulated container does: exit with `exit_code` after `duration` seconds, logging `log`
    and writing `termination_message` to its terminationMessagePath."""

    exit_code: int = 0
    duration: float = 0.0
    log: str = ""
    termination_message: str = ""


# Decides each attempt of a pod in process-free mode: (pod, attempt number from 0) -> outcome.
OutcomePolicy = Callable[[dict[str, Any], int], PodOutcome]


@dataclass(frozen=True)
class Finished:
    exit_code: int | None  # None when the container was killed (deadline or deletion)
    log: str
    termination_message: str = ""  # state.terminated.message, as the kubelet computes it


class ContainerRunner:
    """Runs one attempt of a pod's first container; `stop` ends it early."""

    def run(
        self,
        pod: dict[str, Any],
        attempt: int,
        stop: threading.Event,
        timeout: float | None,
        on_log: Callable[[str], None],
    ) -> Finished:
        raise NotImplementedError


class SimulatedRunner(ContainerRunner):
    def __init__(self, policy: OutcomePolicy) -> None:
        self.policy = policy

    def run(
        self,
        pod: dict[str, Any],
        attempt: int,
        stop: threading.Event,
        timeout: float | None,
        on_log: Callable[[str], None],
    ) -> Finished:
        outcome = self.policy(pod, attempt)
        container = pod["spec"]["containers"][0]
        if outcome.log:
            on_log(outcome.log)
        exit_code: int | None = outcome.exit_code
        if timeout is not None and timeout < outcome.duration:
            stop.wait(timeout)
            exit_code = None
        elif (outcome.duration > 0 and stop.wait(outcome.duration)) or stop.is_set():
            exit_code = None
        written = ""
        if termination.message_path(container):
            written = outcome.termination_message.encode()[-termination.MAX_MESSAGE_BYTES :].decode(errors="replace")
        message = termination.termination_message(container, written, exit_code, outcome.log)
        return Finished(exit_code, outcome.log, message)


# (namespace, secret name, key) -> the decoded value, or None when the secret or key is missing.
SecretReader = Callable[[str, str, str], str | None]


def container_environment(
    pod: dict[str, Any], container: dict[str, Any], read_secret: SecretReader | None = None
) -> dict[str, str]:
    """The host environment plus the container's `env` (values, simple fieldRefs, secretKeyRefs)."""
    metadata = pod["metadata"]
    fields = {
        "metadata.name": metadata["name"],
        "metadata.namespace": metadata.get("namespace", ""),
        "metadata.uid": metadata.get("uid", ""),
        "spec.serviceAccountName": pod.get("spec", {}).get("serviceAccountName", "default"),
        "spec.nodeName": "kube-emulator-node",
        "status.podIP": "127.0.0.1",
    }
    environment = dict(os.environ)
    for variable in container.get("env") or []:
        if "value" in variable:
            environment[variable["name"]] = str(variable["value"])
            continue
        secret_ref = (variable.get("valueFrom") or {}).get("secretKeyRef")
        if secret_ref and read_secret is not None:
            value = read_secret(fields["metadata.namespace"], secret_ref.get("name", ""), secret_ref.get("key", ""))
            if value is not None:  # a missing optional secret leaves the variable unset, as in Kubernetes
                environment[variable["name"]] = value
            continue
        field_path = ((variable.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath", "")
        if field_path in fields:
            environment[variable["name"]] = fields[field_path]
        elif field_path.startswith("metadata.labels['"):
            environment[variable["name"]] = (metadata.get("labels") or {}).get(field_path[17:-2], "")
    return environment


def unmountable_secret_volumes(pod: dict[str, Any], container: dict[str, Any]) -> list[str]:
    """Secret volumes Flyte's webhook mounted into the container: processes here cannot see them."""
    webhook_volumes = {
        volume.get("name")
        for volume in pod["spec"].get("volumes") or []
        if volume.get("secret") and str(volume.get("name", "")).startswith(secret_webhook.VOLUME_PREFIX)
    }
    return [
        str(mount.get("name")) for mount in container.get("volumeMounts") or [] if mount.get("name") in webhook_volumes
    ]


class ProcessRunner(ContainerRunner):
    """`command` + `args` of the first container as a local process; the image is ignored.

    ``read_secret`` resolves ``secretKeyRef`` variables (e.g. those Flyte's secret webhook adds).
    With a ``zygote``, the `python -m`/`-c` commands it is configured for are forked from it;
    everything else is a subprocess.
    """

    def __init__(self, read_secret: SecretReader | None = None, zygote: Zygote | None = None) -> None:
        self.read_secret = read_secret
        self.zygote = zygote

    def run(
        self,
        pod: dict[str, Any],
        attempt: int,
        stop: threading.Event,
        timeout: float | None,
        on_log: Callable[[str], None],
    ) -> Finished:
        container = pod["spec"]["containers"][0]
        argv = [*(container.get("command") or []), *(container.get("args") or [])]
        if not argv:
            on_log("kube-emulator kubelet: the container has neither command nor args\n")
            return Finished(128, "")
        unmounted = unmountable_secret_volumes(pod, container)
        if unmounted:
            message = (
                f"kube-emulator kubelet: cannot mount the secret volumes {', '.join(unmounted)} on this host; "
                "request Flyte secrets with mount_requirement=Secret.MountType.ENV_VAR here\n"
            )
            on_log(message)
            return Finished(1, message)
        with tempfile.TemporaryDirectory(prefix="kube-emulator-termination-") as scratch:
            environment = container_environment(pod, container, self.read_secret)
            message_file = None
            if termination.message_path(container):
                # The real kubelet mounts an empty file at terminationMessagePath; here it is a host file.
                message_file = os.path.join(scratch, "termination-log")
                open(message_file, "wb").close()
                environment[termination.PATH_ENV] = message_file
            finished = self._run_process(argv, container, environment, stop, timeout, on_log)
            written = termination.read_message_file(message_file)
        message = termination.termination_message(container, written, finished.exit_code, finished.log)
        return Finished(finished.exit_code, finished.log, message)

    def _run_process(
        self,
        argv: list[str],
        container: dict[str, Any],
        environment: dict[str, str],
        stop: threading.Event,
        timeout: float | None,
        on_log: Callable[[str], None],
    ) -> Finished:
        cwd = container.get("workingDir") or None
        process: RunningProcess | None = None
        output: IO[bytes]
        if self.zygote is not None:
            read, write = os.pipe()
            try:
                process = self.zygote.spawn(argv, environment, cwd, write)
            finally:
                os.close(write)
            if process is None:
                os.close(read)
            else:
                output = os.fdopen(read, "rb")
        if process is None:
            try:
                popen = subprocess.Popen(
                    argv,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=environment,
                    cwd=cwd,
                    start_new_session=True,
                )
            except OSError as error:
                message = f"kube-emulator kubelet: cannot start {argv[0]!r}: {error}\n"
                on_log(message)
                return Finished(127, message)
            assert popen.stdout is not None
            process, output = popen, popen.stdout
        return _supervise(process, output, stop, timeout, on_log)


class RunningProcess(Protocol):
    """A started container process: a ``subprocess.Popen`` or a zygote's ``ForkedChild``."""

    pid: int

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int | None: ...


def _supervise(
    process: RunningProcess,
    output: IO[bytes],
    stop: threading.Event,
    timeout: float | None,
    on_log: Callable[[str], None],
) -> Finished:
    """Streams ``output`` to ``on_log`` until the process ends; kills its session on ``stop`` or
    at the deadline (then the exit code is None)."""
    chunks: list[str] = []

    def pump() -> None:
        with output:
            for line in iter(output.readline, b""):
                text = line.decode(errors="replace")
                chunks.append(text)
                on_log(text)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    deadline = None if timeout is None else time.monotonic() + timeout
    killed = False
    while process.poll() is None:
        if stop.is_set() or (deadline is not None and time.monotonic() >= deadline):
            _kill(process.pid)
            killed = True
            break
        stop.wait(0.05)
    returncode = process.wait()
    reader.join(10)
    return Finished(None if killed else returncode, "".join(chunks))


def _kill(session: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(session, 9)
