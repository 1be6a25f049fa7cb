"""Credential rotation: new CAs or a new trustee reach the nodes through stack updates.

Credentials reach the nodes only as hidden stack parameters: in the user data at boot, and
as the `credentials` input of each node's software deployment, which runs on UPDATE only.
A rotation updates just those parameters of the cluster stack and of every worker chunk
stack; servers ignore later user data changes (`user_data_update_policy: IGNORE`), so no
server is replaced.
"""

from __future__ import annotations

from typing import Any

from oslo_log import log as logging

from magnum_lite.conf import CONF
from magnum_lite.drivers import base
from magnum_lite.drivers.heat import inventory, names, stacks
from magnum_lite.drivers.heat.inventory import UPDATE_IN_PROGRESS
from magnum_lite.drivers.heat.parameters import StackBuilder, load_credentials

LOG = logging.getLogger(__name__)

#: The parameters a rotation changes besides the user data (see templates/fragments).
CREDENTIAL_PARAMETERS = ("credentials", "credentials_script", "cluster_uuid")


def _update(client: Any, stack_id: str, parameters: dict[str, Any], user_data_name: str
            ) -> None:
    """Update the stack's credential parameters and its user data (`user_data_name`), which
    nodes made later boot with."""
    stacks.update_parameters(client, stack_id, {
        name: parameters[name] for name in (user_data_name, *CREDENTIAL_PARAMETERS)
    }, rollback=False, timeout_minutes=CONF.conductor.update_timeout)


def rotate(builder: StackBuilder, context: Any, cluster: Any, cluster_template: Any,
           nodegroup_list: list[Any], credentials: base.CredentialsLoader
           ) -> base.ClusterState:
    """Send the credentials the nodes hold now to the cluster stack and every worker stack.

    :raises exception.CloudError: the cluster stack is gone.
    """
    masters, workers = inventory.split(nodegroup_list)
    given = load_credentials(credentials)
    client = stacks.client(context)
    listing = stacks.list_stacks(client)
    cluster_stack = listing.get(names.cluster_stack_name(cluster))
    if cluster_stack is None:
        raise inventory.cluster_stack_gone(cluster)
    _update(client, cluster_stack.id,
            builder.cluster_parameters(cluster, cluster_template, masters, given),
            "master_user_data")
    outputs = inventory.cluster_outputs(client, cluster)
    for ng in workers:
        for chunk, summary in inventory.chunk_stacks(cluster, ng, listing).items():
            _update(client, summary.id,
                    builder.nodegroup_parameters(cluster, cluster_template, ng, chunk, 0,
                                                 outputs, given),
                    "user_data")
    LOG.info("Cluster %s: credentials sent to its nodes", cluster.uuid)
    return base.ClusterState(status=UPDATE_IN_PROGRESS, nodegroups={
        ng.uuid: base.NodeGroupState(status=UPDATE_IN_PROGRESS) for ng in workers})
