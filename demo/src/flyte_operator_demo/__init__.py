"""The flyte-operator-kit demo: workflows, a local end-to-end run and registration."""
