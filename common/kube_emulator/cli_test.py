from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import kubernetes.client  # type: ignore[import-untyped]
import kubernetes.config  # type: ignore[import-untyped]

from kube_emulator.testing.parallel_jobs import CRD_FILE, GROUP, PLURAL, VERSION


def test_python_m_kube_emulator_serves_until_terminated(tmp_path: Path):
    kubeconfig = tmp_path / "kubeconfig"
    process = subprocess.Popen(
        [sys.executable, "-m", "kube_emulator", "--port", "0", "--crd", str(CRD_FILE), "--kubeconfig", str(kubeconfig)],
        stdout=subprocess.PIPE,
        text=True,
        # Under Pants, the source roots are relative entries of sys.path: hand them on absolute.
        env={**os.environ, "PYTHONPATH": os.pathsep.join(map(os.path.abspath, sys.path))},
    )
    try:
        assert process.stdout is not None
        ready = process.stdout.readline()
        assert ready.startswith("kube-emulator ready url=http://127.0.0.1:")
        assert ready.strip().endswith(f"kubeconfig={kubeconfig}")
        with kubernetes.config.new_client_from_config(config_file=str(kubeconfig)) as client:
            listing = kubernetes.client.CustomObjectsApi(client).list_namespaced_custom_object(
                GROUP, VERSION, "default", PLURAL
            )
            assert listing["items"] == []
    finally:
        process.terminate()
        assert process.wait(60) == 0
