"""/v1/mservices: the conductors and whether they are alive (admins only)."""

import datetime

from oslo_utils import timeutils

from magnum_lite import objects
from magnum_lite.common import context as ctx
from tests.unit.api.conftest import error_of


def test_services_with_fresh_heartbeats_are_up_and_old_ones_down(admin, config):
    context = ctx.get_admin_context()
    objects.MagnumService.heartbeat(context, "node-1", "magnum-lite-conductor")
    objects.MagnumService.heartbeat(context, "node-1", "magnum-lite-conductor")
    objects.MagnumService.heartbeat(context, "node-2", "magnum-lite-conductor")
    config.set_override("service_down_time", 60, group="conductor")
    services = admin.get("/v1/mservices", status=200).json["mservices"]
    # Magnum's binary name on the wire; the rows keep the process's own.
    assert [(s["host"], s["binary"], s["report_count"]) for s in services] == [
        ("node-1", "magnum-conductor", 2), ("node-2", "magnum-conductor", 1)]
    assert [s["state"] for s in services] == ["up", "up"]
    assert set(services[0]) == {"id", "binary", "host", "state", "report_count", "disabled",
                                "disabled_reason", "created_at", "updated_at"}

    config.set_override("service_down_time", 1, group="conductor")
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=10)
    with timeutils_fixture(later):
        services = admin.get("/v1/mservices", status=200).json["mservices"]
    assert [s["state"] for s in services] == ["down", "down"]


def test_only_admins_list_services(member):
    error_of(member.get("/v1/mservices", status=403))


class timeutils_fixture:  # noqa: N801  (used as a context manager)
    """Freeze oslo.utils' clock at `moment`."""

    def __init__(self, moment):
        self.moment = moment

    def __enter__(self):
        timeutils.set_time_override(self.moment)

    def __exit__(self, *exc):
        timeutils.clear_time_override()
