"""The Heat driver's own requests to Nova (and Glance, for an image's id), beside what Heat
asks: servers' states for the health monitor, a server's user data and its rebuilds
(rebuild.py). Each acts as the conductor acts for the cluster (the user, or its trustee),
except the admin's read of a server's user data, made with the service's credentials.
"""

from __future__ import annotations

import base64
import time
from typing import Any
from urllib import parse

from keystoneauth1 import exceptions as ks_exceptions
from oslo_log import log as logging

from magnum_lite.common import clients, cloud_validation, exception
from magnum_lite.drivers import base

LOG = logging.getLogger(__name__)

SERVICE = "Nova"
#: The microversions asked: user data in a rebuild, and the admin's server attributes.
USER_DATA_VERSION, ATTRIBUTES_VERSION = "2.57", "2.3"


def request(context: Any, method: str, url: str, what: str, auth: Any = None,
            version: str | None = None, **kwargs: Any) -> Any:
    """One request to Nova as the conductor acts for the cluster (or as `auth`); a cloud
    that does not answer is CloudUnreachable, one that refuses is CloudError naming what was
    asked."""
    if version is not None:
        kwargs["headers"] = {"OpenStack-API-Version": f"compute {version}",
                             "X-OpenStack-Nova-API-Version": version}
    try:
        adapter = clients.get_adapter(context, "nova",
                                      auth=auth or clients.get_acting_auth(context))
        return adapter.request(url, method, raise_exc=True, **kwargs)
    except (ks_exceptions.ConnectFailure, ks_exceptions.ConnectTimeout,
            ks_exceptions.ServiceUnavailable) as err:
        raise exception.CloudUnreachable(service=SERVICE, reason=str(err)) from err
    except ks_exceptions.ClientException as err:
        raise exception.CloudError(service=SERVICE, reason=f"{what}: {err}") from err


def server(context: Any, server_id: str) -> dict[str, Any]:
    """Nova's view of one server."""
    response = request(context, "GET", f"/servers/{parse.quote(server_id, safe='')}",
                       f"reading server {server_id}")
    return response.json()["server"]


def user_data(context: Any, server_id: str) -> str:
    """The whole user data the server was given (Heat's parts included), read with the
    service's credentials (Nova shows it to admins only)."""
    found = request(context, "GET", f"/servers/{parse.quote(server_id, safe='')}",
                    f"reading the user data of server {server_id}",
                    auth=clients.get_service_auth(), version=ATTRIBUTES_VERSION
                    ).json()["server"]
    if "OS-EXT-SRV-ATTR:user_data" not in found:
        raise exception.CloudError(service=SERVICE, reason=(
            f"server {server_id}: Nova does not show its user data to magnum-lite's service "
            f"user, which needs the admin role to rebuild baremetal nodes with new user data"))
    encoded = found.get("OS-EXT-SRV-ATTR:user_data") or ""
    return base64.b64decode(encoded).decode() if encoded else ""


def image_id(context: Any, ref: str) -> str:
    """The id of the active Glance image `ref` names (its id or its unique name), as Nova's
    rebuild takes it: the API's own image check, acting for the cluster."""
    validator = cloud_validation.CloudValidator(auth=clients.get_acting_auth(context))
    try:
        return validator.image(context, ref).id
    except exception.ServiceUnavailable as err:
        raise exception.CloudUnreachable(service="Glance", reason=str(err)) from err
    except exception.MagnumLiteException as err:
        raise exception.CloudError(service="Glance", reason=f"image {ref}: {err}") from err


def states(context: Any, server_ids: list[str], timeout: float) -> dict[str, str | None]:
    """Each server's Nova status (ACTIVE, SHUTOFF, ERROR, ...; base.SERVER_GONE for a
    server Nova does not have; None when Nova did not say within what is left of
    `timeout` seconds, or failed), one GET /servers/{id} each, acting as the context
    acts (the cluster's trustee for the health monitor)."""
    found: dict[str, str | None] = {server_id: None for server_id in server_ids}
    deadline = time.monotonic() + timeout
    try:
        adapter = clients.get_adapter(context, "nova", auth=clients.get_acting_auth(context))
    except ks_exceptions.ClientException as err:
        LOG.info("Nova cannot be asked for servers %s: %s", ", ".join(server_ids), err)
        return found
    for server_id in server_ids:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        path = f"/servers/{parse.quote(server_id, safe='')}"
        try:
            response = adapter.get(path, raise_exc=False, timeout=left,
                                   headers={"Accept": "application/json"})
        except ks_exceptions.ClientException as err:
            LOG.info("Nova: GET %s failed: %s", path, err)
            continue
        if response.status_code == 404:
            found[server_id] = base.SERVER_GONE
            continue
        try:
            status = response.json()["server"]["status"] if response.status_code == 200 \
                else None
        except (ValueError, KeyError, TypeError):
            status = None
        if status is None:
            LOG.info("Nova: GET %s answered %s", path, response.status_code)
        found[server_id] = str(status) if status is not None else None
    return found
