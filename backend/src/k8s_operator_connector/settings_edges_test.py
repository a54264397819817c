"""Every key of the connector's configuration read from YAML, every limit at and beyond its boundary,
unknown keys refused at every depth, and the error messages that name the key."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from k8s_operator_connector.execution_settings import ExecutionSettings
from k8s_operator_connector.lease_settings import LeaderElectionSettings
from k8s_operator_connector.meta_signing import MetaSigningSettings
from k8s_operator_connector.plugin_registry import enabled_plugins
from k8s_operator_connector.pod_security import PodSecuritySettings
from k8s_operator_connector.settings import (
    CONFIG_ENV,
    AllowedKind,
    ApiSettings,
    ConnectorSettings,
    CustomResourceSettings,
    LogLinkTemplate,
    SettingsError,
    load_settings,
    parse_settings,
)
from k8s_operator_connector.task_policy import TaskPolicySettings

# Every key the connector reads, each set to something other than its default.
EVERY_KEY = """
namespaces: [team-a, team-b]
defaultNamespace: team-a
defaultServiceAccount: flyte-worker
finishedRetentionSeconds: 0
unservedRetentionSeconds: 1
cleanupIntervalSeconds: 0.05
staleAfterSeconds: 1
livenessStaleSeconds: 1.5
maxLogLinks: 0
api:
  qps: 0.1
  burst: 1
  timeoutSeconds: 1
  maxRetries: 0
  kubeconfig: /etc/kube/config
  context: staging
logLinks:
  - name: console
    template: "https://console.example.com/{{ .namespace }}/{{ .objectName }}"
  - name: pod
    template: "kubectl logs -n {{ .namespace }} {{ .podName }}"
    phases: [pending, succeeded]
customResource:
  allowedKinds:
    - {group: "", version: v1, kind: ConfigMap, plural: configmaps}
    - {group: batch, version: v1, kind: Job, plural: jobs}
  maxManifestBytes: 1
taskTypes: [custom_resource]
podDefaults:
  default-labels: {team: ml}
metaSigning:
  mode: migrate
  keysPath: /keys
taskPolicy:
  namespaces: ["{{ project }}-{{ domain }}", shared]
  serviceAccounts: ["*"]
podSecurity:
  level: restricted
leaderElection:
  leaseName: sweeper.team-a
  leaseNamespace: flyte
  leaseDurationSeconds: 30
  renewDeadlineSeconds: 20
  retryPeriodSeconds: 5
executions:
  ownerReferences: true
  orphanSweep: false
  orphanGraceSeconds: 0
  orphanCheckIntervalSeconds: 1
