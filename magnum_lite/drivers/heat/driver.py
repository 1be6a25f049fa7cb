"""HeatDriver: the part of every Heat-based driver that does not depend on the COE.

Layout (DESIGN §6): one cluster stack (network, security group, API load balancer, masters)
and, per worker nodegroup, chunk stacks small enough for Heat's `max_resources_per_stack`.

A COE plugin subclasses HeatDriver and supplies the nodes' user data (`render_user_data`),
the credential files its nodes hold (`credential_files`) and the script that applies new
ones, its ports, its default config and its version; it may refine the stack parameters
(`nodegroup_parameters`, `extra_environments`, ...). This class holds those hooks and the
driver interface (base.Driver); each operation lives in a module of its own, which builds
stacks through the hooks (parameters.StackBuilder):

- parameters.py: environment files and parameter values from cluster, template, nodegroup;
- inventory.py: a cluster's stacks in Heat's listing, their outputs and the states they give;
- create.py: the cluster stack and the dry run of a create;
- nodegroups.py: a worker nodegroup's chunk stacks, made and deleted on their own;
- resize.py: which chunk stacks a resize changes, and the members they lose;
- status.py: the level-triggered status check that starts each next step;
- rotation.py: new credentials sent to the nodes by stack updates;
- servers.py: the servers the stacks' outputs name (what the COE should list), their Nova
  status;
- repair.py: one node's server replaced (or rebuilt) by a stack update.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any, ClassVar

from magnum_lite.common import baremetal, encryption, exception
from magnum_lite.conf import CONF
from magnum_lite.drivers import base
from magnum_lite.drivers.heat import (
    chunks,
    cleanup,
    cloud_init,
    names,
    nova,
    parameters,
    resize,
    rotation,
    stacks,
    upgrade,
)
from magnum_lite.drivers.heat import create as create_op
from magnum_lite.drivers.heat import nodegroups as nodegroup_op
from magnum_lite.drivers.heat import repair as repair_op
from magnum_lite.drivers.heat import servers as servers_op
from magnum_lite.drivers.heat import status as status_op

# Names plugins, tests and benchmarks take from this module; they live in parameters.py.
from magnum_lite.drivers.heat.parameters import CONTROL_PLANE_HOST, ENV, TEMPLATES  # noqa: F401


class HeatDriver(base.Driver, abc.ABC):
    """A driver that builds clusters as Heat stacks from the shared templates."""

    #: The COE API's port on the masters (and the load balancer).
    api_port: ClassVar[int] = 6443
    #: TCP ports open to anyone besides the API port (the cluster network is open inside).
    public_tcp_ports: ClassVar[tuple[int, ...]] = (22,)
    #: The scheme of the cluster's api_address (Docker clients want tcp://, Kubernetes https://).
    api_scheme: ClassVar[str] = "https"
    #: The plugin's boot scripts (its apply-credentials.sh runs on rotations); None: none.
    boot_dir: ClassVar[Path | None] = None
    #: Whether the workers' user data names the API's public address: then worker stacks
    #: made while the masters build wait for the masters' floating IP too.
    workers_name_public_host: ClassVar[bool] = True

    #: The Driver-version config keys and their defaults (labels of the same names override
    #: them per cluster).
    default_config: ClassVar[dict[str, Any]] = {}

    @classmethod
    def get_default_config(cls) -> dict[str, Any]:
        return dict(cls.default_config)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        """Unknown keys are refused; then the plugin checks the whole config (`check_config`).
        """
        unknown = sorted(set(config) - set(cls.default_config))
        if unknown:
            raise exception.InvalidParameterValue(
                err=f"config: unknown keys {', '.join(unknown)}; known: "
                    f"{', '.join(sorted(cls.default_config))}")
        cls.check_config({**cls.default_config, **config})

    @classmethod
    def check_config(cls, settings: dict[str, Any]) -> None:
        """Refuse a Driver version's config (defaults filled in) the plugin cannot use.

        :raises exception.InvalidParameterValue: naming the key.
        """

    # -- plugin hooks ------------------------------------------------------------------------

    @abc.abstractmethod
    def render_user_data(self, cluster: Any, cluster_template: Any, nodegroup: Any,
                         control_plane_host: str, public_address: str | None,
                         credentials: base.ClusterCredentials) -> str:
        """The boot configuration of the nodegroup's nodes.

        `control_plane_host` is where nodes reach the API privately, `public_address` where
        clients reach it (the API certificate names both). For masters they are host names
        that stand in for what only Heat knows (`master_user_data`). The text may hold
        `__NODE_INDEX__`, which Heat replaces with each node's index in its stack.
        :raises exception.InvalidParameterValue: for a bad label or setting, naming it.
        """

    def credential_files(self, cluster: Any, role: str,
                         credentials: base.ClusterCredentials) -> dict[str, str]:
        """The files (path: content) holding the cluster's credentials on a node of `role`,
        which a rotation rewrites through the node's software deployment."""
        return {}

    def credentials_script(self) -> str:
        """The script the nodes' software deployment runs with the new `credentials`: the
        plugin's boot/apply-credentials.sh, self-contained (nodes may predate common.sh)."""
        if self.boot_dir is None:
            return "#!/bin/sh\nexit 0\n"
        return cloud_init.self_contained((self.boot_dir / "apply-credentials.sh").read_text())

    @staticmethod
    def join_token(cluster: Any) -> str | None:
        """The cluster's join token in clear (the database holds it encrypted)."""
        return encryption.decrypt(cluster.join_token)

    def make_join_token(self) -> str | None:
        """A new secret for nodes to join the cluster with; None when the COE needs none."""
        return None

    def coe_version(self, cluster: Any, cluster_template: Any) -> str | None:
        """The COE version the cluster runs (shown as the cluster's coe_version)."""
        return None

    def extra_environments(self, cluster: Any, cluster_template: Any, masters: bool
                           ) -> list[Path]:
        """Environment files of the plugin, after the shared ones: they switch on optional
        pieces of the shared templates that only this COE needs (e.g. a join step)."""
        return []

    def validate_cluster(self, cluster: Any, cluster_template: Any,
                         nodegroups: list[Any] | None = None) -> None:
        """Refuse cluster-level overrides a baremetal cluster cannot honour (the template's
        own values were checked when it was stored); plugins extend this with super().

        :raises exception.InvalidParameterValue: naming the field.
        """
        baremetal.check(
            self._server_type(cluster_template),
            docker_volume_size=self._volume_size(cluster, cluster_template),
            fixed_network=parameters.fixed_network(cluster, cluster_template),
            floating_ip_enabled=parameters.floating_ip_enabled(cluster, cluster_template))

    @classmethod
    def nodes_per_stack(cls) -> int:
        """The most nodes one chunk stack holds under the configured Heat limit."""
        return chunks.nodes_per_stack(CONF.heat_driver.max_resources_per_stack)

    def coe_client(self, cluster: Any, credentials: base.CredentialsLoader) -> base.CoeNodes:
        """The plugin's client of the cluster's COE API (its coe.py).

        :raises exception.NotSupported: the plugin has none.
        """
        return super().coe_nodes(cluster, None, credentials=credentials)

    def coe_nodes(self, cluster: Any, cluster_template: Any, *,
                  credentials: base.CredentialsLoader) -> base.CoeNodes:
        """The cluster's nodes through its COE API, as a client of the cluster CA.

        :raises exception.NotSupported: a cluster without TLS has no CA to trust it with.
        """
        if getattr(cluster_template, "tls_disabled", False):
            raise exception.NotSupported(
                operation="draining nodes through the COE API of a cluster without TLS")
        return self.coe_client(cluster, credentials)

    # -- stack parameters (see parameters.py) --------------------------------------------------

    def _labels(self, cluster: Any, cluster_template: Any) -> dict[str, str]:
        return {**(cluster_template.labels or {}), **(cluster.labels or {})}

    @staticmethod
    def _server_type(cluster_template: Any, nodegroup: Any = None) -> str:
        return parameters.server_type(cluster_template, nodegroup)

    @staticmethod
    def _master_count(cluster: Any) -> int:
        return parameters.master_count(cluster)

    @staticmethod
    def _volume_size(cluster: Any, cluster_template: Any) -> int:
        return parameters.volume_size(cluster, cluster_template)

    def _node_volume_size(self, cluster: Any, cluster_template: Any, nodegroup: Any = None
                          ) -> int:
        """The Cinder volume (GiB) for container storage each node of `nodegroup` gets: none
        on baremetal, whose nodes use their local disk."""
        if self._server_type(cluster_template, nodegroup) == baremetal.BAREMETAL:
            return 0
        return self._volume_size(cluster, cluster_template)

    def _environments(self, cluster: Any, cluster_template: Any, masters: bool,
                      nodegroup: Any = None) -> list[Path]:
        """The environment files of the stack of `nodegroup` (the masters' or a worker
        group's; None: the template's server type): the shared ones, then the plugin's.

        Baremetal nodes get neither a Cinder volume (local disk) nor floating IPs (a flat
        network), whatever the cluster says for its VM groups.
        """
        return parameters.environments(
            cluster, cluster_template, masters=masters,
            masters_count=self._master_count(cluster),
            baremetal=self._server_type(cluster_template, nodegroup) == baremetal.BAREMETAL,
            node_volume_size=self._node_volume_size(cluster, cluster_template, nodegroup),
        ) + self.extra_environments(cluster, cluster_template, masters)

    def _common_parameters(self, cluster: Any, cluster_template: Any) -> dict[str, Any]:
        return parameters.common_parameters(cluster, cluster_template,
                                            self._volume_size(cluster, cluster_template))

    def _credentials_parameters(self, cluster: Any, role: str,
                                credentials: base.ClusterCredentials) -> dict[str, Any]:
        return parameters.credentials_parameters(
            cluster, self.credential_files(cluster, role, credentials),
            self.credentials_script())

    def master_user_data(self, cluster: Any, cluster_template: Any, masters: Any,
                         credentials: base.ClusterCredentials) -> str:
        """The masters' user data, holding Heat's placeholders for the control plane's
        private address and the API's public one, which only Heat knows (node.yaml)."""
        text = self.render_user_data(
            cluster, cluster_template, masters, parameters.STANDINS[CONTROL_PLANE_HOST],
            parameters.STANDINS[parameters.PUBLIC_HOST], credentials)
        for placeholder, standin in parameters.STANDINS.items():
            text = text.replace(standin, placeholder)
        return text

    def cluster_parameters(self, cluster: Any, cluster_template: Any, masters: Any,
                           credentials: base.ClusterCredentials) -> dict[str, Any]:
        """The parameters of the cluster stack: network, masters and their user data."""
        return {
            **self._common_parameters(cluster, cluster_template),
            "name_prefix": names.cluster_prefix(cluster),
            **parameters.network_parameters(cluster, cluster_template,
                                            self._labels(cluster, cluster_template)),
            "master_count": self._master_count(cluster),
            "master_image": masters.image_id or cluster_template.image_id,
            "master_flavor": (masters.flavor_id or cluster.master_flavor_id
                              or cluster_template.master_flavor_id
                              or parameters.DEFAULT_FLAVOR),
            "master_user_data": self.master_user_data(cluster, cluster_template, masters,
                                                      credentials),
            "upgrade_policy": parameters.update_policy(cluster_template, masters),
            "api_port": self.api_port,
            "public_tcp_ports": parameters.public_tcp_ports(self.public_tcp_ports,
                                                            self.api_port),
            **self._credentials_parameters(cluster, "master", credentials),
            "docker_volume_size": self._node_volume_size(cluster, cluster_template, masters),
        }

    def nodegroup_parameters(self, cluster: Any, cluster_template: Any, nodegroup: Any,
                             chunk: int, node_count: int, cluster_outputs: dict[str, Any],
                             credentials: base.ClusterCredentials) -> dict[str, Any]:
        """The parameters of one chunk stack of a worker nodegroup, on the network the
        cluster stack's outputs name."""
        control_plane_host = self._control_plane_host(cluster_outputs)
        return {
            **self._common_parameters(cluster, cluster_template),
            "name_prefix": names.node_name_prefix(cluster, nodegroup, chunk),
            "node_count": node_count,
            "image": nodegroup.image_id or cluster_template.image_id,
            "flavor": (nodegroup.flavor_id or cluster.flavor_id or cluster_template.flavor_id
                       or parameters.DEFAULT_FLAVOR),
            **parameters.worker_network_parameters(cluster_outputs),
            "control_plane_host": control_plane_host,
            "user_data": self.render_user_data(cluster, cluster_template, nodegroup,
                                               control_plane_host,
                                               self._public_host(cluster_outputs),
                                               credentials),
            "removal_policies": [],
            "upgrade_policy": parameters.update_policy(cluster_template, nodegroup),
            "availability_zone": nodegroup.availability_zone or "",
            **self._credentials_parameters(cluster, "worker", credentials),
            "docker_volume_size": self._node_volume_size(cluster, cluster_template, nodegroup),
        }

    @staticmethod
    def _control_plane_host(outputs: dict[str, Any]) -> str:
        return parameters.control_plane_host(outputs)

    @staticmethod
    def _public_host(outputs: dict[str, Any]) -> str | None:
        return parameters.public_host(outputs)

    def workers_may_start(self, cluster: Any, cluster_template: Any, masters: Any,
                          outputs: dict[str, Any]) -> bool:
        """Whether the worker stacks can be made from these outputs of a cluster stack still
        being built: the control plane's address is known, and so is the public one when
        the workers' user data names it and the masters get floating IPs."""
        if not self._control_plane_host(outputs):
            return False
        floating = (self.workers_name_public_host
                    and parameters.floating_ip_enabled(cluster, cluster_template)
                    and self._server_type(cluster_template, masters) != baremetal.BAREMETAL)
        return not floating or self._public_host(outputs) is not None

    def api_address(self, outputs: dict[str, Any]) -> str | None:
        """The cluster's API URL from the cluster stack's outputs, public where it can be."""
        host = self._public_host(outputs) or self._control_plane_host(outputs)
        return f"{self.api_scheme}://{host}:{self.api_port}" if host else None

    # -- the driver interface (base.Driver) -------------------------------------------------

    def create_dry_run(self, context: Any, cluster: Any, cluster_template: Any,
                       nodegroups: list[Any], *,
                       credentials: base.CredentialsLoader | None = None) -> dict[str, Any]:
        """Heat's preview of the cluster stack and of every worker chunk stack (after the
        plugin's own refusals, also where the API did not ask validate_cluster)."""
        self.validate_cluster(cluster, cluster_template, nodegroups)
        return create_op.dry_run(self, context, cluster, cluster_template, nodegroups,
                                 credentials)

    def create(self, context: Any, cluster: Any, cluster_template: Any, nodegroups: list[Any],
               timeout: int, *, credentials: base.CredentialsLoader | None = None
               ) -> base.ClusterState:
        """Start the cluster stack; get_status makes the worker stacks once it is complete.
        The plugin's refusals come first: nothing is built for a cluster it cannot make."""
        self.validate_cluster(cluster, cluster_template, nodegroups)
        return create_op.create(self, context, cluster, cluster_template, nodegroups, timeout,
                                credentials)

    def update_dry_run(self, context: Any, cluster: Any, cluster_template: Any,
                       nodegroup: Any, node_count: int,
                       nodes_to_remove: list[str] | None = None, *,
                       credentials: base.CredentialsLoader | None = None) -> dict[str, Any]:
        """The chunk sizes before and after a resize, and Heat's preview of each chunk
        stack it changes or creates."""
        return resize.dry_run(self, context, cluster, cluster_template, nodegroup, node_count,
                              nodes_to_remove, credentials)

    def update(self, context: Any, cluster: Any, cluster_template: Any, nodegroup: Any,
               node_count: int, nodes_to_remove: list[str] | None = None,
               rollback: bool = False, *, credentials: base.CredentialsLoader | None = None
               ) -> base.ClusterState:
        """Resize a worker nodegroup: only the chunk stacks whose count changes."""
        return resize.update(self, context, cluster, cluster_template, nodegroup, node_count,
                             nodes_to_remove, rollback, credentials)

    def create_nodegroup(self, context: Any, cluster: Any, cluster_template: Any,
                         nodegroup: Any, *, credentials: base.CredentialsLoader | None = None
                         ) -> base.ClusterState:
        """The new nodegroup's chunk stacks, on the cluster stack's network; the cluster
        stack and the other groups' stacks stay as they are."""
        return nodegroup_op.create(self, context, cluster, cluster_template, nodegroup,
                                 credentials)

    def delete_nodegroup(self, context: Any, cluster: Any, nodegroup: Any
                         ) -> base.ClusterState:
        """Delete the nodegroup's chunk stacks only; get_status says DELETE_COMPLETE for it
        once Heat has none of them left."""
        return nodegroup_op.delete(context, cluster, nodegroup)

    def delete(self, context: Any, cluster: Any, nodegroups: list[Any]) -> base.ClusterState:
        """Remove what the COE left (load balancers, ports), then the worker stacks; the
        cluster stack goes once they are gone (see get_status). The stacks are found by
        name, also those of a create whose stack id was never recorded, and every one left
        is deleted again (a delete asked again re-drives one stuck in Heat)."""
        cleanup.remove_coe_leftovers(context, cluster, CONF.heat_driver.cleanup_timeout)
        client = stacks.client(context)
        return status_op.delete_step(client, cluster, stacks.list_stacks(client), asked=True)

    def rotate_ca_certificate(self, context: Any, cluster: Any, cluster_template: Any,
                              nodegroups: list[Any], *,
                              credentials: base.CredentialsLoader) -> base.ClusterState:
        """Update the cluster stack and every worker stack with the credentials the nodes
        hold now: each node's software deployment runs the plugin's credentials script."""
        return rotation.rotate(self, context, cluster, cluster_template, nodegroups,
                               credentials)

    def upgrade(self, context: Any, cluster: Any, nodegroups: list[Any], *,
                max_batch_size: int, nodegroup_uuids: list[str] | None,
                target_key: str, undo_key: str | None = None) -> list[dict[str, Any]]:
        """Batches of ResourceGroup members: masters one by one, then workers per chunk."""
        return upgrade.plan(context, cluster, nodegroups, max_batch_size, nodegroup_uuids,
                            target_key, undo_key)

    def upgrade_dry_run(self, context: Any, cluster: Any, nodegroups: list[Any],
                        batches: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Per batch, the servers its stack update replaces: its members' (upgrade.py)."""
        return upgrade.replaced_servers(context, batches)

    def roll_batch(self, context: Any, nodegroup: Any, batch: dict[str, Any],
                   target: base.UpgradeTarget, *, credentials: base.CredentialsLoader
                   ) -> None:
        """One stack update in which only the batch's members change (upgrade.py)."""
        upgrade.roll(context, nodegroup, batch, target, credentials)

    def batch_state(self, context: Any, batch: dict[str, Any], target_key: str
                    ) -> tuple[str, str | None]:
        return upgrade.batch_state(context, batch, target_key)

    def settle_upgrade(self, context: Any, nodegroup: Any, batch: dict[str, Any],
                       target: base.UpgradeTarget, *, credentials: base.CredentialsLoader
                       ) -> tuple[str, str | None]:
        return upgrade.settle(context, nodegroup, batch, target, credentials)

    def plan_repair(self, context: Any, cluster: Any, nodegroups: list[Any],
                    nodes: list[str], *, cluster_template: Any = None
                    ) -> list[dict[str, Any]]:
        """One repair per stack holding some of the nodes (repair.py)."""
        return repair_op.plan(context, cluster, nodegroups, nodes, cluster_template)

    def expected_nodes(self, context: Any, cluster: Any, nodegroups: list[Any]
                       ) -> list[base.ExpectedNode]:
        """The servers the stacks' outputs name (servers.py)."""
        return servers_op.expected(context, cluster, nodegroups)

    def server_states(self, context: Any, server_ids: list[str], *, timeout: float
                      ) -> dict[str, str | None]:
        """Nova's status of each server (servers.py)."""
        return nova.states(context, server_ids, timeout)

    def repair(self, context: Any, repair: dict[str, Any]) -> None:
        """Replace (VMs) or rebuild in place (baremetal) just the repair's servers."""
        repair_op.send(context, repair)

    def repair_state(self, context: Any, repair: dict[str, Any]) -> tuple[str, str | None]:
        return repair_op.state(context, repair)

    def status_snapshot(self, context: Any, project_id: str) -> stacks.StackListing:
        """Heat's stack list, taken once for every cluster of a status round."""
        return stacks.list_stacks(stacks.client(context))

    def get_status(self, context: Any, cluster: Any, nodegroups: list[Any],
                   snapshot: Any = None, *, cluster_template: Any = None,
                   credentials: base.CredentialsLoader | None = None,
                   operation: Any = None) -> base.ClusterState:
        """The cluster's state in Heat; starts the next step of an operation under way."""
        return status_op.get_status(self, context, cluster, nodegroups, snapshot,
                                    cluster_template, credentials, operation)
