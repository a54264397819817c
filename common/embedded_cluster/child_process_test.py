"""free_port: ports children can bind, each handed out once, away from outgoing connections' ports."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from embedded_cluster import child_process
from embedded_cluster.child_process import free_port


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_ports_are_bindable_distinct_and_below_the_ephemeral_range(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    range_file = tmp_path / "ip_local_port_range"
    range_file.write_text("32768\t60999\n")
    monkeypatch.setattr(child_process, "_EPHEMERAL_RANGE_FILE", range_file)
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    assert all(10000 <= port < 32768 for port in ports), sorted(ports)[-5:]
    assert all(_bindable(port) for port in ports[:20])


@pytest.mark.parametrize("content", [None, "", "11000 60999", "not numbers"], ids=["absent", "empty", "narrow", "junk"])
def test_without_a_usable_range_the_kernel_chooses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content):
    range_file = tmp_path / "ip_local_port_range"
    if content is not None:
        range_file.write_text(content)
    monkeypatch.setattr(child_process, "_EPHEMERAL_RANGE_FILE", range_file)
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports) and all(_bindable(port) for port in ports[:10])


def _released_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_port_in_use_or_handed_out_before_is_skipped(monkeypatch: pytest.MonkeyPatch):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        in_use = holder.getsockname()[1]
        first, second = _released_port(), _released_port()
        choices = iter([in_use, first, in_use, first, second])
        monkeypatch.setattr(child_process, "_listen_ports", lambda: range(1, 65536))
        monkeypatch.setattr(child_process.random, "choice", lambda ports: next(choices))
        assert (free_port(), free_port()) == (first, second)
