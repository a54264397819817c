"""Log-link templates against Flyte's own template tests.

Vectors from flyteorg/flyte v1.16.8 (commit 51877f899c9f95e0cb5efe90444eb0c6c6ea48a9),
flyteplugins/go/tasks/pluginmachinery/tasklog/template_test.go (TestTemplateLogPlugin,
Test_Input_templateVars) and the default template of flyteplugins/go/tasks/logs/config.go.
Values are keyed the way the connector fills them (lower-cased variable names).
"""

import pytest

from k8s_operator_connector.log_template import (
    CONNECTOR_VARIABLES,
    FLYTE_VARIABLES,
    UNAVAILABLE_VARIABLES,
    TemplateError,
    parse_template,
)

POD = {
    "podname": "my-pod",
    "namespace": "my-namespace",
    "containername": "my-container",
    "podrfc3339starttime": "1970-01-01T01:02:03+01:00",
    "podrfc3339finishtime": "1970-01-01T04:25:45+01:00",
    "podunixstarttime": "123",
    "podunixfinishtime": "12345",
}
# dummyTaskExecID() in template_test.go
TASK_EXECUTION = {
    "nodeid": "n0-0-n0",
    "taskretryattempt": "1",
    "taskid": "my-task-name",
    "taskversion": "1",
    "taskproject": "my-task-project",
    "taskdomain": "my-task-domain",
    "executionname": "my-execution-name",
    "executionproject": "my-execution-project",
    "executiondomain": "my-execution-domain",
}

FLYTE_VECTORS = [
    pytest.param(
        "https://dashboard.k8s.net/#!/log/{{.namespace}}/{{.podName}}/pod?namespace={{.namespace}}",
        {"podname": "flyteexamples-development-task-name", "namespace": "flyteexamples-development"},
        "https://dashboard.k8s.net/#!/log/flyteexamples-development/flyteexamples-development-task-name/pod"
        "?namespace=flyteexamples-development",
        id="kubernetes",
    ),
    pytest.param(
        "https://console.cloud.google.com/logs/viewer?project=test-gcp-project&angularJsUrl=%2Flogs%2Fviewer%3F"
        "project%3Dtest-gcp-project&resource=aws_ec2_instance&advancedFilter=resource.labels.pod_name%3D{{.podName}}",
        {"podname": "podName", "namespace": "flyteexamples-production"},
        "https://console.cloud.google.com/logs/viewer?project=test-gcp-project&angularJsUrl=%2Flogs%2Fviewer%3F"
        "project%3Dtest-gcp-project&resource=aws_ec2_instance&advancedFilter=resource.labels.pod_name%3DpodName",
        id="stackdriver",
    ),
    pytest.param(
        "https://prd-p-ighar.splunkcloud.com/en-US/app/search/search?q=search%20container_name%3D%22"
        "{{ .containerName }}%22",
        POD,
        "https://prd-p-ighar.splunkcloud.com/en-US/app/search/search?q=search%20container_name%3D%22my-container%22",
        id="splunk",
    ),
    pytest.param(
        "https://console.cloud.google.com/logs/viewer?project=test-gcp-project&angularJsUrl=%2Flogs%2Fviewer%3F"
        "project%3Dtest-gcp-project&resource=aws_ec2_instance&advancedFilter=resource.labels.pod_name%3D"
        "{{.podName}}%20%22{{.podRFC3339StartTime}}%22",
        POD,
        "https://console.cloud.google.com/logs/viewer?project=test-gcp-project&angularJsUrl=%2Flogs%2Fviewer%3F"
        "project%3Dtest-gcp-project&resource=aws_ec2_instance&advancedFilter=resource.labels.pod_name%3D"
        "my-pod%20%221970-01-01T01:02:03+01:00%22",
        id="stackdriver-with-rfc3339-timestamp",
    ),
    pytest.param(
        "https://flyte.corp.net/console/projects/{{ .executionProject }}/domains/{{ .executionDomain }}/executions/"
        "{{ .executionName }}/nodeId/{{ .nodeID }}/taskId/{{ .taskID }}/attempt/{{ .taskRetryAttempt }}/view/logs",
        {**POD, **TASK_EXECUTION},
        "https://flyte.corp.net/console/projects/my-execution-project/domains/my-execution-domain/executions/"
        "my-execution-name/nodeId/n0-0-n0/taskId/my-task-name/attempt/1/view/logs",
        id="task-with-task-execution-identifier",
    ),
    pytest.param(
        "https://example.com/logs/{{.taskId}}",
        TASK_EXECUTION,
        "https://example.com/logs/my-task-name",
        id="task execution with template variables",  # {{.taskId}} is {{.taskID}}: (?i)
    ),
    pytest.param(
        "http://localhost:30082/#!/log/{{ .namespace }}/{{ .podName }}/pod?namespace={{ .namespace }}",
        POD,
        "http://localhost:30082/#!/log/my-namespace/my-pod/pod?namespace=my-namespace",
        id="logs/config.go DefaultConfig.KubernetesTemplateURI",
    ),
]


@pytest.mark.parametrize(("template", "values", "expected"), FLYTE_VECTORS)
def test_flyte_vectors(template, values, expected):
    assert parse_template(template).render(values) == expected


