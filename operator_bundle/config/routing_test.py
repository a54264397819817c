"""The Flyte routing: merged into Flyte's own configurations, every task type goes where it went.

Propeller's side is modelled from flyteorg/flyte at tag v1.16.8 (commit
51877f899c9f95e0cb5efe90444eb0c6c6ea48a9), spf13/viper v1.21.0 (the version flytestdlib pins,
commit 394040caccbdf5821fa6839386a35f0fb1b1ee9e):

- flytestdlib/config/files/finder.go, config/viper/collection.go: the files matching
  ``--config /etc/flyte/config.d/*.yaml`` (filepath.Glob: name order) are merged one after the
  other with viper's MergeConfig; viper.go ``mergeMaps``: a map merges key by key, any other
  value replaces the earlier one whole (a non-map over a map is ignored); util.go
  ``insensitiviseMap``: every map key is lower-cased.
- flyteplugins/go/tasks/plugins/webapi/connector/config.go: the section's defaults (a
  ``connectors`` entry starts from Go zero values: insecure false, no timeout).
- .../connector/client.go ``getConnectorRegistry``: ListAgents of the default connector and
  of every ``connectors`` entry fills registry[type][version]; ``connectorForTaskTypes``
  then replaces registry[type] with version 0 only; ``supportedTaskTypes`` adds version 0 on
  the default connector for types still missing.
- .../connector/plugin.go ``getFinalConnector``: registry[type][version], else the default
  connector.
- .../connector/plugin.go ``newConnectorPlugin``: the plugin's ``SupportedTaskTypes`` (its
  registered task types) are the registry's keys at propeller's start; ``watchConnectors``
  rebuilds the registry every ``pollInterval`` and hands its keys to ``ContainTaskType``.
- flytepropeller/pkg/controller/nodes/task/config/config.go ``GetEnabledPlugins``: a
  default-for-task-types plugin that is not enabled stops propeller; handler.go ``Setup``: a
  default-for-task-types entry holds only for a type the plugin registered at start, and a
  type that one plugin alone registered becomes that plugin's default without any entry
  (``fallbackTaskHandlerMap``); ``ResolvePlugin``: the type's default plugin, else
  connector-service if ``ContainTaskType``, else the default plugin (the container plugin,
  flyteplugins/go/tasks/plugins/k8s/pod/plugin.go ``IsDefault``).
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from bundle_test import render
from flyteidl.admin.agent_pb2 import Agent, TaskCategory
from flytekit.extend.backend.base_connector import ConnectorRegistry

from k8s_operator_connector.connector import OperatorConnector
from k8s_operator_connector.plugin_registry import enabled_plugins, registered_plugins
from k8s_operator_connector.runtime import ConnectorRuntime
from k8s_operator_connector.settings import parse_settings
from k8s_operator_connector.testing.signing_keys import signer_for_tests

CONFIG_DIR = Path(__file__).resolve().parent
FLYTE_DIR = CONFIG_DIR / "flyte"
OUR_FILE = "200-k8s-operator-connector.yaml"
OUR_ENDPOINT = "dns:///flyte-k8s-operator-connector.flyte.svc.cluster.local:8000"
FLYTECONNECTOR_ENDPOINT = "k8s://flyteconnector.flyte:8000"
# charts/flyte-sandbox/templates/_helpers.tpl: "{{ .Release.Name }}-extra-config", release
# flyte-sandbox (docker/sandbox-bundled/bootstrap/cmd/bootstrap/main.go names it too).
SANDBOX_EXTRA_CONFIG = "flyte-sandbox-extra-config"
BINARY_INLINE_CONFIG = "flyte-k8s-operator-connector-propeller-config"
ROUND_ROBIN = '{"loadBalancingConfig": [{"round_robin":{}}]}'
# config.go defaultConfig.DefaultConnector, and the Go zero value of a `connectors` entry.
DEFAULT_CONNECTOR = {"endpoint": "", "insecure": True, "defaulttimeout": "10s", "defaultserviceconfig": ROUND_ROBIN}
NEW_DEPLOYMENT = {"endpoint": "", "insecure": False, "defaulttimeout": "0s", "defaultserviceconfig": ""}


# -- propeller's configuration loader ---------------------------------------------------------


def lower_keys(value: Any) -> Any:
    """viper's insensitiviseMap (flytestdlib then restores lists from the files as written)."""
    if isinstance(value, dict):
        return {str(key).lower(): lower_keys(item) for key, item in value.items()}
    return value


