"""The Pod Security Standards checks, case by case as k8s.io/pod-security-admission/policy/check_*.go
(tag v0.36.2, commit 39b45cd167e1bd665aaeefc6e1acc1cc753259f2) define them."""

import copy
from typing import Any

import pytest

from k8s_operator_connector.admission import TaskAdmission
from k8s_operator_connector.pod_security import (
    MAX_DEPTH,
    NestedTooDeep,
    PodSecuritySettings,
    check_object,
    find_pod_specs,
)
from k8s_operator_connector.settings import ConnectorSettings, SettingsError, parse_settings
from k8s_operator_connector.task_policy import TaskPolicySettings

# What the machinery builds for a task without a pod template: passes baseline.
WORKER = {"name": "worker", "image": "ghcr.io/example/demo:1", "args": ["pyflyte-execute"]}


def parallel_job(pod_spec: dict, annotations: dict | None = None) -> dict:
    template = {"metadata": {"annotations": annotations or {}}, "spec": pod_spec}
    return {"apiVersion": "workloads.example.com/v1alpha1", "kind": "ParallelJob", "spec": {"template": template}}


def pod(**spec) -> dict:
    return {"containers": [copy.deepcopy(WORKER)], "restartPolicy": "Never", **spec}


def container(**fields) -> dict:
    return {**copy.deepcopy(WORKER), **fields}


