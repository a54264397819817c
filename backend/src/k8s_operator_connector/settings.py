"""The connector's configuration: one YAML file, validated once at start.

The file is named by ``K8S_OPERATOR_CONNECTOR_CONFIG``; without it every setting takes
its default. Unknown keys and wrong types are errors that name the key and what is
allowed, so a typo in a ConfigMap stops the connector at start instead of being ignored.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from k8s_operator_connector.execution_settings import ExecutionSettings, parse_executions
from k8s_operator_connector.lease_settings import LeaderElectionSettings, parse_leader_election
from k8s_operator_connector.log_template import LogTemplate, TemplateError, parse_template
from k8s_operator_connector.meta_signing import MetaSigningSettings, parse_meta_signing
from k8s_operator_connector.pod_defaults import PodDefaults, PodDefaultsError, parse_pod_defaults
from k8s_operator_connector.pod_security import PodSecuritySettings, parse_pod_security
from k8s_operator_connector.settings_reader import SettingsError
from k8s_operator_connector.settings_reader import SettingsReader as _Reader
from k8s_operator_connector.task_policy import TaskPolicySettings, parse_task_policy

CONFIG_ENV = "K8S_OPERATOR_CONNECTOR_CONFIG"
LOG_LINK_PHASES = ("pending", "running", "succeeded", "failed")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class ApiSettings:
    qps: float = 50.0
    burst: int = 100
    timeout_seconds: float = 30.0
    max_retries: int = 5
    kubeconfig: str = ""
    context: str = ""


@dataclass(frozen=True)
class LogLinkTemplate:
    """A ``logLinks`` entry; the template is checked when it is made (TemplateError)."""

    name: str
    template: str
    phases: tuple[str, ...] = LOG_LINK_PHASES
    parsed: LogTemplate = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parsed", parse_template(self.template))

    @property
    def per_pod(self) -> bool:
        return self.parsed.per_pod


@dataclass(frozen=True)
class AllowedKind:
    group: str
    version: str
    kind: str
    plural: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


@dataclass(frozen=True)
class CustomResourceSettings:
    allowed_kinds: tuple[AllowedKind, ...] = ()
    max_manifest_bytes: int = 64 * 1024


@dataclass(frozen=True)
class ConnectorSettings:
    namespaces: tuple[str, ...] = ()
    default_namespace: str = "default"
    default_service_account: str = ""
    finished_retention_seconds: float = 600.0  # after the final phase was served (final_phase.py)
    unserved_retention_seconds: float = 86400.0  # finished, and no GetTask ever asked
    cleanup_interval_seconds: float = 30.0
    stale_after_seconds: float = 300.0
    # The liveness check fails once a watch has been disconnected this long (watch_health).
    liveness_stale_seconds: float = 600.0
    max_log_links: int = 8
    api: ApiSettings = field(default_factory=ApiSettings)
    log_links: tuple[LogLinkTemplate, ...] = ()
    custom_resource: CustomResourceSettings = field(default_factory=CustomResourceSettings)
    # The task types to serve (checked against the plugin registry at start); None: every registered one.
    task_types: tuple[str, ...] | None = None
    pod_defaults: PodDefaults = field(default_factory=PodDefaults)  # Flyte's k8s plugin keys
    meta_signing: MetaSigningSettings = field(default_factory=MetaSigningSettings)
    task_policy: TaskPolicySettings = field(default_factory=TaskPolicySettings)
    pod_security: PodSecuritySettings = field(default_factory=PodSecuritySettings)
    leader_election: LeaderElectionSettings = field(default_factory=LeaderElectionSettings)
    executions: ExecutionSettings = field(default_factory=ExecutionSettings)

    def watches_namespace(self, namespace: str) -> bool:
        return not self.namespaces or namespace in self.namespaces


def _namespace(reader: _Reader, key: str, value: str) -> str:
    if not _DNS_LABEL.fullmatch(value):
        raise SettingsError(f"{reader.path(key)} must be a DNS-1123 label (a Kubernetes namespace), got {value!r}")
    return value


def _api(reader: _Reader) -> ApiSettings:
    api = ApiSettings(
        qps=reader.number("qps", ApiSettings.qps, 0.1),
        burst=reader.number("burst", ApiSettings.burst, 1, integer=True),
        timeout_seconds=reader.number("timeoutSeconds", ApiSettings.timeout_seconds, 1),
        max_retries=reader.number("maxRetries", ApiSettings.max_retries, 0, integer=True),
        kubeconfig=reader.get("kubeconfig", str, ""),
        context=reader.get("context", str, ""),
    )
    reader.finish()
    return api


def _log_link(reader: _Reader) -> LogLinkTemplate:
    name = reader.get("name", str, "")
    template = reader.get("template", str, "")
    if not name or not template:
        raise SettingsError(f"{reader.where} needs a non-empty name and template")
    try:
        parse_template(template)
    except TemplateError as error:
        raise SettingsError(f"{reader.where}.template (log link {name!r}): {error}") from error
    phases = reader.strings("phases", LOG_LINK_PHASES)
    bad = [phase for phase in phases if phase not in LOG_LINK_PHASES]
    if bad:
        raise SettingsError(f"{reader.where}.phases has {bad[0]!r}; allowed: {', '.join(LOG_LINK_PHASES)}")
    reader.finish()
    return LogLinkTemplate(name=name, template=template, phases=phases)


def _allowed_kind(reader: _Reader) -> AllowedKind:
    kind = AllowedKind(
        group=reader.get("group", str, ""),
        version=reader.get("version", str, ""),
        kind=reader.get("kind", str, ""),
        plural=reader.get("plural", str, ""),
    )
    if not (kind.version and kind.kind and kind.plural):
        raise SettingsError(f"{reader.where} needs version, kind and plural (group is empty for the core API)")
    reader.finish()
    return kind


def _pod_defaults(section: Mapping[str, Any]) -> PodDefaults:
    try:
        return parse_pod_defaults(section, "podDefaults")
    except PodDefaultsError as error:
        raise SettingsError(str(error)) from error


def parse_settings(document: Any) -> ConnectorSettings:
    """Validate a parsed YAML document into settings; raises SettingsError naming the key."""
    root = _Reader(document, "")
    namespaces = tuple(_namespace(root, "namespaces", n) for n in root.strings("namespaces", ()))
    default_namespace = _namespace(root, "defaultNamespace", root.get("defaultNamespace", str, "default"))
    task_types = root.strings("taskTypes", ()) if root.get("taskTypes", list, None) is not None else None
    custom = root.child("customResource")
    custom_settings = CustomResourceSettings(
        allowed_kinds=tuple(_allowed_kind(item) for item in custom.items("allowedKinds")),
        max_manifest_bytes=custom.number("maxManifestBytes", CustomResourceSettings.max_manifest_bytes, 1, True),
    )
    custom.finish()
    settings = ConnectorSettings(
        namespaces=namespaces,
        default_namespace=default_namespace,
        default_service_account=root.get("defaultServiceAccount", str, ""),
        finished_retention_seconds=root.number("finishedRetentionSeconds", 600.0, 0),
        unserved_retention_seconds=root.number("unservedRetentionSeconds", 86400.0, 0),
        cleanup_interval_seconds=root.number("cleanupIntervalSeconds", 30.0, 0.05),
        stale_after_seconds=root.number("staleAfterSeconds", 300.0, 1),
        liveness_stale_seconds=root.number("livenessStaleSeconds", 600.0, 1),
        max_log_links=root.number("maxLogLinks", 8, 0, integer=True),
        api=_api(root.child("api")),
        log_links=tuple(_log_link(item) for item in root.items("logLinks")),
        custom_resource=custom_settings,
        task_types=task_types,
        pod_defaults=_pod_defaults(root.get("podDefaults", Mapping, {})),
        meta_signing=parse_meta_signing(root.child("metaSigning")),
        task_policy=parse_task_policy(root.child("taskPolicy")),
        pod_security=parse_pod_security(root.child("podSecurity")),
        leader_election=parse_leader_election(root.child("leaderElection")),
        executions=parse_executions(root.child("executions")),
    )
    root.finish()
    if settings.unserved_retention_seconds < settings.finished_retention_seconds:
        raise SettingsError(
            f"unservedRetentionSeconds ({settings.unserved_retention_seconds:g}) must be >= "
            f"finishedRetentionSeconds ({settings.finished_retention_seconds:g}): objects no GetTask asked about "
            "are kept at least as long as the others"
        )
    return settings


def load_settings(environ: Mapping[str, str] = os.environ) -> ConnectorSettings:
    """Settings from the file named by K8S_OPERATOR_CONNECTOR_CONFIG, or the defaults."""
    path = environ.get(CONFIG_ENV, "")
    if not path:
        return ConnectorSettings()
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise SettingsError(f"{CONFIG_ENV}={path}: cannot read it ({error.strerror})") from error
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise SettingsError(f"{CONFIG_ENV}={path}: not valid YAML ({error})") from error
    try:
        return parse_settings(document)
    except SettingsError as error:
        raise SettingsError(f"{path}: {error}") from error
