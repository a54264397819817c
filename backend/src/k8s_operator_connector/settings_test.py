import re

import pytest

from k8s_operator_connector.settings import CONFIG_ENV, SettingsError, load_settings, parse_settings

FULL = """
namespaces: [flytesnacks-development]
defaultNamespace: flytesnacks-development
finishedRetentionSeconds: 120
staleAfterSeconds: 60
livenessStaleSeconds: 900
api: {qps: 20, burst: 40, timeoutSeconds: 10, maxRetries: 3}
logLinks:
  - name: kubectl
    template: "kubectl logs -n {{ .namespace }} {{ .podName }}"
    phases: [running, failed]
customResource:
  allowedKinds:
    - {group: batch, version: v1, kind: Job, plural: jobs}
taskTypes: [parallel_job]
"""


def test_defaults_without_a_file():
    settings = load_settings({})
    assert settings.task_types is None  # every task type the plugin registry has a plugin for
    assert settings.custom_resource.allowed_kinds == ()
    assert settings.finished_retention_seconds == 600
    assert settings.liveness_stale_seconds == 600


def test_a_full_file(tmp_path):
    path = tmp_path / "connector.yaml"
    path.write_text(FULL)
    settings = load_settings({CONFIG_ENV: str(path)})
    assert settings.namespaces == ("flytesnacks-development",)
    assert settings.api.qps == 20
    assert settings.log_links[0].per_pod
    assert settings.log_links[0].phases == ("running", "failed")
    assert settings.custom_resource.allowed_kinds[0].api_version == "batch/v1"
    assert settings.task_types == ("parallel_job",)
    assert settings.liveness_stale_seconds == 900


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"retention": 5}, "unknown key 'retention'"),
        ({"api": {"qps": "fast"}}, "api.qps must be int or float"),
        ({"api": {"burst": 0}}, "api.burst must be >= 1"),
        ({"namespaces": ["Not_A_Namespace"]}, "namespaces must be a DNS-1123 label"),
        ({"taskTypes": "parallel_job"}, "taskTypes must be list, got 'parallel_job'"),
        ({"taskTypes": [""]}, "taskTypes[0] must be a non-empty string"),
        (
            {"logLinks": [{"name": "x", "template": "{{ .pod }}"}]},
            "logLinks[0].template (log link 'x'): {{ .pod }} is not a known variable",
        ),
        (
            {"logLinks": [{"name": "x", "template": "kubectl logs {podName}"}]},
            "logLinks[0].template (log link 'x'): {podName} is the connector's old placeholder syntax",
        ),
        ({"logLinks": [{"name": "x", "template": "t", "phases": ["done"]}]}, "logLinks[0].phases has 'done'"),
        ({"customResource": {"allowedKinds": [{"kind": "Job"}]}}, "needs version, kind and plural"),
        ({"staleAfterSeconds": True}, "staleAfterSeconds must be int or float"),
        ({"livenessStaleSeconds": "10m"}, "livenessStaleSeconds must be int or float, got '10m'"),
        ({"livenessStaleSeconds": 0}, "livenessStaleSeconds must be >= 1, got 0"),
        ({"livenessStaleSeconds": False}, "livenessStaleSeconds must be int or float"),
        ([1, 2], "must be a mapping"),
    ],
)
def test_invalid_settings_name_the_key(document, message):
    with pytest.raises(SettingsError, match=re.escape(message)):
        parse_settings(document)


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(SettingsError, match="cannot read it"):
        load_settings({CONFIG_ENV: str(tmp_path / "missing.yaml")})
    bad = tmp_path / "bad.yaml"
    bad.write_text("api: [unclosed")
    with pytest.raises(SettingsError, match="not valid YAML"):
        load_settings({CONFIG_ENV: str(bad)})
