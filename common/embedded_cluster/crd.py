"""Files of the repository the local run needs (the example operator's ParallelJob CRD, from the bundle)."""

from __future__ import annotations

import os
from pathlib import Path

CRD_ENV = "EMBEDDED_CLUSTER_CRD"
CRD_IN_REPO = Path("operator_bundle/config/crd/bases/workloads.example.com_paralleljobs.yaml")


def find_crd(start: Path | None = None) -> Path:
    """The bundle's ParallelJob CRD: ``EMBEDDED_CLUSTER_CRD``, or below the working
    directory or one of its parents (Pants runs the embedded cluster in a sandbox holding the file, or in
    the repository).

    Raises:
        FileNotFoundError: nowhere to be found.
    """
    override = os.environ.get(CRD_ENV, "").strip()
    if override:
        return Path(override).resolve(strict=True)
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / CRD_IN_REPO
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{CRD_IN_REPO} not found from {here} upwards; set {CRD_ENV} to the CRD's path")
