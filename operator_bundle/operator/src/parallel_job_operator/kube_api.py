"""The few Kubernetes API calls the operator makes, on the official client.

Every call is blocking (the controller runs them in threads) and speaks plain dicts.
Errors surface as ApiException; `api_errors.py` decides which ones are worth a retry.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import kopf
import kubernetes  # type: ignore[import-untyped,unused-ignore]
from kubernetes.client.rest import ApiException  # type: ignore[import-untyped,unused-ignore]

from parallel_job_operator.constants import GROUP, PLURAL, VERSION
from parallel_job_operator.job_manifest import Owner
from parallel_job_operator.observations import controller_uid

FIELD_MANAGER = "parallel-job-operator"


class ForeignJobError(RuntimeError):
    """A Job with a worker's name exists but another controller owns it."""


class ClientConfigurationError(RuntimeError):
    """Neither the in-cluster service account nor a kubeconfig is usable."""


def load_client_configuration() -> None:
    """In a pod: the service account; elsewhere: $KUBECONFIG (read now, not at import) or ~/.kube/config."""
    try:
        kubernetes.config.load_incluster_config()
        return
    except kubernetes.config.ConfigException:
        pass
    try:
        kubernetes.config.load_kube_config(config_file=os.environ.get("KUBECONFIG") or None)
    except (kubernetes.config.ConfigException, OSError) as error:
        raise ClientConfigurationError(
            f"no Kubernetes credentials: not in a pod, and no usable kubeconfig ({error})"
        ) from error


def connection_info() -> kopf.ConnectionInfo:
    """Kopf's credentials, taken from the same configuration as the official client's (so the
    operator honours $KUBECONFIG as read at start, which Kopf's own client login does not)."""
    load_client_configuration()
    config = kubernetes.client.Configuration.get_default_copy()
    scheme, _, token = str(config.api_key.get("authorization") or "").partition(" ")
    return kopf.ConnectionInfo(
        server=config.host,
        ca_path=config.ssl_ca_cert,
        insecure=not config.verify_ssl,
        username=config.username or None,
        password=config.password or None,
        scheme=scheme or None,
        token=token or None,
        certificate_path=config.cert_file,
        private_key_path=config.key_file,
    )


class KubeApi:
    def __init__(self, api_client: kubernetes.client.ApiClient | None = None) -> None:
        self._client = api_client or kubernetes.client.ApiClient()
        self._batch = kubernetes.client.BatchV1Api(self._client)
        self._custom = kubernetes.client.CustomObjectsApi(self._client)

    def _as_dict(self, obj: Any) -> dict[str, Any]:
        return dict(self._client.sanitize_for_serialization(obj))

    def read_parallel_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The ParallelJob as it is now, or None if it is gone."""
        try:
            return dict(self._custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name))
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def patch_parallel_job_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        """A JSON merge patch of the status subresource (lists are replaced whole)."""
        try:
            self._custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, namespace, PLURAL, name, {"status": dict(status)}, field_manager=FIELD_MANAGER
            )
        except ApiException as error:
            if error.status != 404:  # deleted meanwhile: nothing left to report on
                raise

    def create_or_adopt_job(self, manifest: Mapping[str, Any], owner: Owner) -> str:
        """Create the Job; if it exists, adopt it when it is unowned, accept it when it is
        ours, and refuse (ForeignJobError) when another object controls it.
        Returns "created", "existing" or "adopted"."""
        namespace = str(manifest["metadata"]["namespace"])
        name = str(manifest["metadata"]["name"])
        try:
            self._batch.create_namespaced_job(namespace, dict(manifest), field_manager=FIELD_MANAGER)
            return "created"
        except ApiException as error:
            if error.status != 409:
                raise
        existing = self._as_dict(self._batch.read_namespaced_job(name, namespace))
        metadata = existing.get("metadata") or {}
        owner_uid = controller_uid(metadata)
        if owner_uid == owner.uid:
            return "existing"
        if owner_uid:
            raise ForeignJobError(
                f"Job {namespace}/{name} is controlled by another object (uid {owner_uid}); "
                "waiting for it to be deleted"
            )
        references = [*(metadata.get("ownerReferences") or []), owner.reference()]
        labels = {**(metadata.get("labels") or {}), **manifest["metadata"]["labels"]}
        self._batch.patch_namespaced_job(
            name,
            namespace,
            {"metadata": {"ownerReferences": references, "labels": labels}},
            field_manager=FIELD_MANAGER,
        )
        return "adopted"

    def delete_job(self, namespace: str, name: str) -> bool:
        """Delete the Job and (in the background) its pods; False if it was already gone."""
        try:
            self._batch.delete_namespaced_job(name, namespace, propagation_policy="Background")
            return True
        except ApiException as error:
            if error.status == 404:
                return False
            raise