P = "spec.template.spec"
BASELINE_FAILURES = [
    # (id, pod spec, annotations, the field path reported, the upstream check)
    ("privileged", pod(containers=[container(securityContext={"privileged": True})]), None,
     f"{P}.containers[0].securityContext.privileged", "privileged"),
    ("privileged-init", pod(initContainers=[container(securityContext={"privileged": True})]), None,
     f"{P}.initContainers[0].securityContext.privileged", "privileged"),
    ("privileged-ephemeral", pod(ephemeralContainers=[container(securityContext={"privileged": True})]), None,
     f"{P}.ephemeralContainers[0].securityContext.privileged", "privileged"),
    ("hostNetwork", pod(hostNetwork=True), None, f"{P}.hostNetwork", "hostNamespaces"),
    ("hostPID", pod(hostPID=True), None, f"{P}.hostPID", "hostNamespaces"),
    ("hostIPC", pod(hostIPC=True), None, f"{P}.hostIPC", "hostNamespaces"),
    ("hostPath", pod(volumes=[{"name": "root", "hostPath": {"path": "/"}}]), None,
     f"{P}.volumes[0].hostPath", "hostPathVolumes"),
    ("NET_RAW", pod(containers=[container(securityContext={"capabilities": {"add": ["CHOWN", "NET_RAW"]}})]), None,
     f"{P}.containers[0].securityContext.capabilities.add[1]", "capabilities_baseline"),
    ("SYS_ADMIN", pod(containers=[container(securityContext={"capabilities": {"add": ["SYS_ADMIN"]}})]), None,
     f"{P}.containers[0].securityContext.capabilities.add[0]", "capabilities_baseline"),
    ("hostPort", pod(containers=[container(ports=[{"containerPort": 80, "hostPort": 8080}])]), None,
     f"{P}.containers[0].ports[0].hostPort", "hostPorts"),
    ("procMount", pod(containers=[container(securityContext={"procMount": "Unmasked"})]), None,
     f"{P}.containers[0].securityContext.procMount", "procMount"),
    ("seccomp-unconfined-pod", pod(securityContext={"seccompProfile": {"type": "Unconfined"}}), None,
     f"{P}.securityContext.seccompProfile.type", "seccompProfile_baseline"),
    ("seccomp-unconfined-container",
     pod(containers=[container(securityContext={"seccompProfile": {"type": "Unconfined"}})]), None,
     f"{P}.containers[0].securityContext.seccompProfile.type", "seccompProfile_baseline"),
    ("apparmor-unconfined", pod(securityContext={"appArmorProfile": {"type": "Unconfined"}}), None,
     f"{P}.securityContext.appArmorProfile.type", "appArmorProfile"),
    ("apparmor-annotation", pod(), {"container.apparmor.security.beta.kubernetes.io/worker": "unconfined"},
     "spec.template.metadata.annotations[container.apparmor.security.beta.kubernetes.io/worker]", "appArmorProfile"),
    ("selinux-type", pod(securityContext={"seLinuxOptions": {"type": "spc_t"}}), None,
     f"{P}.securityContext.seLinuxOptions.type", "seLinuxOptions"),
    ("selinux-user", pod(containers=[container(securityContext={"seLinuxOptions": {"user": "root"}})]), None,
     f"{P}.containers[0].securityContext.seLinuxOptions.user", "seLinuxOptions"),
    ("sysctl", pod(securityContext={"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}), None,
     f"{P}.securityContext.sysctls[0].name", "sysctls"),
    ("windows-hostProcess", pod(securityContext={"windowsOptions": {"hostProcess": True}}), None,
     f"{P}.securityContext.windowsOptions.hostProcess", "windowsHostProcess"),
    ("probe-host", pod(containers=[container(livenessProbe={"httpGet": {"host": "10.0.0.1", "port": 80}})]), None,
     f"{P}.containers[0].livenessProbe.httpGet.host", "hostProbesAndHostLifecycle"),
    ("lifecycle-host",
     pod(containers=[container(lifecycle={"preStop": {"tcpSocket": {"host": "metadata", "port": 80}}})]), None,
     f"{P}.containers[0].lifecycle.preStop.tcpSocket.host", "hostProbesAndHostLifecycle"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "annotations", "path", "check"), [c[1:] for c in BASELINE_FAILURES], ids=[c[0] for c in BASELINE_FAILURES]
)
def test_baseline_refuses_naming_the_field(spec, annotations, path, check):
    for level in ("baseline", "restricted"):
        violations = check_object(parallel_job(spec, annotations), level)
        assert any(v.path == path for v in violations), violations
    baseline = check_object(parallel_job(spec, annotations), "baseline")
    assert [v.check for v in baseline] == [check], baseline
    assert check_object(parallel_job(spec, annotations), "privileged") == []


# What each refusal above tells the user, after the field path (the upstream check follows it).
BASELINE_PROBLEMS = {
    "privileged": "must not be true",
    "privileged-init": "must not be true",
    "privileged-ephemeral": "must not be true",
    "hostNetwork": "must not be true",
    "hostPID": "must not be true",
    "hostIPC": "must not be true",
    "hostPath": "hostPath volumes are forbidden",
    "NET_RAW": "'NET_RAW' is not in the default set",
    "SYS_ADMIN": "'SYS_ADMIN' is not in the default set",
    "hostPort": "host ports are forbidden",
    "procMount": "'Unmasked': only Default",
    "seccomp-unconfined-pod": "'Unconfined': only RuntimeDefault or Localhost",
    "seccomp-unconfined-container": "'Unconfined': only RuntimeDefault or Localhost",
    "apparmor-unconfined": "'Unconfined': only RuntimeDefault or Localhost",
    "apparmor-annotation": "AppArmor profile 'unconfined' is not allowed",
    "selinux-type": "'spc_t' is not an allowed SELinux type",
    "selinux-user": "must not be set",
    "sysctl": "'kernel.msgmax' is not a safe sysctl",
    "windows-hostProcess": "must not be true",
    "probe-host": "must not be set",
    "lifecycle-host": "must not be set",
}


@pytest.mark.parametrize(
    ("case", "spec", "annotations", "path", "check"), BASELINE_FAILURES, ids=[c[0] for c in BASELINE_FAILURES]
)
def test_each_baseline_refusal_reads_path_problem_and_check(case, spec, annotations, path, check):
    assert [str(v) for v in check_object(parallel_job(spec, annotations), "baseline")] == [
        f"{path}: {BASELINE_PROBLEMS[case]} ({check})"
    ]


@pytest.mark.parametrize(
    ("field", "handler"),
    [
        ("livenessProbe", {"httpGet": {"host": "h", "port": 80}}),
        ("readinessProbe", {"tcpSocket": {"host": "h", "port": 80}}),
        ("startupProbe", {"httpGet": {"host": "h", "port": 80}}),
        ("lifecycle", {"postStart": {"httpGet": {"host": "h", "port": 80}}}),
        ("lifecycle", {"preStop": {"httpGet": {"host": "h", "port": 80}}}),
    ],
)
def test_every_probe_and_lifecycle_handler_is_checked_for_a_host(field, handler):
    spec = pod(containers=[container(**{field: handler})])
    [violation] = check_object(parallel_job(spec), "baseline")
    hook = next(iter(handler)) if field == "lifecycle" else ""
    action = next(iter(handler[hook] if hook else handler))
    assert violation.path == f"{P}.containers[0].{field}{'.' + hook if hook else ''}.{action}.host"


@pytest.mark.parametrize(
    ("annotations", "refused"),
    [
        ({"container.apparmor.security.beta.kubernetes.io/worker": ""}, False),
        ({"container.apparmor.security.beta.kubernetes.io/worker": "runtime/default"}, False),
        ({"container.apparmor.security.beta.kubernetes.io/worker": "localhost/my-profile"}, False),
        ({"container.apparmor.security.beta.kubernetes.io/worker": "Runtime/Default"}, True),
        ({"container.apparmor.security.beta.kubernetes.io/worker": "localhost"}, True),
        ({"example.com/profile": "unconfined"}, False),  # not an AppArmor annotation
    ],
)
def test_apparmor_annotations_admit_runtime_default_and_localhost_profiles(annotations, refused):
    """check_appArmorProfile.go: the annotation's value is "", runtime/default or localhost/<profile>."""
    violations = check_object(parallel_job(pod(), annotations), "baseline")
    assert [v.check for v in violations] == (["appArmorProfile"] if refused else [])


def test_a_selinux_role_is_refused_and_procmount_default_is_admitted():
    role = pod(securityContext={"seLinuxOptions": {"role": "system_r"}})
    assert [str(v) for v in check_object(parallel_job(role), "baseline")] == [
        f"{P}.securityContext.seLinuxOptions.role: must not be set (seLinuxOptions)"
    ]
    default = pod(containers=[container(securityContext={"procMount": "Default"})])
    assert check_object(parallel_job(default), "baseline") == []


BASELINE_PASSES = [
    ("the machinery's worker", pod()),
    ("default capabilities", pod(containers=[container(securityContext={"capabilities": {"add": ["CHOWN", "KILL"]}})])),
    ("false and zero", pod(hostNetwork=False, containers=[container(ports=[{"containerPort": 80, "hostPort": 0}])])),
    ("allowed profiles", pod(securityContext={"seccompProfile": {"type": "RuntimeDefault"},
                                              "appArmorProfile": {"type": "Localhost", "localhostProfile": "p"},
                                              "seLinuxOptions": {"type": "container_t", "level": "s0:c1"}})),
    ("safe sysctls", pod(securityContext={"sysctls": [{"name": "net.ipv4.tcp_keepalive_time", "value": "60"}]})),
    ("procMount with user namespaces", pod(hostUsers=False,
                                           containers=[container(securityContext={"procMount": "Unmasked"})])),
    ("ordinary volumes", pod(volumes=[{"name": "d", "emptyDir": {}}, {"name": "s", "secret": {"secretName": "x"}}])),
]  # fmt: skip


@pytest.mark.parametrize("spec", [c[1] for c in BASELINE_PASSES], ids=[c[0] for c in BASELINE_PASSES])
def test_baseline_admits(spec):
    assert check_object(parallel_job(spec), "baseline") == []


RESTRICTED_POD = pod(
    securityContext={"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    containers=[
        container(securityContext={"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}),
    ],
)


def test_a_restricted_pod_passes_and_the_machinerys_default_does_not():
    assert check_object(parallel_job(RESTRICTED_POD), "restricted") == []
    checks = {v.check for v in check_object(parallel_job(pod()), "restricted")}
    assert checks == {
        "allowPrivilegeEscalation",
        "runAsNonRoot",
        "seccompProfile_restricted",
        "capabilities_restricted",
    }


def restricted_with(**changes) -> dict:
    spec = copy.deepcopy(RESTRICTED_POD)
    for dotted, value in changes.items():
        target = spec
        *parents, last = dotted.split("__")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value
    return spec


@pytest.mark.parametrize(
    ("changes", "path", "check"),
    [
        ({"volumes": [{"name": "n", "nfs": {"server": "s", "path": "/"}}]}, f"{P}.volumes[0].nfs", "restrictedVolumes"),
        ({"volumes": [{"name": "h", "hostPath": {"path": "/"}}]}, f"{P}.volumes[0].hostPath", "restrictedVolumes"),
        ({"containers__0__securityContext__allowPrivilegeEscalation": True},
         f"{P}.containers[0].securityContext.allowPrivilegeEscalation", "allowPrivilegeEscalation"),
        ({"securityContext__runAsNonRoot": False}, f"{P}.securityContext.runAsNonRoot", "runAsNonRoot"),
        ({"containers__0__securityContext__runAsUser": 0}, f"{P}.containers[0].securityContext.runAsUser", "runAsUser"),
        ({"securityContext__seccompProfile": {"type": "Unconfined"}},
         f"{P}.securityContext.seccompProfile.type", "seccompProfile_restricted"),
        ({"containers__0__securityContext__capabilities": {"drop": ["ALL"], "add": ["CHOWN"]}},
         f"{P}.containers[0].securityContext.capabilities.add[0]", "capabilities_restricted"),
        ({"hostUsers": False, "containers__0__securityContext__procMount": "Unmasked"},
         f"{P}.containers[0].securityContext.procMount", "procMount_restricted"),
    ],
)  # fmt: skip
def test_restricted_refuses_naming_the_field(changes, path, check):
    violations = check_object(parallel_job(restricted_with(**changes)), "restricted")
    assert [(v.path, v.check) for v in violations if v.path == path] == [(path, check)], violations


ALLOWED_VOLUMES = "configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected, secret"


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ({"volumes": [{"name": "n", "nfs": {"server": "s", "path": "/"}}]},
         f"{P}.volumes[0].nfs: volume type not allowed (allowed: {ALLOWED_VOLUMES}) (restrictedVolumes)"),
        ({"volumes": [{"name": "v"}]},
         f"{P}.volumes[0].unknown: volume type not allowed (allowed: {ALLOWED_VOLUMES}) (restrictedVolumes)"),
        ({"containers__0__securityContext__allowPrivilegeEscalation": True},
         f"{P}.containers[0].securityContext.allowPrivilegeEscalation: must be false (allowPrivilegeEscalation)"),
        ({"securityContext__runAsNonRoot": False, "containers__0__securityContext__runAsNonRoot": True},
         f"{P}.securityContext.runAsNonRoot: must not be false (runAsNonRoot)"),
        ({"securityContext__runAsUser": 0}, f"{P}.securityContext.runAsUser: must not be 0 (runAsUser)"),
        ({"containers__0__securityContext__runAsUser": 0},
         f"{P}.containers[0].securityContext.runAsUser: must not be 0 (runAsUser)"),
        ({"containers__0__securityContext__runAsNonRoot": False},
         f"{P}.containers[0].securityContext.runAsNonRoot: must be true (here or for the pod) (runAsNonRoot)"),
        ({"securityContext__seccompProfile": None},
         f"{P}.containers[0].securityContext.seccompProfile.type: must be RuntimeDefault or Localhost "
         "(here or for the pod) (seccompProfile_restricted)"),
        ({"containers__0__securityContext__capabilities": {"drop": ["NET_RAW"]}},
         f'{P}.containers[0].securityContext.capabilities.drop: must include "ALL" (capabilities_restricted)'),
        ({"containers__0__securityContext__capabilities": {"drop": ["ALL"], "add": ["CHOWN"]}},
         f"{P}.containers[0].securityContext.capabilities.add[0]: 'CHOWN': only NET_BIND_SERVICE may be added "
         "(capabilities_restricted)"),
    ],
)  # fmt: skip
def test_each_restricted_refusal_reads_path_problem_and_check(changes, refusal):
    spec = restricted_with(**changes)
    if spec["securityContext"].get("seccompProfile", "") is None:
        del spec["securityContext"]["seccompProfile"]
    assert [str(v) for v in check_object(parallel_job(spec), "restricted")] == [refusal]


@pytest.mark.parametrize("source", ALLOWED_VOLUMES.split(", "))
def test_restricted_admits_each_allowed_volume_source(source):
    assert check_object(parallel_job(restricted_with(volumes=[{"name": "v", source: {}}])), "restricted") == []


def test_containers_at_the_top_of_a_custom_resource_are_checked():
    thing = {
        "apiVersion": "example.com/v1",
        "kind": "Thing",
        "containers": [container(securityContext={"privileged": True})],
    }
    assert [str(v) for v in check_object(thing, "baseline")] == [
        "containers[0].securityContext.privileged: must not be true (privileged)"
    ]


def test_restricted_settings_may_come_from_the_container_instead_of_the_pod():
    container_level = restricted_with(
        securityContext={},
        containers__0__securityContext={
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
            "seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"},
        },
    )
    assert check_object(parallel_job(container_level), "restricted") == []


def test_user_namespace_pods_may_set_run_as_user_0():
    """check_runAsUser.go: relaxed for pods with hostUsers: false (user namespaces)."""
    root = restricted_with(hostUsers=False, securityContext__runAsUser=0, containers__0__securityContext__runAsUser=0)
    assert check_object(parallel_job(root), "restricted") == []


def test_annotations_are_reported_at_the_metadata_beside_the_pod_spec():
    annotations = {"container.apparmor.security.beta.kubernetes.io/worker": "unconfined"}
    bare = {"kind": "Pod", "metadata": {"annotations": annotations}, "spec": pod()}
    cron = {
        "kind": "CronJob",
        "spec": {"jobTemplate": {"spec": {"template": {"metadata": {"annotations": annotations}, "spec": pod()}}}},
    }
    key = "container.apparmor.security.beta.kubernetes.io/worker"
    assert [v.path for v in check_object(bare, "baseline")] == [f"metadata.annotations[{key}]"]
    assert [v.path for v in check_object(cron, "baseline")] == [
        f"spec.jobTemplate.spec.template.metadata.annotations[{key}]"
    ]


def test_restricted_exemptions():
    """Windows pods skip the Linux-only checks (1.25+); user-namespace pods may run as root (1.35+)."""
    windows = pod(os={"name": "windows"}, securityContext={"runAsNonRoot": True})
    assert check_object(parallel_job(windows), "restricted") == []
    user_ns = restricted_with(hostUsers=False, securityContext__runAsNonRoot=False)
    assert check_object(parallel_job(user_ns), "restricted") == []
    net_bind = restricted_with(
        containers__0__securityContext__capabilities={"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}
    )
    assert check_object(parallel_job(net_bind), "restricted") == []


def test_every_pod_spec_in_any_object_is_found():
    job = {"kind": "Job", "spec": {"template": {"spec": pod(hostPID=True)}}}
    cron = {"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": pod(hostPID=True)}}}}}
    jobset = {"spec": {"replicatedJobs": [{"template": {"spec": {"template": {"spec": pod(hostPID=True)}}}}]}}
    bare = {"kind": "Pod", "metadata": {}, "spec": pod(hostPID=True)}
    assert [v.path for v in check_object(job, "baseline")] == ["spec.template.spec.hostPID"]
    assert [v.path for v in check_object(cron, "baseline")] == ["spec.jobTemplate.spec.template.spec.hostPID"]
    assert [v.path for v in check_object(jobset, "baseline")] == [
        "spec.replicatedJobs[0].template.spec.template.spec.hostPID"
    ]
    assert [v.path for v in check_object(bare, "baseline")] == ["spec.hostPID"]
    assert len(find_pod_specs({"a": [{"containers": []}, {"b": {"containers": []}}]})) == 2


