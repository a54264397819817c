"""Log-link templates in Flyte's syntax: ``{{ .podName }}``, ``{{ .executionName }}``, ...

Flyte (flyteplugins/go/tasks/pluginmachinery/tasklog/template.go, v1.16.8) matches each
variable with ``(?i){{\\s*[\\.$]NAME\\s*}}``: case-insensitive, a leading ``.`` or ``$``,
any whitespace inside the braces. It replaces a variable only when its value is non-empty
and leaves the text otherwise. This module does the same, with one difference on purpose:
every ``{{ ... }}`` must be a variable the connector can fill, checked once at start, so a
typo or a Flyte variable only propeller knows is a start-up error instead of a broken link.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# Flyte's names (tasklog/template.go) the connector fills, and what each one is here.
FLYTE_VARIABLES: Mapping[str, str] = {
    "podName": "the worker pod's name (one link per pod)",
    "namespace": "the task's namespace",
    "containerName": "the worker pod's primary container",
    "taskRetryAttempt": "the task execution's retry attempt",
    "executionName": "the workflow execution's name",
    "executionProject": "the workflow execution's project",
    "executionDomain": "the workflow execution's domain",
    "nodeID": "the node id in the task execution id propeller sends",
    "taskID": "the task's name",
    "taskVersion": "the task's version",
    "taskProject": "the task's project",
    "taskDomain": "the task's domain",
    "podRFC3339StartTime": "when the object was created (RFC 3339, UTC)",
    "podRFC3339FinishTime": "when the link was rendered (RFC 3339, UTC), as in Flyte",
    "podUnixStartTime": "when the object was created (Unix seconds)",
    "podUnixFinishTime": "when the link was rendered (Unix seconds), as in Flyte",
}
# Variables of this connector, in the same syntax (Flyte's plugins add such extra variables).
CONNECTOR_VARIABLES: Mapping[str, str] = {
    "objectName": "the name of the task's Kubernetes object",
    "workerIndex": "the worker's index, 0-based (one link per pod)",
}
# Flyte variables that need the pod object, or propeller's own state, which the connector
# does not have: a template using one could only ever render the variable's text.
UNAVAILABLE_VARIABLES: Mapping[str, str] = {
    "podUID": "the connector does not read pods",
    "containerID": "the connector does not read pods",
    "hostname": "the connector does not read pods",
    "nodeName": "the connector does not read pods",
    "generatedName": "propeller does not send its generated name to connectors",
    "logName": "propeller's log-name suffix is not sent to connectors",
}
PER_POD_VARIABLES = frozenset({"podname", "workerindex"})
_KNOWN = {name.lower(): name for name in (*FLYTE_VARIABLES, *CONNECTOR_VARIABLES)}
_UNAVAILABLE = {name.lower(): (name, why) for name, why in UNAVAILABLE_VARIABLES.items()}
_BRACES = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
# The inside of Flyte's variable regex: \s*[\.$]NAME\s*
_VARIABLE = re.compile(r"\s*[.$]([A-Za-z_][A-Za-z0-9_]*)\s*")
_TASK_CONFIG = re.compile(r"\s*\.taskConfig[.$]", re.IGNORECASE)
# The syntax this connector used before it followed Flyte's ({podName}), and what replaces it.
_OLD_PLACEHOLDER = re.compile(r"\{([A-Za-z]+)\}")
_OLD_NAMES = {
    **{key: f"{{{{ .{name} }}}}" for key, name in _KNOWN.items()},
    "name": "{{ .objectName }}",
    "taskexecutionid": "{{ .executionName }}, {{ .nodeID }} and {{ .taskRetryAttempt }}",
}


class TemplateError(ValueError):
    """A template uses a variable the connector cannot fill; the message says which and why."""


@dataclass(frozen=True)
class LogTemplate:
    """A checked template and the variables (lower-cased) it uses."""

    text: str
    variables: frozenset[str]

    @property
    def per_pod(self) -> bool:
        return bool(self.variables & PER_POD_VARIABLES)

    def render(self, values: Mapping[str, str]) -> str:
        """Fill each variable from ``values`` (keyed by lower-cased name); empty values leave the text."""

        def fill(match: re.Match[str]) -> str:
            variable = _VARIABLE.fullmatch(match.group(1))
            value = values.get(variable.group(1).lower(), "") if variable else ""
            return value if value else match.group(0)

        return _BRACES.sub(fill, self.text)


def _allowed() -> str:
    return ", ".join(f"{{{{ .{name} }}}}" for name in (*FLYTE_VARIABLES, *CONNECTOR_VARIABLES))


def parse_template(text: str) -> LogTemplate:
    """Check a template; TemplateError names the first variable that cannot be filled."""
    variables: set[str] = set()
    for match in _BRACES.finditer(text):
        inside = match.group(1)
        if _TASK_CONFIG.match(inside):
            raise TemplateError(
                f"{match.group(0)}: Flyte's dynamic log links (taskConfig) are not supported by the connector"
            )
        variable = _VARIABLE.fullmatch(inside)
        if variable is None:
            raise TemplateError(
                f"{match.group(0)} is not a template variable; " "Flyte's syntax is {{ .name }}, e.g. {{ .podName }}"
            )
        key = variable.group(1).lower()
        if key in _UNAVAILABLE:
            name, why = _UNAVAILABLE[key]
            raise TemplateError(f"{match.group(0)}: Flyte's {{{{ .{name} }}}} cannot be filled here ({why})")
        if key not in _KNOWN:
            raise TemplateError(f"{match.group(0)} is not a known variable; allowed: {_allowed()}")
        variables.add(key)
    for old in _OLD_PLACEHOLDER.finditer(_BRACES.sub("", text)):
        replacement = _OLD_NAMES.get(old.group(1).lower())
        if replacement:
            raise TemplateError(f"{old.group(0)} is the connector's old placeholder syntax; write {replacement}")
    return LogTemplate(text, frozenset(variables))
