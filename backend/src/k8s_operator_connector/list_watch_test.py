"""The paginated list of ``ListWatch``: pages reach the cache as they arrive; an expired
continue token restarts the list; other failures propagate (the watch thread relists)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flyteidl.core.execution_pb2 import TaskExecution

from k8s_operator_connector.kube_api import KubeApiError, ResourceType
from k8s_operator_connector.object_cache import ObjectCache
from k8s_operator_connector.operator_plugin import Observation

JOBS = ResourceType("batch", "v1", "jobs", "Job")
RUNNING = Observation.of(TaskExecution.RUNNING)
EXPIRED = KubeApiError(410, "Expired", "The provided continue parameter is too old to display a consistent list")


def job(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}"}}


class PagedApi:
    """Answers each list with the next script: a list of pages, or an error after some pages."""

    def __init__(self, *scripts: list[list[dict[str, Any]] | KubeApiError]) -> None:
        self.scripts = list(scripts)
        self.cache: ObjectCache | None = None
        self.seen_between_pages: list[set[str]] = []

    def list_pages(self, *args: Any, **kwargs: Any) -> Iterator[tuple[list[dict[str, Any]], str]]:
        for page in self.scripts.pop(0):
            if isinstance(page, KubeApiError):
                raise page
            yield page, "7"
            assert self.cache is not None
            self.seen_between_pages.append({name for _, name in self.cache._objects})


def cache_on(api: PagedApi) -> ObjectCache:
    cache = ObjectCache(api, JOBS, "ns", "", lambda obj: RUNNING, tombstone_seconds=60)  # type: ignore[arg-type]
    api.cache = cache
    return cache


def test_each_page_is_in_the_cache_before_the_next_one_is_asked_for():
    api = PagedApi([[job("a"), job("b")], [job("c")]])
    cache = cache_on(api)
    assert cache._list() == "7"
    assert api.seen_between_pages == [{"a", "b"}, {"a", "b", "c"}]
    assert len(cache) == 3


def test_an_expired_continue_token_lists_again_from_the_start():
    api = PagedApi([[job("a"), job("gone-meanwhile")], EXPIRED], [[job("a")], [job("b")]])
    cache = cache_on(api)
    assert cache._list() == "7"
    assert api.scripts == []  # listed twice
    assert {name for _, name in cache._objects} == {"a", "b"}
    assert cache.tombstone(("ns", "gone-meanwhile")) is not None


@pytest.mark.parametrize(
    "script",
    [
        [EXPIRED],  # a 410 on the first page is no expired continue token: no loop, the thread backs off
        [[job("a")], KubeApiError(503, "ServiceUnavailable", "injected")],
    ],
)
def test_other_list_failures_reach_the_watch_thread(script):
    api = PagedApi(script)
    cache = cache_on(api)
    with pytest.raises(KubeApiError):
        cache._list()
