"""API microversions: the `OpenStack-API-Version: container-infra X.Y` header.

REST API version history (Magnum's; a version is added here, and in MAX_VERSION, with a one-line
description whenever the API changes):

    * 1.1  - Initial version
    * 1.2  - Async cluster create, update and delete
    * 1.3  - `rollback` on cluster update
    * 1.4  - Stats API
    * 1.5  - Cluster CA certificate rotation
    * 1.6  - Quotas API
    * 1.7  - Cluster resize action
    * 1.8  - Cluster upgrade action
    * 1.9  - Nodegroups API
    * 1.10 - Nodegroups (and clusters) with zero nodes
    * 1.11 - Bay and baymodel resources removed
    * 1.12 - Credentials rotation
    * 1.13 - `cluster_id` replaces `stack_id` in cluster responses
    * 1.14 - Nodegroup `node_labels` and `node_taints`
    * 1.15 - /v1/drivers, clusters' driver_id/driver_version/version
    * 1.16 - GET /v1/clusters/{id}/events: a cluster's history, newest first (ours)
    * 1.17 - Upgrade action: `driver_version`, `rollback` and `dry_run`; `dry_run` on cluster
             create and resize (ours)
    * 1.18 - Cluster list filters `driver`, `driver_version` and `project_id` (ours)
    * 1.19 - POST /v1/clusters/{id}/actions/repair: replace unhealthy nodes (ours)

Nodegroups' `availability_zone` and `server_type` (ours, not Magnum's) are no microversion of
their own: added fields break no client, so every 1.9+ nodegroup response shows them.

Changes at every microversion, where we answered unlike Magnum (clients written for Magnum
broke); no microversion, as each makes the answer Magnum's own:

    * A template's `keypair_id` is no longer checked (create and update): keypairs are per
      user; the cluster create checks the creating user's keypair.
    * Cloud resources not found answer with Magnum's status and message, after the field:
      keypair 404 ("keypair: Unable to find keypair k."), image, flavor, external network,
      fixed network and fixed subnet 400 ("Image x could not be found.", "Unable to find
      flavor x.", "Unable to find external/fixed network x.", "Unable to find fixed subnet
      x."); a name several images, networks or subnets share 409. A cluster create checks the
      fixed_network and fixed_subnet it overrides.
    * Every update and action endpoint looks the resource up (404, also for another
      project's) and checks the policy (403) before it reads the body (cluster PATCH, resize
      and upgrade, nodegroup POST and PATCH, template PATCH, certificate POST, quota PATCH
      and DELETE, driver PATCH).
    * A signing request (POST /v1/certificates) for a cluster that cannot be found: 400 (was
      404), as Magnum; CA rotation (PATCH /v1/certificates/{id}) answers 202 with
      {"uuid": ...} (was empty), as Magnum.
    * A resize naming a nodegroup the cluster does not have: 404 (was 400).
    * Nodegroup counts outside min/max_node_count: 409 "max_node_count for ng is invalid
      (...)" (was 400), Magnum's NodeGroupInvalidInput.
    * GET /v1/mservices: `binary` is Magnum's name, magnum-conductor (was magnum-lite-conductor).
    * GET /v1/clustertemplates lists every field of each template, as /detail (was 11).
    * A template PATCH may not remove coe, image_id, network_driver, external_network_id,
      tls_disabled, public, server_type, registry_enabled, cluster_distro or hidden: 400, as
      Magnum (was: back to the default).

    * Stats, quotas and CA rotation answer at every microversion, as Magnum's do (their
      versions above say when Magnum added them; we answered 406 below them).

    * 1.8's cluster upgrade action (POST /v1/clusters/{id}/actions/upgrade) is served (it was
      404 before rolling upgrades): Magnum's body (cluster_template, max_batch_size,
      nodegroup), 202 with {"uuid": ...}; without `nodegroup` the masters and every worker
      nodegroup are upgraded. Refused with 400 naming the field: a template of another coe,
      server_type, network_driver or cluster_distro, a driver without an enabled version,
      nothing to do (the same template and driver version), a COE version step the driver
      cannot take (Kubernetes: at most one minor version up, never down).

1.17 in detail: the upgrade action takes `driver_version` (an integer version of the
cluster's driver name, or "latest"; with `cluster_template` the template's driver must be the
cluster's, without it the cluster keeps its template), `rollback` (back to the template and
driver version of before the last upgrade: while that upgrade runs, it stops after the
batch in progress and takes back what it moved, in the same operation; after it failed,
only the nodes it moved go back) and `dry_run` (200 with the plan, nothing done);
`dry_run` on POST /v1/clusters and the resize action answers 200 with what the driver
would build or change, nothing stored. Each is refused (400 naming the field)
below 1.17, as node_labels is below 1.14.

1.18 in detail: GET /v1/clusters (and /detail) takes `driver` (a driver's name: its clusters,
whichever version they run), `driver_version` (an integer) and `project_id`; an admin lists
every project's clusters (as at every version) and narrows them to one project with
`project_id`, anyone else may name only their own project (403). "Which clusters still run
version 2 of k8s_ubuntu_v1": `?driver=k8s_ubuntu_v1&driver_version=2`. A filter that is not
a string or not an integer (driver_version) is refused with 400 naming it; each is refused
(400 naming it) below 1.18.

1.19 in detail: POST /v1/clusters/{id}/actions/repair replaces nodes through the cloud (a
new server for a VM, baremetal rebuilt in place), one stack update each, and answers 202
with {"uuid": ...}. The body's `nodes` (server names or ids) default to the nodes the
health monitor shows not ready (`health_status_reason`); a node shown ready is refused
unless `force` is true, an unknown node too (400 naming `nodes`); a cluster in another
operation is a 409. The cluster is UPDATE_IN_PROGRESS while it runs, its version goes up
once, and each node replaced is an event (cluster.repair.node).

A request without the header gets the minimum version; `latest` gets the maximum.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import functools
import re
from typing import Any

import pecan

from magnum_lite.common import exception

HEADER = "OpenStack-API-Version"
MIN_HEADER = "OpenStack-API-Minimum-Version"
MAX_HEADER = "OpenStack-API-Maximum-Version"
ENVIRON_HEADER = "HTTP_OPENSTACK_API_VERSION"

# The service type we answer with; the others are accepted in requests.
SERVICE_TYPE = "container-infra"
SERVICE_TYPES = frozenset({SERVICE_TYPE, "container-infrastructure-management",
                           "container-infrastructure"})

# Where the microversion middleware leaves the negotiated version for the application.
ENVIRON_KEY = "magnum_lite.api_version"

_VERSION_RE = re.compile(r"^(\d{1,4})\.(\d{1,4})$")


@dataclasses.dataclass(frozen=True, order=True)
class APIVersion:
    """A microversion; compares as (major, minor)."""

    major: int
    minor: int

    @classmethod
    def from_string(cls, text: str) -> APIVersion:
        match = _VERSION_RE.match(text)
        if match is None:
            raise ValueError(f"{text!r} is not a version of the form X.Y")
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def header_value(self) -> str:
        return f"{SERVICE_TYPE} {self}"


MIN_VERSION = APIVersion(1, 1)
# The one place the newest microversion is set.
MAX_VERSION = APIVersion(1, 19)


class MalformedVersion(exception.Invalid):
    message = "Invalid OpenStack-API-Version header %(value)r: %(reason)s"


class UnsupportedVersion(exception.NotAcceptable):
    message = ("Version %(version)s was requested but is not supported by this service. "
               "The supported version range is: [%(min)s, %(max)s].")

    def __init__(self, version: APIVersion) -> None:
        super().__init__(version=version, min=MIN_VERSION, max=MAX_VERSION)
        self.version = version


def parse(header: str | None) -> APIVersion:
    """The version a request asks for, from its OpenStack-API-Version header.

    The header may name several services ("compute 2.1, container-infra 1.5"); entries of other
    services are ignored. Raises MalformedVersion (400) or UnsupportedVersion (406).
    """
    if not header or not header.strip():
        return MIN_VERSION
    for entry in header.split(","):
        words = entry.split()
        if not words:
            continue
        if words[0].lower() not in SERVICE_TYPES:
            continue
        if len(words) != 2:
            raise MalformedVersion(value=header, reason=f"expected '{SERVICE_TYPE} X.Y'")
        if words[1].lower() == "latest":
            return MAX_VERSION
        try:
            version = APIVersion.from_string(words[1])
        except ValueError as err:
            raise MalformedVersion(value=header, reason=str(err)) from err
        if not MIN_VERSION <= version <= MAX_VERSION:
            raise UnsupportedVersion(version)
        return version
    return MIN_VERSION


def of_request(environ: dict) -> APIVersion:
    """The negotiated version of a request (the minimum if nothing negotiated one)."""
    return environ.get(ENVIRON_KEY, MIN_VERSION)


def current() -> APIVersion:
    """The negotiated version of the request being served."""
    return of_request(pecan.request.environ)


def at_least(version: str) -> bool:
    """Whether the current request's version is `version` or newer."""
    return current() >= APIVersion.from_string(version)


def requires(min_version: str, what: str | None = None) -> Callable:
    """Decorator: the controller method exists from `min_version` on; older requests get 406."""
    minimum = APIVersion.from_string(min_version)

    def decorate(func: Callable) -> Callable:
        name = what or func.__name__

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            requested = current()
            if requested < minimum:
                raise exception.NotAcceptable(
                    f"Version {requested} was requested but {name} needs version "
                    f"{minimum} or newer. The supported version range is: "
                    f"[{MIN_VERSION}, {MAX_VERSION}].")
            return func(*args, **kwargs)

        return wrapper

    return decorate
