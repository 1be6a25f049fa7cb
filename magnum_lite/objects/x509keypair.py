"""X509KeyPair: a certificate and its private key (CA or client) belonging to a cluster."""

from __future__ import annotations

from typing import Any

from magnum_lite.db import api as dbapi
from magnum_lite.objects import base, fields


@base.MagnumLiteObjectRegistry.register
class X509KeyPair(base.MagnumLitePersistentObject, base.MagnumLiteObject):
    # Version 1.0: Initial version
    VERSION = "1.0"

    dbapi = dbapi.get_instance()

    fields = {
        "id": fields.IntegerField(),
        "uuid": fields.UUIDField(nullable=True),
        "name": fields.StringField(nullable=True),
        "cluster_id": fields.StringField(nullable=True),
        "kind": fields.StringField(nullable=True),
        "certificate": fields.StringField(nullable=True),
        "private_key": fields.StringField(nullable=True),
        "private_key_passphrase": fields.StringField(nullable=True),
        "intermediates": fields.StringField(nullable=True),
        "project_id": fields.StringField(nullable=True),
        "user_id": fields.StringField(nullable=True),
    }


    @classmethod
    def get_by_uuid(cls, context: Any, uuid: str) -> X509KeyPair:
        return cls._from_db_object(context, cls(), cls.dbapi.get_x509keypair_by_uuid(context,
                                                                                      uuid))

    def create(self, context: Any | None = None) -> None:
        row = self.dbapi.create_x509keypair(self.obj_get_changes())
        self._from_db_object(context or self._context, self, row)

    def destroy(self, context: Any | None = None) -> None:
        self.dbapi.destroy_x509keypair(self.uuid)
        self.obj_reset_changes()
