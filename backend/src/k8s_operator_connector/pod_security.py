"""Pod privileges by policy: worker pods checked against a Kubernetes Pod Security Standard.

Every pod spec in the object the connector is about to create (any mapping with a
``containers`` list: a ParallelJob's ``spec.template.spec``, a Job's, a Pod's ``spec``...)
is checked, field by field, against the level ``podSecurity.level`` names, before anything
is created. The checks follow the Kubernetes Pod Security Standards as the Pod Security
Admission controller implements them at its newest policy version, in
k8s.io/pod-security-admission/policy/check_*.go (github.com/kubernetes/pod-security-admission,
tag v0.36.2, commit 39b45cd167e1bd665aaeefc6e1acc1cc753259f2):

- baseline: hostNamespaces, privileged, capabilities_baseline, hostPathVolumes, hostPorts,
  appArmorProfile, seLinuxOptions, procMount (relaxed with ``hostUsers: false``),
  seccompProfile_baseline, sysctls, windowsHostProcess, hostProbesAndHostLifecycle;
- restricted: everything in baseline, plus restrictedVolumes, allowPrivilegeEscalation,
  runAsNonRoot, runAsUser, seccompProfile_restricted, capabilities_restricted and
  procMount_restricted (which replace their baseline counterparts);
- privileged: no checks.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from k8s_operator_connector.settings_reader import SettingsError, SettingsReader

LEVELS = ("privileged", "baseline", "restricted")
# Far deeper than any pod-holding object (a JobSet container's capabilities.add is 12 levels down).
MAX_DEPTH = 64

# check_capabilities_baseline.go: capabilities_allowed_1_0
BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
        "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
    }
)  # fmt: skip
# check_sysctls.go: sysctlsAllowedV1Dot32
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start", "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
    }
)  # fmt: skip
# check_seLinuxOptions.go: selinuxAllowedTypes1_31
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
# check_seccompProfile_baseline.go validSeccomp; check_appArmorProfile.go allowedProfileType
PROFILE_TYPES = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"
# check_restrictedVolumes.go: the inline volume sources restricted admits
RESTRICTED_VOLUME_SOURCES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "image",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")  # visitor.go: visitContainers


@dataclass(frozen=True)
class PodSecuritySettings:
    level: str = "baseline"


def parse_pod_security(reader: SettingsReader) -> PodSecuritySettings:
    level = reader.get("level", str, PodSecuritySettings.level)
    if level not in LEVELS:
        raise SettingsError(f"{reader.path('level')} is {level!r}; allowed: {', '.join(LEVELS)}")
    reader.finish()
    return PodSecuritySettings(level=level)


@dataclass(frozen=True)
class Violation:
    """One field a Pod Security Standard forbids: its path in the object and what is wrong."""

    path: str
    problem: str
    check: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem} ({self.check})"


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


class NestedTooDeep(ValueError):
    """The object nests mappings or lists deeper than the pod spec search goes. It is refused, not
    admitted unchecked: a pod spec down there would escape the service account and privilege checks."""


def find_pod_specs(manifest: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any], Mapping[str, Any]]]:
    """(path, pod metadata, pod spec) of every pod spec in the object: mappings with a
    ``containers`` list, their metadata the ``metadata`` beside them (a PodTemplateSpec's).

    Raises:
        NestedTooDeep: a non-empty mapping or list more than MAX_DEPTH levels below the object's root.
    """
    found: list[tuple[str, Mapping[str, Any], Mapping[str, Any]]] = []

    def walk(value: Any, path: str, parent: Mapping[str, Any], depth: int) -> None:
        if depth > MAX_DEPTH:
            if isinstance(value, Mapping | list) and value:
                raise NestedTooDeep(
                    f"{path}: nested more than {MAX_DEPTH} levels deep; the connector looks for pod specs "
                    "(to check their service accounts and privileges) only that deep, so it refuses the object"
                )
            return
        if isinstance(value, Mapping):
            if isinstance(value.get("containers"), list):
                found.append((path, _map(parent.get("metadata")), value))
            for key, child in value.items():
                walk(child, f"{path}.{key}" if path else str(key), value, depth + 1)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{path}[{index}]", {}, depth + 1)

    walk(manifest, "", {}, 0)
    return found


def _containers(spec: Mapping[str, Any], path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for list_name in _CONTAINER_LISTS:
        for index, container in enumerate(_list(spec.get(list_name))):
            yield f"{path}.{list_name}[{index}]", _map(container)


def _pod_context(spec: Mapping[str, Any]) -> Mapping[str, Any]:
    return _map(spec.get("securityContext"))


def _windows(spec: Mapping[str, Any]) -> bool:
    return _map(spec.get("os")).get("name") == "windows"


def _user_namespace(spec: Mapping[str, Any]) -> bool:
    """helpers.go relaxPolicyForUserNamespacePod: hostUsers explicitly false."""
    return spec.get("hostUsers") is False


def _baseline(path: str, metadata: Mapping[str, Any], spec: Mapping[str, Any], restricted: bool) -> list[Violation]:
    found: list[Violation] = []

    def bad(field: str, problem: str, check: str) -> None:
        found.append(Violation(field, problem, check))

    for name in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(name) is True:
            bad(f"{path}.{name}", "must not be true", "hostNamespaces")
    for index, item in enumerate(_list(spec.get("volumes"))):
        volume = _map(item)
        if restricted:
            if not any(volume.get(source) is not None for source in RESTRICTED_VOLUME_SOURCES):
                kinds = sorted(k for k in volume if k != "name") or ["unknown"]
                allowed = ", ".join(sorted(RESTRICTED_VOLUME_SOURCES))
                bad(f"{path}.volumes[{index}].{kinds[0]}", f"volume type not allowed (allowed: {allowed})",
                    "restrictedVolumes")  # fmt: skip
        elif volume.get("hostPath") is not None:
            bad(f"{path}.volumes[{index}].hostPath", "hostPath volumes are forbidden", "hostPathVolumes")
    pod_context = _pod_context(spec)
    for index, sysctl in enumerate(_list(pod_context.get("sysctls"))):
        sysctl_name = _map(sysctl).get("name")
        if sysctl_name not in SAFE_SYSCTLS:
            bad(f"{path}.securityContext.sysctls[{index}].name", f"{sysctl_name!r} is not a safe sysctl", "sysctls")
    for where, context in [(f"{path}.securityContext", pod_context)] + [
        (f"{container_path}.securityContext", _map(container.get("securityContext")))
        for container_path, container in _containers(spec, path)
    ]:
        _profiles(where, context, bad, restricted)
    for key, value in _map(metadata.get("annotations")).items():
        if str(key).startswith(APPARMOR_ANNOTATION_PREFIX) and not (
            not value or value == "runtime/default" or str(value).startswith("localhost/")
        ):
            bad(f"metadata.annotations[{key}]", f"AppArmor profile {value!r} is not allowed", "appArmorProfile")
    for container_path, container in _containers(spec, path):
        _container_baseline(container_path, container, spec, bad, restricted)
    return found


def _profiles(where: str, context: Mapping[str, Any], bad: Any, restricted: bool) -> None:
    """seccomp, AppArmor, SELinux and hostProcess: set at pod or container level alike."""
    seccomp = context.get("seccompProfile")
    if seccomp is not None and _map(seccomp).get("type") not in PROFILE_TYPES:
        check = "seccompProfile_restricted" if restricted else "seccompProfile_baseline"
        bad(f"{where}.seccompProfile.type", f"{_map(seccomp).get('type')!r}: only RuntimeDefault or Localhost", check)
    apparmor = context.get("appArmorProfile")
    if apparmor is not None and _map(apparmor).get("type") not in PROFILE_TYPES:
        bad(f"{where}.appArmorProfile.type", f"{_map(apparmor).get('type')!r}: only RuntimeDefault or Localhost",
            "appArmorProfile")  # fmt: skip
    selinux = context.get("seLinuxOptions")
    if selinux is not None:
        options = _map(selinux)
        if (options.get("type") or "") not in SELINUX_TYPES:
            bad(f"{where}.seLinuxOptions.type", f"{options.get('type')!r} is not an allowed SELinux type",
                "seLinuxOptions")  # fmt: skip
        for part in ("user", "role"):
            if options.get(part):
                bad(f"{where}.seLinuxOptions.{part}", "must not be set", "seLinuxOptions")
    if _map(context.get("windowsOptions")).get("hostProcess") is True:
        bad(f"{where}.windowsOptions.hostProcess", "must not be true", "windowsHostProcess")


def _container_baseline(
    path: str, container: Mapping[str, Any], spec: Mapping[str, Any], bad: Any, restricted: bool
) -> None:
    context = _map(container.get("securityContext"))
    if context.get("privileged") is True:
        bad(f"{path}.securityContext.privileged", "must not be true", "privileged")
    if not restricted:  # capabilities_restricted replaces this check
        for index, capability in enumerate(_list(_map(context.get("capabilities")).get("add"))):
            if capability not in BASELINE_CAPABILITIES:
                bad(f"{path}.securityContext.capabilities.add[{index}]", f"{capability!r} is not in the default set",
                    "capabilities_baseline")  # fmt: skip
    proc_mount = context.get("procMount")
    if proc_mount is not None and proc_mount != "Default" and (restricted or not _user_namespace(spec)):
        bad(f"{path}.securityContext.procMount", f"{proc_mount!r}: only Default",
            "procMount_restricted" if restricted else "procMount")  # fmt: skip
    for index, port in enumerate(_list(container.get("ports"))):
        if _map(port).get("hostPort") not in (None, 0):
            bad(f"{path}.ports[{index}].hostPort", "host ports are forbidden", "hostPorts")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _no_host(f"{path}.{probe}", _map(container.get(probe)), bad)
    for hook in ("postStart", "preStop"):
        _no_host(f"{path}.lifecycle.{hook}", _map(_map(container.get("lifecycle")).get(hook)), bad)


def _no_host(path: str, handler: Mapping[str, Any], bad: Any) -> None:
    for action in ("httpGet", "tcpSocket"):
        if _map(handler.get(action)).get("host"):
            bad(f"{path}.{action}.host", "must not be set", "hostProbesAndHostLifecycle")


def _restricted(path: str, spec: Mapping[str, Any]) -> list[Violation]:
    found: list[Violation] = []
    pod_context = _pod_context(spec)
    windows, user_namespace = _windows(spec), _user_namespace(spec)
    pod_non_root = pod_context.get("runAsNonRoot")
    if pod_non_root is False and not user_namespace:
        found.append(Violation(f"{path}.securityContext.runAsNonRoot", "must not be false", "runAsNonRoot"))
    if pod_context.get("runAsUser") == 0 and not user_namespace:
        found.append(Violation(f"{path}.securityContext.runAsUser", "must not be 0", "runAsUser"))
    pod_seccomp = _map(pod_context.get("seccompProfile")).get("type") in PROFILE_TYPES
    for container_path, container in _containers(spec, path):
        context = _map(container.get("securityContext"))
        where = f"{container_path}.securityContext"
        if not windows and context.get("allowPrivilegeEscalation") is not False:
            found.append(Violation(f"{where}.allowPrivilegeEscalation", "must be false", "allowPrivilegeEscalation"))
        if not user_namespace:
            non_root = context.get("runAsNonRoot")
            if non_root is False or (non_root is None and pod_non_root is not True):
                found.append(Violation(f"{where}.runAsNonRoot", "must be true (here or for the pod)", "runAsNonRoot"))
            if context.get("runAsUser") == 0:
                found.append(Violation(f"{where}.runAsUser", "must not be 0", "runAsUser"))
        if not windows:
            if context.get("seccompProfile") is None and not pod_seccomp:
                found.append(Violation(f"{where}.seccompProfile.type",
                                       "must be RuntimeDefault or Localhost (here or for the pod)",
                                       "seccompProfile_restricted"))  # fmt: skip
            capabilities = _map(context.get("capabilities"))
            if "ALL" not in _list(capabilities.get("drop")):
                found.append(Violation(f"{where}.capabilities.drop", 'must include "ALL"', "capabilities_restricted"))
            for index, capability in enumerate(_list(capabilities.get("add"))):
                if capability != "NET_BIND_SERVICE":
                    found.append(Violation(f"{where}.capabilities.add[{index}]",
                                           f"{capability!r}: only NET_BIND_SERVICE may be added",
                                           "capabilities_restricted"))  # fmt: skip
    return found


def check_pod(path: str, metadata: Mapping[str, Any], spec: Mapping[str, Any], level: str) -> list[Violation]:
    """What the level forbids in one pod (metadata for the AppArmor annotations, and its spec)."""
    if level == "privileged":
        return []
    restricted = level == "restricted"
    violations = _baseline(path, metadata, spec, restricted)
    if restricted:
        violations += _restricted(path, spec)
    return violations


def check_object(manifest: Mapping[str, Any], level: str) -> list[Violation]:
    """Every violation in every pod spec of the object."""
    violations: list[Violation] = []
    for path, metadata, spec in find_pod_specs(manifest):
        prefix = path.rsplit(".spec", 1)[0] if path.endswith(".spec") else ""
        metadata_path = f"{prefix}.metadata" if prefix else "metadata"
        for found in check_pod(path, metadata, spec, level):
            at = metadata_path + found.path[len("metadata") :] if found.path.startswith("metadata.") else found.path
            # A pod spec at the top of the object has the path "": its fields would start with ".".
            violations.append(Violation(at.removeprefix("."), found.problem, found.check))
    return violations
