"""/v1/drivers: operator-published drivers, one immutable row per version (DESIGN.md §6).

A driver is a plugin plus its config. Versions of one driver share its name; each has its own
uuid. PATCH never changes a row: it adds the next version, so a cluster pinned to a version keeps
exactly the config it was built with. DELETE soft-deletes: the rows leave lists and name lookups
but stay readable by uuid, for the history of the clusters that used them.

The resource exists from microversion 1.15; older requests get the 404 of an unknown resource.
Drivers are few, so lists are not paginated.
"""

from __future__ import annotations

from typing import Any

import pecan
import webob.exc
import wsme
from wsme import types as wtypes

from magnum_lite import objects
from magnum_lite.api import versions as microversions
from magnum_lite.api.controllers import base, link
from magnum_lite.api.controllers.v1 import patch, types
from magnum_lite.common import driver_factory, exception, policy

RESOURCE = "drivers"
MIN_VERSION = "1.15"

# Names appear in URLs next to uuids: URL-safe, and never shaped like a uuid.
NAME_PATTERN = "^[a-zA-Z0-9][a-zA-Z0-9_.-]*$"


class Driver(base.APIBase):
    """One version of a driver. `config` (a JSON object) is handled apart: WSME cannot type it."""

    uuid = wsme.wsattr(types.uuid, readonly=True)
    """The unique id of this version."""

    name = wsme.wsattr(wtypes.StringType(min_length=1, max_length=255, pattern=NAME_PATTERN),
                       mandatory=True)
    """The name every version of the driver shares."""

    version = wsme.wsattr(int, readonly=True)
    """The number of this version: 1, 2, ... per name."""

    public = wsme.wsattr(types.boolean, default=True)
    """Whether every project may use the driver (otherwise only the creator's project)."""

    plugin_name = wsme.wsattr(wtypes.StringType(min_length=1, max_length=255), mandatory=True)
    """The installed plugin (entry point in magnum_lite.drivers) that does the work."""

    enabled = wsme.wsattr(types.boolean, default=True)
    """Whether new clusters may be pinned to the driver."""

    cluster_count = wsme.wsattr(int, readonly=True)
    """The number of clusters pinned to this version."""

    latest_version = wsme.wsattr(int, readonly=True)
    """The newest version of the driver that is not deleted (null when all are)."""

    links = wsme.wsattr([link.Link], readonly=True)
    """The self and bookmark links of this version."""


_ROW_FIELDS = ("uuid", "name", "version", "public", "plugin_name", "config", "enabled",
               "created_at", "updated_at")
# What a PATCH may change; everything else shown is read-only (plugin_name is immutable).
_PATCHABLE = ("config", "public", "enabled")
_READ_ONLY = frozenset({"uuid", "name", "version", "plugin_name", "cluster_count",
                        "latest_version", "links", "created_at", "updated_at", "project_id",
                        "user_id"})


def _require_version() -> None:
    """Below 1.15 the resource does not exist: the 404 routing gives an unknown resource."""
    if not microversions.at_least(MIN_VERSION):
        raise webob.exc.HTTPNotFound()


def _is_visible(context: Any, driver: objects.Driver) -> bool:
    return (driver.public or driver.project_id == context.project_id
            or policy.check_is_admin(context))


def _target(context: Any, driver: objects.Driver) -> dict:
    # A public driver is readable by every project: check the caller's role in its own.
    project = context.project_id if driver.public else driver.project_id
    return {"project_id": project, "user_id": driver.user_id}


def _lookup(context: Any, ident: str) -> objects.Driver:
    """A uuid is one exact version (deleted ones too); a name its latest version.

    What the caller may not see is a 404, as if it did not exist.
    """
    if types.uuid_like(ident):
        driver = objects.Driver.get_by_uuid(context, ident)
    else:
        driver = objects.Driver.get_latest(context, ident)
    if not _is_visible(context, driver):
        raise exception.DriverNotFound(driver=ident)
    return driver


def _latest_version(context: Any, name: str) -> int | None:
    rows = objects.Driver.list(context, name=name)
    return max((row.version for row in rows), default=None)


def convert(drivers: list[objects.Driver], latest_version: dict[str, int | None]) -> list[dict]:
    """The API documents of `drivers`; `latest_version` maps each name to its newest version."""
    counts = objects.Driver.cluster_counts(drivers)
    url = link.base_url()
    documents = []
    for driver in drivers:
        document = base.to_dict(driver, _ROW_FIELDS)
        document["cluster_count"] = counts.get(driver.uuid, 0)
        document["latest_version"] = latest_version.get(driver.name)
        document["links"] = link.self_and_bookmark(RESOURCE, driver.uuid, url)
        documents.append(document)
    return documents


def _plugin(name: str) -> type[driver_factory.Plugin]:
    plugin = driver_factory.get_plugin(name)
    if plugin is None:
        installed = ", ".join(sorted(driver_factory.list_plugins())) or "none"
        raise types.invalid("plugin_name", f"no installed driver plugin is named "
                                           f"{types.quote(name)} (installed: {installed}).")
    return plugin


