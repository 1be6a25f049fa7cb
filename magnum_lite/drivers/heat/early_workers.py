"""Worker stacks started while the cluster stack is still building its masters.

A worker needs the cluster stack's network, subnet and security group and the address the
control plane will answer on, not running masters: kubelets, Docker engines and Mesos agents
retry joining until the API answers. So the create starts the worker stacks as soon as those
exist, and the masters and workers boot side by side.

Heat answers a stack in progress with the outputs it can resolve so far, which can mislead:
an attribute of a resource not created yet is null, and `get_resource` of one gives its
logical name instead of an id. The outputs are trusted only once every resource they come
from is CREATE_COMPLETE (all but the masters group and the COE's join step), and then only
when the plugin finds in them all that its workers' user data needs (`workers_may_start`).
"""

from __future__ import annotations

from typing import Any

from oslo_log import log as logging

from magnum_lite.common import exception
from magnum_lite.conf import CONF
from magnum_lite.drivers.heat import parameters, stacks

LOG = logging.getLogger(__name__)

#: Resources of the cluster stack that the workers do not wait for.
STILL_BUILDING = frozenset({"masters", "join_tokens"})
#: Seconds after the cluster's create before the first look: a network, a subnet and a router
#: take Neutron at least that long.
FIRST_LOOK = 1.0


def look_again_in() -> float | None:
    """How soon to look again while waiting; None when early workers are off."""
    interval = CONF.heat_driver.early_workers_check_interval
    return interval if interval > 0 else None


def _too_soon(cluster: Any) -> bool:
    age = parameters.seconds_since_created(cluster)
    return age is not None and age < FIRST_LOOK


def ready_outputs(builder: Any, client: Any, cluster: Any, cluster_template: Any,
                  masters: Any, stack_id: str) -> dict[str, Any] | None:
    """The building cluster stack's outputs once the workers can be made from them; None
    while not (or when early workers are off, or Heat could not say)."""
    if look_again_in() is None or _too_soon(cluster):
        return None
    try:
        resources = stacks.top_resources(client, stack_id)
        if not resources or any(r.resource_status != "CREATE_COMPLETE" for r in resources
                                if r.resource_name not in STILL_BUILDING):
            return None
        stack = stacks.get_stack(client, stack_id)
    except exception.CloudError as err:  # CloudUnreachable included: the next look
        LOG.debug("Cluster %s: cannot look at its stack %s yet: %s", cluster.uuid,
                  stack_id, err)
        return None
    if stack is None:
        return None
    outputs = stacks.outputs_of(stack)
    if not builder.workers_may_start(cluster, cluster_template, masters, outputs):
        return None
    return outputs
