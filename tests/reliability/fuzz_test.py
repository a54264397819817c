"""Fuzzing what arrives from outside: the task's custom config and propeller's resource_meta.

Bounded and repeatable: a fixed number of examples, derandomized, no deadline flakiness.
The property is always the same: the input is accepted, or refused with the module's own
error that names the field, never any other exception (which would be a gRPC INTERNAL).
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from k8s_operator_connector.meta_signing import MetaRejected
from k8s_operator_connector.operator_plugin import InvalidTaskError
from k8s_operator_connector.plugins.custom_resource import CustomResourcePlugin, parse_custom_resource
from k8s_operator_connector.plugins.parallel_job import ParallelJobPlugin, parse_parallel_job
from k8s_operator_connector.pod_defaults import APPLIED_KEYS, PodDefaultsError, parse_pod_defaults
from k8s_operator_connector.resource_meta import signed_meta_type
from k8s_operator_connector.settings import AllowedKind, ConnectorSettings, CustomResourceSettings
from k8s_operator_connector.testing.flyte_models import make_request, make_template
from k8s_operator_connector.testing.signing_keys import signer_for_tests

BOUNDED = settings(
    max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow], database=None
)
SETTINGS = ConnectorSettings(
    custom_resource=CustomResourceSettings(allowed_kinds=(AllowedKind("batch", "v1", "Job", "jobs"),))
)
POD_DEFAULTS_SETTINGS = ConnectorSettings(
    pod_defaults=parse_pod_defaults(
        {
            "default-env-vars": {"A": "1"},
            "interruptible-tolerations": [{"key": "spot", "operator": "Exists"}],
            "interruptible-node-selector-requirement": {"key": "spot", "operator": "Exists"},
            "resource-tolerations": {"nvidia.com/gpu": [{"key": "gpu", "operator": "Exists"}]},
            "default-security-context": {"runAsNonRoot": True},
        }
    )
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
PARALLEL_JOB_KEYS = ["workers", "maxRestarts", "timeoutSeconds", "restartPolicy", "successPolicy", "workerResources"]
parallel_job_customs = st.dictionaries(
    st.one_of(st.sampled_from(PARALLEL_JOB_KEYS), st.text(max_size=10)), json_values, max_size=6
)
CUSTOM_RESOURCE_KEYS = ["manifest", "successCondition", "failureCondition", "progressTemplate", "outputs"]
manifests = st.fixed_dictionaries(
    {"apiVersion": st.sampled_from(["batch/v1", "v1", "", "rbac.authorization.k8s.io/v1"])},
    optional={
        "kind": st.sampled_from(["Job", "Namespace", "ConfigMap", "ClusterRole", ""]),
        "metadata": st.one_of(
            json_values,
            st.fixed_dictionaries(
                {},
                optional={
                    "namespace": st.one_of(st.none(), st.text(max_size=12)),
                    "labels": st.one_of(json_values, st.dictionaries(st.text(max_size=70), json_values, max_size=3)),
                    "annotations": json_values,
                    "name": json_values,
                },
            ),
        ),
        "spec": json_values,
    },
)
custom_resource_customs = st.fixed_dictionaries(
    {},
    optional={
        "manifest": st.one_of(manifests, json_values),
        "successCondition": st.one_of(
            st.text(max_size=40), st.sampled_from(["object.status.succeeded >= 1", "a == b"])
        ),
        "failureCondition": st.text(max_size=40),
        "progressTemplate": st.text(max_size=40),
        "outputs": st.one_of(
            json_values,
            st.dictionaries(
                st.text(max_size=8), st.one_of(st.text(max_size=30), st.just("object.status.x")), max_size=2
            ),
        ),
    },
) | st.dictionaries(st.text(max_size=10), json_values, max_size=4)


def refused_cleanly(function: Any, *args: Any) -> None:
    try:
        function(*args)
    except InvalidTaskError as error:
        assert error.field_name.startswith(("custom", "inputs")), error
        assert str(error).startswith(error.field_name)


@BOUNDED
@given(parallel_job_customs)
def test_parse_parallel_job_accepts_or_names_the_field(custom: dict[str, Any]):
    refused_cleanly(parse_parallel_job, custom)


@BOUNDED
@given(parallel_job_customs)
def test_parallel_job_build_object_accepts_or_names_the_field(custom: dict[str, Any]):
    refused_cleanly(ParallelJobPlugin().build_object, make_request(make_template(custom=custom)))


@BOUNDED
@given(custom_resource_customs)
def test_parse_custom_resource_accepts_or_names_the_field(custom: dict[str, Any]):
    refused_cleanly(parse_custom_resource, custom)


@BOUNDED
@given(custom_resource_customs)
def test_custom_resource_build_object_accepts_or_names_the_field(custom: dict[str, Any]):
    template = make_template(task_type="custom_resource", custom=custom, with_container=False)
    refused_cleanly(CustomResourcePlugin().build_object, make_request(template, settings=SETTINGS, max_name_length=63))


container_specs = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(st.sampled_from(["primary", "worker", "sidecar"]), json_values),
        "image": st.one_of(st.just("app:1"), json_values),
        "args": st.one_of(st.lists(st.text(max_size=20), max_size=3), json_values),
        "env": st.one_of(
            st.lists(st.fixed_dictionaries({"name": st.text(max_size=8)}, optional={"value": json_values}), max_size=3),
            json_values,
        ),
        "resources": st.one_of(
            st.fixed_dictionaries(
                {}, optional={"limits": st.dictionaries(st.sampled_from(["gpu", "cpu"]), json_values)}
            ),
            json_values,
        ),
    },
) | st.dictionaries(st.text(max_size=10), json_values, max_size=3)
pod_specs = st.fixed_dictionaries(
    {},
    optional={
        "containers": st.one_of(st.lists(container_specs, max_size=3), json_values),
        "tolerations": json_values,
        "nodeSelector": json_values,
        "affinity": json_values,
        "securityContext": json_values,
    },
) | st.dictionaries(st.text(max_size=12), json_values, max_size=4)


@BOUNDED
@given(pod_specs, st.sampled_from(["primary", "worker", ""]), st.sampled_from([True, False, None]))
def test_pod_templates_are_accepted_or_refused_naming_the_field(pod_spec, primary, interruptible):
    from flytekit.models.task import K8sPod

    template = make_template(
        k8s_pod=K8sPod(pod_spec=pod_spec), config={"primary_container_name": primary}, interruptible=interruptible
    )
    try:
        built = ParallelJobPlugin().build_object(make_request(template, settings=POD_DEFAULTS_SETTINGS))
    except InvalidTaskError as error:
        assert error.field_name.startswith(("k8s_pod.pod_spec", "container.image")), error
        return
    assert built.manifest["spec"]["template"]["spec"]["containers"][0]["name"] == "worker"


POD_DEFAULTS_KEYS = [*sorted(APPLIED_KEYS), "inject-finalizer", "co-pilot"]


@BOUNDED
@given(st.dictionaries(st.one_of(st.sampled_from(POD_DEFAULTS_KEYS), st.text(max_size=10)), json_values, max_size=5))
def test_pod_defaults_are_accepted_or_refused_naming_the_key(section):
    try:
        parse_pod_defaults(section)
    except PodDefaultsError as error:
        assert "podDefaults" in str(error), error  # the key's path, e.g. podDefaults.default-affinity.x


META_FIELDS = ["group", "version", "plural", "kind", "namespace", "name", "uid", "task_execution_id"]
meta_documents = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.dictionaries(
        st.one_of(
            st.sampled_from([*META_FIELDS, "failure_phase", "failure_message", "awaiting_quota", "pending_create"]),
            st.text(),
        ),
        json_values,
        max_size=12,
    ).map(lambda value: json.dumps(value).encode()),
)


SIGNED = signed_meta_type(signer_for_tests(), "parallel_job")
# Accepts unsigned metas too, so the fuzzing reaches the structure checks behind the signature.
MIGRATING = signed_meta_type(signer_for_tests("migrate"), "parallel_job")


@BOUNDED
@given(meta_documents)
def test_resource_meta_decode_accepts_or_names_the_problem(data: bytes):
    for meta_type in (SIGNED, MIGRATING):
        try:
            meta = meta_type.decode(data)
        except MetaRejected as error:
            assert str(error).startswith("resource_meta")
            continue
        assert meta_type is MIGRATING, "an unsigned meta passed the required mode"
        assert SIGNED.decode(SIGNED(**vars(meta)).encode()) == SIGNED(**vars(meta))


@BOUNDED
@given(meta_documents)
def test_signed_fuzzed_payloads_decode_or_name_the_problem(data: bytes):
    """Behind a valid signature (a key leak, or a bug of ours) bad structure is still refused cleanly."""
    sealed = signer_for_tests().seal("parallel_job", data)
    try:
        SIGNED.decode(sealed)
    except MetaRejected as error:
        assert str(error).startswith("resource_meta")


@BOUNDED
@given(st.fixed_dictionaries({name: st.text(min_size=1, max_size=30) for name in META_FIELDS}))
def test_resource_meta_round_trips(values: dict[str, str]):
    meta = SIGNED(**values)  # type: ignore[arg-type]  # only the str fields
    assert SIGNED.decode(meta.encode()) == meta