def merge_into(target: dict[str, Any], source: Mapping[str, Any]) -> None:
    """viper's mergeMaps: maps merge, anything else replaces; a non-map never replaces a map."""
    for key, value in source.items():
        if key not in target:
            target[key] = copy.deepcopy(value)
        elif isinstance(target[key], dict):
            if isinstance(value, dict):
                merge_into(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def load_config(files: Mapping[str, str]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for name in sorted(files):
        merge_into(merged, lower_keys(yaml.safe_load(files[name]) or {}))
    return merged


def test_the_loader_model_follows_vipers_merge_vectors():
    # viper_test.go TestMergeConfig (yamlMergeExampleTgt, then yamlMergeExampleSrc merged in).
    target = "hello:\n  pop: 37890\n  largenum: 765432101234567\n  universe: null\n  world: [us, uk, fr, de]\n"
    source = "hello:\n  pop: 45000\n  largenum: 7654321001234567\n  universe: [mw, ad]\n  ints: [1, 2]\nfu: bar\n"
    merged = load_config({"0.yaml": target, "1.yaml": source})
    assert merged == {
        "hello": {
            "pop": 45000,
            "largenum": 7654321001234567,
            "universe": ["mw", "ad"],
            "world": ["us", "uk", "fr", "de"],
            "ints": [1, 2],
        },
        "fu": "bar",
    }
    # mergeMaps' default branch: a list replaces a list whole; insensitiviseMap: keys lower-cased.
    assert load_config({"b.yaml": "A: {L: [3]}", "a.yaml": "a: {l: [1, 2], m: 1}"}) == {"a": {"l": [3], "m": 1}}


# -- propeller's connector plugin -------------------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    endpoint: str
    insecure: bool
    default_timeout: str
    default_service_config: str


def _deployment(settings: Mapping[str, Any], base: Mapping[str, Any]) -> Deployment:
    fields = {**base, **settings}
    return Deployment(fields["endpoint"], fields["insecure"], fields["defaulttimeout"], fields["defaultserviceconfig"])


Registry = dict[str, dict[int, Deployment]]
ListAgents = Callable[[str], list[Agent]]


def connector_registry(section: Mapping[str, Any], list_agents: ListAgents) -> tuple[Deployment, Registry]:
    default = _deployment(section.get("defaultconnector", {}), DEFAULT_CONNECTOR)
    connectors = {key: _deployment(value, NEW_DEPLOYMENT) for key, value in section.get("connectors", {}).items()}
    outcomes = []
    # Go iterates the connectors map in random order: the outcome must not depend on it.
    for order in itertools.permutations(connectors.values()):
        registry: Registry = {}
        for deployment in ([default] if default.endpoint else []) + list(order):
            for agent in list_agents(deployment.endpoint):
                for task_type in agent.supported_task_types:
                    registry[task_type] = {0: deployment}
                for category in agent.supported_task_categories:
                    registry[category.name] = {category.version: deployment}
        for task_type, connector_id in section.get("connectorfortasktypes", {}).items():
            if connector_id in connectors:
                registry[task_type] = {0: connectors[connector_id]}
        for task_type in section.get("supportedtasktypes", []):
            registry.setdefault(task_type, {0: default})
        outcomes.append(registry)
    assert all(outcome == outcomes[0] for outcome in outcomes), "two connectors claim one task type"
    return default, outcomes[0]


@dataclass(frozen=True)
class Route:
    plugin: str
    connector: Deployment | None = None


def routes(
    files: Mapping[str, str],
    list_agents: ListAgents,
    task_categories: list[tuple[str, int]],
    list_agents_at_start: ListAgents | None = None,
) -> dict[str, Any]:
    """Where propeller sends each (task type, version); raises where propeller would not start.

    ``list_agents_at_start`` answers for propeller's start (default: ``list_agents``), whose
    registry gives connector-service its registered task types; ``list_agents`` answers
    the polls after it.
    """
    config = load_config(files)
    plugins = config.get("tasks", {}).get("task-plugins", {})
    enabled = [name.strip().lower() for name in plugins.get("enabled-plugins", [])]
    defaults = plugins.get("default-for-task-types", {})
    for task_type, plugin in defaults.items():
        if enabled and plugin.strip().lower() not in enabled:
            raise ValueError(f"cannot set default plugin [{plugin}] for task types [{task_type}]")
    connector_enabled = not enabled or "connector-service" in enabled
    section = config.get("plugins", {}).get("connector-service", {})
    _, at_start = connector_registry(section, list_agents_at_start or list_agents)
    default, registry = connector_registry(section, list_agents)
    # Setup. Other plugins are taken to register the types their default-for-task-types
    # entries name (Flyte's own defaults are such entries); connector-service registers the
    # registry's types at start, and gets each one by its entry or, without one, as the only
    # plugin registering it: the same outcome either way.
    default_plugins = {task_type: plugin for task_type, plugin in defaults.items() if plugin != "connector-service"}
    if connector_enabled:
        for task_type in at_start:
            default_plugins.setdefault(task_type, "connector-service")
    result = {}
    for task_type, version in task_categories:
        # ResolvePlugin: the default plugin for the type, then the connector's current registry.
        plugin = default_plugins.get(task_type)
        if plugin is None and connector_enabled and task_type in registry:
            plugin = "connector-service"
        if plugin == "connector-service":
            result[task_type, version] = Route(plugin, registry.get(task_type, {}).get(version, default))
        else:
            result[task_type, version] = Route(plugin or "default plugin")
    return {"enabled-plugins": enabled, "routes": result}


# -- what the connectors answer -------------------------------------------------------------


@pytest.fixture(scope="module")
def list_agents() -> Iterator[ListAgents]:
    """ListAgents as this kit's connector and Flyte's flyteconnector answer it (real flytekit)."""
    from flytekit.extras.webhook.connector import WebhookConnector
    from flytekit.sensor.sensor_engine import SensorEngine

    settings = parse_settings(yaml.safe_load((CONFIG_DIR / "connector" / "connector.yaml").read_text()))
    answers = {}
    saved = ConnectorRegistry._REGISTRY, ConnectorRegistry._METADATA
    try:
        for endpoint, connectors in (
            (
                OUR_ENDPOINT,
                [
                    OperatorConnector(plugin, ConnectorRuntime(settings, signer=signer_for_tests()))
                    for plugin in enabled_plugins(settings)
                ],
            ),
            # flyteconnector's image serves at least flytekit's own connectors.
            (FLYTECONNECTOR_ENDPOINT, [SensorEngine(), WebhookConnector()]),
        ):
            ConnectorRegistry._REGISTRY, ConnectorRegistry._METADATA = {}, {}
            for connector in connectors:
                ConnectorRegistry.register(cast(Any, connector))
            answers[endpoint] = ConnectorRegistry.list_connectors()
    finally:
        ConnectorRegistry._REGISTRY, ConnectorRegistry._METADATA = saved
    yield lambda endpoint: answers.get(endpoint, [])


@pytest.fixture(scope="module")
def ours() -> list[tuple[str, int]]:
    return [(plugin.task_type, plugin.task_type_version) for plugin in registered_plugins().values()]


def _agents_categories(agents: list[Agent]) -> list[tuple[str, int]]:
    return [(c.name, c.version) for agent in agents for c in agent.supported_task_categories]


# -- the configurations -----------------------------------------------------------------------

FLYTE_DEFAULTS = yaml.safe_load((FLYTE_DIR / "testdata" / "flyte-1.16.8-defaults.yaml").read_text())
OUR_CONFIG_TEXT = (FLYTE_DIR / "propeller-connector.yaml").read_text()
TLS_FILE = "201-k8s-operator-connector-tls.yaml"
TLS_CONFIG_TEXT = (FLYTE_DIR / "propeller-connector-tls.yaml").read_text()
PLAIN_TASK_TYPES = [("container", 0), ("python-task", 0), ("sidecar", 0), ("container_array", 1), ("echo", 0)]


def routing_problems(
    flavour: str, ours_text: str, list_agents: ListAgents, ours: list[tuple[str, int]], **more_files: str
) -> list[str]:
    """What changes for Flyte's own task types, and what misses ours, once ours_text is merged."""
    files = FLYTE_DEFAULTS[flavour]["files"]
    universe = PLAIN_TASK_TYPES + _agents_categories(list_agents(FLYTECONNECTOR_ENDPOINT)) + ours
    before = routes(files, list_agents, universe)
    try:
        after = routes({**files, OUR_FILE: ours_text, **more_files}, list_agents, universe)
    except ValueError as error:
        return [f"propeller does not start: {error}"]
    problems = []
    if after["enabled-plugins"] != before["enabled-plugins"]:
        problems.append(f"enabled-plugins {before['enabled-plugins']} became {after['enabled-plugins']}")
    for category in universe:
        route = after["routes"][category]
        if category in ours:
            if route.plugin != "connector-service" or route.connector is None:
                problems.append(f"{category} goes to {route.plugin}, not connector-service")
            elif route.connector.endpoint != OUR_ENDPOINT:
                problems.append(f"{category} goes to {route.connector.endpoint}, not this kit's connector")
        elif route != before["routes"][category]:
            problems.append(f"{category} moved from {before['routes'][category]} to {route}")
    return problems


@pytest.mark.parametrize("flavour", sorted(FLYTE_DEFAULTS))
def test_merged_into_flytes_defaults_every_task_type_routes_where_it_did(flavour, list_agents, ours):
    assert routing_problems(flavour, OUR_CONFIG_TEXT, list_agents, ours) == []


def test_our_connector_deployment_is_plaintext_round_robin_with_one_deadline(list_agents, ours):
    files = {**FLYTE_DEFAULTS["flyte-sandbox"]["files"], OUR_FILE: OUR_CONFIG_TEXT}
    for route in routes(files, list_agents, ours)["routes"].values():
        assert route.connector == Deployment(OUR_ENDPOINT, True, "30s", ROUND_ROBIN)


@pytest.mark.parametrize("flavour", sorted(FLYTE_DEFAULTS))
def test_the_tls_file_merged_after_ours_only_turns_on_tls(flavour, list_agents, ours):
    tls = {TLS_FILE: TLS_CONFIG_TEXT}
    assert routing_problems(flavour, OUR_CONFIG_TEXT, list_agents, ours, **tls) == []
    files = {**FLYTE_DEFAULTS[flavour]["files"], OUR_FILE: OUR_CONFIG_TEXT, **tls}
    for route in routes(files, list_agents, ours)["routes"].values():
        assert route.connector == Deployment(OUR_ENDPOINT, False, "30s", ROUND_ROBIN)


def test_the_tls_helm_values_carry_the_tls_file_and_a_ca_directory_for_go():
    values = yaml.safe_load((FLYTE_DIR / "helm-values-tls.yaml").read_text())
    assert values["configuration"]["inline"] == yaml.safe_load(TLS_CONFIG_TEXT)
    deployment = values["deployment"]
    (env,) = deployment["extraEnvVars"]
    (mount,) = deployment["extraVolumeMounts"]
    (volume,) = deployment["extraVolumes"]
    assert env == {"name": "SSL_CERT_DIR", "value": mount["mountPath"]} and mount["name"] == volume["name"]
    assert volume["configMap"]["items"] == [{"key": "ca.crt", "path": "ca.crt"}]


def test_while_propeller_cannot_reach_the_connector_only_our_task_types_lose_their_route(list_agents, ours):
    """The documented cost of routing by ListAgents (docs/install.md, step 4)."""
    files = {**FLYTE_DEFAULTS["flyte-sandbox"]["files"], OUR_FILE: OUR_CONFIG_TEXT}
    flyteconnector = _agents_categories(list_agents(FLYTECONNECTOR_ENDPOINT))
    reachable = routes(files, list_agents, ours + flyteconnector)["routes"]
    unreachable = routes(
        files, lambda endpoint: [] if endpoint == OUR_ENDPOINT else list_agents(endpoint), ours + flyteconnector
    )["routes"]
    assert all(unreachable[category] == Route("default plugin") for category in ours)
    assert all(unreachable[category] == reachable[category] for category in flyteconnector)


# A plugin added after this configuration was written (what build-support:new-plugin makes).
NEW_PLUGIN = ("job_set", 1)


def _with_a_new_plugin(list_agents: ListAgents) -> ListAgents:
    """Our connector's answer once it also serves NEW_PLUGIN (the configuration unchanged)."""
    name, version = NEW_PLUGIN
    agent = Agent(name="new plugin", supported_task_categories=[TaskCategory(name=name, version=version)])
    return lambda endpoint: list_agents(endpoint) + ([agent] if endpoint == OUR_ENDPOINT else [])


@pytest.mark.parametrize("flavour", sorted(FLYTE_DEFAULTS))
def test_a_new_plugins_task_type_needs_no_routing_entry(flavour, list_agents, ours):
    """ListAgents routes it: default-for-task-types does not name it, and need not."""
    assert NEW_PLUGIN[0] not in yaml.safe_load(OUR_CONFIG_TEXT)["tasks"]["task-plugins"]["default-for-task-types"]
    assert routing_problems(flavour, OUR_CONFIG_TEXT, _with_a_new_plugin(list_agents), [*ours, NEW_PLUGIN]) == []


def test_a_connector_unreachable_at_start_gets_its_task_types_at_the_next_poll(list_agents, ours):
    """Not registered at start, so no default plugin: ResolvePlugin's ContainTaskType routes them."""
    files = {**FLYTE_DEFAULTS["flyte-sandbox"]["files"], OUR_FILE: OUR_CONFIG_TEXT}
    answers = _with_a_new_plugin(list_agents)
    unreachable = lambda endpoint: [] if endpoint == OUR_ENDPOINT else list_agents(endpoint)  # noqa: E731
    later = routes(files, answers, [*ours, NEW_PLUGIN], list_agents_at_start=unreachable)["routes"]
    assert {route.plugin for route in later.values()} == {"connector-service"}
    assert {route.connector.endpoint for route in later.values() if route.connector} == {OUR_ENDPOINT}


def _without_routing_entries(config: dict[str, Any]) -> None:
    del config["tasks"]["task-plugins"]["default-for-task-types"]


def _connector_service_disabled(config: dict[str, Any]) -> None:
    """Flyte's default enabled-plugins without connector-service (a list: it replaces Flyte's)."""
    config["tasks"]["task-plugins"]["enabled-plugins"] = ["container", "sidecar", "k8s-array", "echo"]


def _disabled_without_routing_entries(config: dict[str, Any]) -> None:
    _connector_service_disabled(config)
    _without_routing_entries(config)


@pytest.mark.parametrize("flavour", sorted(FLYTE_DEFAULTS))
def test_the_routing_entries_change_no_route_and_only_guard_the_start(flavour, list_agents, ours):
    """Why the configuration keeps its two default-for-task-types entries although no route needs them."""
    universe = PLAIN_TASK_TYPES + _agents_categories(list_agents(FLYTECONNECTOR_ENDPOINT)) + ours
    files = FLYTE_DEFAULTS[flavour]["files"]
    with_entries = routes({**files, OUR_FILE: OUR_CONFIG_TEXT}, list_agents, universe)
    without = routes({**files, OUR_FILE: _edited(_without_routing_entries)}, list_agents, universe)
    assert without == with_entries
    # With connector-service not enabled, the entries stop propeller at start; without them
    # our task types would go to the default plugin (the container plugin: one plain pod).
    problems = routing_problems(flavour, _edited(_connector_service_disabled), list_agents, ours)
    assert [problem.split(" for task types")[0] for problem in problems] == [
        "propeller does not start: cannot set default plugin [connector-service]"
    ]
    silent = routes({**files, OUR_FILE: _edited(_disabled_without_routing_entries)}, list_agents, ours)
    assert silent["routes"] == {category: Route("default plugin") for category in ours}


def test_the_upstream_answers_are_what_the_test_relies_on(list_agents, ours):
    assert {version for _, version in ours} == {1}, "a version-0 task type would allow connectorForTaskTypes"
    assert _agents_categories(list_agents(FLYTECONNECTOR_ENDPOINT)) == [("sensor", 0), ("webhook", 0)]
    assert sorted(_agents_categories(list_agents(OUR_ENDPOINT))) == sorted(ours)


def _edited(change: Callable[[dict[str, Any]], None]) -> str:
    config = yaml.safe_load(OUR_CONFIG_TEXT)
    change(config)
    return yaml.safe_dump(config)


def _section(config: dict[str, Any]) -> dict[str, Any]:
    return cast(dict[str, Any], config["plugins"]["connector-service"])


def _previous_config(config: dict[str, Any]) -> None:
    """This kit's configuration before: defaultConnector plus complete lists."""
    deployment = _section(config).pop("connectors")["k8s-operator-connector"]
    _section(config).update(defaultConnector=deployment, supportedTaskTypes=["parallel_job", "custom_resource"])
    config["tasks"]["task-plugins"]["enabled-plugins"] = ["container", "sidecar", "k8s-array", "connector-service"]


def _pinned_by_connector_for_task_types(config: dict[str, Any]) -> None:
    _section(config)["connectorForTaskTypes"] = {"parallel_job": "k8s-operator-connector"}


def _routed_without_the_plugin(config: dict[str, Any]) -> None:
    config["tasks"]["task-plugins"]["enabled-plugins"] = ["container"]


@pytest.mark.parametrize(
    "change, problem",
    [
        (_previous_config, "('sensor', 0) moved from"),
        (_previous_config, "'echo'] became"),
        (_pinned_by_connector_for_task_types, "('parallel_job', 1) goes to k8s://flyteconnector.flyte:8000"),
        (_routed_without_the_plugin, "propeller does not start"),
    ],
)
def test_a_configuration_that_takes_over_or_misses_is_caught(change, problem, list_agents, ours):
    problems = routing_problems("flyte-sandbox", _edited(change), list_agents, ours)
    assert any(problem in p for p in problems), problems


def test_our_configuration_holds_maps_only():
    def lists(value: Any, path: str) -> Iterator[str]:
        if isinstance(value, list):
            yield path
        elif isinstance(value, dict):
            for key, item in value.items():
                yield from lists(item, f"{path}.{key}")

    config = yaml.safe_load(OUR_CONFIG_TEXT)
    assert list(lists(config, "")) == [], "a list replaces Flyte's own list whole"
    # The loader lower-cases keys; values that refer to them (task types, connector IDs) would not match.
    names = [*_section(config)["connectors"], *config["tasks"]["task-plugins"]["default-for-task-types"]]
    assert [name for name in names if name != name.lower()] == []


# -- the four copies and where they are applied -----------------------------------------------


def test_the_four_copies_are_identical():
    source = yaml.safe_load(OUR_CONFIG_TEXT)
    helm = yaml.safe_load((FLYTE_DIR / "helm-values.yaml").read_text())
    assert helm["configuration"]["inline"] == source
    for flavour, name in (("sandbox", SANDBOX_EXTRA_CONFIG), ("binary", BINARY_INLINE_CONFIG)):
        (config_map,) = render(f"flyte/{flavour}")
        assert (config_map["metadata"]["name"], config_map["metadata"]["namespace"]) == (name, "flyte")
        assert list(config_map["data"]) == [OUR_FILE]
        assert yaml.safe_load(config_map["data"][OUR_FILE]) == source


def test_our_file_loads_after_the_charts_and_before_the_sandbox_users():
    for flavour in FLYTE_DEFAULTS.values():
        assert all(name < OUR_FILE for name in flavour["files"])
    # charts: 000-core .. 100-inline-config.yaml; the sandbox writes ~/.flyte/sandbox/config.yaml
    # as 999-extra-config.yaml (bootstrap/internal/transform/plugins/config/configuration.go).
    assert "100-inline-config.yaml" < OUR_FILE < "999-extra-config.yaml"


@pytest.mark.parametrize("entry_point", ["default", "overlays/sandbox", "overlays/production"])
def test_the_endpoint_names_the_bundles_headless_service(entry_point):
    """Load sharing: client.go ``getGrpcConnection`` passes ``defaultServiceConfig`` to
    grpc.WithDefaultServiceConfig and dials ``endpoint`` with grpc.Dial. With the ``dns:///``
    scheme grpc-go's DNS resolver hands every address of the name to the round_robin
    balancer; only a headless Service's name resolves to every ready pod (a cluster IP is
    one address, one HTTP/2 connection, one replica)."""
    (service,) = (o for o in render(entry_point) if o["kind"] == "Service")
    assert service["spec"]["clusterIP"] == "None"
    assert OUR_ENDPOINT.startswith("dns:///")
    host, port = OUR_ENDPOINT.removeprefix("dns:///").split(":")
    assert host == f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc.cluster.local"
    assert int(port) in [p["port"] for p in service["spec"]["ports"] if p["name"] == "grpc"]
    ours = yaml.safe_load(OUR_CONFIG_TEXT)["plugins"]["connector-service"]["connectors"]["k8s-operator-connector"]
    assert ours["endpoint"] == OUR_ENDPOINT
    assert json.loads(ours["defaultServiceConfig"]) == {"loadBalancingConfig": [{"round_robin": {}}]}


def _propeller_configs(objects: list[dict[str, Any]]) -> list[str]:
    return [
        o["metadata"]["name"]
        for o in objects
        if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "flyte-propeller-config"
    ]


def test_only_the_sandbox_overlays_carry_the_propeller_config():
    assert _propeller_configs(render("overlays/sandbox")) == [SANDBOX_EXTRA_CONFIG]
    assert _propeller_configs(render("../../demo/sandbox")) == [SANDBOX_EXTRA_CONFIG]
    assert _propeller_configs(render("overlays/production")) == []
    assert _propeller_configs(render("default")) == []
