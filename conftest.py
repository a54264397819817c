"""Every pytest process of the repository loads this (Pants infers a conftest.py in any ancestor
directory of a test as its dependency).

Once collection has imported the test modules (flytekit, the Kubernetes client, gRPC: some
140,000 objects tracked by the garbage collector), they are moved to the collector's permanent
generation (``gc.freeze``): the cycle collector stops walking them, while reference counting
still frees any of them that becomes unreachable (only a reference cycle among them would stay,
and imported modules rarely become garbage). Without it every full collection,
and pytest's five at the end of each session (its unraisable-exception check), walk them all:
about 2 s of CPU per heavy test process on these 2 cores (docs/build.md, "Processes at once").
"""

from __future__ import annotations

import gc

import pytest


def pytest_collection_finish(session: pytest.Session) -> None:
    gc.collect()  # what is already garbage is freed, not frozen
    gc.freeze()
