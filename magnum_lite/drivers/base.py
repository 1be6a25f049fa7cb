"""The driver plugin interface (DESIGN §6).

A plugin is a class registered under the stevedore entry point group `magnum_lite.drivers`; the
entry point's name is the plugin name a Driver row's `plugin_name` refers to. The conductor makes
one instance per operation from a Driver version's `config`. Drivers talk to the cloud (Heat, the
COE API) and return what they found; they never touch the database: the conductor records it.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, ClassVar

# (server_type, os, coe), e.g. ("vm", "ubuntu", "kubernetes"); os is a template's cluster_distro.
Provides = tuple[str, str, str]


@dataclasses.dataclass(frozen=True)
class ClusterState:
    """What a driver knows of a cluster in the cloud; the conductor writes it to the cluster.

    Fields left None are not changed.
    """

    status: str | None = None
    status_reason: str | None = None
    stack_id: str | None = None
    api_address: str | None = None
    coe_version: str | None = None
    master_addresses: list[str] | None = None
    node_addresses: list[str] | None = None


@dataclasses.dataclass(frozen=True)
class HealthReport:
    """The COE's view of a cluster: HEALTHY, UNHEALTHY or UNKNOWN, and why, per component."""

    health_status: str
    health_status_reason: dict[str, str] = dataclasses.field(default_factory=dict)


class ClusterMonitor(abc.ABC):
    """Reads a running cluster's health from its COE API."""

    @abc.abstractmethod
    def poll_health(self) -> HealthReport:
        """Ask the COE (Kubernetes /healthz and node conditions, Swarm nodes, Mesos agents)."""


class ScaleManager(abc.ABC):
    """Chooses the nodes a shrinking nodegroup gives up."""

    @abc.abstractmethod
    def get_removal_nodes(self, node_count: int, nodes_to_remove: list[str] | None = None
                          ) -> list[str]:
        """The nodes to remove to end with `node_count` (the caller's choice first)."""


class Driver(abc.ABC):
    """A driver plugin: provisions and manages clusters of the kinds listed in `provides`.

    An instance is bound to one Driver version's `config` (already checked by
    `validate_config`), so two versions of one plugin can run side by side.
    """

    #: The (server_type, os, coe) triples this plugin builds clusters for.
    provides: ClassVar[list[Provides]] = []

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = dict(self.get_default_config() if config is None else config)

    # -- configuration -------------------------------------------------------------------

    @classmethod
    @abc.abstractmethod
    def get_default_config(cls) -> dict[str, Any]:
        """The config of the default Driver version made for this plugin at database setup."""

    @classmethod
    @abc.abstractmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        """Refuse a Driver version's config before it is stored.

        :raises magnum_lite.common.exception.InvalidParameterValue: saying what is wrong.
        """

    # -- operations; each starts the work in the cloud and returns at once -----------------

    @abc.abstractmethod
    def create_dry_run(self, context: Any, cluster: Any, cluster_template: Any) -> dict[str, Any]:
        """What `create` would send (rendered templates and parameters), sending nothing.

        Lets the API refuse a cluster the cloud would reject (user data too large, unknown
        labels) before anything is built.
        """

    @abc.abstractmethod
    def create(self, context: Any, cluster: Any, cluster_template: Any,
               timeout: int) -> ClusterState:
        """Start building the cluster; the state holds its stack id and CREATE_IN_PROGRESS.

        `timeout` is in minutes, as Heat's stack timeout.
        """

    @abc.abstractmethod
    def update_dry_run(self, context: Any, cluster: Any, cluster_template: Any,
                       node_count: int) -> dict[str, Any]:
        """What `update` would change, changing nothing."""

    @abc.abstractmethod
    def update(self, context: Any, cluster: Any, cluster_template: Any, node_count: int,
               rollback: bool = False) -> ClusterState:
        """Start resizing the cluster to `node_count` workers (Heat rollback on failure)."""

    @abc.abstractmethod
    def upgrade(self, context: Any, cluster: Any, cluster_template: Any, max_batch_size: int,
                nodegroup: Any) -> ClusterState:
        """Start the next batch of a rolling upgrade of `nodegroup` to `cluster_template`."""

    @abc.abstractmethod
    def delete(self, context: Any, cluster: Any) -> ClusterState:
        """Start removing the cluster, and what Heat would leave behind, from the cloud."""

    # -- observation -----------------------------------------------------------------------

    @abc.abstractmethod
    def get_status(self, context: Any, cluster: Any) -> ClusterState:
        """The cluster's state in the cloud now (the reconciler's source)."""

    @abc.abstractmethod
    def get_scale_manager(self, context: Any, cluster: Any) -> ScaleManager | None:
        """Who picks the nodes to remove on a shrink; None to let Heat choose."""

    @abc.abstractmethod
    def get_monitor(self, context: Any, cluster: Any) -> ClusterMonitor | None:
        """The health monitor of the cluster's COE; None if the COE has none."""

    @abc.abstractmethod
    def rotate_ca_certificate(self, context: Any, cluster: Any) -> None:
        """Push the cluster's newly issued CA and certificates to its nodes."""
