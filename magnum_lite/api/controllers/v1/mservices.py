"""/v1/mservices: the magnum-lite services (conductors) and whether they are alive.

The wire shows Magnum's binary names (`magnum-conductor`), which clients and monitoring written
for Magnum look for; the processes keep their own names (magnum-lite-conductor).
"""

from __future__ import annotations

import wsme
from wsme import types as wtypes

from magnum_lite import objects
from magnum_lite.api.controllers import base
from magnum_lite.common import policy
from magnum_lite.conf import CONF
from magnum_lite.objects import fields


class MagnumService(base.APIBase):
    """A running magnum-lite service."""

    id = wsme.wsattr(int, readonly=True)
    """The id of the service record."""

    binary = wsme.wsattr(wtypes.text, readonly=True)
    """The program, by Magnum's name: magnum-conductor."""

    host = wsme.wsattr(wtypes.text, readonly=True)
    """The host it runs on."""

    state = wsme.wsattr(wtypes.Enum(str, fields.MagnumServiceState.UP,
                                    fields.MagnumServiceState.DOWN), readonly=True)
    """up while its heartbeats arrive, down after [conductor] service_down_time without."""

    report_count = wsme.wsattr(int, readonly=True)
    """How many heartbeats it has sent."""

    disabled = wsme.wsattr(bool, readonly=True)
    """Whether an operator disabled it."""

    disabled_reason = wsme.wsattr(wtypes.text, readonly=True)
    """Why it was disabled."""


_FIELDS = ("id", "binary", "host", "report_count", "disabled", "disabled_reason",
           "created_at", "updated_at")
_OWN_PREFIX, _MAGNUM_PREFIX = "magnum-lite-", "magnum-"


def wire_binary(binary: str | None) -> str | None:
    """Magnum's name of one of our programs: magnum-lite-conductor → magnum-conductor."""
    if binary and binary.startswith(_OWN_PREFIX):
        return _MAGNUM_PREFIX + binary[len(_OWN_PREFIX):]
    return binary



class MagnumServiceController(base.RestController):
    """GET of the service list (admins only)."""

    @base.expose()
    def get_all(self) -> dict:
        context = base.context()
        policy.authorize(context, "magnum-service:get_all")
        down_after = CONF.conductor.service_down_time
        services = []
        for service in objects.MagnumService.list(context):
            document = base.to_dict(service, _FIELDS)
            document["binary"] = wire_binary(service.binary)
            document["state"] = service.state(down_after)
            services.append(document)
        return {"mservices": services}
