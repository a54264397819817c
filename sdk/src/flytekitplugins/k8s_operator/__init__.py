"""
Flyte tasks that run on Kubernetes operators through the k8s-operator connector.

.. currentmodule:: flytekitplugins.k8s_operator

Two task kinds:

* ``@task(task_config=ParallelJob(workers=N))``: a Python function run on N workers (pods) by
  the example operator's ``ParallelJob`` resource. Inside the function, :func:`current_worker`
  tells workers apart and :func:`share` / :func:`gather` pass values to the leader (worker 0),
  whose outputs become the task's outputs.
* :class:`CustomResourceTask`: any custom resource the connector admits, created from a
  manifest template and watched until a success or failure condition holds (see
  :mod:`flytekitplugins.k8s_operator.conditions` for the CEL conditions).

Local executions go through the connector; ``FLYTE_K8S_OPERATOR_LOCAL_MODE=function`` runs
ParallelJob functions in-process instead.

.. autosummary::
   :template: custom.rst
   :toctree: generated/

   ParallelJob
   RestartPolicy
   SuccessPolicy
   ParallelJobTask
   CustomResourceTask
   ObjectOutput
   WorkerInfo
   current_worker
   share
   gather
"""

from flytekitplugins.k8s_operator.conditions import (
    Condition,
    ConditionError,
    ProgressTemplate,
    parse_condition,
    parse_progress_template,
)
from flytekitplugins.k8s_operator.config import ParallelJob, RestartPolicy, SuccessPolicy
from flytekitplugins.k8s_operator.exchange import WorkerInfo, current_worker, gather, share
from flytekitplugins.k8s_operator.manifest import ManifestError
from flytekitplugins.k8s_operator.object_output import ObjectOutput
from flytekitplugins.k8s_operator.task import CustomResourceConfig, CustomResourceTask, ParallelJobTask

__all__ = [
    "Condition",
    "ConditionError",
    "CustomResourceConfig",
    "CustomResourceTask",
    "ManifestError",
    "ObjectOutput",
    "ParallelJob",
    "ParallelJobTask",
    "ProgressTemplate",
    "RestartPolicy",
    "SuccessPolicy",
    "WorkerInfo",
    "current_worker",
    "gather",
    "parse_condition",
    "parse_progress_template",
    "share",
]
