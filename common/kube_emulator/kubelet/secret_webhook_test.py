"""The local kubelet's secret webhook: Flyte's vectors, a round trip of the connector's annotations,
env-var injection as flytepropeller/pkg/webhook does it, and a pod that reads its secret.

Vectors: github.com/flyteorg/flyte v1.16.8 (commit 51877f899c9f95e0cb5efe90444eb0c6c6ea48a9),
flyteplugins/go/tasks/pluginmachinery/utils/secrets/marshaler_test.go.
"""

from __future__ import annotations

import base64
import sys

import pytest
from flyteidl.core import security_pb2

from k8s_operator_connector.flyte_secrets import injection_metadata, secret_annotations
from kube_emulator import KubeEmulator, wait_until
from kube_emulator.kubelet import Kubelet
from kube_emulator.kubelet.secret_webhook import WebhookDenied, decode_base32, mutate, parse_secret, requested_secrets

ENV_VAR = security_pb2.Secret.ENV_VAR


def _pod(annotations: dict[str, str], labelled: bool = True, **spec: object) -> dict:
    labels = {"inject-flyte-secrets": "true"} if labelled else {}
    containers = [{"name": "worker", "image": "app"}, {"name": "sidecar", "image": "busybox"}]
    return {
        "metadata": {"name": "p", "namespace": "default", "labels": labels, "annotations": annotations},
        "spec": {"containers": containers, **spec},
    }


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        ("m4zg54lqhiqceozhhixvyxbcbi", {"group": ";':/\\"}),
        ("nnsxsoraejwxsx2lmv3secq", {"key": "my_key"}),
    ],
)
def test_flytes_vectors_decode(annotation, expected):
    secret = parse_secret(decode_base32(annotation).decode())
    assert {name: value for name, value in secret.items() if value and value != "ANY"} == expected


@pytest.mark.parametrize(
    "secret",
    [
        security_pb2.Secret(group="db", key="password"),
        security_pb2.Secret(group=";':/\\", key='a"b\n\tc'),
        security_pb2.Secret(group="é-ü", group_version="v2", key="k\x01\x7f", mount_requirement=ENV_VAR, env_var="PW"),
        security_pb2.Secret(key="x" * 41),  # every input length mod 5 across these cases
        security_pb2.Secret(group="g", key="k", mount_requirement=security_pb2.Secret.FILE),
    ],
)
def test_the_connectors_annotations_round_trip(secret):
    [annotation] = secret_annotations([secret]).values()
    decoded = parse_secret(decode_base32(annotation).decode())
    assert decoded == {
        "group": secret.group,
        "group_version": secret.group_version,
        "key": secret.key,
        "mount_requirement": security_pb2.Secret.MountType.Name(secret.mount_requirement),
        "env_var": secret.env_var,
    }


@pytest.mark.parametrize(
    "annotation",
    [
        "NNSXSORAEJWXSX3LMV4SECQ",  # standard base32, what the connector used to write
        "nnsxsoraejwxsx3lmv4secq",  # the standard alphabet in lower case: 3 and 4 mean other bits
        "NNSXSORAEJWXSX3LMV4SECQ=",
    ],
)
def test_a_wrong_alphabet_is_rejected(annotation):
    with pytest.raises(WebhookDenied, match=r"flyte.secrets/s0"):
        requested_secrets(_pod({"flyte.secrets/s0": annotation}))


