"""Driver: one version of an operator-published driver (a plugin plus its config)."""

from __future__ import annotations

from typing import Any

from oslo_log import log as logging

from magnum_lite.common import driver_factory, exception
from magnum_lite.db import api as dbapi
from magnum_lite.objects import base, fields

LOG = logging.getLogger(__name__)


@base.MagnumLiteObjectRegistry.register
class Driver(base.MagnumLitePersistentObject, base.MagnumLiteObject):
    # Version 1.0: Initial version
    VERSION = "1.0"

    dbapi = dbapi.get_instance()

    fields = {
        "id": fields.IntegerField(),
        "uuid": fields.UUIDField(nullable=True),
        "name": fields.StringField(),
        "version": fields.IntegerField(nullable=True),
        "public": fields.BooleanField(default=True),
        "plugin_name": fields.StringField(),
        "config": fields.JsonField(nullable=True),
        "enabled": fields.BooleanField(default=True),
        "project_id": fields.StringField(nullable=True),
        "user_id": fields.StringField(nullable=True),
        "deleted_at": fields.DateTimeField(nullable=True),
    }

    @classmethod
    def get_by_uuid(cls, context: Any, uuid: str) -> Driver:
        return cls._from_db_object(context, cls(), cls.dbapi.get_driver_by_uuid(uuid))

    @classmethod
    def get_latest(cls, context: Any, name: str, enabled_only: bool = False) -> Driver:
        return cls._from_db_object(context, cls(),
                                   cls.dbapi.get_latest_driver(name, enabled_only))

    @classmethod
    def list(cls, context: Any, name: str | None = None,
             include_deleted: bool = False) -> list[Driver]:
        return cls._from_db_rows(context, cls.dbapi.list_drivers(include_deleted, name))

    def create(self, context: Any | None = None) -> None:
        """Insert as the next version of `name`."""
        row = self.dbapi.create_driver(self.obj_get_changes())
        self._from_db_object(context or self._context, self, row)

    def create_first(self, context: Any | None = None) -> None:
        """Insert as version 1 of a new name; DriverExists when the name has rows.

        Atomic (the unique (name, version) key decides between concurrent callers), and a
        deleted driver keeps its name: its rows are history that clusters may point to.
        """
        row = self.dbapi.create_first_driver_version(self.obj_get_changes())
        if row is None:
            raise exception.DriverExists(name=self.name)
        self._from_db_object(context or self._context, self, row)

    @classmethod
    def cluster_counts(cls, drivers: list[Driver]) -> dict[str, int]:
        """Row uuid -> number of clusters pinned to that version (one query for all rows)."""
        return cls.dbapi.count_clusters_by_driver([d.uuid for d in drivers])

    @classmethod
    def soft_delete(cls, drivers: list[Driver]) -> None:
        """Hide the rows (kept for history, readable by uuid); DriverInUse while in use."""
        cls.dbapi.soft_delete_drivers([d.uuid for d in drivers])

    @classmethod
    def ensure_defaults(cls, context: Any) -> list[Driver]:
        """Give every installed plugin its default driver; the ones created now are returned.

        The default is named after the plugin's entry point: version 1, public, the plugin's
        default config. A name that has rows (even deleted ones) is left alone, so running this
        at every start is harmless and an operator's deletion sticks.
        """
        created = []
        for name, plugin in sorted(driver_factory.list_plugins().items()):
            driver = cls(context, name=name, plugin_name=name, public=True, enabled=True,
                         config=plugin.get_default_config())
            try:
                driver.create_first()
            except exception.DriverExists:
                continue
            created.append(driver)
        return created

    @staticmethod
    def provided_triples() -> list[tuple[str, str, str]]:
        """Every (server_type, os, coe) some installed plugin builds clusters for."""
        return sorted({tuple(triple) for plugin in driver_factory.list_plugins().values()
                       for triple in plugin.provides})

    @classmethod
    def for_template(cls, context: Any, template: Any) -> Driver | None:
        """The version a new cluster of `template` is pinned to: the latest enabled one.

        A template naming a driver gets that driver (DriverNotFound when it has no enabled
        version the caller's project may use). A template without one gets the default driver
        of the plugin providing its (server_type, cluster_distro, coe); None when there is no
        such plugin or its default is gone or disabled - the conductor then decides by plugin.
        """
        if template.driver:
            driver = cls.get_latest(context, template.driver, enabled_only=True)
            if not driver.public and driver.project_id != context.project_id \
                    and not context.is_admin:
                raise exception.DriverNotFound(driver=template.driver)
            return driver
        name, _plugin, _config = driver_factory.plugin_for(None, template)
        if name is None:
            return None
        try:
            return cls.get_latest(context, name, enabled_only=True)
        except exception.DriverNotFound:
            return None


def seed_default_drivers() -> list[Driver]:
    """Database setup's last step (manage db upgrade, magnum-lite-all start): the defaults."""
    from magnum_lite.common import context

    created = Driver.ensure_defaults(context.get_admin_context())
    for driver in created:
        LOG.info("Created the default driver %s (plugin %s)", driver.name, driver.plugin_name)
    return created
