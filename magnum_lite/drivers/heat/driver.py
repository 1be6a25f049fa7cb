"""HeatDriver: the part of every Heat-based driver that does not depend on the COE.

Layout (DESIGN §6): one cluster stack (network, security group, API load balancer, masters)
and, per worker nodegroup, chunk stacks small enough for Heat's `max_resources_per_stack`.
Workers need what the cluster stack made (network, security group, the control plane's
address), so their stacks start once the cluster stack is complete. `get_status` is level
triggered: each call compares what Heat holds with what the cluster's status asks for and
starts the next step (worker stacks after the cluster stack on create; the cluster stack after
the worker stacks on delete), so a conductor that died mid-way loses nothing.

A COE plugin subclasses this and supplies the nodes' user data (`render_user_data`), the
credential files its nodes hold (`credential_files`) and the script that applies new ones,
its ports, its default config and its version.

Credentials (the cluster's CAs, its trustee) reach the nodes only as hidden stack parameters:
in the user data at boot, and as the `credentials` input of each node's software deployment,
which runs on UPDATE only, when a CA or trust rotation changes it. Servers ignore later user
data changes (`user_data_update_policy: IGNORE`), so a rotation replaces no server.
"""

from __future__ import annotations

import abc
import copy
import datetime
import json
from pathlib import Path
from typing import Any, ClassVar

from oslo_log import log as logging
from oslo_utils import timeutils

from magnum_lite.common import encryption, exception
from magnum_lite.conf import CONF
from magnum_lite.drivers import base
from magnum_lite.drivers.heat import chunks, cleanup, names, stacks

LOG = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
ENV = TEMPLATES / "env"

#: Where a master's user data says the control plane is; Heat puts the real address in.
CONTROL_PLANE_HOST = "__CONTROL_PLANE_HOST__"

CREATE_IN_PROGRESS = "CREATE_IN_PROGRESS"
CREATE_COMPLETE = "CREATE_COMPLETE"
CREATE_FAILED = "CREATE_FAILED"
UPDATE_IN_PROGRESS = "UPDATE_IN_PROGRESS"
UPDATE_COMPLETE = "UPDATE_COMPLETE"
UPDATE_FAILED = "UPDATE_FAILED"
DELETE_IN_PROGRESS = "DELETE_IN_PROGRESS"
DELETE_COMPLETE = "DELETE_COMPLETE"
DELETE_FAILED = "DELETE_FAILED"


def _ordered(values: Any) -> list[Any]:
    """A ResourceGroup `attributes` map ({"0": v, "1": v}) as a list in member order."""
    if isinstance(values, dict):
        return [values[k] for k in sorted(values, key=lambda k: (len(str(k)), str(k)))]
    return list(values or [])


def _addresses(floating: Any, private: Any) -> list[str]:
    """Each node's floating address where it has one, else its private address."""
    floating_list, private_list = _ordered(floating), _ordered(private)
    return [f or p for f, p in zip(floating_list + [None] * len(private_list), private_list,
                                   strict=False) if f or p]


def _is_master(nodegroup: Any) -> bool:
    return nodegroup.role == "master"


def _load(credentials: base.CredentialsLoader | None) -> base.ClusterCredentials:
    """The credentials the loader gives; none for a cluster without TLS or trustee."""
    return credentials() if credentials is not None else base.ClusterCredentials()