def nested(levels: int, spec: dict) -> dict:
    """An object whose pod spec sits ``levels`` mappings below ``spec``."""
    for _ in range(levels):
        spec = {"x": spec}
    return {"apiVersion": "example.com/v1", "kind": "Thing", "spec": spec}


# spec is 1 level down, the pod spec 1 + levels, and pod()'s deepest non-empty value (the args list) 3 below it.
LEVELS_AT_THE_LIMIT = MAX_DEPTH - 4


def test_an_object_64_levels_deep_is_checked_and_one_level_deeper_is_refused():
    privileged = pod(hostPID=True, serviceAccountName="admin")
    assert MAX_DEPTH == 64
    assert [v.check for v in check_object(nested(LEVELS_AT_THE_LIMIT, privileged), "baseline")] == ["hostNamespaces"]
    with pytest.raises(NestedTooDeep) as raised:
        find_pod_specs(nested(LEVELS_AT_THE_LIMIT + 1, privileged))
    assert str(raised.value) == (
        "spec" + ".x" * (LEVELS_AT_THE_LIMIT + 1) + ".containers[0].args: nested more than 64 levels deep; the "
        "connector looks for pod specs (to check their service accounts and privileges) only that deep, "
        "so it refuses the object"
    )
    # Lists count as levels too.
    in_lists: Any = privileged
    for _ in range(LEVELS_AT_THE_LIMIT):
        in_lists = [in_lists]
    assert [v.path for v in check_object({"spec": in_lists}, "baseline")] == [
        "spec" + "[0]" * LEVELS_AT_THE_LIMIT + ".hostPID"
    ]
    with pytest.raises(NestedTooDeep):
        find_pod_specs({"spec": [in_lists]})
    # Scalars and empty values that deep cannot hold a pod spec.
    assert check_object(nested(MAX_DEPTH - 1, {"a": 1, "b": [], "c": {}}), "baseline") == []


