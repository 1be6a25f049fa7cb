"""Baremetal servers rebuilt in place through Nova's API.

Ironic nodes are not spare, so a baremetal node is rebuilt under the same server id rather
than replaced. Heat cannot do it for us: its OS::Nova::Server rebuilds on a user data change
(`user_data_update_policy: REBUILD`) by passing the user data where Nova expects the image
(Heat 27, `_update_user_data_rebuild`), which a real Nova refuses, and its rebuild on an
image change keeps the old user data. So the driver asks Nova itself: a repair with the
image the server runs (Nova keeps the server's user data), an upgrade with the target's
image and user data (microversion 2.57). Heat's properties of the server never make Heat
act on it (fragments/node.yaml: `server_images`, user data ignored).

A rebuild is marked in the server's metadata (`MARK_KEY`, the rebuild's own mark, beside
the metadata Heat set), which makes every step level triggered: a rebuild whose mark the
server carries is never sent again. Nova leaves a server that was shut off shut off after
a rebuild, so it is then started.

The user data Heat gave a server holds Heat's own parts (its agent's boot configuration and
the credentials it polls Heat with) beside the driver's; a rebuild with new user data keeps
Heat's (boot_data.py), which only an admin can read from Nova (`OS-EXT-SRV-ATTR:user_data`,
2.3): the service credentials read it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from typing import Any

from magnum_lite.common import exception
from magnum_lite.drivers import base
from magnum_lite.drivers.heat import nova

UNSENT, ROLLING, DONE, FAILED = (base.BATCH_UNSENT, base.BATCH_ROLLING, base.BATCH_DONE,
                                 base.BATCH_FAILED)
#: The server metadata key holding the mark of the last rebuild the driver asked for.
MARK_KEY = "magnum_lite_rebuild"


def _image_id(found: dict[str, Any]) -> str:
    image = found.get("image")
    return str(image.get("id") or "") if isinstance(image, dict) else ""


def send(context: Any, server_id: str, mark: str, image: str | None = None,
         new_user_data: Callable[[], str] | None = None) -> None:
    """Rebuild the server with `image` (an id; by default the one it runs) and the user data
    `new_user_data` makes (by default Nova keeps the server's), or start it once rebuilt
    while shut off; nothing while Nova works on it or once it runs its rebuild."""
    found = nova.server(context, server_id)
    if found.get("OS-EXT-STS:task_state") or found.get("status") == "REBUILD":
        return
    metadata = dict(found.get("metadata") or {})
    if metadata.get(MARK_KEY) == mark:
        if found.get("status") == "SHUTOFF":
            nova.request(context, "POST", f"/servers/{server_id}/action",
                         f"starting server {server_id}", json={"os-start": None})
        return
    image = image or _image_id(found)
    if not image:
        raise exception.CloudError(service=nova.SERVICE, reason=(
            f"server {server_id} boots from a volume: it cannot be rebuilt in place"))
    body: dict[str, Any] = {"imageRef": image, "metadata": {**metadata, MARK_KEY: mark}}
    version = None
    if new_user_data is not None:
        body["user_data"] = base64.b64encode(new_user_data().encode()).decode()
        version = nova.USER_DATA_VERSION
    nova.request(context, "POST", f"/servers/{server_id}/action",
                 f"rebuilding server {server_id}", version=version, json={"rebuild": body})


def state(context: Any, server_id: str, mark: str) -> tuple[str, str | None]:
    """Where the server's rebuild is: UNSENT (no mark yet, or rebuilt but shut off: send),
    ROLLING while Nova works on it, FAILED when the server is in ERROR (with Nova's fault),
    DONE once it runs its rebuild."""
    found = nova.server(context, server_id)
    status = found.get("status")
    if status == "ERROR":
        fault = (found.get("fault") or {}).get("message") or "no fault given"
        return FAILED, f"server {server_id} is in ERROR: {fault}"
    if found.get("OS-EXT-STS:task_state") or status == "REBUILD":
        return ROLLING, None
    if (found.get("metadata") or {}).get(MARK_KEY) != mark or status == "SHUTOFF":
        return UNSENT, None
    return DONE, None


def least_advanced(states: Iterable[tuple[str, str | None]]) -> tuple[str, str | None]:
    """Of several servers' rebuild states, the one that says what to do next: a failure
    first, then one to send, then one under way; DONE when every one is."""
    found = list(states)
    for wanted in (FAILED, UNSENT, ROLLING):
        for state_, reason in found:
            if state_ == wanted:
                return state_, reason
    return DONE, None