def test_env_var_mode_names_variables_as_the_webhook_does():
    labels, annotations = injection_metadata(
        [security_pb2.Secret(group="db-creds", key="password", mount_requirement=ENV_VAR, env_var="DB_PASSWORD")]
    )
    pod = _pod(
        annotations,
        initContainers=[{"name": "init", "image": "x", "env": [{"name": "FLYTE_SECRETS_ENV_PREFIX", "value": "mine"}]}],
    )
    assert labels == {"inject-flyte-secrets": "true"}
    mutated = mutate(pod)
    reference = {"secretKeyRef": {"name": "db-creds", "key": "password", "optional": True}}
    for container in [*mutated["spec"]["initContainers"], *mutated["spec"]["containers"]]:
        env = {item["name"]: item for item in container["env"]}
        assert env["_FSEC_DB-CREDS_PASSWORD"]["valueFrom"] == reference
        assert env["DB_PASSWORD"]["valueFrom"] == reference
    init_env = {item["name"]: item.get("value") for item in mutated["spec"]["initContainers"][0]["env"]}
    assert init_env["FLYTE_SECRETS_ENV_PREFIX"] == "mine"  # existing variables are left alone
    worker_env = {item["name"]: item.get("value") for item in mutated["spec"]["containers"][0]["env"]}
    assert worker_env["FLYTE_SECRETS_ENV_PREFIX"] == "_FSEC_"
    assert "env" not in pod["spec"]["containers"][0]  # the input is not modified


def test_file_mode_mounts_the_group_under_etc_flyte_secrets():
    _, annotations = injection_metadata([security_pb2.Secret(group="DB", key="Password")])
    mutated = mutate(_pod(annotations))
    [volume] = mutated["spec"]["volumes"]
    assert volume["secret"] == {
        "secretName": "DB",
        "items": [{"key": "Password", "path": "password"}],
        "optional": True,
    }
    for container in mutated["spec"]["containers"]:
        assert container["volumeMounts"] == [
            {"name": volume["name"], "readOnly": True, "mountPath": "/etc/flyte/secrets/db"}
        ]
        assert {"name": "FLYTE_SECRETS_DEFAULT_DIR", "value": "/etc/flyte/secrets"} in container["env"]


def test_unlabelled_pods_are_left_alone_and_incomplete_requests_are_rejected():
    _, annotations = injection_metadata([security_pb2.Secret(key="only-key", mount_requirement=ENV_VAR)])
    unlabelled = _pod(annotations, labelled=False)
    assert mutate(unlabelled) is unlabelled
    with pytest.raises(WebhookDenied, match="require both key and group"):
        mutate(_pod(annotations))


def _job(name: str, code: str, annotations: dict[str, str], labels: dict[str, str]) -> dict:
    container = {"name": "worker", "image": "ignored", "command": [sys.executable, "-c"], "args": [code]}
    template = {
        "metadata": {"labels": labels, "annotations": annotations},
        "spec": {"restartPolicy": "Never", "containers": [container]},
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {"backoffLimit": 0, "template": template},
    }


def _condition(api: KubeEmulator, name: str) -> str | None:
    for condition in ((api.get("jobs", name) or {}).get("status") or {}).get("conditions") or []:
        if condition["status"] == "True":
            return f'{condition["type"]}/{condition.get("reason", "")}'
    return None


def test_a_pod_reads_its_secret_through_flytekits_secrets_api(api):
    token = "s3cr3t-value"
    api.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "demo-credentials", "namespace": "default"},
            "data": {"token": base64.b64encode(token.encode()).decode()},
        }
    )
    labels, annotations = injection_metadata(
        [security_pb2.Secret(group="demo-credentials", key="token", mount_requirement=ENV_VAR)]
    )
    code = (
        "from flytekit import current_context; print('got', current_context().secrets.get('demo-credentials', 'token'))"
    )
    with Kubelet(api.api_client()):
        api.create(_job("reads", code, annotations, labels))
        assert (
            wait_until(lambda: _condition(api, "reads"), timeout=120, what="the job") == "Complete/CompletionsReached"
        )
        [pod] = api.list("pods", "default", label_selector="job-name=reads")
        log = (
            api.api_client()
            .call_api(f"/api/v1/namespaces/default/pods/{pod['metadata']['name']}/log", "GET", _preload_content=False)
            .data.decode()
        )
        assert f"got {token}" in log
        # A request the webhook cannot decode: the pod is never admitted and the Job fails.
        api.create(_job("denied", "print(1)", {"flyte.secrets/s0": "NNSXSORAEJWXSX3LMV4SECQ"}, labels))
        assert wait_until(lambda: _condition(api, "denied"), what="the job") == "Failed/FailedCreate"
        assert not api.list("pods", "default", label_selector="job-name=denied")
