"""The two public documents: `/` (the API versions) and `/v1/` (the v1 resources).

Both are Magnum's, field for field, and need no authentication. Paths without a version
(`/clusters`) are served as v1 paths, as Magnum does, for catalogs whose endpoint lacks `/v1`.
"""

from __future__ import annotations

from typing import Any

import pecan
import wsme
from wsme import types as wtypes

from magnum_lite.api import versions
from magnum_lite.api.controllers import base, link
from magnum_lite.api.controllers.v1 import (
    certificates,
    cluster_events,
    clusters,
    clustertemplates,
    credentials,
    drivers,
    mservices,
    nodegroups,
    quotas,
    stats,
)

DESCRIPTION = "Magnum is an OpenStack project which aims to provide container cluster management."


class Version(wtypes.Base):
    """A major version of the API."""

    id = wtypes.text
    """The version: v1."""

    links = [link.Link]
    """The link to the version's document."""

    status = wtypes.text
    """CURRENT, SUPPORTED or DEPRECATED."""

    max_version = wtypes.text
    """The newest microversion."""

    min_version = wtypes.text
    """The oldest microversion."""


class Root(wtypes.Base):
    """The document at `/`."""

    name = wtypes.text
    """The name of the API."""

    description = wtypes.text
    """What the API is for."""

    versions = [Version]
    """The major versions of the API."""


class MediaType(wtypes.Base):
    """A media type the API speaks."""

    base = wtypes.text
    """The base media type."""

    type = wtypes.text
    """The versioned media type."""


class V1(wtypes.Base):
    """The document at `/v1/`: links to the resources of version 1."""

    id = wtypes.text
    """The version: v1."""

    media_types = [MediaType]
    """The media types of version 1."""

    links = wsme.wsattr([link.Link], readonly=True)
    """The version's own link and its documentation."""

    clustertemplates = [link.Link]
    """Links to the cluster templates."""

    clusters = [link.Link]
    """Links to the clusters."""

    quotas = [link.Link]
    """Links to the quotas."""

    certificates = [link.Link]
    """Links to the certificates."""

    mservices = [link.Link]
    """Links to the magnum services."""

    stats = [link.Link]
    """Links to the stats."""

    nodegroups = [link.Link]
    """Links to the nodegroups of a cluster."""


# The resources /v1/ links to, with the path of their collection.
_V1_RESOURCES = (("clustertemplates", "clustertemplates", ""), ("clusters", "clusters", ""),
                 ("quotas", "quotas", ""), ("certificates", "certificates", ""),
                 ("mservices", "mservices", ""), ("stats", "stats", ""),
                 ("nodegroups", "clusters/{cluster_id}", "nodegroups"))


def root_document() -> dict:
    url = link.base_url()
    return {
        "name": "OpenStack Magnum API",
        "description": DESCRIPTION,
        "versions": [{
            "id": "v1",
            "links": [link.make_link("self", "v1", bookmark=True, base=url)],
            "status": "CURRENT",
            "max_version": str(versions.MAX_VERSION),
            "min_version": str(versions.MIN_VERSION),
        }],
    }


def v1_document() -> dict:
    url = link.base_url()
    document: dict[str, Any] = {
        "id": "v1",
        "links": [
            link.make_link("self", "v1", bookmark=True, base=url),
            link.make_link("describedby", "developer/magnum/dev", "api-spec-v1.html",
                           bookmark=True, base="http://docs.openstack.org",
                           media_type="text/html"),
        ],
        "media_types": [{"base": "application/json",
                         "type": "application/vnd.openstack.magnum.v1+json"}],
    }
    for key, resource, args in _V1_RESOURCES:
        document[key] = [link.make_link("self", resource, args, base=url),
                         link.make_link("bookmark", resource, args, bookmark=True, base=url)]
    return document


class V1Controller(base.RestController):
    """/v1/ and the v1 resources."""

    clustertemplates = clustertemplates.ClusterTemplatesController()
    clusters = clusters.ClustersController(nodegroups=nodegroups.NodeGroupsController(),
                                           events=cluster_events.ClusterEventsController())
    drivers = drivers.DriversController()
    mservices = mservices.MagnumServiceController()
    stats = stats.StatsController()
    quotas = quotas.QuotaController()
    certificates = certificates.CertificatesController()
    credentials = credentials.CredentialsController()

    @base.expose()
    def get(self) -> dict:
        return v1_document()


class RootController(base.RestController):
    """/ and, below it, the versions."""

    _versions = ("v1",)
    _default_version = "v1"

    v1 = V1Controller()

    @base.expose()
    def get(self) -> dict:
        return root_document()

    @pecan.expose()
    def _route(self, args: list[str], request: Any = None) -> Any:
        if args and args[0] and args[0] not in self._versions:
            args = [self._default_version, *args]
        return super()._route(args, request)