"""


def test_every_key_is_read_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "connector.yaml"
    path.write_text(EVERY_KEY)
    settings = load_settings({CONFIG_ENV: str(path)})
    assert settings == ConnectorSettings(
        namespaces=("team-a", "team-b"),
        default_namespace="team-a",
        default_service_account="flyte-worker",
        finished_retention_seconds=0,
        unserved_retention_seconds=1,
        cleanup_interval_seconds=0.05,
        stale_after_seconds=1,
        liveness_stale_seconds=1.5,
        max_log_links=0,
        api=ApiSettings(
            qps=0.1, burst=1, timeout_seconds=1, max_retries=0, kubeconfig="/etc/kube/config", context="staging"
        ),
        log_links=(
            LogLinkTemplate("console", "https://console.example.com/{{ .namespace }}/{{ .objectName }}"),
            LogLinkTemplate("pod", "kubectl logs -n {{ .namespace }} {{ .podName }}", ("pending", "succeeded")),
        ),
        custom_resource=CustomResourceSettings(
            allowed_kinds=(AllowedKind("", "v1", "ConfigMap", "configmaps"), AllowedKind("batch", "v1", "Job", "jobs")),
            max_manifest_bytes=1,
        ),
        task_types=("custom_resource",),
        pod_defaults=settings.pod_defaults,  # its own module's tests pin every podDefaults key
        meta_signing=MetaSigningSettings(mode="migrate", keys_path="/keys"),
        task_policy=TaskPolicySettings(namespaces=("{{ project }}-{{ domain }}", "shared"), service_accounts=("*",)),
        pod_security=PodSecuritySettings(level="restricted"),
        leader_election=LeaderElectionSettings("sweeper.team-a", "flyte", 30, 20, 5),
        executions=ExecutionSettings(
            owner_references=True, orphan_sweep=False, orphan_grace_seconds=0, orphan_check_interval_seconds=1
        ),
    )
    assert settings.pod_defaults.default_labels == {"team": "ml"}
    assert settings.custom_resource.allowed_kinds[0].api_version == "v1"
    assert settings.watches_namespace("team-b") and not settings.watches_namespace("team-c")


def test_every_key_in_the_example_differs_from_its_default() -> None:
    """So the test above cannot pass by reading nothing."""
    defaults = ConnectorSettings()
    read = parse_settings(yaml.safe_load(EVERY_KEY))
    for name in ConnectorSettings.__dataclass_fields__:
        assert getattr(read, name) != getattr(defaults, name), name
    for name in ApiSettings.__dataclass_fields__:
        assert getattr(read.api, name) != getattr(defaults.api, name), name


@pytest.mark.parametrize("document", [None, {}, {"api": None, "customResource": None, "logLinks": None}])
def test_empty_or_null_sections_take_the_defaults(document: Any) -> None:
    # `api:` with nothing under it is YAML null: the defaults, not an error.
    assert parse_settings(document) == ConnectorSettings()


def test_defaults() -> None:
    settings = ConnectorSettings()
    assert (settings.namespaces, settings.default_namespace, settings.default_service_account) == ((), "default", "")
    assert (settings.finished_retention_seconds, settings.cleanup_interval_seconds) == (600, 30)
    assert (settings.stale_after_seconds, settings.liveness_stale_seconds, settings.max_log_links) == (300, 600, 8)
    assert settings.api == ApiSettings(50.0, 100, 30.0, 5, "", "")
    assert settings.custom_resource == CustomResourceSettings((), 65536)
    assert settings.task_types is None  # every plugin the registry has
    assert settings.watches_namespace("anything")


# (document, minimum accepted, just below it, the error for the latter)
LIMITS = [
    ("api.qps", 0.1, 0.09, "api.qps must be >= 0.1, got 0.09"),
    ("api.burst", 1, 0, "api.burst must be >= 1, got 0"),
    ("api.timeoutSeconds", 1, 0.999, "api.timeoutSeconds must be >= 1, got 0.999"),
    ("api.maxRetries", 0, -1, "api.maxRetries must be >= 0, got -1"),
    ("finishedRetentionSeconds", 0, -0.5, "finishedRetentionSeconds must be >= 0, got -0.5"),
    ("cleanupIntervalSeconds", 0.05, 0.049, "cleanupIntervalSeconds must be >= 0.05, got 0.049"),
    ("staleAfterSeconds", 1, 0.5, "staleAfterSeconds must be >= 1, got 0.5"),
    ("livenessStaleSeconds", 1, 0, "livenessStaleSeconds must be >= 1, got 0"),
    ("maxLogLinks", 0, -1, "maxLogLinks must be >= 0, got -1"),
    ("customResource.maxManifestBytes", 1, 0, "customResource.maxManifestBytes must be >= 1, got 0"),
]


def _document(dotted: str, value: Any) -> dict[str, Any]:
    section, _, key = dotted.rpartition(".")
    return {section: {key: value}} if section else {key: value}


def _read(settings: ConnectorSettings, dotted: str) -> Any:
    names = {"customResource": "custom_resource", "api": "api"}
    obj: Any = settings
    for part in dotted.split("."):
        obj = getattr(obj, names.get(part) or re.sub(r"[A-Z]", lambda m: "_" + m.group().lower(), part))
    return obj


@pytest.mark.parametrize(("key", "minimum", "below", "message"), LIMITS)
def test_each_number_is_accepted_at_its_minimum_and_refused_below(
    key: str, minimum: Any, below: Any, message: str
) -> None:
    assert _read(parse_settings(_document(key, minimum)), key) == minimum
    with pytest.raises(SettingsError, match=re.escape(message)):
        parse_settings(_document(key, below))


COUNTS = ("api.burst", "api.maxRetries", "maxLogLinks", "customResource.maxManifestBytes")


@pytest.mark.parametrize("key", COUNTS)
def test_counts_are_whole_numbers(key: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(f"{key} must be int, got 2.0")):
        parse_settings(_document(key, 2.0))
    with pytest.raises(SettingsError, match=re.escape(f"{key} must be int, got True")):
        parse_settings(_document(key, True))


@pytest.mark.parametrize("key", [key for key, *_ in LIMITS if key not in COUNTS])
@pytest.mark.parametrize("value", [".nan", ".inf"])
def test_numbers_must_be_finite(key: str, value: str) -> None:
    """YAML has .nan and .inf; NaN passes every `<` check, and an infinite wait overflows."""
    document = _document(key, yaml.safe_load(value))
    with pytest.raises(
        SettingsError, match=re.escape(f"{key} must be a finite number, got {float(yaml.safe_load(value))}")
    ):
        parse_settings(document)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("api.kubeconfig", 7, "api.kubeconfig must be str, got 7"),
        ("api.context", ["a"], "api.context must be str, got ['a']"),
        ("defaultServiceAccount", 1, "defaultServiceAccount must be str, got 1"),
        ("defaultNamespace", True, "defaultNamespace must be str, got True"),
        ("namespaces", "team-a", "namespaces must be list, got 'team-a'"),
        ("namespaces", [""], "namespaces[0] must be a non-empty string, got ''"),
        ("namespaces", ["ok", 3], "namespaces[1] must be a non-empty string, got 3"),
        ("taskTypes", [None], "taskTypes[0] must be a non-empty string, got None"),
        ("logLinks", {"name": "x"}, "logLinks must be list, got {'name': 'x'}"),
        ("logLinks", ["x"], "logLinks[0] must be a mapping, got str"),
        ("api", [1], "api must be Mapping, got [1]"),
        ("customResource", "all", "customResource must be Mapping, got 'all'"),
        ("customResource.allowedKinds", [[]], "customResource.allowedKinds[0] must be a mapping, got list"),
        ("metaSigning", 1, "metaSigning must be Mapping, got 1"),
        ("podDefaults", [], "podDefaults must be Mapping, got []"),
    ],
)
def test_wrong_types_name_the_key_and_the_type(key: str, value: Any, message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        parse_settings(_document(key, value))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"qps": 10}, "unknown key 'qps'; allowed keys here: api, cleanupIntervalSeconds, customResource, "),
        (
            {"api": {"qsp": 10}},
            "unknown key 'api.qsp'; allowed keys here: burst, context, kubeconfig, maxRetries, " "qps, timeoutSeconds",
        ),
        (
            {"logLinks": [{"name": "a", "template": "t"}, {"name": "b", "template": "t", "phase": ["running"]}]},
            "unknown key 'logLinks[1].phase'; allowed keys here: name, phases, template",
        ),
        (
            {"customResource": {"allowedKind": []}},
            "unknown key 'customResource.allowedKind'; allowed keys here: " "allowedKinds, maxManifestBytes",
        ),
        (
            {"customResource": {"allowedKinds": [{"version": "v1", "kind": "Pod", "plural": "pods", "scope": "x"}]}},
            "unknown key 'customResource.allowedKinds[0].scope'; allowed keys here: group, kind, plural, version",
        ),
        ({"metaSigning": {"key": "k"}}, "unknown key 'metaSigning.key'; allowed keys here: keysPath, mode"),
        (
            {"taskPolicy": {"namespace": ["a"]}},
            "unknown key 'taskPolicy.namespace'; allowed keys here: " "namespaces, serviceAccounts",
        ),
        ({"podSecurity": {"levels": "baseline"}}, "unknown key 'podSecurity.levels'; allowed keys here: level"),
        ({"podDefaults": {"default_labels": {}}}, "unknown key 'podDefaults.default_labels'; allowed"),
    ],
)
def test_unknown_keys_are_refused_at_every_depth(document: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        parse_settings(document)


@pytest.mark.parametrize(
    ("namespace", "valid"),
    [
        ("a", True),
        ("a" * 63, True),
        ("a" * 64, False),
        ("team-a1", True),
        ("1team", True),  # a DNS-1123 label may start with a digit
        ("-team", False),
        ("team-", False),
        ("Team", False),
        ("team.a", False),
        ("team_a", False),
        ("team-a\n", False),  # the whole value: a YAML block scalar keeps its final newline
    ],
)
def test_namespaces_are_dns_labels_up_to_63_characters(namespace: str, valid: bool) -> None:
    for key, document in (
        ("namespaces", {"namespaces": [namespace]}),
        ("defaultNamespace", {"defaultNamespace": namespace}),
    ):
        if valid:
            parse_settings(document)
        else:
            message = f"{key} must be a DNS-1123 label (a Kubernetes namespace), got {namespace!r}"
            with pytest.raises(SettingsError, match=re.escape(message)):
                parse_settings(document)


@pytest.mark.parametrize(
    ("link", "message"),
    [
        ({"template": "t"}, "logLinks[0] needs a non-empty name and template"),
        ({"name": "x"}, "logLinks[0] needs a non-empty name and template"),
        ({"name": "", "template": "t"}, "logLinks[0] needs a non-empty name and template"),
        (
            {"name": "x", "template": "t", "phases": ["running", "Running"]},
            "logLinks[0].phases has 'Running'; " "allowed: pending, running, succeeded, failed",
        ),
        ({"name": "x", "template": "t", "phases": "running"}, "logLinks[0].phases must be list, got 'running'"),
    ],
)
def test_log_link_entries_are_checked(link: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        parse_settings({"logLinks": [link]})


def test_a_log_link_with_no_phases_never_shows() -> None:
    [link] = parse_settings({"logLinks": [{"name": "x", "template": "t", "phases": []}]}).log_links
    assert link.phases == ()


@pytest.mark.parametrize(
    ("kind", "valid"),
    [
        ({"version": "v1", "kind": "Pod", "plural": "pods"}, True),  # group empty: the core API
        ({"group": "batch", "kind": "Job", "plural": "jobs"}, False),
        ({"group": "batch", "version": "v1", "plural": "jobs"}, False),
        ({"group": "batch", "version": "v1", "kind": "Job"}, False),
    ],
)
def test_allowed_kinds_need_version_kind_and_plural(kind: dict[str, str], valid: bool) -> None:
    document = {"customResource": {"allowedKinds": [kind]}}
    if valid:
        assert parse_settings(document).custom_resource.allowed_kinds == (AllowedKind("", "v1", "Pod", "pods"),)
        return
    message = "customResource.allowedKinds[0] needs version, kind and plural (group is empty for the core API)"
    with pytest.raises(SettingsError, match=re.escape(message)):
        parse_settings(document)


def test_task_types_are_checked_against_the_plugins() -> None:
    both = ("parallel_job", "custom_resource")
    assert parse_settings({"taskTypes": list(both)}).task_types == both
    assert parse_settings({"taskTypes": []}).task_types == ()
    assert parse_settings({"taskTypes": None}).task_types is None
    message = re.escape("taskTypes has 'Parallel_Job'; registered plugins serve: custom_resource, parallel_job") + "$"
    with pytest.raises(SettingsError, match=message):
        enabled_plugins(parse_settings({"taskTypes": ["parallel_job", "Parallel_Job"]}))


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"metaSigning": {"mode": "optional"}}, "metaSigning.mode is 'optional'; allowed: required, migrate, off"),
        (
            {"podSecurity": {"level": "Baseline"}},
            "podSecurity.level is 'Baseline'; allowed: privileged, baseline, restricted",
        ),
    ],
)
def test_enumerated_keys_list_what_is_allowed(section: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        parse_settings(section)


def test_a_file_error_names_the_file_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "connector.yaml"
    path.write_text("api:\n  burst: 0\n")
    with pytest.raises(SettingsError, match=re.escape(f"{path}: api.burst must be >= 1, got 0")):
        load_settings({CONFIG_ENV: str(path)})


def test_an_empty_file_or_variable_means_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_settings({CONFIG_ENV: str(path)}) == ConnectorSettings()
    assert load_settings({CONFIG_ENV: ""}) == ConnectorSettings()


@pytest.mark.parametrize(("text", "kind"), [("- a\n", "list"), ("just text\n", "str"), ("3\n", "int")])
def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path, text: str, kind: str) -> None:
    path = tmp_path / "connector.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError, match=re.escape(f"{path}: the configuration must be a mapping, got {kind}")):
        load_settings({CONFIG_ENV: str(path)})


def test_the_unserved_retention_may_equal_the_finished_one_and_not_be_shorter() -> None:
    both_zero = parse_settings({"finishedRetentionSeconds": 0, "unservedRetentionSeconds": 0})
    assert (both_zero.finished_retention_seconds, both_zero.unserved_retention_seconds) == (0, 0)
    assert (
        parse_settings({"finishedRetentionSeconds": 90, "unservedRetentionSeconds": 90}).unserved_retention_seconds
        == 90
    )
    with pytest.raises(SettingsError) as raised:
        parse_settings({"finishedRetentionSeconds": 90, "unservedRetentionSeconds": 89.5})
    assert str(raised.value) == (
        "unservedRetentionSeconds (89.5) must be >= finishedRetentionSeconds (90): objects no GetTask asked about "
        "are kept at least as long as the others"
    )
    with pytest.raises(SettingsError, match=r"^unservedRetentionSeconds must be >= 0, got -1$"):
        parse_settings({"finishedRetentionSeconds": 0, "unservedRetentionSeconds": -1})