@pytest.mark.parametrize("level", ["privileged", "baseline", "restricted"])
def test_admission_refuses_an_object_too_deep_to_check_at_every_level(level):
    """Without the refusal, a pod spec below the limit escaped both checks: a privileged container
    running as a service account outside taskPolicy.serviceAccounts was created."""
    settings = ConnectorSettings(pod_security=PodSecuritySettings(level), task_policy=TaskPolicySettings())
    admission = TaskAdmission(settings, own_namespace="flyte")
    privileged = pod(serviceAccountName="admin", containers=[container(securityContext={"privileged": True})])
    refusal = admission.object_refusal(nested(MAX_DEPTH + 10, privileged))
    assert refusal is not None and refusal.startswith("spec" + ".x" * MAX_DEPTH + ": nested more than 64 levels deep")


def test_malformed_values_do_not_crash_the_check():
    weird = {"spec": {"containers": [None, 5, {"securityContext": "x", "ports": "y"}], "volumes": [None], "os": 1}}
    for level in ("baseline", "restricted"):
        check_object(weird, level)


def test_settings():
    assert parse_settings({}).pod_security.level == "baseline"
    assert parse_settings({"podSecurity": {"level": "restricted"}}).pod_security.level == "restricted"
    with pytest.raises(SettingsError, match="podSecurity.level is 'strict'; allowed: privileged, baseline, restricted"):
        parse_settings({"podSecurity": {"level": "strict"}})
