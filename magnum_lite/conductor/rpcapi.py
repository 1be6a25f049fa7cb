"""Client side of the conductor RPC API, used by magnum-lite-api."""

from __future__ import annotations

import os
import threading
from typing import Any

import oslo_messaging as messaging

from magnum_lite.common import exception, rpc
from magnum_lite.conductor import hashring
from magnum_lite.conf import CONF
from magnum_lite.objects import base as objects_base

# How often a cast retries to reach the broker before it fails: an API request must not hang
# while RabbitMQ is down (oslo.messaging's default is to retry forever). One retry rides out a
# dropped pooled connection and fails in about a second when the broker is really down
# (three would take about nine).
CAST_RETRY = 1
# The ring's stand-in host while no live conductor is known (ConductorRing needs one).
NO_OWNER = ""


def serializer() -> rpc.RequestContextSerializer:
    """What both ends of the conductor's RPC carry: contexts as dicts, versioned objects as
    their primitives (the client here, the server in conductor.service)."""
    return rpc.get_serializer(objects_base.MagnumLiteObjectSerializer())


class ConductorTooOld(exception.Invalid):
    message = ("%(what)s needs conductor RPC API %(version)s, but the conductors are pinned "
               "to %(cap)s ([upgrade_levels] conductor): finish upgrading the conductors "
               "first.")


