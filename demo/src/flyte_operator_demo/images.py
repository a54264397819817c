"""The container image the demo's tasks declare."""

from __future__ import annotations

import os

IMAGE_ENV = "FLYTE_OPERATOR_DEMO_IMAGE"
DEFAULT_IMAGE = "localhost/flyte-operator-kit/demo:latest"


def demo_image() -> str:
    """``FLYTE_OPERATOR_DEMO_IMAGE``, or the tag the demo's ``docker_image`` target builds."""
    return os.environ.get(IMAGE_ENV, "").strip() or DEFAULT_IMAGE
