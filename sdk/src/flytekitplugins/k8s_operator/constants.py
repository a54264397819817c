"""Names shared by the SDK, the connector and the example operator: task types and env vars."""

from typing import Final

#: Task type and version of :class:`~flytekitplugins.k8s_operator.task.ParallelJobTask`.
PARALLEL_JOB_TASK_TYPE: Final = "parallel_job"
PARALLEL_JOB_TASK_TYPE_VERSION: Final = 1

#: Task type and version of :class:`~flytekitplugins.k8s_operator.task.CustomResourceTask`.
CUSTOM_RESOURCE_TASK_TYPE: Final = "custom_resource"
CUSTOM_RESOURCE_TASK_TYPE_VERSION: Final = 1

#: Set by the example operator in every worker container: the worker's 0-based index.
WORKER_INDEX_ENV: Final = "WORKER_INDEX"
#: Set by the example operator in every worker container: the number of workers.
WORKER_COUNT_ENV: Final = "WORKER_COUNT"

#: Where workers exchange values (:func:`~flytekitplugins.k8s_operator.exchange.share`). The
#: connector sets it to ``<output_prefix>/exchange``; when it is unset, the worker entrypoint
#: derives the same value from the ``--output-prefix`` argument.
EXCHANGE_PREFIX_ENV: Final = "FLYTE_K8S_OPERATOR_EXCHANGE_PREFIX"

#: How a task runs in a local (``pyflyte run`` without ``--remote``) execution:
#: ``connector`` (the default) or ``function``.
LOCAL_MODE_ENV: Final = "FLYTE_K8S_OPERATOR_LOCAL_MODE"
LOCAL_MODE_CONNECTOR: Final = "connector"
LOCAL_MODE_FUNCTION: Final = "function"

#: The command prefixed to ``pyflyte-execute`` in ParallelJob containers (see ``worker.py``).
WORKER_ENTRYPOINT: Final = ("python", "-m", "flytekitplugins.k8s_operator.worker")

#: Where a non-leader worker's ``pyflyte-execute`` writes, relative to the task's output prefix.
WORKER_OUTPUT_SUBDIR: Final = "workers"
