"""The conductor service in-process: RPC server on the fake transport, heartbeat, stop."""

import time

from magnum_lite import objects
from magnum_lite.common import context as ml_context
from magnum_lite.conductor import rpcapi
from magnum_lite.conductor import service as conductor_service
from magnum_lite.conf import CONF
from magnum_lite.objects import fields

WAIT = 10


def wait_for(predicate, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
    return value


def conductor_rows():
    services = objects.MagnumService.list(ml_context.get_admin_context())
    return [s for s in services if s.binary == conductor_service.BINARY]


def test_conductor_heartbeats_serves_casts_and_stops_quickly(db, context, make_cluster):
    CONF.set_override("heartbeat_interval", 1, group="conductor")
    # Made (with its operation record, as the API makes both in one transaction) before the
    # reconciler runs: it would otherwise find the row without its record and adopt it.
    cluster = make_cluster()
    service = conductor_service.ConductorService(host="unit-host")
    service.start()
    try:
        assert service.is_alive()
        rows = wait_for(conductor_rows)
        assert rows[0].host == "unit-host"
        assert rows[0].state(CONF.conductor.service_down_time) == "up"
        first_count = rows[0].report_count
        wait_for(lambda: conductor_rows()[0].report_count > first_count, timeout=3)

        rpcapi.ConductorAPI().cluster_create(context, cluster.uuid, 60)
        wait_for(lambda: objects.Cluster.get_by_uuid(context, cluster.uuid).status
                 == fields.ClusterStatus.CREATE_FAILED)
    finally:
        began = time.monotonic()
        clean = service.stop()
        took = time.monotonic() - began
        CONF.clear_override("heartbeat_interval", group="conductor")
    assert clean
    assert took < 3
    assert not service.is_alive()
    # Stopped cleanly: down at once, so the other conductors' ring leaves it out now (and
    # take over what it left queued); its heartbeat after a restart shows it up again.
    assert conductor_rows()[0].state(CONF.conductor.service_down_time) == "down"
    objects.MagnumService.heartbeat(context, "unit-host", conductor_service.BINARY)
    assert conductor_rows()[0].state(CONF.conductor.service_down_time) == "up"


def test_heartbeat_keeps_trying_while_the_database_is_missing(config, caplog, tmp_path):
    # The database cannot even be opened: every heartbeat fails, the service stays up and
    # says why.
    (tmp_path / "a-file").write_text("")
    config.set_override("connection", f"sqlite:///{tmp_path}/a-file/x.sqlite",
                        group="database")
    config.set_override("heartbeat_interval", 1, group="conductor")
    from magnum_lite.db.sqlalchemy import api as db_api

    db_api.dispose_engine()
    service = conductor_service.ConductorService(host="unit-host")
    service.start()
    try:
        wait_for(lambda: "Heartbeat of magnum-lite-conductor on unit-host failed" in caplog.text)
        assert service.is_alive()
    finally:
        assert service.stop()
        db_api.dispose_engine()
        config.clear_override("connection", group="database")
        config.clear_override("heartbeat_interval", group="conductor")


def test_stop_takes_at_most_the_graceful_timeout_and_half_a_second():
    service = conductor_service.ConductorService(host="h")
    assert service.stop_timeout == CONF.conductor.graceful_shutdown_timeout + 0.5
    assert service.stop_timeout + 0.5 < 10  # the runner's grace: within 10s by default
