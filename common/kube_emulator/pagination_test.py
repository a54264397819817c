"""Paginated lists (limit/continue) with the real API server's semantics.

Pinned to k8s.io/apiserver (commit 24a394e516bfda066d7e2221d7d92c052de27c54):
- pkg/storage/testing/store_tests.go, RunTestListContinuation: every page of one list reports
  the first page's resourceVersion, and later pages are read at that revision (a consistent
  snapshot), whatever was written in between.
- RunTestListInconsistentContinuation and pkg/storage/etcd3/errors.go
  (handleCompactedErrorForPaging): once that revision is compacted, a continue answers 410
  Expired, "The provided continue parameter is too old ...", with a new token in
  metadata.continue that lists the remainder at the latest resourceVersion.
- pkg/storage/continue.go: the token is base64 JSON {"v": "meta.k8s.io/v1", "rv", "start"}.
"""

from __future__ import annotations

import base64
import json

import pytest
from kubernetes.client.exceptions import ApiException  # type: ignore[import-untyped]


def names(page) -> list[str]:
    return [item.metadata.name for item in page.items]


def test_every_page_is_read_from_the_first_pages_snapshot(core):
    for i in range(5):
        core.create_namespaced_config_map("default", {"metadata": {"name": f"c{i}"}, "data": {"v": "old"}})
    first = core.list_namespaced_config_map("default", limit=2)
    assert names(first) == ["c0", "c1"]
    token = json.loads(base64.urlsafe_b64decode(first.metadata._continue))
    assert (token["v"], token["rv"]) == ("meta.k8s.io/v1", int(first.metadata.resource_version))

    core.patch_namespaced_config_map("c2", "default", {"data": {"v": "new"}})
    core.delete_namespaced_config_map("c3", "default")
    core.create_namespaced_config_map("default", {"metadata": {"name": "c5"}})
    core.patch_namespaced_config_map("c4", "default", {"data": {"v": "new"}})
    core.delete_namespaced_config_map("c4", "default")

    rest = core.list_namespaced_config_map("default", limit=10, _continue=first.metadata._continue)
    assert names(rest) == ["c2", "c3", "c4"]  # as they were: c3 and c4 still there, c5 not yet
    assert [item.data["v"] for item in rest.items] == ["old", "old", "old"]
    assert rest.metadata.resource_version == first.metadata.resource_version
    assert not rest.metadata._continue
    # A new list sees the writes.
    assert names(core.list_namespaced_config_map("default")) == ["c0", "c1", "c2", "c5"]


def test_a_continue_whose_snapshot_was_compacted_is_410_expired_with_a_token_for_the_rest(api, core):
    for i in range(3):
        core.create_namespaced_config_map("default", {"metadata": {"name": f"c{i}"}, "data": {"v": "old"}})
    first = core.list_namespaced_config_map("default", limit=1)
    core.patch_namespaced_config_map("c2", "default", {"data": {"v": "new"}})
    api.faults.compact()

    with pytest.raises(ApiException) as raised:
        core.list_namespaced_config_map("default", limit=1, _continue=first.metadata._continue)
    assert raised.value.status == 410
    status = json.loads(raised.value.body)
    assert status["reason"] == "Expired"
    assert status["message"].startswith("The provided continue parameter is too old to display a consistent list")
    inconsistent = status["metadata"]["continue"]

    second = core.list_namespaced_config_map("default", limit=1, _continue=inconsistent)
    assert names(second) == ["c1"]
    assert int(second.metadata.resource_version) > int(first.metadata.resource_version)  # the latest
    third = core.list_namespaced_config_map("default", limit=1, _continue=second.metadata._continue)
    assert names(third) == ["c2"] and third.items[0].data["v"] == "new"
    assert not third.metadata._continue


def test_pages_across_namespaces_hold_every_object_once(core):
    # "a-b" sorts before "a/" as a string but after "a" as a namespace: a page boundary in "a"
    # must neither skip "a-b" nor repeat it.
    for namespace in ("a", "a-b"):
        core.create_namespace({"metadata": {"name": namespace}})
        for i in range(3):
            core.create_namespaced_config_map(namespace, {"metadata": {"name": f"c{i}"}})
    seen, token = [], None
    while True:
        page = core.list_config_map_for_all_namespaces(limit=2, _continue=token)
        seen += [(item.metadata.namespace, item.metadata.name) for item in page.items]
        token = page.metadata._continue
        if not token:
            break
    expected = [(namespace, f"c{i}") for namespace in ("a", "a-b") for i in range(3)]
    assert sorted(seen) == expected and len(seen) == len(expected)


@pytest.mark.parametrize(
    "token",
    [
        "not base64 json",
        base64.urlsafe_b64encode(b'{"start": "default/c0"}').decode(),  # no rv
        base64.urlsafe_b64encode(b'{"v": "meta.k8s.io/v1", "rv": 0, "start": "default/c0"}').decode(),
        base64.urlsafe_b64encode(b'{"v": "meta.k8s.io/v1", "rv": 3, "start": "no-slash"}').decode(),
    ],
)
def test_a_malformed_continue_token_is_400(core, token):
    with pytest.raises(ApiException) as raised:
        core.list_namespaced_config_map("default", limit=1, _continue=token)
    assert raised.value.status == 400
    assert "invalid continue token" in raised.value.body


def test_a_filtered_page_says_there_is_more_without_counting_it(core):
    """remainingItemCount only for an unfiltered list (pkg/storage/continue.go): a page with a
    selector stops at the next match instead of reading every object after it."""
    for i in range(5):
        core.create_namespaced_config_map("default", {"metadata": {"name": f"c{i}", "labels": {"kept": "yes"}}})
    unfiltered = core.list_namespaced_config_map("default", limit=2)
    assert unfiltered.metadata.remaining_item_count == 3
    seen, token = [], None
    while True:
        page = core.list_namespaced_config_map("default", limit=2, label_selector="kept=yes", _continue=token)
        assert page.metadata.remaining_item_count is None
        seen += names(page)
        token = page.metadata._continue
        if not token:
            break
    assert seen == [f"c{i}" for i in range(5)]
