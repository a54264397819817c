from __future__ import annotations

import dataclasses
import os
import socket
from pathlib import Path

from embedded_cluster.worker_environment import prepare_worker_environment
from kube_emulator.kubelet.zygote import Zygote

PARSER_BUILT = "from celpy.celparser import CELParser; print(CELParser.CEL_PARSER is not None)"


def test_worker_pods_fork_with_flytekit_imported_and_the_cel_parser_built(tmp_path: Path):
    environ = dict(os.environ)
    settings = prepare_worker_environment(environ, tmp_path / "shim")
    # The cluster prepares its own os.environ; this test a copy, which the zygote must then use.
    zygote = Zygote(dataclasses.replace(settings, environment=environ)).start()
    try:
        ours, theirs = socket.socketpair()
        with ours, theirs:
            child = zygote.spawn(["python", "-c", f"import sys; {PARSER_BUILT}; print('flytekit' in sys.modules)"],
                                 environ, str(tmp_path), theirs.fileno())  # fmt: skip
            assert child is not None, f"not forked: {zygote.failure or zygote.declined}"
            assert child.wait(60) == 0
            theirs.close()
            assert ours.makefile().read() == "True\nTrue\n"
        assert zygote.preloaded == ["flytekit", "flytekit.bin.entrypoint", "celpy:Environment"]
    finally:
        zygote.stop()
