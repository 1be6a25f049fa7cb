"""Cluster: a COE cluster, its status, and its place in the version history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from oslo_utils import uuidutils, versionutils

from magnum_lite.common import exception
from magnum_lite.db import api as dbapi
from magnum_lite.objects import base, fields
from magnum_lite.objects.cluster_event import ClusterEvent
from magnum_lite.objects.cluster_template import ClusterTemplate
from magnum_lite.objects.nodegroup import NodeGroup

# How often an internal writer re-reads and retries a compare-and-swap that lost a race.
INTERNAL_WRITE_ATTEMPTS = 10


@base.MagnumLiteObjectRegistry.register
class Cluster(base.MagnumLitePersistentObject, base.MagnumLiteObject):
    # Version 1.0: Initial version
    # Version 1.1: join_token
    # Version 1.2: operation_uuid (the ClusterOperation in flight)
    # Version 1.3: health_since (when each unhealthy node was first seen so)
    VERSION = "1.3"

    dbapi = dbapi.get_instance()

    DERIVED_FIELDS = ("node_count", "master_count", "node_addresses", "master_addresses")
    #: The cluster's CAs by kind, and the field holding each one's X509KeyPair uuid.
    CA_REF_FIELDS = {"ca": "ca_cert_ref", "etcd": "etcd_ca_cert_ref",
                     "front_proxy": "front_proxy_ca_cert_ref"}

    fields = {
        "id": fields.IntegerField(),
        "uuid": fields.UUIDField(nullable=True),
        "name": fields.StringField(nullable=True),
        "project_id": fields.StringField(nullable=True),
        "user_id": fields.StringField(nullable=True),
        "cluster_template_id": fields.StringField(nullable=True),
        "keypair": fields.StringField(nullable=True),
        "docker_volume_size": fields.IntegerField(nullable=True),
        "labels": fields.DictOfStringsField(nullable=True),
        "master_flavor_id": fields.StringField(nullable=True),
        "flavor_id": fields.StringField(nullable=True),
        "stack_id": fields.StringField(nullable=True),
        "status": fields.ClusterStatusField(nullable=True),
        "status_reason": fields.StringField(nullable=True),
        "health_status": fields.ClusterHealthStatusField(nullable=True),
        "health_status_reason": fields.DictOfStringsField(nullable=True),
        # Node name -> first seen unhealthy (ISO 8601 UTC); the healer's grace. Not in the API.
        "health_since": fields.DictOfStringsField(nullable=True),
        "create_timeout": fields.IntegerField(nullable=True),
        "api_address": fields.StringField(nullable=True),
        "discovery_url": fields.StringField(nullable=True),
        "ca_cert_ref": fields.StringField(nullable=True),
        "magnum_cert_ref": fields.StringField(nullable=True),
        "etcd_ca_cert_ref": fields.StringField(nullable=True),
        "front_proxy_ca_cert_ref": fields.StringField(nullable=True),
        "trust_id": fields.StringField(nullable=True),
        "trustee_username": fields.StringField(nullable=True),
        "trustee_user_id": fields.StringField(nullable=True),
        "trustee_password": fields.StringField(nullable=True),
        "join_token": fields.StringField(nullable=True),
        "coe_version": fields.StringField(nullable=True),
        "container_version": fields.StringField(nullable=True),
        "fixed_network": fields.StringField(nullable=True),
        "fixed_subnet": fields.StringField(nullable=True),
        "floating_ip_enabled": fields.BooleanField(default=True),
        "master_lb_enabled": fields.BooleanField(default=False),
        "driver_id": fields.StringField(nullable=True),
        "driver_version": fields.IntegerField(nullable=True),
        "version": fields.IntegerField(default=0),
        "revision": fields.IntegerField(default=0),
        "operation_uuid": fields.StringField(nullable=True),
        # Derived from the cluster's nodegroups.
        "node_count": fields.IntegerField(nullable=True),
        "master_count": fields.IntegerField(nullable=True),
        "node_addresses": fields.ListOfStringsField(nullable=True),
        "master_addresses": fields.ListOfStringsField(nullable=True),
    }

    def obj_make_compatible(self, primitive: dict, target_version: str) -> None:
        """A 1.1 reader knows no operation_uuid, a 1.2 reader no health_since: drop them."""
        super().obj_make_compatible(primitive, target_version)
        target = versionutils.convert_version_to_tuple(target_version)
        if target < (1, 3):
            primitive.pop("health_since", None)
        if target < (1, 2):
            primitive.pop("operation_uuid", None)

    def _set_derived(self, nodegroups: list[NodeGroup]) -> None:
        self._set_derived_from_sizes([(ng.role, ng.node_count, ng.node_addresses)
                                      for ng in nodegroups])

    def _set_derived_from_sizes(self, sizes: list[tuple]) -> None:
        """The derived fields from each nodegroup's (role, node_count, node_addresses), as
        the NodeGroup objects hold them."""
        masters = [size for size in sizes if size[0] == fields.NodeGroupRole.MASTER]
        workers = [size for size in sizes if size[0] != fields.NodeGroupRole.MASTER]
        self._load_fields({
            "master_count": sum(count or 0 for _, count, _ in masters),
            "node_count": sum(count or 0 for _, count, _ in workers),
            "master_addresses": [a for _, _, addresses in masters for a in (addresses or [])],
            "node_addresses": [a for _, _, addresses in workers for a in (addresses or [])],
        })

    @classmethod
    def _nodegroup_sizes(cls, cluster_ids: list[str]) -> dict[str, list[tuple]]:
        """Each cluster's nodegroups' (role, node_count, node_addresses) as NodeGroup objects
        would hold them, read without making the objects (a cluster's own fields need no
        more): a NULL node_count is the field's default."""
        sizes: dict[str, list[tuple]] = {uuid: [] for uuid in cluster_ids}
        for row in cls.dbapi.list_nodegroup_sizes_of_clusters(cluster_ids):
            sizes[row.cluster_id].append(cls._size(row.role, row.node_count,
                                                   row.node_addresses))
        return sizes

    @staticmethod
    def _size(role: str, node_count: int | None, node_addresses: list | None) -> tuple:
        """A nodegroup's size as its NodeGroup object holds it: NULL node_count is the
        field's default."""
        if node_count is None:
            node_count = NodeGroup.fields["node_count"].default
        return role, node_count, node_addresses

    @classmethod
    def _load(cls, context: Any, row: Any) -> Cluster:
        cluster = cls._from_db_object(context, cls(), row)
        cluster._set_derived_from_sizes(cls._nodegroup_sizes([cluster.uuid])[cluster.uuid])
        return cluster

    @classmethod
    def get(cls, context: Any, ident: str) -> Cluster:
        """By uuid or by name (409 when a name matches several)."""
        if uuidutils.is_uuid_like(ident):
            return cls.get_by_uuid(context, ident)
        return cls._load(context, cls.dbapi.get_cluster_by_name(context, ident))

    @classmethod
    def get_by_uuid(cls, context: Any, uuid: str) -> Cluster:
        return cls.get_with_template_labels(context, uuid)[0]

    @classmethod
    def get_with_template_labels(cls, context: Any, uuid: str) -> tuple[Cluster, dict | None]:
        """The cluster and the labels of its template (None when it has none, or the caller
        may not read it: what ClusterTemplate.get_by_uuid would give), from one read."""
        row, sizes = cls.dbapi.get_cluster_with_nodegroup_sizes(context, uuid)
        cluster = cls._from_db_object(context, cls(), row)
        cluster._set_derived_from_sizes([cls._size(*size) for size in sizes])
        labels = row.template_labels
        if labels is not None:
            labels = ClusterTemplate.fields["labels"].coerce(None, "labels", labels)
        return cluster, labels

    @classmethod
    def list(cls, context: Any, limit: int | None = None, marker: str | None = None,
             sort_key: str | None = None, sort_dir: str | None = None,
             filters: dict | None = None) -> list[Cluster]:
        rows = cls.dbapi.get_cluster_list(context, filters, limit, marker, sort_key, sort_dir)
        clusters = cls._from_db_rows(context, rows)
        sizes = cls._nodegroup_sizes([c.uuid for c in clusters])
        for cluster in clusters:
            cluster._set_derived_from_sizes(sizes[cluster.uuid])
        return clusters

    @classmethod
    def list_in_flight(cls, context: Any, statuses: list[str] | tuple
                       ) -> list[tuple[Cluster, list[NodeGroup], Any]]:
        """Every project's clusters in one of `statuses` or with an operation in flight, with
        their nodegroups and the row of that operation (None without one): two queries in
        all. (The caller makes objects of the operation rows: objects/cluster_operation.py
        builds on this module.)"""
        found = cls.dbapi.list_clusters_in_flight(list(statuses))
        clusters = [(cls._from_db_object(context, cls(), row), op_row) for row, op_row in found]
        by_cluster: dict[str, list[NodeGroup]] = {c.uuid: [] for c, _ in clusters}
        for ng in NodeGroup.list_for_clusters(context, list(by_cluster)):
            by_cluster[ng.cluster_id].append(ng)
        result = []
        for cluster, op_row in clusters:
            cluster._set_derived(by_cluster[cluster.uuid])
            result.append((cluster, by_cluster[cluster.uuid], op_row))
        return result

    @classmethod
    def count(cls, project_id: str) -> int:
        return cls.dbapi.count_clusters(project_id)

    @classmethod
    def stats(cls, context: Any, project_id: str | None = None) -> tuple[int, int]:
        return cls.dbapi.get_cluster_stats(context, project_id)

    def upgraded_labels(self, template: Any) -> dict[str, str]:
        """The labels the cluster has once upgraded to `template`: the template's win (an
        upgrade takes the versions, kube_tag and the like, from its template, as Magnum's
        does), the cluster's other labels stay."""
        return {**(self.labels or {}), **(template.labels or {})}

    def create_with_nodegroups(self, nodegroups: list[dict], context: Any | None = None,
                               **transition: dict | None) -> None:
        """Insert the cluster and its nodegroups (and the rows of its create's
        `transition`, objects/cluster_operation.py) atomically."""
        row = self.dbapi.create_cluster_with_nodegroups(self._db_changes(), nodegroups,
                                                        **transition)
        context = context or self._context
        self._from_db_object(context, self, row)
        self._set_derived(NodeGroup.list_for_clusters(context, [self.uuid]))

    def save(self, context: Any | None = None, **transition: dict | None) -> None:
        """Compare-and-swap write: ConcurrentUpdate if someone wrote the row since we read it.
        The rows of an operation's `transition` are written with it
        (objects/cluster_operation.py)."""
        row = self.dbapi.update_cluster(self.uuid, self._db_changes(),
                                        expected_revision=self.revision, **transition)
        self._from_db_object(context or self._context, self, row)

    def destroy(self, context: Any | None = None, expected_revision: int | None = None,
                **transition: dict | None) -> None:
        """Delete the rows of the cluster (if still at `expected_revision`) with the rows of
        its delete's end (objects/cluster_operation.py)."""
        self.dbapi.destroy_cluster(self.uuid, expected_revision, **transition)
        self.obj_reset_changes()

    @classmethod
    def update_with_retry(cls, context: Any, uuid: str,
                          mutate: Callable[[Cluster], None]) -> Cluster:
        """For internal writers: re-read, apply `mutate`, save; retry when the write races."""
        for _attempt in range(INTERNAL_WRITE_ATTEMPTS):
            cluster = cls.get_by_uuid(context, uuid)
            mutate(cluster)
            try:
                cluster.save()
                return cluster
            except exception.ConcurrentUpdate:
                continue
        raise exception.ConcurrentUpdate(resource="Cluster", uuid=uuid)

    @classmethod
    def set_health(cls, uuid: str, status: str, reason: dict, event: dict | None = None,
                   since: dict | None = None) -> bool:
        """Record a health finding (with its `event`, and `since`: when each unhealthy node
        was first seen so) on a cluster in a *_COMPLETE status (or UPDATE_FAILED) with no
        operation in flight,
        without a new revision or version; False when it is gone or in an operation (its
        operation judges it)."""
        return cls.dbapi.update_cluster_health(uuid, status, reason, event, since)

    def event_values(self, context: Any, event_type: str) -> dict:
        """The row of an event with the cluster's status as set on this object."""
        return {"cluster_id": self.uuid, "cluster_version": self.version,
                "event_type": event_type, "status": self.status,
                "status_reason": self.status_reason, "project_id": self.project_id,
                "user_id": getattr(context, "user_id", None) or self.user_id,
                "request_id": getattr(context, "request_id", None)}

    def record_event(self, context: Any, event_type: str) -> ClusterEvent:
        """Append the cluster's current status to its history, tagged with `event_type`."""
        event = ClusterEvent(context, **self.event_values(context, event_type))
        event.create()
        return event
