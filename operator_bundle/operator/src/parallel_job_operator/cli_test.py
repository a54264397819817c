import pytest

from parallel_job_operator.cli import parse_args


def test_default_is_clusterwide():
    args = parse_args([])
    assert args.clusterwide and args.namespaces == []
    assert args.liveness_endpoint is None


def test_namespaces_and_liveness():
    args = parse_args(["-n", "a", "--namespace", "b", "--liveness", "http://0.0.0.0:8080/healthz"])
    assert (args.clusterwide, args.namespaces, args.liveness_endpoint) == (
        False,
        ["a", "b"],
        "http://0.0.0.0:8080/healthz",
    )


def test_scope_flags_exclude_each_other():
    with pytest.raises(SystemExit):
        parse_args(["-n", "a", "--all-namespaces"])


def test_resync_must_be_positive():
    with pytest.raises(SystemExit):
        parse_args(["--resync-seconds", "0"])
    assert parse_args(["--resync-seconds", "0.5"]).resync_seconds == 0.5
