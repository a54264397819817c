"""Where and as whom tasks run: the namespaces and service accounts the policy admits.

``taskPolicy.namespaces`` lists namespace names and templates in the syntax of Flyte's
``namespace_mapping.template``: ``{{ project }}`` and ``{{ domain }}``, replaced literally
(flyteadmin/pkg/common/namespace.go, GetNamespaceName, flyteorg/flyte v1.16.8, commit
51877f899c9f95e0cb5efe90444eb0c6c6ea48a9; the default template is
``{{ project }}-{{ domain }}``, flyteadmin/pkg/runtime/namespace_config_provider.go). A
template admits exactly the namespace it renders to for the task's own project and domain.
System namespaces (kube-system, kube-public, kube-node-lease) and the connector's own
namespace are admitted only when listed by name, never by a template.

``taskPolicy.serviceAccounts`` lists the service accounts a task may run as (``*``: any);
the default is the execution's service account, if listed, else the namespace's
``default``. Every pod spec in the object is held to the same list.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from k8s_operator_connector.pod_security import find_pod_specs
from k8s_operator_connector.settings_reader import SettingsError, SettingsReader

PROJECT_PLACEHOLDER = "{{ project }}"
DOMAIN_PLACEHOLDER = "{{ domain }}"
DEFAULT_NAMESPACES = (f"{PROJECT_PLACEHOLDER}-{DOMAIN_PLACEHOLDER}",)
DEFAULT_SERVICE_ACCOUNTS = ("default",)
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})
ANY_SERVICE_ACCOUNT = "*"
SERVICE_ACCOUNT_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


@dataclass(frozen=True)
class TaskPolicySettings:
    namespaces: tuple[str, ...] = DEFAULT_NAMESPACES
    service_accounts: tuple[str, ...] = DEFAULT_SERVICE_ACCOUNTS


def flyte_namespace(template: str, project: str, domain: str) -> str:
    """The namespace Flyte's namespace_mapping template gives a project and domain."""
    return template.replace(PROJECT_PLACEHOLDER, project).replace(DOMAIN_PLACEHOLDER, domain)


def is_template(entry: str) -> bool:
    return "{{" in entry or "}}" in entry


def _namespace_entry(reader: SettingsReader, index: int, entry: str) -> str:
    where = f"{reader.path('namespaces')}[{index}]"
    if is_template(entry):
        if is_template(flyte_namespace(entry, "", "")):
            raise SettingsError(
                f"{where} is {entry!r}: the only placeholders are {PROJECT_PLACEHOLDER} and {DOMAIN_PLACEHOLDER}, "
                "written as in Flyte's namespace_mapping.template (one space inside the braces)"
            )
        if not _DNS_LABEL.fullmatch(flyte_namespace(entry, "project", "domain")):
            raise SettingsError(f"{where} is {entry!r}: it does not render to a namespace name (a DNS-1123 label)")
    elif not _DNS_LABEL.fullmatch(entry):
        raise SettingsError(f"{where} is {entry!r}: not a namespace name (a DNS-1123 label) or a template")
    return entry


def parse_task_policy(reader: SettingsReader) -> TaskPolicySettings:
    namespaces = reader.strings("namespaces", DEFAULT_NAMESPACES)
    if not namespaces:
        raise SettingsError(f"{reader.path('namespaces')} is empty: no task could run; list names or templates")
    namespaces = tuple(_namespace_entry(reader, index, entry) for index, entry in enumerate(namespaces))
    accounts = reader.strings("serviceAccounts", DEFAULT_SERVICE_ACCOUNTS)
    for index, account in enumerate(accounts):
        if account != ANY_SERVICE_ACCOUNT and not _DNS_SUBDOMAIN.fullmatch(account):
            where = f"{reader.path('serviceAccounts')}[{index}]"
            raise SettingsError(f"{where} is {account!r}: a service account name or {ANY_SERVICE_ACCOUNT}")
    reader.finish()
    return TaskPolicySettings(namespaces=namespaces, service_accounts=accounts)


def connector_namespace(
    environ: Mapping[str, str] = os.environ, namespace_file: str = SERVICE_ACCOUNT_NAMESPACE_FILE
) -> str:
    """The connector's own namespace: POD_NAMESPACE, else its service account's ("" outside a cluster)."""
    if environ.get("POD_NAMESPACE"):
        return environ["POD_NAMESPACE"]
    try:
        return Path(namespace_file).read_text().strip()
    except OSError:
        return ""


class TaskPolicy:
    """Answers None when a task may run there and so, or the refusal naming the setting."""

    def __init__(self, settings: TaskPolicySettings, own_namespace: str = "") -> None:
        self.settings = settings
        self.protected = SYSTEM_NAMESPACES | ({own_namespace} if own_namespace else set())

    def namespace_refusal(self, namespace: str, project: str, domain: str, local: bool = False) -> str | None:
        entries = self.settings.namespaces
        if namespace in entries:  # listed by name: admitted on purpose, even a protected one
            return None
        rendered = [flyte_namespace(entry, project, domain) for entry in entries if is_template(entry)]
        if namespace not in self.protected and project and domain and namespace in rendered:
            return None
        why = (
            "a system namespace or the connector's own, admitted only when listed by name"
            if namespace in self.protected
            else f"not listed, and for project {project!r} domain {domain!r} the templates give "
            f"{', '.join(rendered) or 'nothing'}"
        )
        if local:
            why += " (a local run uses defaultNamespace)"
        return (
            f"namespace {namespace!r} is not admitted by the connector's taskPolicy.namespaces "
            f"({', '.join(entries)}): {why}; add it to taskPolicy.namespaces to allow it"
        )

    def service_account_refusal(self, account: str, field: str) -> str | None:
        allowed = self.settings.service_accounts
        name = account or "default"  # no service account: Kubernetes runs the pod as "default"
        if ANY_SERVICE_ACCOUNT in allowed or name in allowed:
            return None
        return (
            f"{field}: service account {name!r} is not admitted by the connector's taskPolicy.serviceAccounts "
            f"({', '.join(allowed)}); add it there to let tasks run as it"
        )

    def object_refusal(self, manifest: Mapping[str, Any]) -> str | None:
        """The service accounts the object's pod specs name, held to the same list."""
        for path, _, spec in find_pod_specs(manifest):
            for field in ("serviceAccountName", "serviceAccount"):  # serviceAccount: the deprecated alias
                value = spec.get(field)
                if value is not None:
                    refusal = self.service_account_refusal(str(value), f"{path}.{field}")
                    if refusal:
                        return refusal
        return None