@pytest.mark.parametrize(
    ("template", "variable"),
    [
        # TestTemplateLogPlugin "cloudwatch": {{.containerId}} is Flyte's containerID, read from the pod.
        (
            "https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#logEventViewer:group=/flyte-production/"
            "kubernetes;stream=var.log.containers.{{.podName}}_{{.namespace}}_{{.containerName}}-{{.containerId}}.log",
            "containerID",
        ),
        # "ddog": {{ .nodeName }} is the pod's spec.nodeName.
        (
            "https://app.datadoghq.com/logs?event&from_ts={{ .podUnixStartTime }}&live=true&query=pod_name%3A"
            "{{ .podName }}&to_ts={{ .podUnixFinishTime }}&host={{ .nodeName }}",
            "nodeName",
        ),
        ("https://example.com/{{ .podUID }}", "podUID"),
        ("https://example.com/{{ .hostname }}", "hostname"),
        ("https://example.com/{{ .generatedName }}", "generatedName"),
        ("https://example.com/{{ .logName }}", "logName"),
    ],
)
def test_flyte_variables_only_propeller_can_fill_are_refused(template, variable):
    with pytest.raises(TemplateError, match=f"Flyte's {{{{ .{variable} }}}} cannot be filled here"):
        parse_template(template)


def test_dynamic_log_links_are_refused():
    # "flyteinteractive": vscode://flyteinteractive:{{ .taskConfig.port }}/{{ .podName }}
    with pytest.raises(TemplateError, match="dynamic log links"):
        parse_template("vscode://flyteinteractive:{{ .taskConfig.port }}/{{ .podName }}")


@pytest.mark.parametrize(
    "spelling",
    ["{{.podName}}", "{{ .podName }}", "{{   .podName\t}}", "{{$podName}}", "{{ .PODNAME }}", "{{ .podname }}"],
)
def test_whitespace_case_and_prefix_as_flytes_regex_allows(spelling):
    # (?i){{\s*[\.$]podName\s*}}
    template = parse_template(f"logs/{spelling}/end")
    assert template.variables == {"podname"}
    assert template.per_pod
    assert template.render({"podname": "p-1"}) == "logs/p-1/end"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ podName }}", "{{ podName }} is not a template variable"),  # no leading . or $
        ("{{ . podName }}", "{{ . podName }} is not a template variable"),  # Flyte: [\.$]podName, no space
        ("{{ .podName | upper }}", "is not a template variable"),
        ("{{ .pod }}", "{{ .pod }} is not a known variable; allowed: {{ .podName }}"),
        ("{{ .name }}", "{{ .name }} is not a known variable"),
        ("{podName}", "{podName} is the connector's old placeholder syntax; write {{ .podName }}"),
        ("{name}", "write {{ .objectName }}"),
        ("{taskExecutionId}", "write {{ .executionName }}, {{ .nodeID }} and {{ .taskRetryAttempt }}"),
    ],
)
def test_wrong_syntax_is_an_error_naming_the_variable(template, message):
    with pytest.raises(TemplateError, match=message.replace("{", r"\{").replace("}", r"\}").replace(".", r"\.")):
        parse_template(template)


def test_empty_values_leave_the_text_as_flyte_does():
    # Test_Input_templateVars "task execution happy path": podName is "", and replaceAll skips empty values.
    template = parse_template("{{ .executionName }}/{{ .podName }}")
    assert template.render({"executionname": "my-execution-name", "podname": ""}) == "my-execution-name/{{ .podName }}"


def test_values_are_inserted_literally_once():
    # A value that looks like a template is not expanded again, and regex specials stay as they are.
    template = parse_template("{{ .executionName }}-{{ .namespace }}")
    assert template.render({"executionname": "{{ .namespace }}", "namespace": r"\1$0"}) == r"{{ .namespace }}-\1$0"


def test_braces_that_are_no_variables_stay_allowed():
    # Grafana/Loki queries carry single braces; only old placeholder names are refused.
    text = 'https://grafana/explore?left={"expr":"{namespace=\\"{{ .namespace }}\\"}"}&x={a}'
    assert (
        parse_template(text).render({"namespace": "ns"})
        == 'https://grafana/explore?left={"expr":"{namespace=\\"ns\\"}"}&x={a}'
    )


def test_variable_tables_do_not_overlap():
    names = [name.lower() for name in (*FLYTE_VARIABLES, *CONNECTOR_VARIABLES, *UNAVAILABLE_VARIABLES)]
    assert len(names) == len(set(names))
    assert not parse_template("{{ .objectName }}").per_pod
    assert parse_template("{{ .workerIndex }}").per_pod


def test_a_variable_without_a_value_leaves_the_text():
    # template.go replaces only the variables it has a non-empty value for.
    template = parse_template("{{ .executionName }}/{{ .podName }}")
    assert template.render({"executionname": "e"}) == "e/{{ .podName }}"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            "x/{{.taskConfig.port}}",
            "{{.taskConfig.port}}: Flyte's dynamic log links (taskConfig) are not supported by the connector",
        ),
        (
            "x/{{ .PodUid }}",
            "{{ .PodUid }}: Flyte's {{ .podUID }} cannot be filled here (the connector does not read pods)",
        ),
        (
            "x/{{ podName }}",
            "{{ podName }} is not a template variable; Flyte's syntax is {{ .name }}, e.g. {{ .podName }}",
        ),
        (
            "x/{{ .pod }}",
            "{{ .pod }} is not a known variable; allowed: {{ .podName }}, {{ .namespace }}, {{ .containerName }}, "
            "{{ .taskRetryAttempt }}, {{ .executionName }}, {{ .executionProject }}, {{ .executionDomain }}, "
            "{{ .nodeID }}, {{ .taskID }}, {{ .taskVersion }}, {{ .taskProject }}, {{ .taskDomain }}, "
            "{{ .podRFC3339StartTime }}, {{ .podRFC3339FinishTime }}, {{ .podUnixStartTime }}, "
            "{{ .podUnixFinishTime }}, {{ .objectName }}, {{ .workerIndex }}",
        ),
    ],
)
def test_each_refusal_quotes_the_template_as_written_and_says_what_is_allowed(template, message):
    with pytest.raises(TemplateError) as raised:
        parse_template(template)
    assert str(raised.value) == message
