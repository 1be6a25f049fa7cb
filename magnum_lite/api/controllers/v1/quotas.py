"""/v1/quotas (1.6+): a project's hard limit on a resource (clusters).

Everyone reads their own project's quotas; administrators set them and read everyone's. A
project without a quota row has the configured default ([quotas] max_clusters_per_project).
"""

from __future__ import annotations

from typing import Any

import wsme
from wsme import types as wtypes

from magnum_lite import objects
from magnum_lite.api.controllers import base
from magnum_lite.api.controllers.v1 import collection, types
from magnum_lite.common import exception, policy
from magnum_lite.conf import CONF
from magnum_lite.objects import fields

RESOURCE = "quotas"
_RESOURCE_NAMES = wtypes.Enum(str, *fields.QuotaResourceName.ALL)
_HARD_LIMIT = wtypes.IntegerType(minimum=-1, maximum=types.MAX_INT)


class Quota(base.APIBase):
    """A project's hard limit on one resource."""

    id = wsme.wsattr(int, readonly=True)
    """The id of the quota (the marker of quota lists)."""

    project_id = wsme.wsattr(wtypes.StringType(min_length=1, max_length=255), mandatory=True)
    """The project the limit applies to."""

    resource = wsme.wsattr(_RESOURCE_NAMES, default=fields.QuotaResourceName.CLUSTER)
    """The limited resource: Cluster."""

    hard_limit = wsme.wsattr(_HARD_LIMIT, default=1)
    """How many the project may have; -1 for no limit."""


class QuotaUpdate(wtypes.Base):
    """The body of a quota update: the new limit (project and resource are in the URL)."""

    project_id = wtypes.StringType(min_length=1, max_length=255)
    """The project (must be the one in the URL when given)."""

    resource = _RESOURCE_NAMES
    """The resource (must be the one in the URL when given)."""

    hard_limit = wsme.wsattr(_HARD_LIMIT, mandatory=True)
    """How many the project may have; -1 for no limit."""


_FIELDS = ("id", "project_id", "resource", "hard_limit", "created_at", "updated_at")
SORT_KEYS = ("id", "project_id", "resource", "hard_limit", "created_at", "updated_at")


def _path(project_id: str, resource: str) -> tuple[str, str]:
    types.check_text("project_id", project_id, min_length=1, max_length=255)
    types.check_value("resource", _RESOURCE_NAMES, resource)
    return project_id, resource


class QuotaController(base.RestController):
    """GET, POST, PATCH and DELETE of quotas."""

    @base.expose()
    def get_all(self) -> dict:
        """The caller's project's quotas; with all_tenants=true an admin gets every one."""
        context = base.context()
        policy.authorize(context, "quota:get_all")
        all_tenants = collection.query_param("all_tenants")
        all_tenants = all_tenants is not None and types.check_bool("all_tenants", all_tenants)
        filters: dict[str, Any] = {"project_id": context.project_id}
        if (all_tenants and context.is_admin
                and policy.authorize(context, "quota:get_all_all_projects", do_raise=False)):
            context.all_projects = True
            filters = {}
        page = collection.page(SORT_KEYS, marker_kind="id")
        quotas = objects.Quota.list(context, page.limit, page.marker, page.sort_key,
                                    page.sort_dir, filters=filters)
        document: dict[str, Any] = {"quotas": [base.to_dict(q, _FIELDS) for q in quotas]}
        extra = {"all_tenants": "True"} if not filters else None
        next_url = collection.next_link(RESOURCE, quotas, page, marker_field="id", extra=extra)
        if next_url:
            document["next"] = next_url
        return document

    @base.expose()
    def get_one(self, project_id: str, resource: str) -> dict:
        """A project's quota for a resource (the default when none is set)."""
        context = base.context()
        policy.authorize(context, "quota:get")
        project_id, resource = _path(project_id, resource)
        if not context.is_admin and project_id != context.project_id:
            raise exception.NotAuthorized(
                "project_id: only administrators may see the quotas of another project.")
        try:
            return base.to_dict(objects.Quota.get(context, project_id, resource), _FIELDS)
        except exception.QuotaNotFound:
            return {"id": None, "project_id": project_id, "resource": resource,
                    "hard_limit": CONF.quotas.max_clusters_per_project,
                    "created_at": None, "updated_at": None}

    @base.expose(status=201)
    def post(self) -> dict:
        """Set a project's quota; 201 with the quota (409 when it is set already)."""
        context = base.context()
        policy.authorize(context, "quota:create")
        values = types.parse_object(Quota, base.request_json())
        quota = objects.Quota(context, **values)
        quota.create()
        return base.to_dict(quota, _FIELDS)

    @base.expose(status=202)
    def patch(self, project_id: str, resource: str) -> dict:
        """Change a project's quota; 202 with the quota (404 when none is set). The policy is
        checked and the quota looked up before the body is read."""
        context = base.context()
        policy.authorize(context, "quota:update")
        project_id, resource = _path(project_id, resource)
        quota = objects.Quota.get(context, project_id, resource)
        values = types.parse_object(QuotaUpdate, base.request_json())
        for name, in_url in (("project_id", project_id), ("resource", resource)):
            if values.get(name) not in (None, in_url):
                raise types.invalid(name, f"{types.quote(values[name])} differs from the URL's "
                                          f"{types.quote(in_url)}.")
        quota.hard_limit = values["hard_limit"]
        quota.save()
        return base.to_dict(quota, _FIELDS)

    @base.expose(status=204)
    def delete(self, project_id: str, resource: str) -> None:
        """Remove a project's quota (the default applies again); 204."""
        context = base.context()
        policy.authorize(context, "quota:delete")
        project_id, resource = _path(project_id, resource)
        objects.Quota(context, project_id=project_id, resource=resource).destroy()
