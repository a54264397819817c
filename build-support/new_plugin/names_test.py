import pytest

from new_plugin.names import InvalidNameError, plugin_names


def test_defaults_and_derived_names():
    names = plugin_names("job_set", "jobset.x-k8s.io", "v1alpha2", "JobSet")
    assert (names.plural, names.camel, names.upper, names.namespaced) == ("jobsets", "JobSet", "JOB_SET", True)
    assert names.api_version == "jobset.x-k8s.io/v1alpha2"
    assert names.proto_dir == "common/proto/flyte_k8s_operator/job_set/v1"
    assert names.proto_package == "flyte_k8s_operator.job_set.v1"


@pytest.mark.parametrize(
    ("arguments", "option"),
    [
        (("JobSet", "a.io", "v1", "JobSet"), "--name"),
        (("job__set", "a.io", "v1", "JobSet"), "--name"),
        (("class", "a.io", "v1", "JobSet"), "--name"),
        (("json", "a.io", "v1", "JobSet"), "--name"),
        (("job_set_test", "a.io", "v1", "JobSet"), "--name"),
        (("v1", "a.io", "v1", "JobSet"), "--name"),
        (("v2beta1", "a.io", "v1", "JobSet"), "--name"),
        (("job_set", "localhost", "v1", "JobSet"), "--group"),
        (("job_set", "Jobset.io", "v1", "JobSet"), "--group"),
        (("job_set", "a.io", "1", "JobSet"), "--version"),
        (("job_set", "a.io", "v1gamma1", "JobSet"), "--version"),
        (("job_set", "a.io", "v0", "JobSet"), "--version"),
        (("job_set", "a.io", "v1", "jobSet"), "--kind"),
        (("job_set", "a.io", "v1", "Job_Set"), "--kind"),
    ],
)
def test_bad_values_name_the_option(arguments, option):
    with pytest.raises(InvalidNameError, match=option):
        plugin_names(*arguments)


def test_versions_and_plural():
    for version in ("v1", "v1alpha1", "v2beta3", "v10"):
        assert plugin_names("x_y", "a.io", version, "Xy").version == version
    assert plugin_names("x_y", "a.io", "v1", "Xy", "xies").plural == "xies"
    with pytest.raises(InvalidNameError, match="--plural"):
        plugin_names("x_y", "a.io", "v1", "Xy", "X_ies")
