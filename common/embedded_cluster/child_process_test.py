"""free_port: ports children can bind, each handed out once, away from outgoing connections' ports."""

from __future__ import annotations

import socket
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import pytest

from embedded_cluster import child_process
from embedded_cluster.child_process import free_port


class _Probe:
    """Stands in for the probe socket: a port in ``in_use`` fails to bind, as a listening one does.

    Real sockets would make these tests race with every other process on the machine that binds a
    port or opens a connection (its local port is taken from the ephemeral range)."""

    in_use: ClassVar[set[int]] = set()
    bound: ClassVar[list[int]] = []

    def __init__(self) -> None:
        self.port = 0

    def __enter__(self) -> _Probe:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def bind(self, address: tuple[str, int]) -> None:
        host, port = address
        assert host == "127.0.0.1"
        if port in self.in_use:
            raise OSError(98, "Address already in use")
        self.port = port or 40000 + len(self.bound)  # port 0: the kernel's choice
        self.bound.append(self.port)

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> type[_Probe]:
    monkeypatch.setattr(_Probe, "in_use", set())
    monkeypatch.setattr(_Probe, "bound", [])
    monkeypatch.setattr(child_process, "socket", SimpleNamespace(socket=_Probe))
    monkeypatch.setattr(child_process, "_handed_out", set())
    return _Probe


def test_ports_are_distinct_and_below_the_ephemeral_range(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    range_file = tmp_path / "ip_local_port_range"
    range_file.write_text("32768\t60999\n")
    monkeypatch.setattr(child_process, "_EPHEMERAL_RANGE_FILE", range_file)
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    assert all(10000 <= port < 32768 for port in ports), sorted(ports)[-5:]
    with socket.socket() as listener:  # what a child does with the port
        listener.bind(("127.0.0.1", free_port()))


@pytest.mark.parametrize("content", [None, "", "10999 60999", "not numbers"], ids=["absent", "empty", "narrow", "junk"])
def test_without_a_usable_range_the_kernel_chooses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, probe, content):
    range_file = tmp_path / "ip_local_port_range"
    if content is not None:
        range_file.write_text(content)
    monkeypatch.setattr(child_process, "_EPHEMERAL_RANGE_FILE", range_file)
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    assert probe.bound == ports, "each port is the kernel's choice for a bind to port 0"


def test_a_port_in_use_or_handed_out_before_is_skipped(monkeypatch: pytest.MonkeyPatch, probe):
    in_use, first, second = 20001, 20002, 20003
    probe.in_use.add(in_use)
    choices = iter([in_use, first, in_use, first, second])
    monkeypatch.setattr(child_process, "_listen_ports", lambda: range(1, 65536))
    monkeypatch.setattr(child_process.random, "choice", lambda ports: next(choices))
    assert (free_port(), free_port()) == (first, second)
    # The port in use never bound; the one handed out before bound again, then was skipped.
    assert probe.bound == [first, first, second]


def test_no_bindable_port_after_200_attempts_is_an_error(monkeypatch: pytest.MonkeyPatch, probe):
    probe.in_use.update(range(10000, 10010))
    monkeypatch.setattr(child_process, "_listen_ports", lambda: range(10000, 10010))
    with pytest.raises(RuntimeError, match="no free TCP port on 127.0.0.1 after 200 attempts"):
        free_port()
