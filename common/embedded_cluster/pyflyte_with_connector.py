"""``python -m embedded_cluster.pyflyte_with_connector ARGS``: ``pyflyte ARGS`` with the
k8s-operator connector registered, printing what it reports.

An installed ``flyte-k8s-operator-connector`` wheel registers its connectors through the
``flytekit.plugins`` entry point; from sources (Pants, the dev venv) there is no entry point,
so this imports the module the entry point names (the connector reads its settings from the
file ``K8S_OPERATOR_CONNECTOR_CONFIG`` names), makes its answers visible
(:mod:`embedded_cluster.connector_progress`), then runs flytekit's ``pyflyte``.
"""

from __future__ import annotations

from embedded_cluster.connector_progress import print_progress_of


def main() -> None:
    from flytekit.clis.sdk_in_container.pyflyte import main as pyflyte

    from k8s_operator_connector.flytekit_entry_point import CONNECTORS

    print_progress_of(CONNECTORS)
    pyflyte(prog_name="pyflyte")


if __name__ == "__main__":
    main()
