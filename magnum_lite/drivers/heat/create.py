"""A cluster's create: the cluster stack now, the worker stacks once it made what they need.

Workers need what the cluster stack makes (network, security group, the control plane's
address), so `create` starts the cluster stack alone and the status checks (status.py,
early_workers.py) make the worker chunk stacks as soon as those exist, beside the
masters. A dry run previews them all at once, the workers on placeholder network values.
"""

from __future__ import annotations

import copy
from typing import Any

from oslo_log import log as logging

from magnum_lite.drivers import base
from magnum_lite.drivers.heat import chunks, inventory, stacks
from magnum_lite.drivers.heat.inventory import CREATE_IN_PROGRESS
from magnum_lite.drivers.heat.parameters import (
    StackBuilder,
    cluster_stack,
    load_credentials,
    nodegroup_stack,
)

LOG = logging.getLogger(__name__)

#: The cluster stack's outputs a dry run gives the worker stacks, the cluster stack not
#: existing yet (the sandbox's Heat accepts them; a real cloud checks them).
PREVIEW_OUTPUTS = {"network": "preview-network", "subnet": "preview-subnet",
                   "security_group": "preview-security-group",
                   "master_private_addresses": {"0": "192.0.2.10"}}


def dry_run(builder: StackBuilder, context: Any, cluster: Any, cluster_template: Any,
            nodegroups: list[Any], credentials: base.CredentialsLoader | None
            ) -> dict[str, Any]:
    """Heat's preview of the cluster stack and of every worker chunk stack, by name."""
    masters, workers = inventory.split(nodegroups)
    if not cluster.join_token:
        # Before create the cluster has no join token yet; the user data (whose size
        # Heat checks) is rendered with a throwaway one of the same form, on a copy.
        token = builder.make_join_token()
        if token:
            cluster = copy.deepcopy(cluster)
            cluster.join_token = token
    client = stacks.client(context)
    given = load_credentials(credentials)
    arguments = cluster_stack(builder, cluster, cluster_template, masters, given)
    previews = {arguments[0]: stacks.preview(client, *arguments)}
    for ng in workers:
        for chunk, count in enumerate(chunks.plan(ng.node_count, builder.nodes_per_stack())):
            arguments = nodegroup_stack(builder, cluster, cluster_template, ng, chunk, count,
                                        PREVIEW_OUTPUTS, given)
            previews[arguments[0]] = stacks.preview(client, *arguments)
    return previews


def create(builder: StackBuilder, context: Any, cluster: Any, cluster_template: Any,
           nodegroups: list[Any], timeout: int, credentials: base.CredentialsLoader | None
           ) -> base.ClusterState:
    """Create the cluster stack; every nodegroup is CREATE_IN_PROGRESS from now on."""
    masters, workers = inventory.split(nodegroups)
    join_token = builder.join_token(cluster) or builder.make_join_token()
    if join_token:
        cluster.join_token = join_token  # the user data below needs it in clear
    arguments = cluster_stack(builder, cluster, cluster_template, masters,
                              load_credentials(credentials))
    client = stacks.client(context)
    stack_id = stacks.create(client, *arguments, timeout)
    LOG.info("Cluster %s: stack %s created", cluster.uuid, stack_id)
    groups = {masters.uuid: base.NodeGroupState(status=CREATE_IN_PROGRESS, stack_id=stack_id)}
    groups.update({ng.uuid: base.NodeGroupState(status=CREATE_IN_PROGRESS) for ng in workers})
    return base.ClusterState(status=CREATE_IN_PROGRESS, stack_id=stack_id,
                             coe_version=builder.coe_version(cluster, cluster_template),
                             nodegroups=groups, join_token=join_token)