class _NodegroupRefused(Exception):
    """Heat (or the plugin) refused a nodegroup's stack: `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Credentials:
    """A credentials loader called at most once, and only when a stack needs them."""

    def __init__(self, loader: base.CredentialsLoader | None) -> None:
        self._loader = loader
        self._given: base.ClusterCredentials | None = None

    def __call__(self) -> base.ClusterCredentials:
        if self._given is None:
            self._given = _load(self._loader)
        return self._given


class HeatDriver(base.Driver, abc.ABC):
    """A driver that builds clusters as Heat stacks from the shared templates."""

    #: The COE API's port on the masters (and the load balancer).
    api_port: ClassVar[int] = 6443
    #: TCP ports open to anyone besides the API port (the cluster network is open inside).
    public_tcp_ports: ClassVar[tuple[int, ...]] = (22,)
    #: The scheme of the cluster's api_address (Docker clients want tcp://, Kubernetes https://).
    api_scheme: ClassVar[str] = "https"

    # -- plugin hooks ------------------------------------------------------------------------

    @abc.abstractmethod
    def render_user_data(self, cluster: Any, cluster_template: Any, nodegroup: Any,
                         control_plane_host: str, public_address: str | None,
                         credentials: base.ClusterCredentials) -> str:
        """The boot configuration of the nodegroup's nodes.

        `control_plane_host` is where nodes reach the API privately (for masters the
        placeholder CONTROL_PLANE_HOST, which Heat fills in); the text may hold
        `__NODE_INDEX__`, which Heat replaces with each node's index in its stack.
        :raises exception.InvalidParameterValue: for a bad label or setting, naming it.
        """

    def credential_files(self, cluster: Any, role: str,
                         credentials: base.ClusterCredentials) -> dict[str, str]:
        """The files (path: content) holding the cluster's credentials on a node of `role`,
        which a rotation rewrites through the node's software deployment."""
        return {}

    def credentials_script(self) -> str:
        """The script the nodes' software deployment runs with the new `credentials`."""
        return "#!/bin/sh\nexit 0\n"

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

    # -- stack parameters --------------------------------------------------------------------

    def _labels(self, cluster: Any, cluster_template: Any) -> dict[str, str]:
        return {**(cluster_template.labels or {}), **(cluster.labels or {})}

    @staticmethod
    def _server_type(cluster_template: Any, nodegroup: Any = None) -> str:
        """The nodegroup's server type ("vm" or "bm"); None on the group means the template's,
        so one cluster can mix VM and baremetal worker groups."""
        return ((nodegroup.server_type if nodegroup is not None else None)
                or cluster_template.server_type or "vm")

    def _node_volume_size(self, cluster: Any, cluster_template: Any, nodegroup: Any = None
                          ) -> int:
        """The Cinder volume (GiB) for container storage each node of `nodegroup` gets: none
        on baremetal, whose nodes use their local disk."""
        if self._server_type(cluster_template, nodegroup) == base.BAREMETAL:
            return 0
        return self._volume_size(cluster, cluster_template)

    def _environments(self, cluster: Any, cluster_template: Any, masters: bool,
                      nodegroup: Any = None) -> list[Path]:
        """The environment files the cluster's options choose (later ones win), for the
        stack of `nodegroup` (the masters' or a worker group's; None: the template's type).

        Baremetal nodes get neither a Cinder volume (local disk) nor floating IPs (a flat
        network), whatever the cluster says for its VM groups.
        """
        files = [ENV / "base.yaml"]
        if cluster.fixed_network or cluster_template.fixed_network:
            files.append(ENV / "existing_network.yaml")
        baremetal = self._server_type(cluster_template, nodegroup) == base.BAREMETAL
        lb = masters and (cluster.master_lb_enabled or self._master_count(cluster) > 1)
        floating = (cluster.floating_ip_enabled if cluster.floating_ip_enabled is not None
                    else cluster_template.floating_ip_enabled) and not baremetal
        if lb:
            files.append(ENV / "master_lb.yaml")
            if floating:
                files.append(ENV / "master_lb_floating_ip.yaml")
        if floating:
            files.append(ENV / "node_floating_ip.yaml")
        if self._node_volume_size(cluster, cluster_template, nodegroup):
            files.append(ENV / "volume.yaml")
        return files + self.extra_environments(cluster, cluster_template, masters)

    def validate_cluster(self, cluster: Any, cluster_template: Any,
                         nodegroups: list[Any] | None = None) -> None:
        """Refuse cluster-level overrides a baremetal cluster cannot honour (the template's
        own values were checked when it was stored); plugins extend this with super().

        :raises exception.InvalidParameterValue: naming the field.
        """
        floating = (cluster.floating_ip_enabled if cluster.floating_ip_enabled is not None
                    else cluster_template.floating_ip_enabled)
        base.check_baremetal(
            self._server_type(cluster_template),
            docker_volume_size=self._volume_size(cluster, cluster_template),
            fixed_network=cluster.fixed_network or cluster_template.fixed_network,
            floating_ip_enabled=floating)

    @staticmethod
    def _master_count(cluster: Any) -> int:
        return cluster.master_count or 1

    @staticmethod
    def _volume_size(cluster: Any, cluster_template: Any) -> int:
        return int(cluster.docker_volume_size or cluster_template.docker_volume_size or 0)

    def _common_parameters(self, cluster: Any, cluster_template: Any) -> dict[str, Any]:
        return {
            "key_name": cluster.keypair or cluster_template.keypair_id or "",
            "external_network": cluster_template.external_network_id or "public",
            "docker_volume_size": self._volume_size(cluster, cluster_template),
        }

    def _credentials_parameters(self, cluster: Any, role: str,
                                credentials: base.ClusterCredentials) -> dict[str, Any]:
        return {"cluster_uuid": cluster.uuid, "credentials_script": self.credentials_script(),
                "credentials": json.dumps(self.credential_files(cluster, role, credentials),
                                          sort_keys=True)}

    def cluster_parameters(self, cluster: Any, cluster_template: Any, masters: Any,
                           credentials: base.ClusterCredentials) -> dict[str, Any]:
        labels = self._labels(cluster, cluster_template)
        params = {
            **self._common_parameters(cluster, cluster_template),
            "name_prefix": names.cluster_prefix(cluster),
            "fixed_network": cluster.fixed_network or cluster_template.fixed_network or "",
            "fixed_subnet": cluster.fixed_subnet or cluster_template.fixed_subnet or "",
            "fixed_subnet_cidr": labels.get("fixed_subnet_cidr", "10.0.0.0/24"),
            "dns_nameservers": cluster_template.dns_nameserver or "8.8.8.8",
            "master_count": self._master_count(cluster),
            "master_image": masters.image_id or cluster_template.image_id,
            "master_flavor": (masters.flavor_id or cluster.master_flavor_id
                              or cluster_template.master_flavor_id or "m1.small"),
            "master_user_data": self.render_user_data(cluster, cluster_template, masters,
                                                      CONTROL_PLANE_HOST, None, credentials),
            "api_port": self.api_port,
            "public_tcp_ports": ",".join(str(p) for p in sorted(
                {*self.public_tcp_ports, self.api_port})),
            **self._credentials_parameters(cluster, "master", credentials),
            "docker_volume_size": self._node_volume_size(cluster, cluster_template, masters),
        }
        return params

    def nodegroup_parameters(self, cluster: Any, cluster_template: Any, nodegroup: Any,
                             chunk: int, node_count: int, cluster_outputs: dict[str, Any],
                             credentials: base.ClusterCredentials) -> dict[str, Any]:
        control_plane_host = self._control_plane_host(cluster_outputs)
        return {
            **self._common_parameters(cluster, cluster_template),
            "name_prefix": names.node_name_prefix(cluster, nodegroup, chunk),
            "node_count": node_count,
            "image": nodegroup.image_id or cluster_template.image_id,
            "flavor": (nodegroup.flavor_id or cluster.flavor_id or cluster_template.flavor_id
                       or "m1.small"),
            "network": cluster_outputs.get("network") or "",
            "subnet": cluster_outputs.get("subnet") or "",
            "security_group": cluster_outputs.get("security_group") or "",
            "control_plane_host": control_plane_host,
            "user_data": self.render_user_data(cluster, cluster_template, nodegroup,
                                               control_plane_host,
                                               self._public_host(cluster_outputs),
                                               credentials),
            "removal_policies": [],
            "availability_zone": nodegroup.availability_zone or "",
            **self._credentials_parameters(cluster, "worker", credentials),
            "docker_volume_size": self._node_volume_size(cluster, cluster_template, nodegroup),
        }

    @staticmethod
    def _control_plane_host(outputs: dict[str, Any]) -> str:
        """Where nodes reach the API privately: the load balancer, else the first master."""
        masters = _ordered(outputs.get("master_private_addresses"))
        return outputs.get("lb_vip") or (masters[0] if masters else "")

    @staticmethod
    def _public_host(outputs: dict[str, Any]) -> str | None:
        floating = [a for a in _ordered(outputs.get("master_floating_addresses")) if a]
        return outputs.get("lb_floating_ip") or (floating[0] if floating else None)

    def api_address(self, outputs: dict[str, Any]) -> str | None:
        host = self._public_host(outputs) or self._control_plane_host(outputs)
        return f"{self.api_scheme}://{host}:{self.api_port}" if host else None

    # -- configuration -----------------------------------------------------------------------

    @classmethod
    def nodes_per_stack(cls) -> int:
        return chunks.nodes_per_stack(CONF.heat_driver.max_resources_per_stack)

    # -- operations --------------------------------------------------------------------------

    @staticmethod
    def _split(nodegroups: list[Any]) -> tuple[Any, list[Any]]:
        masters = [ng for ng in nodegroups if _is_master(ng)]
        if not masters:
            raise exception.InvalidParameterValue(err="the cluster has no master nodegroup")
        return masters[0], [ng for ng in nodegroups if not _is_master(ng)]

    def create_dry_run(self, context: Any, cluster: Any, cluster_template: Any,
                       nodegroups: list[Any], *,
                       credentials: base.CredentialsLoader | None = None) -> dict[str, Any]:
        """Heat's preview of the cluster stack and of every worker chunk stack.

        Worker chunks are previewed with placeholder network values (the cluster stack does
        not exist yet), which the sandbox's Heat accepts; a real cloud checks them.
        """
        masters, workers = self._split(nodegroups)
        if not cluster.join_token:
            # Before create the cluster has no join token yet; the user data (whose size
            # Heat checks) is rendered with a throwaway one of the same form, on a copy.
            token = self.make_join_token()
            if token:
                cluster = copy.deepcopy(cluster)
                cluster.join_token = token
        client = stacks.client(context)
        given = _load(credentials)
        previews = {names.cluster_stack_name(cluster): stacks.preview(
            client, names.cluster_stack_name(cluster), TEMPLATES / "cluster.yaml",
            self._environments(cluster, cluster_template, masters=True, nodegroup=masters),
            self.cluster_parameters(cluster, cluster_template, masters, given))}
        placeholder = {"network": "preview-network", "subnet": "preview-subnet",
                       "security_group": "preview-security-group",
                       "master_private_addresses": {"0": "192.0.2.10"}}
        for ng in workers:
            for chunk, count in enumerate(chunks.plan(ng.node_count, self.nodes_per_stack())):
                name = names.nodegroup_stack_name(cluster, ng, chunk)
                previews[name] = stacks.preview(
                    client, name, TEMPLATES / "nodegroup.yaml",
                    self._environments(cluster, cluster_template, masters=False, nodegroup=ng),
                    self.nodegroup_parameters(cluster, cluster_template, ng, chunk, count,
                                              placeholder, given))
        return previews

    def create(self, context: Any, cluster: Any, cluster_template: Any, nodegroups: list[Any],
               timeout: int, *, credentials: base.CredentialsLoader | None = None
               ) -> base.ClusterState:
        masters, workers = self._split(nodegroups)
        join_token = self.join_token(cluster) or self.make_join_token()
        if join_token:
            cluster.join_token = join_token  # the user data below needs it in clear
        parameters = self.cluster_parameters(cluster, cluster_template, masters,
                                             _load(credentials))
        client = stacks.client(context)
        stack_id = stacks.create(client, names.cluster_stack_name(cluster),
                                 TEMPLATES / "cluster.yaml",
                                 self._environments(cluster, cluster_template, masters=True,
                                                    nodegroup=masters),
                                 parameters, timeout)
        LOG.info("Cluster %s: stack %s created", cluster.uuid, stack_id)
        groups = {masters.uuid: base.NodeGroupState(status=CREATE_IN_PROGRESS,
                                                    stack_id=stack_id)}
        groups.update({ng.uuid: base.NodeGroupState(status=CREATE_IN_PROGRESS)
                       for ng in workers})
        return base.ClusterState(status=CREATE_IN_PROGRESS, stack_id=stack_id,
                                 coe_version=self.coe_version(cluster, cluster_template),
                                 nodegroups=groups, join_token=join_token)

    def _chunk_stacks(self, cluster: Any, nodegroup: Any,
                      listing: dict[str, stacks.StackSummary]) -> dict[int, stacks.StackSummary]:
        # The listing holds every stack of the project (thousands with many clusters): look
        # at the cluster's worker stacks only, the prefix (as names.chunk_of makes it) once.
        candidates = (listing.worker_stack_names(names.cluster_stack_name(cluster))
                      if isinstance(listing, stacks.StackListing) else listing)
        prefix = names.nodegroup_stack_prefix(cluster, nodegroup)
        found = {}
        for name in candidates:
            if name.startswith(prefix) and name[len(prefix):].isdigit():
                found[int(name[len(prefix):])] = listing[name]
        return found

    def _chunk_sizes(self, client: Any, chunk_stacks: dict[int, stacks.StackSummary]
                     ) -> tuple[list[int], dict[int, dict[str, Any]]]:
        """Each chunk's node count (from its parameters) and outputs, in chunk order."""
        sizes, outputs = [], {}
        for chunk in range(max(chunk_stacks, default=-1) + 1):
            summary = chunk_stacks.get(chunk)
            stack = stacks.get_stack(client, summary.id) if summary else None
            if stack is None:
                sizes.append(0)
                outputs[chunk] = {}
                continue
            sizes.append(int((stack.parameters or {}).get("node_count", 0)))
            outputs[chunk] = stacks.outputs_of(stack)
        return sizes, outputs

    def update_dry_run(self, context: Any, cluster: Any, cluster_template: Any,
                       nodegroup: Any, node_count: int,
                       nodes_to_remove: list[str] | None = None, *,
                       credentials: base.CredentialsLoader | None = None) -> dict[str, Any]:
        """The chunk sizes before and after, and Heat's preview of each chunk stack the
        resize changes (resources added, deleted, replaced) or creates."""
        client = stacks.client(context)
        current, new, steps = self._resize_steps(client, cluster, nodegroup, node_count,
                                                 nodes_to_remove)
        previews: dict[str, Any] = {}
        cluster_outputs: dict[str, Any] | None = None
        for chunk, summary, parameters in steps:
            name = names.nodegroup_stack_name(cluster, nodegroup, chunk)
            if summary is not None:
                previews[name] = stacks.preview_update(client, summary.id, parameters)
                continue
            if cluster_outputs is None:
                cluster_outputs = self._cluster_outputs(client, cluster)
            previews[name] = stacks.preview(
                client, name, TEMPLATES / "nodegroup.yaml",
                self._environments(cluster, cluster_template, masters=False,
                                   nodegroup=nodegroup),
                self.nodegroup_parameters(cluster, cluster_template, nodegroup, chunk,
                                          parameters["node_count"], cluster_outputs,
                                          _load(credentials)))
        return {"chunks_before": current, "chunks_after": new, "stacks": previews}

    def _resize_steps(self, client: Any, cluster: Any, nodegroup: Any, node_count: int,
                      nodes_to_remove: list[str] | None
                      ) -> tuple[list[int], list[int], list[tuple[int, Any, dict[str, Any]]]]:
        """(chunk sizes now, after, and per chunk to change: (chunk, its stack or None for a
        new chunk, the parameters it changes to))."""
        chunk_stacks = self._chunk_stacks(cluster, nodegroup, stacks.list_stacks(client))
        current, new, removals = self._resize_plan(client, nodegroup, chunk_stacks, node_count,
                                                   nodes_to_remove)
        steps = []
        for chunk, size in enumerate(new):
            before = current[chunk] if chunk < len(current) else None
            summary = chunk_stacks.get(chunk)
            if (summary is not None and before == size and chunk not in removals
                    and not summary.failed):  # a failed chunk is updated again (a retry)
                continue
            policies = [{"resource_list": removals[chunk]}] if chunk in removals else []
            steps.append((chunk, summary, {"node_count": size, "removal_policies": policies}))
        return current, new, steps

    def _resize_plan(self, client: Any, nodegroup: Any,
                     chunk_stacks: dict[int, stacks.StackSummary], node_count: int,
                     nodes_to_remove: list[str] | None
                     ) -> tuple[list[int], list[int], dict[int, list[str]]]:
        """(chunk sizes now, chunk sizes after, chunk -> member names to remove)."""
        current, outputs = self._chunk_sizes(client, chunk_stacks)
        removals: dict[int, list[str]] = {}
        for node in nodes_to_remove or []:
            for chunk, out in outputs.items():
                names_map = out.get("node_names") or {}
                ids_map = out.get("node_ids") or {}
                member = next((k for k, v in names_map.items() if v == node), None)
                member = member or next((k for k, v in ids_map.items() if v == node), None)
                if member is not None:
                    chosen = removals.setdefault(chunk, [])
                    if str(member) not in chosen:  # a node named by name and by id
                        chosen.append(str(member))
                    break
            else:
                raise exception.InvalidParameterValue(
                    err=f"nodes_to_remove: {node} is not a node of nodegroup "
                        f"{nodegroup.name}")
        if sum(len(v) for v in removals.values()) > max(0, sum(current) - node_count):
            raise exception.InvalidParameterValue(
                err="nodes_to_remove: names more nodes than the resize removes")
        new = chunks.resize(current, node_count, self.nodes_per_stack(),
                            {k: len(v) for k, v in removals.items()})
        return current, new, removals

    def update(self, context: Any, cluster: Any, cluster_template: Any, nodegroup: Any,
               node_count: int, nodes_to_remove: list[str] | None = None,
               rollback: bool = False, *, credentials: base.CredentialsLoader | None = None
               ) -> base.ClusterState:
        if _is_master(nodegroup):
            raise exception.InvalidParameterValue(
                err=f"nodegroup: {nodegroup.name} holds masters, which cannot be resized")
        client = stacks.client(context)
        current, new, steps = self._resize_steps(client, cluster, nodegroup, node_count,
                                                 nodes_to_remove)
        cluster_outputs: dict[str, Any] | None = None
        timeout = cluster.create_timeout or 60
        for chunk, summary, parameters in steps:
            if summary is not None:
                stacks.update_parameters(client, summary.id, parameters, rollback, timeout)
                continue
            if cluster_outputs is None:
                cluster_outputs = self._cluster_outputs(client, cluster)
            name = names.nodegroup_stack_name(cluster, nodegroup, chunk)
            stacks.create(client, name, TEMPLATES / "nodegroup.yaml",
                          self._environments(cluster, cluster_template, masters=False,
                                             nodegroup=nodegroup),
                          self.nodegroup_parameters(cluster, cluster_template, nodegroup,
                                                    chunk, parameters["node_count"],
                                                    cluster_outputs, _load(credentials)),
                          timeout)
        LOG.info("Cluster %s: nodegroup %s resizing %s -> %s (chunks %s -> %s)", cluster.uuid,
                 nodegroup.name, sum(current), node_count, current, new)
        return base.ClusterState(status=UPDATE_IN_PROGRESS, nodegroups={
            nodegroup.uuid: base.NodeGroupState(status=UPDATE_IN_PROGRESS)})

    def _cluster_outputs(self, client: Any, cluster: Any) -> dict[str, Any]:
        stack = stacks.get_stack(client, cluster.stack_id or names.cluster_stack_name(cluster))
        if stack is None:
            raise exception.CloudError(service="Heat",
                                       reason=f"the cluster stack of {cluster.uuid} is gone")
        return stacks.outputs_of(stack)

    def upgrade(self, context: Any, cluster: Any, cluster_template: Any, max_batch_size: int,
                nodegroup: Any) -> base.ClusterState:
        raise exception.InvalidParameterValue(
            err="upgrade: rolling upgrades are not available in this version")

    def delete(self, context: Any, cluster: Any, nodegroups: list[Any]) -> base.ClusterState:
        """Remove what the COE left (load balancers, ports), then the worker stacks; the
        cluster stack goes once they are gone (see get_status)."""
        cleanup.remove_coe_leftovers(context, cluster, CONF.heat_driver.cleanup_timeout)
        client = stacks.client(context)
        return self._delete_step(context, client, cluster, nodegroups,
                                 stacks.list_stacks(client), retry_failed=True)

    def _delete_step(self, context: Any, client: Any, cluster: Any, nodegroups: list[Any],
                     listing: dict[str, stacks.StackSummary], retry_failed: bool = False
                     ) -> base.ClusterState:
        """Delete the next stacks; `retry_failed` (a delete asked again) deletes the stacks
        whose delete failed once more instead of reporting that failure."""
        # Every worker stack of the cluster, also of a nodegroup no longer in `nodegroups`:
        # one left behind would keep the network busy and fail the cluster stack's delete.
        cluster_stack_name = names.cluster_stack_name(cluster)
        prefix = cluster_stack_name + "-ng-"
        candidates = (listing.worker_stack_names(cluster_stack_name)
                      if isinstance(listing, stacks.StackListing) else listing)
        worker_stacks = [listing[name] for name in candidates if name.startswith(prefix)]
        cluster_stack = listing.get(cluster_stack_name)
        remaining = worker_stacks or ([cluster_stack] if cluster_stack else [])
        failed = [s for s in remaining if s.status == DELETE_FAILED]
        if failed and not retry_failed:
            return base.ClusterState(status=DELETE_FAILED, status_reason=stacks.failure_reason(
                client, failed[0], CONF.heat_driver.status_reason_resources))
        for summary in remaining:
            if summary.status != DELETE_IN_PROGRESS:
                stacks.delete(client, summary.id)
        if remaining:
            return base.ClusterState(status=DELETE_IN_PROGRESS)
        return base.ClusterState(status=DELETE_COMPLETE,
                                 status_reason="the cluster's stacks are deleted")

    # -- observation -------------------------------------------------------------------------

    def status_snapshot(self, context: Any, project_id: str) -> stacks.StackListing:
        return stacks.list_stacks(stacks.client(context))

    def get_status(self, context: Any, cluster: Any, nodegroups: list[Any],
                   snapshot: Any = None, *, cluster_template: Any = None,
                   credentials: base.CredentialsLoader | None = None) -> base.ClusterState:
        client = stacks.client(context)
        listing = snapshot if snapshot is not None else stacks.list_stacks(client)
        if cluster.status == DELETE_IN_PROGRESS:
            return self._delete_step(context, client, cluster, nodegroups, listing)
        if cluster.status == CREATE_IN_PROGRESS:
            return self._create_step(client, cluster, cluster_template, nodegroups, listing,
                                     credentials)
        if cluster.status == UPDATE_IN_PROGRESS:
            return self._update_step(client, cluster, nodegroups, listing, cluster_template,
                                     credentials)
        return base.ClusterState()

    def _failed(self, client: Any, status: str, summary: stacks.StackSummary,
                nodegroup: Any, others: dict[str, base.NodeGroupState] | None = None,
                nodegroup_status: str | None = None) -> base.ClusterState:
        """The cluster failed in `nodegroup`'s stack `summary` (with the others' states);
        the nodegroup's own status is `nodegroup_status` (the cluster's by default)."""
        reason = stacks.failure_reason(client, summary,
                                       CONF.heat_driver.status_reason_resources)
        return base.ClusterState(status=status, status_reason=reason, nodegroups={
            **(others or {}),
            nodegroup.uuid: base.NodeGroupState(status=nodegroup_status or status,
                                                status_reason=reason)})

    def _create_step(self, client: Any, cluster: Any, template: Any, nodegroups: list[Any],
                     listing: dict[str, stacks.StackSummary],
                     credentials: base.CredentialsLoader | None) -> base.ClusterState:
        masters, workers = self._split(nodegroups)
        cluster_stack = listing.get(names.cluster_stack_name(cluster))
        if cluster_stack is None:
            if cluster.stack_id:
                return base.ClusterState(status=CREATE_FAILED, status_reason=(
                    f"the cluster stack {cluster.stack_id} is gone from Heat"))
            return base.ClusterState()  # not created yet: the conductor's timeout applies
        if cluster_stack.failed:
            return self._failed(client, CREATE_FAILED, cluster_stack, masters)
        if not cluster_stack.complete:
            return base.ClusterState(stack_id=cluster_stack.id)
        worker_stacks = {ng.uuid: self._chunk_stacks(cluster, ng, listing) for ng in workers}
        every_chunk_made = all(
            len(worker_stacks[ng.uuid]) >= len(chunks.plan(ng.node_count, self.nodes_per_stack()))
            for ng in workers)
        if every_chunk_made and workers and all(
                any(s.in_progress for s in worker_stacks[ng.uuid].values())
                and not any(s.failed for s in worker_stacks[ng.uuid].values())
                for ng in workers):
            # Heat is still building every nodegroup: nothing to read until one is done.
            return base.ClusterState(stack_id=cluster_stack.id)
        outputs = self._cluster_outputs(client, cluster)
        groups = {masters.uuid: base.NodeGroupState(
            status=CREATE_COMPLETE, stack_id=cluster_stack.id,
            node_addresses=_addresses(outputs.get("master_floating_addresses"),
                                      outputs.get("master_private_addresses")),
            node_count=len(_ordered(outputs.get("master_ids"))))}
        waiting = False
        given = _Credentials(credentials)
        for ng in workers:
            chunk_stacks = worker_stacks[ng.uuid]
            try:
                created = self._create_chunks(client, cluster, template, ng, chunk_stacks,
                                              outputs, given, self._minutes_left(cluster))
            except _NodegroupRefused as refused:
                return base.ClusterState(status=CREATE_FAILED, status_reason=refused.reason,
                                         nodegroups={ng.uuid: base.NodeGroupState(
                                             status=CREATE_FAILED,
                                             status_reason=refused.reason)})
            if created or any(s.in_progress for s in chunk_stacks.values()):
                groups[ng.uuid] = base.NodeGroupState(status=CREATE_IN_PROGRESS)
                waiting = True
                continue
            failed = [s for s in chunk_stacks.values() if s.failed]
            if failed:
                return self._failed(client, CREATE_FAILED, failed[0], ng, groups)
            groups[ng.uuid] = self._nodegroup_complete(client, CREATE_COMPLETE, chunk_stacks)
        common = {"stack_id": cluster_stack.id, "api_address": self.api_address(outputs),
                  "nodegroups": groups}
        if waiting:
            return base.ClusterState(**common)
        return base.ClusterState(status=CREATE_COMPLETE, status_reason="Stack CREATE completed "
                                 "successfully", **common)

    def _create_chunks(self, client: Any, cluster: Any, template: Any, nodegroup: Any,
                       chunk_stacks: dict[int, stacks.StackSummary], outputs: dict[str, Any],
                       given: _Credentials, timeout: int) -> bool:
        """Create the chunk stacks of `nodegroup` that do not exist yet (level triggered: a
        conductor that died half-way made some); whether any was created.

        :raises _NodegroupRefused: Heat or the plugin refused a stack (no use retrying).
        """
        created = False
        for chunk, count in enumerate(chunks.plan(nodegroup.node_count,
                                                  self.nodes_per_stack())):
            if chunk in chunk_stacks:
                continue
            if template is None:
                raise exception.InvalidParameterValue(
                    err=f"cluster {cluster.uuid}: its worker stacks need its template")
            try:
                stacks.create(client, names.nodegroup_stack_name(cluster, nodegroup, chunk),
                              TEMPLATES / "nodegroup.yaml",
                              self._environments(cluster, template, masters=False,
                                                 nodegroup=nodegroup),
                              self.nodegroup_parameters(cluster, template, nodegroup, chunk,
                                                        count, outputs, given()),
                              timeout)
            except exception.CloudUnreachable:
                raise  # tried again on the next check
            except (exception.CloudError, exception.InvalidParameterValue) as err:
                raise _NodegroupRefused(f"the stacks of nodegroup {nodegroup.name} cannot be "
                                        f"created: {err}") from err
            created = True
        return created

    def create_nodegroup(self, context: Any, cluster: Any, cluster_template: Any,
                         nodegroup: Any, *, credentials: base.CredentialsLoader | None = None
                         ) -> base.ClusterState:
        """The new nodegroup's chunk stacks, on the cluster stack's network; the cluster
        stack and the other groups' stacks stay as they are."""
        if _is_master(nodegroup):
            raise exception.InvalidParameterValue(
                err=f"role: nodegroup {nodegroup.name} holds masters, which only the cluster "
                    f"stack makes")
        client = stacks.client(context)
        chunk_stacks = self._chunk_stacks(cluster, nodegroup, stacks.list_stacks(client))
        try:
            self._create_chunks(client, cluster, cluster_template, nodegroup, chunk_stacks,
                                self._cluster_outputs(client, cluster),
                                _Credentials(credentials), cluster.create_timeout or 60)
        except _NodegroupRefused as refused:
            return base.ClusterState(status=UPDATE_FAILED, status_reason=refused.reason,
                                     nodegroups={nodegroup.uuid: base.NodeGroupState(
                                         status=CREATE_FAILED, status_reason=refused.reason)})
        LOG.info("Cluster %s: nodegroup %s creating (%s nodes)", cluster.uuid, nodegroup.name,
                 nodegroup.node_count)
        return base.ClusterState(status=UPDATE_IN_PROGRESS, nodegroups={
            nodegroup.uuid: base.NodeGroupState(status=CREATE_IN_PROGRESS)})

    def delete_nodegroup(self, context: Any, cluster: Any, nodegroup: Any
                         ) -> base.ClusterState:
        """Delete the nodegroup's chunk stacks only; get_status says DELETE_COMPLETE for it
        once Heat has none of them left."""
        if _is_master(nodegroup):
            raise exception.InvalidParameterValue(
                err=f"nodegroup: {nodegroup.name} holds masters, which cannot be deleted")
        client = stacks.client(context)
        for summary in self._chunk_stacks(cluster, nodegroup,
                                          stacks.list_stacks(client)).values():
            if summary.status != DELETE_IN_PROGRESS:
                stacks.delete(client, summary.id)
        LOG.info("Cluster %s: nodegroup %s deleting", cluster.uuid, nodegroup.name)
        return base.ClusterState(status=UPDATE_IN_PROGRESS, nodegroups={
            nodegroup.uuid: base.NodeGroupState(status=DELETE_IN_PROGRESS)})

    def _nodegroup_complete(self, client: Any, status: str,
                            chunk_stacks: dict[int, stacks.StackSummary]) -> base.NodeGroupState:
        addresses: list[str] = []
        count = 0
        first_id = None
        for chunk in sorted(chunk_stacks):
            stack = stacks.get_stack(client, chunk_stacks[chunk].id)
            if stack is None:
                continue
            first_id = first_id or stack.id
            out = stacks.outputs_of(stack)
            count += len(_ordered(out.get("node_ids")))
            addresses += _addresses(out.get("node_floating_addresses"),
                                    out.get("node_private_addresses"))
        return base.NodeGroupState(status=status, status_reason=None, stack_id=first_id,
                                   node_addresses=addresses, node_count=count)

    def _update_step(self, client: Any, cluster: Any, nodegroups: list[Any],
                     listing: dict[str, stacks.StackSummary], template: Any = None,
                     credentials: base.CredentialsLoader | None = None) -> base.ClusterState:
        """Follow a resize or rotation, and nodegroups being added (CREATE_IN_PROGRESS:
        their missing chunk stacks are made) or removed (DELETE_IN_PROGRESS: DELETE_COMPLETE
        once their stacks are gone)."""
        masters, workers = self._split(nodegroups)
        groups: dict[str, base.NodeGroupState] = {}
        waiting = False
        given = _Credentials(credentials)
        outputs: dict[str, Any] | None = None
        # A rotation updates the cluster stack too (a resize leaves it as it was).
        cluster_stack = listing.get(names.cluster_stack_name(cluster))
        if cluster_stack is not None and cluster_stack.in_progress:
            waiting = True
        elif cluster_stack is not None and cluster_stack.status == UPDATE_FAILED:
            return self._failed(client, UPDATE_FAILED, cluster_stack, masters)
        for ng in workers:
            chunk_stacks = self._chunk_stacks(cluster, ng, listing)
            if ng.status == DELETE_IN_PROGRESS:
                if not chunk_stacks:
                    groups[ng.uuid] = base.NodeGroupState(
                        status=DELETE_COMPLETE, status_reason="the nodegroup's stacks are deleted")
                    continue
                failed = [s for s in chunk_stacks.values() if s.status == DELETE_FAILED]
                if failed and not any(s.in_progress for s in chunk_stacks.values()):
                    return self._failed(client, UPDATE_FAILED, failed[0], ng,
                                        nodegroup_status=DELETE_FAILED)
                waiting = True
                continue
            if ng.status == CREATE_IN_PROGRESS and template is not None:
                if outputs is None:
                    outputs = self._cluster_outputs(client, cluster)
                try:
                    if self._create_chunks(client, cluster, template, ng, chunk_stacks,
                                           outputs, given, cluster.create_timeout or 60):
                        waiting = True
                        continue
                except _NodegroupRefused as refused:
                    return base.ClusterState(
                        status=UPDATE_FAILED, status_reason=refused.reason,
                        nodegroups={ng.uuid: base.NodeGroupState(
                            status=CREATE_FAILED, status_reason=refused.reason)})
            if any(s.in_progress for s in chunk_stacks.values()):
                waiting = True
                continue
            failed = [s for s in chunk_stacks.values() if s.failed]
            if failed:
                return self._failed(client, UPDATE_FAILED, failed[0], ng,
                                    nodegroup_status=(CREATE_FAILED
                                                      if ng.status == CREATE_IN_PROGRESS
                                                      else None))
            if ng.status in (UPDATE_IN_PROGRESS, CREATE_IN_PROGRESS):
                groups[ng.uuid] = self._nodegroup_complete(
                    client, UPDATE_COMPLETE if ng.status == UPDATE_IN_PROGRESS
                    else CREATE_COMPLETE, chunk_stacks)
        if waiting:
            return base.ClusterState()
        return base.ClusterState(status=UPDATE_COMPLETE, status_reason="Stack UPDATE completed "
                                 "successfully", nodegroups=groups)

    @staticmethod
    def _minutes_left(cluster: Any) -> int:
        timeout = cluster.create_timeout or 60
        created = cluster.created_at
        if created is None:
            return timeout
        if created.tzinfo is None:
            created = created.replace(tzinfo=datetime.UTC)
        elapsed = (timeutils.utcnow(with_timezone=True) - created).total_seconds() / 60
        return max(1, int(timeout - elapsed))

    # -- the rest of the interface -------------------------------------------------------------

    def get_scale_manager(self, context: Any, cluster: Any) -> base.ScaleManager | None:
        return None  # Heat removes the highest-numbered members unless told otherwise

    def get_monitor(self, context: Any, cluster: Any) -> base.ClusterMonitor | None:
        return None

    def rotate_ca_certificate(self, context: Any, cluster: Any, cluster_template: Any,
                              nodegroups: list[Any], *,
                              credentials: base.CredentialsLoader) -> base.ClusterState:
        """Update the cluster stack and every worker stack with the credentials the nodes
        hold now: each node's software deployment runs the plugin's credentials script."""
        masters, workers = self._split(nodegroups)
        given = _load(credentials)
        client = stacks.client(context)
        listing = stacks.list_stacks(client)
        cluster_stack = listing.get(names.cluster_stack_name(cluster))
        if cluster_stack is None:
            raise exception.CloudError(service="Heat",
                                       reason=f"the cluster stack of {cluster.uuid} is gone")
        timeout = CONF.conductor.update_timeout
        master_parameters = self.cluster_parameters(cluster, cluster_template, masters, given)
        stacks.update_parameters(client, cluster_stack.id, {
            name: master_parameters[name]
            for name in ("master_user_data", "credentials", "credentials_script", "cluster_uuid")
        }, rollback=False, timeout_minutes=timeout)
        outputs = self._cluster_outputs(client, cluster)
        for ng in workers:
            for chunk, summary in self._chunk_stacks(cluster, ng, listing).items():
                parameters = self.nodegroup_parameters(cluster, cluster_template, ng, chunk, 0,
                                                       outputs, given)
                stacks.update_parameters(client, summary.id, {
                    name: parameters[name]
                    for name in ("user_data", "credentials", "credentials_script",
                                 "cluster_uuid")
                }, rollback=False, timeout_minutes=timeout)
        LOG.info("Cluster %s: credentials sent to its nodes", cluster.uuid)
        return base.ClusterState(status=UPDATE_IN_PROGRESS, nodegroups={
            ng.uuid: base.NodeGroupState(status=UPDATE_IN_PROGRESS) for ng in workers})
