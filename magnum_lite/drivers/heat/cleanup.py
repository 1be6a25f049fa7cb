"""Before a cluster's stacks go: remove what the COE made in the cloud outside Heat.

A COE's cloud provider makes load balancers for its services (Kubernetes' openstack cloud
provider names them `kube_service_<cluster>_<namespace>_<service>`, with the cluster's uuid
as the cluster name) and sometimes ports; Heat does not know them, and they keep the
cluster's network busy, so the stack delete would fail. They are found through Octavia and
Neutron by the cluster's uuid in their names.
"""

from __future__ import annotations

import time
from typing import Any

from keystoneauth1 import exceptions as ks_exceptions
from oslo_log import log as logging

from magnum_lite.common import clients, exception

LOG = logging.getLogger(__name__)

POLL_SECONDS = 1.0


def _request(adapter: Any, method: str, url: str, service: str, **kwargs: Any) -> Any:
    try:
        return adapter.request(url, method, raise_exc=True, **kwargs)
    except ks_exceptions.NotFound:
        return None
    except (ks_exceptions.ConnectFailure, ks_exceptions.ConnectTimeout,
            ks_exceptions.ServiceUnavailable) as err:
        raise exception.CloudUnreachable(service=service, reason=str(err)) from err
    except ks_exceptions.ClientException as err:
        raise exception.CloudError(service=service, reason=str(err)) from err


def _adapter(context: Any, group: str) -> Any | None:
    """An adapter for `group`'s service, or None when the cloud has no such service."""
    service = group.capitalize()
    try:
        adapter = clients.get_adapter(context, group, auth=clients.get_acting_auth(context))
        adapter.get_endpoint()
    except ks_exceptions.EndpointNotFound:
        LOG.info("No %s endpoint: nothing of that kind to clean up", group)
        return None
    except (ks_exceptions.ConnectFailure, ks_exceptions.ConnectTimeout,
            ks_exceptions.DiscoveryFailure, ks_exceptions.ServiceUnavailable) as err:
        raise exception.CloudUnreachable(service=service, reason=str(err)) from err
    except ks_exceptions.ClientException as err:  # no credentials to act with, ...
        raise exception.CloudError(service=service, reason=str(err)) from err
    return adapter


def coe_load_balancers(context: Any, cluster: Any) -> list[dict]:
    adapter = _adapter(context, "octavia")
    if adapter is None:
        return []
    response = _request(adapter, "GET", "/v2/lbaas/loadbalancers", "Octavia",
                        params={"project_id": cluster.project_id})
    balancers = response.json().get("loadbalancers", []) if response is not None else []
    return [lb for lb in balancers if cluster.uuid in (lb.get("name") or "")]


def remove_coe_leftovers(context: Any, cluster: Any, timeout: float) -> None:
    """Delete the COE's load balancers (cascade) and ports of the cluster; wait up to
    `timeout` seconds for the load balancers to go (then go on: the stack delete says why
    it could not finish)."""
    octavia = _adapter(context, "octavia")
    if octavia is not None:
        balancers = coe_load_balancers(context, cluster)
        for lb in balancers:
            if lb.get("provisioning_status") != "PENDING_DELETE":
                LOG.info("Cluster %s: deleting load balancer %s (%s) its COE made",
                         cluster.uuid, lb["id"], lb.get("name"))
                _request(octavia, "DELETE", f"/v2/lbaas/loadbalancers/{lb['id']}", "Octavia",
                         params={"cascade": "true"})
        deadline = time.monotonic() + timeout
        if balancers:
            balancers = coe_load_balancers(context, cluster)
        while balancers and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            balancers = coe_load_balancers(context, cluster)
        if balancers:
            LOG.warning("Cluster %s: load balancers %s still there after %ss", cluster.uuid,
                        ", ".join(lb["id"] for lb in balancers), timeout)
    neutron = _adapter(context, "neutron")
    if neutron is not None:
        response = _request(neutron, "GET", "/v2.0/ports", "Neutron",
                            params={"project_id": cluster.project_id})
        ports = response.json().get("ports", []) if response is not None else []
        for port in ports:
            if cluster.uuid in (port.get("name") or ""):
                LOG.info("Cluster %s: deleting port %s its COE made", cluster.uuid, port["id"])
                _request(neutron, "DELETE", f"/v2.0/ports/{port['id']}", "Neutron")