def _checked_config(plugin: type[driver_factory.Plugin], config: Any) -> dict:
    """The config to store: the plugin's default when absent, else what the plugin accepts."""
    if config is None:
        return plugin.get_default_config()
    if not isinstance(config, dict):
        raise types.invalid("config", f"must be a JSON object, got {types.quote(config)}.")
    try:
        plugin.validate_config(config)
    except (exception.Invalid, ValueError, TypeError) as err:
        raise types.invalid("config", str(err)) from err
    return config


class DriverVersionsController(base.RestController):
    """/v1/drivers/{name}/versions: every live version of one driver, oldest first."""

    @base.expose()
    def get_all(self, ident: str) -> dict:
        _require_version()
        context = base.context()
        latest = _lookup(context, ident)
        policy.authorize(context, "driver:get", _target(context, latest))
        rows = [row for row in objects.Driver.list(context, name=latest.name)
                if _is_visible(context, row)]
        return {"drivers": convert(rows, {latest.name: _latest_version(context, latest.name)})}


class DriversController(base.RestController):
    """GET, POST, PATCH and DELETE of drivers."""

    _item_children = frozenset({"versions"})

    versions = DriverVersionsController()

    @base.expose()
    def get_all(self) -> dict:
        """The latest version of every driver the caller may see."""
        _require_version()
        context = base.context()
        policy.authorize(context, "driver:get_all")
        latest: dict[str, objects.Driver] = {}
        for row in objects.Driver.list(context):  # ordered by name, then version
            latest[row.name] = row
        visible = [row for row in latest.values() if _is_visible(context, row)]
        return {"drivers": convert(visible, {row.name: row.version for row in visible})}

    @base.expose()
    def get_one(self, ident: str) -> dict:
        """A name: its latest version; a uuid: that exact version, even deleted."""
        _require_version()
        context = base.context()
        driver = _lookup(context, ident)
        policy.authorize(context, "driver:get", _target(context, driver))
        return convert([driver], {driver.name: _latest_version(context, driver.name)})[0]

    @base.expose(status=201)
    def post(self) -> dict:
        """Create version 1 of a new driver; 201. 409 when the name is or was in use."""
        _require_version()
        context = base.context()
        policy.authorize(context, "driver:create")
        data = base.request_json()
        if not isinstance(data, dict):
            raise exception.InvalidParameterValue(
                err=f"The request body must be a JSON object, got {type(data).__name__}.")
        data = dict(data)
        config = data.pop("config", None)
        values = types.parse_object(Driver, data)
        if types.uuid_like(values["name"]):
            raise types.invalid("name", "must not look like a uuid (uuids name versions).")
        plugin = _plugin(values["plugin_name"])
        values["config"] = _checked_config(plugin, config)
        driver = objects.Driver(context, project_id=context.project_id,
                                user_id=context.user_id, **values)
        driver.create_first()
        pecan.response.location = link.build_url(RESOURCE, driver.uuid)
        return convert([driver], {driver.name: driver.version})[0]

    @base.expose()
    def patch(self, ident: str) -> dict:
        """Publish the next version: the latest one with a JSON patch on config/public/enabled.

        Old versions never change. A patch that changes nothing adds no version. The driver
        is looked up (404) and the policy checked (403) before the request is judged.
        """
        _require_version()
        context = base.context()
        latest = _lookup(context, ident)
        policy.authorize(context, "driver:update", _target(context, latest))
        if types.uuid_like(ident):
            raise types.invalid("driver", "versions never change: patch the driver by name "
                                          "to publish a new version.")
        operations = patch.parse(base.request_json())

        # Read-only fields are in the document so that patching one says so by name.
        current = {**dict.fromkeys(_READ_ONLY),
                   **{name: getattr(latest, name) for name in _PATCHABLE}}
        patched = patch.apply(current, operations, read_only=_READ_ONLY,
                              nested=frozenset({"config"}))
        values: dict[str, Any] = {}
        for name in ("public", "enabled"):
            if patched[name] is None:
                raise types.invalid(name, "cannot be removed.")
            values[name] = types.check_bool(name, patched[name])
        values["config"] = _checked_config(_plugin(latest.plugin_name), patched["config"])
        if all(values[name] == current[name] for name in _PATCHABLE):
            return convert([latest], {latest.name: latest.version})[0]
        driver = objects.Driver(context, name=latest.name, plugin_name=latest.plugin_name,
                                project_id=latest.project_id, user_id=context.user_id,
                                **values)
        driver.create()
        return convert([driver], {driver.name: driver.version})[0]

    @base.expose(status=204)
    def delete(self, ident: str) -> None:
        """A name: every live version; a uuid: that version. 409 while a cluster uses one."""
        _require_version()
        context = base.context()
        driver = _lookup(context, ident)
        policy.authorize(context, "driver:delete", _target(context, driver))
        if types.uuid_like(ident):
            if driver.deleted_at is not None:
                raise exception.DriverNotFound(driver=ident)
            rows = [driver]
        else:
            rows = objects.Driver.list(context, name=driver.name)
        objects.Driver.soft_delete(rows)
