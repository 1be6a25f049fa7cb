"""/v1/credentials/{cluster} (1.12+): replace a cluster's trustee user and trust.

The caller becomes the new trust's trustor (their token travels to the conductor), which
then pushes the new credentials to the nodes like a CA rotation: an update of the cluster.
While an operation is in progress the trust can be replaced only when the cluster's checks
recorded that it stopped working (the fault `trust_broken` on the operation); the operation
then goes on with the new one (the nodes get it with the next rotation).
"""

from __future__ import annotations

import pecan

from magnum_lite import objects
from magnum_lite.api import versions
from magnum_lite.api.controllers import base
from magnum_lite.api.controllers.v1 import cluster_shared
from magnum_lite.common import exception, policy, states
from magnum_lite.objects import fields


class CredentialsController(base.RestController):
    """PATCH /v1/credentials/{cluster}."""

    @base.expose(status=202)
    @versions.requires("1.12", what="credentials rotation")
    def patch(self, ident: str) -> dict:
        """Rotate the cluster's trust; 202 with the cluster's uuid."""
        context = base.context()
        base.see_all_projects(context, "credential:all_projects")
        cluster = objects.Cluster.get(context, ident)
        policy.authorize(context, "credential:rotate", cluster_shared.target(cluster))
        rpcapi = pecan.request.rpcapi
        rpcapi.check_credentials_api("Credentials rotation")
        if cluster.status not in fields.ClusterStatus.IN_PROGRESS:
            cluster_shared.start_update(context, cluster, "cluster.rotate_credentials",
                                  states.Kind.CREDENTIALS_ROTATION)
            cluster_shared.cast_or_fail(context, cluster, "rotate_credentials",
                                  fields.ClusterStatus.UPDATE_FAILED)
            return {"uuid": cluster.uuid}
        operation = objects.ClusterOperation.current(context, cluster)
        if operation is None or operation.fault != states.Fault.TRUST_BROKEN:
            raise exception.Conflict(
                f"Cluster {cluster.uuid} is {cluster.status}: its trust can be replaced "
                "during an operation only when the cluster's checks say it stopped working.")
        try:
            rpcapi.rotate_credentials(context, cluster_uuid=cluster.uuid, push=False)
        except Exception as err:
            raise exception.ServiceUnavailable(
                what="The conductor", reason=f"it could not be reached: "
                                             f"{type(err).__name__}") from err
        cluster.record_event(context, "cluster.rotate_credentials")
        return {"uuid": cluster.uuid}
