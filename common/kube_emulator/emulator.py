"""`KubeEmulator`: the public entry point. Runs the HTTP API in a background thread (sync code)
or on the caller's event loop (async code), and exposes state, faults and accounting to tests."""

from __future__ import annotations

import asyncio
import copy
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from kube_emulator.accounting import RequestLog
from kube_emulator.apiserver import CRD_KEY, POD_KEY, ApiServer
from kube_emulator.crds import load_manifests
from kube_emulator.dispatcher import Dispatcher
from kube_emulator.faults import Faults
from kube_emulator.httpserver import HttpServer
from kube_emulator.patches import MERGE
from kube_emulator.pod_logs import PodLogs
from kube_emulator.resources import ResourceRegistry, ResourceType
from kube_emulator.selectors import FieldSelector, LabelSelector
from kube_emulator.store import CollectionKey, Store

if TYPE_CHECKING:
    import kubernetes.client  # type: ignore[import-untyped]

T = TypeVar("T")
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public")
CrdSource = str | Path | dict[str, Any]


class KubeEmulator:
    """An HTTP Kubernetes API on 127.0.0.1.

    with KubeEmulator(crds=["crd.yaml"]) as api:
        api.write_kubeconfig(tmp_path / "kubeconfig")
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        crds: Iterable[CrdSource] = (),
        resources: Iterable[ResourceType] = (),
        namespaces: Iterable[str] = DEFAULT_NAMESPACES,
        strict_namespaces: bool = False,
        watch_window: int = 100_000,
        request_ring_size: int = 1000,
    ) -> None:
        self.host = host
        self._requested_port = port
        self._watch_window = watch_window
        self._strict_namespaces = strict_namespaces
        self._initial_crds = [_crd_dict(source) for crd_source in crds for source in _expand(crd_source)]
        self._initial_resources = list(resources)
        self._initial_namespaces = list(namespaces)
        self.faults = Faults(self._close_watches, self._compact)
        self.requests = RequestLog(request_ring_size)
        self.pod_logs = PodLogs()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._loop_thread_id: int | None = None
        self._http: HttpServer | None = None
        self._build_state()

    # ------------------------------------------------------------------ state construction

    def _build_state(self) -> None:
        self.registry = ResourceRegistry()
        self.store = Store(self._watch_window)
        self.apiserver = ApiServer(
            self.store, self.registry, strict_namespaces=self._strict_namespaces, on_removed=self._on_removed
        )
        self.pod_logs.clear()
        for resource in self._initial_resources:
            self.registry.register(resource)
        for namespace in self._initial_namespaces:
            self.apiserver.create(self.registry.find("namespaces"), None, {"metadata": {"name": namespace}})
        for crd in self._initial_crds:
            self.apiserver.create(self.registry.find("customresourcedefinitions"), None, crd)

    def _on_removed(self, key: CollectionKey, obj: dict[str, Any]) -> None:
        if key == POD_KEY:
            self.pod_logs.forget(obj["metadata"].get("namespace", ""), obj["metadata"]["name"])

    def _close_watches(self) -> int:
        return self._on_loop(self.store.close_watchers)

    def _compact(self) -> None:
        self._on_loop(self.store.compact)

    # ------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        if self._http is None:
            raise RuntimeError("the emulator is not running")
        return self._http.port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._http is not None

    def _dispatcher(self) -> Dispatcher:
        return Dispatcher(self.apiserver, self.faults, self.requests, self.pod_logs, lambda: f"{self.host}:{self.port}")

    def _prepare(self, wipe: bool) -> None:
        if self._http is not None:
            raise RuntimeError("the emulator is already running")
        if wipe:
            self._build_state()
        self._http = HttpServer(self._dispatcher(), self.host, self._requested_port)

    def start(self, *, wipe: bool = False) -> KubeEmulator:
        """Serve from a background thread. After stop(), start() reuses the same port;
        `wipe=True` starts from an empty cluster instead of the state kept across the restart."""
        self._prepare(wipe)
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            self._loop_thread_id = threading.get_ident()
            loop.call_soon(ready.set)
            loop.run_forever()
            loop.close()

        self._loop = loop
        self._loop_thread = threading.Thread(target=run, name="kube-emulator", daemon=True)
        self._loop_thread.start()
        ready.wait()
        assert self._http is not None
        try:
            self._requested_port = asyncio.run_coroutine_threadsafe(self._http.start(), loop).result()
        except BaseException:
            self._http = None
            self._stop_loop()
            raise
        return self

    def stop(self) -> None:
        """Stop serving and drop every connection (open watches end abruptly). State is kept."""
        if self._http is None:
            return
        if self._loop_thread is None:
            raise RuntimeError("started with `async with`/astart(): use astop()")
        assert self._loop is not None
        self._on_loop(self.store.close_watchers)
        asyncio.run_coroutine_threadsafe(self._http.stop(), self._loop).result()
        self._http = None
        self._stop_loop()

    def _stop_loop(self) -> None:
        if self._loop is not None and self._loop_thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop_thread.join()
        self._loop = None
        self._loop_thread = None
        self._loop_thread_id = None

    async def astart(self, *, wipe: bool = False) -> KubeEmulator:
        """Serve on the running event loop (for async tests)."""
        self._prepare(wipe)
        assert self._http is not None
        self._loop = asyncio.get_running_loop()
        self._loop_thread_id = threading.get_ident()
        try:
            self._requested_port = await self._http.start()
        except BaseException:
            self._http = None
            raise
        return self

    async def astop(self) -> None:
        if self._http is None:
            return
        self.store.close_watchers()
        await self._http.stop()
        self._http = None
        self._loop = None
        self._loop_thread_id = None

    def __enter__(self) -> KubeEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> KubeEmulator:
        return await self.astart()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.astop()

    def _on_loop(self, function: Callable[[], T]) -> T:
        """Run state changes on the serving loop, so watchers are notified from their own thread."""
        loop = self._loop
        if loop is None or threading.get_ident() == self._loop_thread_id or not loop.is_running():
            return function()

        async def call() -> T:
            return function()

        return asyncio.run_coroutine_threadsafe(call(), loop).result()

    # ------------------------------------------------------------------ clients

    def kubeconfig(self, namespace: str = "default") -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kube-emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "kube-emulator", "user": {"token": "kube-emulator"}}],
            "contexts": [
                {
                    "name": "kube-emulator",
                    "context": {"cluster": "kube-emulator", "user": "kube-emulator", "namespace": namespace},
                }
            ],
            "current-context": "kube-emulator",
            "preferences": {},
        }

    def write_kubeconfig(self, path: str | Path, namespace: str = "default") -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.kubeconfig(namespace)), encoding="utf-8")
        return path

    def api_client(self) -> kubernetes.client.ApiClient:
        """An official-client ApiClient pointed at this emulator (independent of any kubeconfig)."""
        import kubernetes.client  # only tests that use the official client need it

        configuration = kubernetes.client.Configuration()
        configuration.host = self.url
        return kubernetes.client.ApiClient(configuration)

    # ------------------------------------------------------------------ state from Python

    def resource(self, name: str) -> ResourceType:
        """Resolve `pods`, `jobs.batch`, `paralleljobs.workloads.example.com`, a kind or a short name."""
        return self.registry.find(name)

    def register_resource(self, resource: ResourceType) -> None:
        self.registry.register(resource)

    def unregister_resource(self, group: str, plural: str) -> None:
        """Forget a resource type and all its objects: its paths answer 404 from now on."""

        def unregister() -> None:
            self.registry.unregister(group, plural)
            self.store.drop_collection((group, plural))

        self._on_loop(unregister)

    def install_crd(self, crd: CrdSource) -> list[dict[str, Any]]:
        """Create CRDs (a dict, a YAML file or a YAML string); their resources are served at once."""
        rt = self.registry.find("customresourcedefinitions.apiextensions.k8s.io")
        return [
            copy.deepcopy(self._on_loop(lambda d=doc: self.apiserver.create(rt, None, d)))  # type: ignore[misc]
            for doc in _expand(crd)
        ]

    def uninstall_crd(self, name: str) -> None:
        """Delete a CRD by name (`paralleljobs.workloads.example.com`): its objects and paths go away."""
        self.delete("customresourcedefinitions.apiextensions.k8s.io", name)

    def create(self, obj: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        rt = self._type_of(obj)
        ns = namespace or obj.get("metadata", {}).get("namespace") or ("default" if rt.namespaced else None)
        return copy.deepcopy(self._on_loop(lambda: self.apiserver.create(rt, ns, obj)))

    def get(self, resource: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        rt = self.registry.find(resource)
        obj = self.store.get(rt.key, (namespace or "default") if rt.namespaced else "", name)
        return copy.deepcopy(obj)

    def list(
        self, resource: str, namespace: str | None = None, label_selector: str = "", field_selector: str = ""
    ) -> list[dict[str, Any]]:
        """Objects of a resource, in one namespace or (namespace=None) all of them."""
        rt = self.registry.find(resource)
        labels = LabelSelector.parse(label_selector)
        fields = FieldSelector.parse(field_selector, rt.is_core_events)
        listing = self._on_loop(lambda: self.apiserver.list_objects(rt, namespace, labels, fields))
        return copy.deepcopy(listing["items"])

    def patch(
        self,
        resource: str,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        subresource: str | None = None,
        content_type: str = MERGE,
    ) -> dict[str, Any]:
        rt = self.registry.find(resource)
        ns = (namespace or "default") if rt.namespaced else ""
        return copy.deepcopy(
            self._on_loop(lambda: self.apiserver.patch(rt, ns, name, content_type, patch, subresource))
        )

    def delete(
        self, resource: str, name: str, namespace: str | None = None, propagation_policy: str | None = None
    ) -> None:
        rt = self.registry.find(resource)
        ns = (namespace or "default") if rt.namespaced else ""
        options = {"propagationPolicy": propagation_policy} if propagation_policy else {}
        self._on_loop(lambda: self.apiserver.delete(rt, ns, name, options))

    def wipe(self) -> None:
        """Back to a fresh cluster (built-in resources, default namespaces, initial CRDs)."""

        def rebuild() -> None:
            self.store.close_watchers()
            self._build_state()
            if self._http is not None:
                self._http._handler = self._dispatcher()

        self._on_loop(rebuild)

    @property
    def resource_version(self) -> int:
        return self.store.resource_version

    def pod_log(self, name: str, namespace: str = "default") -> str:
        return self.pod_logs.get(namespace, name)

    def _type_of(self, obj: dict[str, Any]) -> ResourceType:
        api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
        group, _, version = api_version.rpartition("/")
        for rt in self.registry.all():
            if rt.group == group and rt.version == version and rt.kind == kind:
                return rt
        raise KeyError(f"no resource of kind {kind!r} in {api_version!r} is registered")


def _expand(source: CrdSource) -> list[dict[str, Any]]:
    if isinstance(source, dict):
        return [source]
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source and Path(source).exists()):
        return load_manifests([source])
    return [doc for doc in yaml.safe_load_all(source) if doc]


def _crd_dict(document: dict[str, Any]) -> dict[str, Any]:
    if document.get("kind") != "CustomResourceDefinition":
        raise ValueError(f"not a CustomResourceDefinition: {document.get('kind')!r}")
    return document


__all__ = ["CRD_KEY", "KubeEmulator"]
