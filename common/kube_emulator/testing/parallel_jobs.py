"""The ParallelJob CRD the emulator's tests serve, its coordinates, and ParallelJob objects to create."""

from __future__ import annotations

from pathlib import Path

CRD_FILE = Path(__file__).parent.parent / "testdata" / "paralleljobs-crd.yaml"
GROUP, VERSION, PLURAL = "workloads.example.com", "v1alpha1", "paralleljobs"


def parallel_job(name: str, workers: int = 1, **metadata: object) -> dict:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ParallelJob",
        "metadata": {"name": name, **metadata},
        "spec": {"workers": workers},
    }
