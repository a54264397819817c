"""The example operator: reconciles ParallelJob custom resources into batch/v1 Jobs.

The modules other than `handlers` and `cli` are free of Kopf registration, so importing
this package registers nothing; `handlers` does (see `cli.main`).
"""
