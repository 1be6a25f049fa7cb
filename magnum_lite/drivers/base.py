"""The driver plugin interface (DESIGN §6).

A plugin is a class registered under the stevedore entry point group `magnum_lite.drivers`; the
entry point's name is the plugin name a Driver row's `plugin_name` refers to, and
`magnum_lite.common.driver_factory` finds it. The conductor makes one instance per operation
from a Driver version's `config`. Drivers talk to the cloud (Heat, the COE API) and return what
they found; they never touch the database: the conductor records it.
A method is part of the interface once something calls it: the COE health monitor joins with
the conductor code that drives it.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
import dataclasses
from typing import Any

from magnum_lite.common import driver_factory, exception


@dataclasses.dataclass(frozen=True)
class NodeGroupState:
    """What a driver knows of one nodegroup in the cloud. Fields left None are not changed."""

    status: str | None = None
    status_reason: str | None = None
    stack_id: str | None = None
    node_addresses: list[str] | None = None
    #: The nodes the cloud holds now (set when a create or resize is complete).
    node_count: int | None = None


@dataclasses.dataclass(frozen=True)
class ClusterState:
    """What a driver knows of a cluster in the cloud; the conductor writes it to the cluster.

    Fields left None are not changed. `nodegroups` is keyed by nodegroup uuid. `join_token`
    is a secret the driver made at create (the token nodes join with): the conductor stores
    it encrypted and the API never shows it.
    """

    status: str | None = None
    status_reason: str | None = None
    stack_id: str | None = None
    api_address: str | None = None
    coe_version: str | None = None
    nodegroups: dict[str, NodeGroupState] = dataclasses.field(default_factory=dict)
    join_token: str | None = None
    #: Seconds within which the driver wants the cluster looked at again: it waits on a
    #: step no notification announces (a resource of a stack still being built).
    look_again: float | None = None


@dataclasses.dataclass(frozen=True)
class NodeHealth:
    """One node as the cluster's COE sees it (Kubernetes node, Swarm node, Mesos agent).

    `name` is the node's server name (what Heat named it); `version` is the COE version the
    node runs (kubelet, Docker engine, Mesos agent), None when the COE does not say.
    """

    name: str
    ready: bool
    version: str | None = None
    #: False while the node is cordoned / drained / in maintenance (new work goes elsewhere).
    schedulable: bool = True
    reason: str | None = None


@dataclasses.dataclass(frozen=True)
class CoeHealth:
    """What a cluster's COE says of itself, for the health monitor: `api` is "ok" or why
    the API is not healthy (it answered, with a failure); `nodes` every node it knows;
    `lists_masters` False for a COE whose node list has no masters (Mesos lists agents)."""

    api: str
    nodes: dict[str, NodeHealth]
    lists_masters: bool = True


@dataclasses.dataclass(frozen=True)
class ExpectedNode:
    """A server the cloud holds for the cluster (what the COE should list): its server
    name, Nova server id (None while the cloud has none), role ("master" or "worker") and
    nodegroup uuid. The health monitor names a node the COE no longer lists from these."""

    name: str
    server_id: str | None
    role: str
    nodegroup: str | None = None


#: What `Driver.server_states` says of a server the cloud does not have.
SERVER_GONE = "NotFound"


class CoeNodes(abc.ABC):
    """A cluster's nodes through its COE API, for a rolling upgrade's drain and its wait,
    and the health monitor.

    Every call is one short round of requests (no waiting inside): the conductor calls
    again on its next round until `drain` says done or its own deadline passes. Failures to
    reach the COE API raise exception.CoeUnreachable; refusals exception.CoeError.
    """

    @abc.abstractmethod
    def nodes(self) -> dict[str, NodeHealth]:
        """Every node the COE knows, by name."""

    @abc.abstractmethod
    def drain(self, names: list[str]) -> bool:
        """Stop new work on the nodes and move what runs there away (Kubernetes: cordon and
        evict through the eviction API, honouring PodDisruptionBudgets; Swarm: availability
        drain; Mesos: a maintenance window, then the machines down). True once nothing
        movable is left on them; False while a budget or the COE still holds some back.
        A node the COE does not know counts as drained."""

    @abc.abstractmethod
    def uncordon(self, names: list[str]) -> None:
        """Let the nodes take work again (Mesos: the machines up, the window removed)."""

    def health(self) -> CoeHealth:
        """The COE's health: by default its node list answering is its API's health (a
        client overrides this with the COE's own health endpoint)."""
        return CoeHealth("ok", self.nodes())


@dataclasses.dataclass(frozen=True)
class UpgradeTarget:
    """Where a rolling upgrade goes: `builder` is the plugin bound to the target Driver
    version's config, `cluster` the cluster as it will be (the target template's id and
    labels), `cluster_template` the target template, `key` a short name of that target
    the driver keeps in the cloud to tell nodes already moved there. A rollback of an
    upgrade that did not finish has that upgrade's target as `undone` (what the nodes it
    moved run)."""

    builder: Any
    cluster: Any
    cluster_template: Any
    key: str
    undone: UpgradeTarget | None = None


#: Where a batch of a rolling upgrade is in the cloud (Driver.batch_state).
BATCH_UNSENT, BATCH_ROLLING, BATCH_DONE, BATCH_FAILED = "unsent", "rolling", "done", "failed"


@dataclasses.dataclass(frozen=True)
class ClusterCredentials:
    """What a cluster's nodes are given to trust and to act with, decrypted by the conductor.

    `cas` maps a CA kind ("ca", "etcd", "front_proxy") to its key pair (objects with
    `certificate` and `private_key` PEM text); `trustee` has `user_id`, `username`, `password`
    and `trust_id` (None when the cluster has no trustee user); `join_token` is the token
    nodes join with (None before the driver made one). Never logged, never returned.
    """

    cas: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)
    trustee: Any = dataclasses.field(default=None, repr=False)
    join_token: str | None = dataclasses.field(default=None, repr=False)
    auth_url: str | None = None
    region_name: str | None = None


