"""NodeGroup: a set of nodes of one role and flavor inside a cluster."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from oslo_utils import uuidutils, versionutils

from magnum_lite.common import exception
from magnum_lite.db import api as dbapi
from magnum_lite.objects import base, fields


@base.MagnumLiteObjectRegistry.register
class NodeGroup(base.MagnumLitePersistentObject, base.MagnumLiteObject):
    # Version 1.0: Initial version
    # Version 1.1: availability_zone and server_type (None: Nova's zone, the template's type)
    VERSION = "1.1"

    # How often an internal writer re-reads and retries a compare-and-swap that lost a race.
    INTERNAL_WRITE_ATTEMPTS = 10

    dbapi = dbapi.get_instance()

    fields = {
        "id": fields.IntegerField(),
        "uuid": fields.UUIDField(),
        "name": fields.StringField(),
        "cluster_id": fields.StringField(),
        "project_id": fields.StringField(),
        "docker_volume_size": fields.IntegerField(nullable=True),
        "labels": fields.DictOfStringsField(nullable=True),
        "flavor_id": fields.StringField(nullable=True),
        "image_id": fields.StringField(nullable=True),
        "node_addresses": fields.ListOfStringsField(nullable=True),
        "node_count": fields.IntegerField(nullable=False, default=1),
        "role": fields.StringField(),
        "max_node_count": fields.IntegerField(nullable=True),
        "min_node_count": fields.IntegerField(nullable=False, default=0),
        "is_default": fields.BooleanField(default=False),
        "stack_id": fields.StringField(nullable=True),
        "status": fields.ClusterStatusField(nullable=True),
        "status_reason": fields.StringField(nullable=True),
        "version": fields.StringField(nullable=True),
        "node_labels": fields.DictOfStringsField(nullable=True),
        "node_taints": fields.ListOfStringsField(nullable=True),
        "availability_zone": fields.StringField(nullable=True),
        "server_type": fields.StringField(nullable=True),
        "revision": fields.IntegerField(default=0),
    }

    def obj_make_compatible(self, primitive: dict, target_version: str) -> None:
        """A 1.0 reader knows no placement fields: drop them."""
        super().obj_make_compatible(primitive, target_version)
        if versionutils.convert_version_to_tuple(target_version) < (1, 1):
            primitive.pop("availability_zone", None)
            primitive.pop("server_type", None)

    @classmethod
    def get(cls, context: Any, cluster_id: str, ident: str) -> NodeGroup:
        if uuidutils.is_uuid_like(ident):
            row = cls.dbapi.get_nodegroup_by_uuid(context, cluster_id, ident)
        else:
            row = cls.dbapi.get_nodegroup_by_name(context, cluster_id, ident)
        return cls._from_db_object(context, cls(), row)

    @classmethod
    def list(cls, context: Any, cluster_id: str, limit: int | None = None,
             marker: str | None = None, sort_key: str | None = None,
             sort_dir: str | None = None, filters: dict | None = None) -> list[NodeGroup]:
        rows = cls.dbapi.list_cluster_nodegroups(context, cluster_id, filters, limit, marker,
                                                 sort_key, sort_dir)
        return cls._from_db_rows(context, rows)

    @classmethod
    def list_for_clusters(cls, context: Any, cluster_ids: list[str]) -> list[NodeGroup]:
        return cls._from_db_rows(context, cls.dbapi.list_nodegroups_of_clusters(cluster_ids))

    def create(self, context: Any | None = None) -> None:
        row = self.dbapi.create_nodegroup(self.obj_get_changes())
        self._from_db_object(context or self._context, self, row)

    def save(self, context: Any | None = None) -> None:
        """Compare-and-swap write: ConcurrentUpdate if someone wrote the row since we read it."""
        row = self.dbapi.update_nodegroup(self.uuid, self.obj_get_changes(),
                                          expected_revision=self.revision)
        self._from_db_object(context or self._context, self, row)

    def destroy(self, context: Any | None = None) -> None:
        self.dbapi.destroy_nodegroup(self.uuid)
        self.obj_reset_changes()

    @classmethod
    def update_with_retry(cls, context: Any, cluster_id: str, uuid: str,
                          mutate: Callable[[NodeGroup], None]) -> NodeGroup:
        """For internal writers: re-read, apply `mutate`, save; retry when the write races."""
        for _attempt in range(cls.INTERNAL_WRITE_ATTEMPTS):
            nodegroup = cls.get(context, cluster_id, uuid)
            mutate(nodegroup)
            if not nodegroup.obj_what_changed():
                return nodegroup
            try:
                nodegroup.save()
                return nodegroup
            except exception.ConcurrentUpdate:
                continue
        raise exception.ConcurrentUpdate(resource="Nodegroup", uuid=uuid)
