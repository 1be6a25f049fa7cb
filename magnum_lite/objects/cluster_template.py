"""ClusterTemplate: how clusters of one kind are built (COE, image, flavors, network)."""

from __future__ import annotations

from typing import Any

from oslo_utils import uuidutils

from magnum_lite.db import api as dbapi
from magnum_lite.objects import base, fields


@base.MagnumLiteObjectRegistry.register
class ClusterTemplate(base.MagnumLitePersistentObject, base.MagnumLiteObject):
    # Version 1.0: Initial version
    VERSION = "1.0"

    dbapi = dbapi.get_instance()

    fields = {
        "id": fields.IntegerField(),
        "uuid": fields.UUIDField(nullable=True),
        "project_id": fields.StringField(nullable=True),
        "user_id": fields.StringField(nullable=True),
        "name": fields.StringField(nullable=True),
        "image_id": fields.StringField(nullable=True),
        "flavor_id": fields.StringField(nullable=True),
        "master_flavor_id": fields.StringField(nullable=True),
        "keypair_id": fields.StringField(nullable=True),
        "dns_nameserver": fields.StringField(nullable=True),
        "external_network_id": fields.StringField(nullable=True),
        "fixed_network": fields.StringField(nullable=True),
        "fixed_subnet": fields.StringField(nullable=True),
        "network_driver": fields.StringField(nullable=True),
        "volume_driver": fields.StringField(nullable=True),
        "apiserver_port": fields.IntegerField(nullable=True),
        "docker_volume_size": fields.IntegerField(nullable=True),
        "docker_storage_driver": fields.StringField(nullable=True),
        "cluster_distro": fields.StringField(nullable=True),
        "coe": fields.ClusterTypeField(nullable=True),
        "http_proxy": fields.StringField(nullable=True),
        "https_proxy": fields.StringField(nullable=True),
        "no_proxy": fields.StringField(nullable=True),
        "registry_enabled": fields.BooleanField(default=False),
        "labels": fields.DictOfStringsField(nullable=True),
        "tls_disabled": fields.BooleanField(default=False),
        "public": fields.BooleanField(default=False),
        "server_type": fields.StringField(nullable=True),
        "insecure_registry": fields.StringField(nullable=True),
        "master_lb_enabled": fields.BooleanField(default=False),
        "floating_ip_enabled": fields.BooleanField(default=True),
        "hidden": fields.BooleanField(default=False),
        "tags": fields.StringField(nullable=True),
        "driver": fields.StringField(nullable=True),
    }

    @classmethod
    def get(cls, context: Any, ident: str) -> ClusterTemplate:
        """By uuid or by name (409 when a name matches several)."""
        if uuidutils.is_uuid_like(ident):
            return cls.get_by_uuid(context, ident)
        return cls.get_by_name(context, ident)

    @classmethod
    def get_by_uuid(cls, context: Any, uuid: str) -> ClusterTemplate:
        return cls._from_db_object(context, cls(), cls.dbapi.get_cluster_template_by_uuid(
            context, uuid))

    @classmethod
    def get_by_name(cls, context: Any, name: str) -> ClusterTemplate:
        return cls._from_db_object(context, cls(), cls.dbapi.get_cluster_template_by_name(
            context, name))

    @classmethod
    def list(cls, context: Any, limit: int | None = None, marker: str | None = None,
             sort_key: str | None = None, sort_dir: str | None = None,
             filters: dict | None = None) -> list[ClusterTemplate]:
        rows = cls.dbapi.get_cluster_template_list(context, filters, limit, marker, sort_key,
                                                   sort_dir)
        return cls._from_db_rows(context, rows)

    def create(self, context: Any | None = None) -> None:
        row = self.dbapi.create_cluster_template(self.obj_get_changes())
        self._from_db_object(context or self._context, self, row)

    def save(self, context: Any | None = None) -> None:
        row = self.dbapi.update_cluster_template(self.uuid, self.obj_get_changes())
        self._from_db_object(context or self._context, self, row)

    def destroy(self, context: Any | None = None) -> None:
        self.dbapi.destroy_cluster_template(self.uuid)
        self.obj_reset_changes()