class ConductorAPI:
    """Client side of the conductor RPC API.

    API version history:

    |    1.0 - Initial version: cluster_create, cluster_update and cluster_delete (casts).
    |    1.1 - cluster_update: nodegroup_uuid (None: the default worker nodegroup) and
    |          nodes_to_remove.
    |    1.2 - sign_certificate (call), rotate_ca_certificate and rotate_credentials (casts).
    |    1.3 - nodegroup_create and nodegroup_delete (casts).
    |    1.4 - cluster_upgrade (cast).
    |    1.5 - upgrade_dry_run, cluster_create_dry_run and cluster_resize_dry_run (calls:
    |          what the operation would do, nothing done).
    |    1.6 - repair_plan (call) and cluster_repair (cast).

    To change the API: add a line above, raise RPC_API_VERSION here and in the manager, and
    prepare the method that changed with the version it needs; a caller checks
    `can_send_version()` while `[upgrade_levels] conductor` pins an older version.

    Every cast about a cluster goes to its owner on the hash ring of the live conductors
    (`prepare(server=...)`, the queue every conductor has served since 1.0), the conductor
    that also follows it; with no live conductor known it goes to the topic (any of them).
    """

    RPC_API_VERSION = "1.6"

    def __init__(self, topic: str | None = None) -> None:
        # Nothing touches the transport or the configuration here: an instance may be made at
        # import time, before the configuration is parsed or a WSGI server forks.
        self._topic = topic
        self._lock = threading.Lock()
        self._client: messaging.RPCClient | None = None
        self._client_pid: int | None = None
        # The ring of the live conductors, read again every hash_ring_refresh_interval.
        self._ring = hashring.ConductorRing(NO_OWNER)

    @property
    def client(self) -> messaging.RPCClient:
        """The RPC client, made on first use in this process (again after a fork)."""
        pid = os.getpid()
        with self._lock:
            if self._client is None or self._client_pid != pid:
                target = messaging.Target(topic=self._topic or CONF.conductor.topic,
                                          version=self.RPC_API_VERSION)
                self._client = messaging.get_rpc_client(
                    rpc.get_transport(), target, version_cap=CONF.upgrade_levels.conductor,
                    serializer=serializer(), retry=CAST_RETRY)
                self._client_pid = pid
            return self._client

    def owner(self, cluster_uuid: str) -> str | None:
        """The conductor a cast about the cluster goes to (None: any of them)."""
        owner = self._ring.refresh().owner(cluster_uuid)
        return None if owner in (None, NO_OWNER) else owner

    def _prepare(self, version: str, cluster_uuid: str, **options: Any) -> Any:
        """The client for a cast (or call, with its `timeout` in `options`) about
        `cluster_uuid`, aimed at its owner."""
        owner = self.owner(cluster_uuid)
        if owner is None:
            return self.client.prepare(version=version, **options)
        return self.client.prepare(version=version, server=owner, **options)

    def can_send_version(self, version: str) -> bool:
        """Whether every conductor understands `version` (the `[upgrade_levels]` pin)."""
        return self.client.can_send_version(version)

    def cluster_create(self, context: Any, cluster_uuid: str, create_timeout: int) -> None:
        """Ask a conductor to build the cluster's resources in the cloud."""
        cctxt = self._prepare("1.0", cluster_uuid)
        cctxt.cast(context, "cluster_create", cluster_uuid=cluster_uuid,
                   create_timeout=create_timeout)

    def check_cluster_update(self, nodegroup_uuid: str | None = None,
                             nodes_to_remove: list[str] | None = None) -> None:
        """Refuse (ConductorTooOld, 400) a resize the pinned conductors cannot do: one of a
        non-default nodegroup or with nodes_to_remove needs 1.1."""
        if (nodegroup_uuid or nodes_to_remove) and not self.can_send_version("1.1"):
            what = ("A resize of a nodegroup other than the default worker nodegroup"
                    if nodegroup_uuid else "A resize with nodes_to_remove")
            raise ConductorTooOld(what=what, version="1.1",
                                  cap=CONF.upgrade_levels.conductor)

    def cluster_update(self, context: Any, cluster_uuid: str, node_count: int,
                       rollback: bool = False, nodegroup_uuid: str | None = None,
                       nodes_to_remove: list[str] | None = None) -> None:
        """Ask a conductor to resize a worker nodegroup (the default one for None) to
        `node_count` nodes, removing `nodes_to_remove` first."""
        if self.can_send_version("1.1"):
            cctxt = self._prepare("1.1", cluster_uuid)
            cctxt.cast(context, "cluster_update", cluster_uuid=cluster_uuid,
                       node_count=node_count, rollback=rollback,
                       nodegroup_uuid=nodegroup_uuid, nodes_to_remove=nodes_to_remove)
            return
        self.check_cluster_update(nodegroup_uuid, nodes_to_remove)
        cctxt = self._prepare("1.0", cluster_uuid)
        cctxt.cast(context, "cluster_update", cluster_uuid=cluster_uuid, node_count=node_count,
                   rollback=rollback)

    def cluster_delete(self, context: Any, cluster_uuid: str) -> None:
        """Ask a conductor to remove the cluster from the cloud and the database."""
        cctxt = self._prepare("1.0", cluster_uuid)
        cctxt.cast(context, "cluster_delete", cluster_uuid=cluster_uuid)

    def check_credentials_api(self, what: str) -> None:
        """Refuse (ConductorTooOld, 400) a certificate or credentials call the pinned
        conductors do not have (1.2)."""
        if not self.can_send_version("1.2"):
            raise ConductorTooOld(what=what, version="1.2", cap=CONF.upgrade_levels.conductor)

    def sign_certificate(self, context: Any, cluster_uuid: str, csr: str) -> str:
        """A client certificate for the caller, signed by the cluster's CA from `csr`
        (a call: the API waits for the PEM, at most [conductor] rpc_call_timeout)."""
        self.check_credentials_api("Signing a certificate")
        cctxt = self.client.prepare(version="1.2", timeout=CONF.conductor.rpc_call_timeout)
        return cctxt.call(context, "sign_certificate", cluster_uuid=cluster_uuid, csr=csr)

    def rotate_ca_certificate(self, context: Any, cluster_uuid: str) -> None:
        """Ask a conductor to give the cluster a new CA and push it to the nodes."""
        cctxt = self._prepare("1.2", cluster_uuid)
        cctxt.cast(context, "rotate_ca_certificate", cluster_uuid=cluster_uuid)

    def rotate_credentials(self, context: Any, cluster_uuid: str, push: bool = True) -> None:
        """Ask a conductor to replace the cluster's trustee and trust with ones from the
        caller, and push them to the nodes (unless `push` is False)."""
        cctxt = self._prepare("1.2", cluster_uuid)
        cctxt.cast(context, "rotate_credentials", cluster_uuid=cluster_uuid, push=push)

    def check_nodegroup_api(self) -> None:
        """Refuse (ConductorTooOld, 400) a nodegroup create or delete the pinned conductors
        do not have (1.3), before anything changes."""
        if not self.can_send_version("1.3"):
            raise ConductorTooOld(what="Creating or deleting a nodegroup", version="1.3",
                                  cap=CONF.upgrade_levels.conductor)

    def nodegroup_create(self, context: Any, cluster_uuid: str, nodegroup_uuid: str) -> None:
        """Ask a conductor to build a nodegroup added to the cluster (an update of it)."""
        cctxt = self._prepare("1.3", cluster_uuid)
        cctxt.cast(context, "nodegroup_create", cluster_uuid=cluster_uuid,
                   nodegroup_uuid=nodegroup_uuid)

    def nodegroup_delete(self, context: Any, cluster_uuid: str, nodegroup_uuid: str) -> None:
        """Ask a conductor to remove a nodegroup from the cluster (an update of it)."""
        cctxt = self._prepare("1.3", cluster_uuid)
        cctxt.cast(context, "nodegroup_delete", cluster_uuid=cluster_uuid,
                   nodegroup_uuid=nodegroup_uuid)

    def check_upgrade_api(self) -> None:
        """Refuse (ConductorTooOld, 400) an upgrade the pinned conductors cannot do (1.4),
        before anything changes."""
        if not self.can_send_version("1.4"):
            raise ConductorTooOld(what="Upgrading a cluster", version="1.4",
                                  cap=CONF.upgrade_levels.conductor)

    def cluster_upgrade(self, context: Any, cluster_uuid: str) -> None:
        """Ask a conductor to roll the cluster to the target its upgrade operation names
        (the operation's params, written when the API started it)."""
        cctxt = self._prepare("1.4", cluster_uuid)
        cctxt.cast(context, "cluster_upgrade", cluster_uuid=cluster_uuid)

    def check_dry_run_api(self) -> None:
        """Refuse (ConductorTooOld, 400) a dry run the pinned conductors cannot answer (1.5),
        before anything else is asked."""
        if not self.can_send_version("1.5"):
            raise ConductorTooOld(what="A dry run", version="1.5",
                                  cap=CONF.upgrade_levels.conductor)

    def upgrade_dry_run(self, context: Any, cluster_uuid: str, params: dict) -> dict:
        """The plan of an upgrade with `params` (an upgrade operation's), nothing done: a
        call to the cluster's owner, at most [conductor] rpc_call_timeout."""
        self.check_dry_run_api()
        cctxt = self._prepare("1.5", cluster_uuid, timeout=CONF.conductor.rpc_call_timeout)
        return cctxt.call(context, "upgrade_dry_run", cluster_uuid=cluster_uuid,
                          params=params)

    def cluster_create_dry_run(self, context: Any, cluster_fields: dict,
                               nodegroups: list[dict]) -> dict:
        """What the driver would build for a cluster of `cluster_fields` and `nodegroups`
        (the rows a create would store), nothing stored: a call to any conductor."""
        self.check_dry_run_api()
        cctxt = self.client.prepare(version="1.5", timeout=CONF.conductor.rpc_call_timeout)
        return cctxt.call(context, "cluster_create_dry_run", cluster_fields=cluster_fields,
                          nodegroups=nodegroups)

    def cluster_resize_dry_run(self, context: Any, cluster_uuid: str,
                               nodegroup_uuid: str | None, node_count: int,
                               nodes_to_remove: list[str] | None = None) -> dict:
        """What the driver would change to resize the nodegroup (None: the default worker
        nodegroup), nothing done: a call to the cluster's owner."""
        self.check_dry_run_api()
        cctxt = self._prepare("1.5", cluster_uuid, timeout=CONF.conductor.rpc_call_timeout)
        return cctxt.call(context, "cluster_resize_dry_run", cluster_uuid=cluster_uuid,
                          nodegroup_uuid=nodegroup_uuid, node_count=node_count,
                          nodes_to_remove=nodes_to_remove)

    def check_repair_api(self) -> None:
        """Refuse (ConductorTooOld, 400) a repair the pinned conductors cannot do (1.6),
        before anything changes."""
        if not self.can_send_version("1.6"):
            raise ConductorTooOld(what="Repairing a cluster", version="1.6",
                                  cap=CONF.upgrade_levels.conductor)

    def repair_plan(self, context: Any, cluster_uuid: str, nodes: list[str]) -> list[dict]:
        """The repairs of `nodes` (server names or ids) as the driver plans them, nothing
        done: a call to the cluster's owner (an unknown node is its 400)."""
        self.check_repair_api()
        cctxt = self._prepare("1.6", cluster_uuid, timeout=CONF.conductor.rpc_call_timeout)
        return cctxt.call(context, "repair_plan", cluster_uuid=cluster_uuid, nodes=nodes)

    def cluster_repair(self, context: Any, cluster_uuid: str) -> None:
        """Ask a conductor to replace the nodes the cluster's repair operation names."""
        cctxt = self._prepare("1.6", cluster_uuid)
        cctxt.cast(context, "cluster_repair", cluster_uuid=cluster_uuid)