#: How a driver gets a cluster's credentials: called only when it renders what nodes boot
#: with, so a status poll that renders nothing decrypts nothing.
CredentialsLoader = Callable[[], ClusterCredentials]


class Driver(driver_factory.Plugin):
    """A driver plugin: provisions and manages clusters of the kinds listed in `provides`.

    Its configuration and validation (`provides`, `get_default_config`, `validate_config`,
    `validate_template`, `validate_cluster`, the constructor binding it to a Driver version's
    `config`) are `driver_factory.Plugin`'s, which every layer may call through the registry;
    the operations below are the conductor's.
    """

    # -- operations; each starts the work in the cloud and returns at once -----------------
    # `nodegroups` are the cluster's NodeGroup objects (masters included); the driver reads
    # them and reports per nodegroup in ClusterState.nodegroups.

    @abc.abstractmethod
    def create_dry_run(self, context: Any, cluster: Any, cluster_template: Any,
                       nodegroups: list[Any], *,
                       credentials: CredentialsLoader | None = None) -> dict[str, Any]:
        """What `create` would send, and what the cloud would build (Heat's preview).

        Lets the API refuse a cluster the cloud would reject (user data too large, too many
        resources) before anything is built.
        """

    @abc.abstractmethod
    def create(self, context: Any, cluster: Any, cluster_template: Any, nodegroups: list[Any],
               timeout: int, *, credentials: CredentialsLoader | None = None) -> ClusterState:
        """Start building the cluster; the state holds its stack ids and CREATE_IN_PROGRESS.

        `timeout` is in minutes, as Heat's stack timeout. `context` carries the user's token.
        `credentials` gives what the nodes boot with (None: a cluster without TLS).
        """

    @abc.abstractmethod
    def update_dry_run(self, context: Any, cluster: Any, cluster_template: Any,
                       nodegroup: Any, node_count: int,
                       nodes_to_remove: list[str] | None = None, *,
                       credentials: CredentialsLoader | None = None) -> dict[str, Any]:
        """What `update` would add, replace and remove, changing nothing."""

    @abc.abstractmethod
    def update(self, context: Any, cluster: Any, cluster_template: Any, nodegroup: Any,
               node_count: int, nodes_to_remove: list[str] | None = None,
               rollback: bool = False, *,
               credentials: CredentialsLoader | None = None) -> ClusterState:
        """Start resizing `nodegroup` to `node_count` nodes, removing `nodes_to_remove` (server
        names or ids) first when it shrinks (Heat rollback on failure when `rollback`)."""

    @abc.abstractmethod
    def create_nodegroup(self, context: Any, cluster: Any, cluster_template: Any,
                         nodegroup: Any, *, credentials: CredentialsLoader | None = None
                         ) -> ClusterState:
        """Start building a worker nodegroup added to a running cluster (its own stacks).

        The state says UPDATE_IN_PROGRESS for the cluster and CREATE_IN_PROGRESS for the
        nodegroup; `get_status` reports CREATE_COMPLETE for it once its nodes are up.
        """

    @abc.abstractmethod
    def delete_nodegroup(self, context: Any, cluster: Any, nodegroup: Any) -> ClusterState:
        """Start removing a worker nodegroup's nodes, leaving the rest of the cluster as is.

        The state says UPDATE_IN_PROGRESS for the cluster and DELETE_IN_PROGRESS for the
        nodegroup; `get_status` reports DELETE_COMPLETE for it once nothing of it is left.
        """

    @abc.abstractmethod
    def delete(self, context: Any, cluster: Any, nodegroups: list[Any]) -> ClusterState:
        """Start removing the cluster, and what Heat would leave behind, from the cloud.

        The state says DELETE_COMPLETE when nothing is left (a missing stack counts as deleted).
        """

    # -- observation -----------------------------------------------------------------------

    def status_snapshot(self, context: Any, project_id: str) -> Any:
        """One read of the cloud that serves `get_status` for every cluster of a project.

        The reconciler calls it once per project and driver plugin per round and hands the
        result to `get_status`; None (the default) makes `get_status` read on its own.
        """
        return None

    @abc.abstractmethod
    def get_status(self, context: Any, cluster: Any, nodegroups: list[Any],
                   snapshot: Any = None, *, cluster_template: Any = None,
                   credentials: CredentialsLoader | None = None,
                   operation: Any = None) -> ClusterState:
        """The cluster's state in the cloud now (the reconciler's source), for its
        `operation` in flight (a ClusterOperation: its kind and start tell this operation's
        outcome from an earlier one's).

        Statuses are Magnum's; a failure's status_reason names the failed resource and the
        cloud's message. A driver whose operations take several steps in the cloud starts
        the next step from here when the previous one is done (it needs `cluster_template`
        for that).
        """

    # -- rolling upgrade (conductor/upgrade.py runs the plan, batch by batch) -------------
    # A batch is a dict the driver makes in `upgrade` and gets back unchanged: "nodegroup"
    # (uuid), "nodegroup_name", "role" (master or worker), "nodes" (server names) and what
    # the driver needs to find its members again.

    def upgrade(self, context: Any, cluster: Any, nodegroups: list[Any], *,
                max_batch_size: int, nodegroup_uuids: list[str] | None,
                target_key: str, undo_key: str | None = None) -> list[dict[str, Any]]:
        """The plan: batches in order, masters one at a time first, then each worker
        nodegroup (all, or those of `nodegroup_uuids`) in batches of `max_batch_size`,
        leaving out nodes that already run the target `target_key` (a resume). With
        `undo_key` (a rollback of an upgrade to that target that did not finish): only the
        nodes that upgrade moved.

        :raises exception.NotSupported: the plugin cannot upgrade clusters.
        """
        raise exception.NotSupported(operation=f"upgrading with {type(self).__name__}")

    def upgrade_dry_run(self, context: Any, cluster: Any, nodegroups: list[Any],
                        batches: list[dict[str, Any]]) -> list[Any]:
        """What the cloud replaces for each of `batches` (the plan `upgrade` made), in their
        order, changing nothing; shown to the API's caller, so never user data or
        credentials.

        :raises exception.NotSupported: the plugin cannot say (the plan is still shown).
        """
        raise exception.NotSupported(
            operation=f"previewing an upgrade with {type(self).__name__}")

    def roll_batch(self, context: Any, nodegroup: Any, batch: dict[str, Any],
                   target: UpgradeTarget, *, credentials: CredentialsLoader) -> None:
        """Start replacing (or rebuilding) the batch's nodes with the target's; nothing
        else in the cloud changes."""
        raise exception.NotSupported(operation=f"upgrading with {type(self).__name__}")

    def batch_state(self, context: Any, batch: dict[str, Any], target_key: str
                    ) -> tuple[str, str | None]:
        """(BATCH_UNSENT | BATCH_ROLLING | BATCH_DONE | BATCH_FAILED, the cloud's reason for
        a failure) of the batch's replacement: UNSENT when the cloud never got it."""
        raise exception.NotSupported(operation=f"upgrading with {type(self).__name__}")

    def settle_upgrade(self, context: Any, nodegroup: Any, batch: dict[str, Any],
                       target: UpgradeTarget, *, credentials: CredentialsLoader
                       ) -> tuple[str, str | None]:
        """Make the target the plain state of what holds `batch` (after all its nodes
        moved), changing no node; called until it answers BATCH_DONE (or BATCH_FAILED)."""
        raise exception.NotSupported(operation=f"upgrading with {type(self).__name__}")

    # -- node repair (auto-healing and user-triggered repair; issue 15) -------------------
    # A repair is a dict the driver makes in `plan_repair` and gets back unchanged:
    # "stack", "role" (master or worker), "nodegroup" (uuid), "members", "nodes" (server
    # names) and what the driver needs to tell a sent repair from an unsent one.

    def plan_repair(self, context: Any, cluster: Any, nodegroups: list[Any],
                    nodes: list[str], *, cluster_template: Any = None
                    ) -> list[dict[str, Any]]:
        """The repairs replacing (VMs) or rebuilding in place (baremetal) the named nodes
        (server names or ids), one per cloud resource holding some of them; nothing else
        changes. `cluster_template` (optional) tells baremetal groups of stacks made
        before the stack said so itself.

        :raises exception.NodeNotFound: a name the cluster has no node of (400).
        :raises exception.NotSupported: the plugin cannot repair nodes.
        """
        raise exception.NotSupported(operation=f"repairing nodes with {type(self).__name__}")

    def expected_nodes(self, context: Any, cluster: Any, nodegroups: list[Any]
                       ) -> list[ExpectedNode]:
        """Every server the cloud holds for the cluster, masters first: what its COE should
        list, with each one's Nova id and role (one read of the cloud; the health monitor
        keeps the answer until the cluster changes).

        :raises exception.NotSupported: the plugin cannot say (only counts are compared).
        :raises exception.CloudError: the cloud cannot be read now.
        """
        raise exception.NotSupported(
            operation=f"listing the servers of a cluster with {type(self).__name__}")

    def server_states(self, context: Any, server_ids: list[str], *, timeout: float
                      ) -> dict[str, str | None]:
        """Each server's state in the cloud (Nova's status: ACTIVE, SHUTOFF, ERROR, ...;
        SERVER_GONE when the cloud has no such server; None when it did not say), asked
        within `timeout` seconds in all: the health monitor's look at the masters when the
        COE API cannot be reached.

        :raises exception.NotSupported: the plugin cannot say.
        """
        raise exception.NotSupported(
            operation=f"reading servers' states with {type(self).__name__}")

    def repair(self, context: Any, repair: dict[str, Any]) -> None:
        """Send the repair: its nodes are replaced (or rebuilt), nothing else. Sends nothing
        for a node the cloud already got the repair of (asked again after a lost answer)."""
        raise exception.NotSupported(operation=f"repairing nodes with {type(self).__name__}")

    def repair_state(self, context: Any, repair: dict[str, Any]) -> tuple[str, str | None]:
        """(BATCH_UNSENT | BATCH_ROLLING | BATCH_DONE | BATCH_FAILED, the cloud's reason for
        a failure) of the repair, read from the cloud: UNSENT when it never got it."""
        raise exception.NotSupported(operation=f"repairing nodes with {type(self).__name__}")

    def coe_nodes(self, cluster: Any, cluster_template: Any, *,
                  credentials: CredentialsLoader) -> CoeNodes:
        """The cluster's nodes through its COE API, as a client of the cluster's CA.

        :raises exception.NotSupported: the plugin has no COE client.
        """
        raise exception.NotSupported(
            operation=f"draining nodes through the COE API of {type(self).__name__}")

    def get_monitor(self, cluster: Any, cluster_template: Any, *,
                    credentials: CredentialsLoader) -> CoeNodes:
        """What the health monitor asks (`health()`): the COE client by default.

        :raises exception.NotSupported: the plugin cannot say (the cluster's health stays
            unset).
        """
        return self.coe_nodes(cluster, cluster_template, credentials=credentials)

    @abc.abstractmethod
    def rotate_ca_certificate(self, context: Any, cluster: Any, cluster_template: Any,
                              nodegroups: list[Any], *,
                              credentials: CredentialsLoader) -> ClusterState:
        """Start pushing the cluster's current credentials to its running nodes: a new CA
        (certificates the old one signed stop working) or a new trustee and trust. The state
        says UPDATE_IN_PROGRESS; `get_status` follows it like a resize."""
