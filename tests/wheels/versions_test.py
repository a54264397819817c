"""One version per wheel: the bundle pulls the connector image tagged with the connector wheel's version.

backend/BUILD's VERSION sets both the wheel's version and the image's tag; the bundle names the
tag in operator_bundle/config/default/kustomization.yaml, which a release must bump too
(docs/releasing.md).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from wheels.artifacts import BACKEND, built_wheels

DEFAULT_KUSTOMIZATION = Path("operator_bundle/config/default/kustomization.yaml")
CONNECTOR_IMAGE = "flyte-operator-kit/connector"


def test_the_bundle_pulls_the_connector_image_of_the_wheels_version():
    version = built_wheels()[BACKEND].version
    kustomization = yaml.safe_load(DEFAULT_KUSTOMIZATION.read_text())
    (connector,) = (image for image in kustomization["images"] if image["name"] == CONNECTOR_IMAGE)
    assert connector["newTag"] == version
    label = "app.kubernetes.io/version"
    versions = [entry["pairs"][label] for entry in kustomization["labels"] if label in entry["pairs"]]
    assert versions == [version]
