"""Child processes of the benchmark: the API emulator and `pyflyte serve connector` servers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from prometheus_client.parser import text_string_to_metric_families

from embedded_cluster.child_process import free_port

PYFLYTE_MAIN = "from flytekit.clis.sdk_in_container.pyflyte import main; main()"


def child_environment(extra: dict[str, str] | None = None, extra_path: list[Path] | None = None) -> dict[str, str]:
    """This process's environment, with its sys.path (a Pants PEX's, or the dev venv's) for children."""
    environment = dict(os.environ)
    paths = [str(path) for path in extra_path or []] + [entry for entry in sys.path if entry]
    environment["PYTHONPATH"] = os.pathsep.join(paths)
    environment.update(extra or {})
    return environment


def rss_kib(pid: int) -> int:
    """Resident set size of a process, from /proc/<pid>/status (VmRSS, in KiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


def peak_rss_kib(pid: int) -> int:
    """The highest resident set size of a process so far (VmHWM in /proc/<pid>/status, KiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM in /proc/{pid}/status")


def scrape_metrics(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample on a Prometheus port, fetched over HTTP: {(name, sorted labels): value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """User + system CPU time of this process (the gRPC client) so far."""
    return cpu_seconds(os.getpid())


def stop(process: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class EmulatorProcess:
    """`benchmarks.emulator_process` in a child process, driven by JSON lines over its stdin."""

    def __init__(self, crd: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.emulator_process", "--crd", str(crd)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=child_environment(),
        )
        ready = self._read_line()
        self.url: str = ready["url"]
        self.kubeconfig = Path(ready["kubeconfig"])

    def _read_line(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the emulator process exited ({self.process.wait()}) before answering")
        return json.loads(line)  # type: ignore[no-any-return]

    def command(self, op: str, **arguments: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": op, **arguments}) + "\n")
        self.process.stdin.flush()
        answer = self._read_line()
        if "error" in answer:
            raise RuntimeError(f"emulator: {answer['error']}")
        return answer

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        stop(self.process)


@dataclass
class ConnectorServer:
    """A real `pyflyte serve connector` subprocess serving the connectors of ``modules``."""

    label: str
    modules: list[str]
    log_dir: Path
    environment: dict[str, str] = field(default_factory=dict)
    extra_path: list[Path] = field(default_factory=list)
    port: int = 0
    metrics_port: int = 0
    process: subprocess.Popen[Any] | None = None
    _log: TextIO | None = None

    def start(self) -> None:
        self.port, self.metrics_port = free_port(), free_port()
        command = [sys.executable, "-c", PYFLYTE_MAIN, "serve", "connector"]
        command += ["--port", str(self.port), "--prometheus_port", str(self.metrics_port)]
        for module in self.modules:
            command += ["--modules", module]
        self._log = (self.log_dir / f"{self.label}.log").open("w")
        environment = child_environment(self.environment, self.extra_path)
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, env=environment)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def check_alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.label} connector exited with {self.process.returncode}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        path = self.log_dir / f"{self.label}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
        if self._log is not None:
            self._log.close()
