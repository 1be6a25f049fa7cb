"""The consistent hash ring of the live conductors, and two reconcilers sharing the clusters."""

import collections
import datetime
import threading

from oslo_utils import timeutils, uuidutils
import pytest
import sqlalchemy as sa

from magnum_lite import objects
from magnum_lite.common import context as ml_context
from magnum_lite.conductor import hashring, membership
from magnum_lite.conductor import reconciler as conductor_reconciler
from magnum_lite.db.sqlalchemy import models
from magnum_lite.objects import fields
from tests.unit.drivers import fake_plugin

KEYS = [uuidutils.generate_uuid() for _ in range(3000)]
BINARY = membership.CONDUCTOR_BINARY
WAIT = 10


def owners(ring):
    return {key: ring.owner(key) for key in KEYS}


# -- the ring -----------------------------------------------------------------------------------

def test_an_empty_ring_owns_nothing():
    assert hashring.HashRing([]).owner("x") is None


def test_keys_spread_over_the_hosts():
    hosts = [f"conductor-{i}" for i in range(4)]
    shares = collections.Counter(owners(hashring.HashRing(hosts)).values())
    assert set(shares) == set(hosts)
    for host in hosts:
        # A fair share is 1/4; 32 points per host keep every share within a factor of two.
        assert len(KEYS) / 8 < shares[host] < len(KEYS) / 2, shares


def test_every_conductor_builds_the_same_ring():
    hosts = ["a", "b", "c"]
    assert owners(hashring.HashRing(hosts)) == owners(hashring.HashRing(reversed(hosts)))


@pytest.mark.parametrize("count", [1, 2, 4, 8])
def test_adding_a_host_moves_only_its_share_and_only_to_it(count):
    hosts = [f"conductor-{i}" for i in range(count)]
    before = owners(hashring.HashRing(hosts))
    after = owners(hashring.HashRing([*hosts, "newcomer"]))
    moved = [key for key in KEYS if before[key] != after[key]]
    assert all(after[key] == "newcomer" for key in moved)
    # About 1/(n+1) of the keys move; never all of them, never most of them.
    assert 0 < len(moved) < 2 * len(KEYS) / (count + 1), len(moved)


def test_removing_a_host_moves_only_its_keys():
    hosts = ["a", "b", "c", "d"]
    before = owners(hashring.HashRing(hosts))
    after = owners(hashring.HashRing(["a", "b", "c"]))
    assert all(after[key] == before[key] for key in KEYS if before[key] != "d")


# -- the view of one conductor ------------------------------------------------------------------

def test_a_conductor_that_knows_of_no_live_conductor_follows_everything():
    ring = hashring.ConductorRing("alone", list_hosts=set)
    assert all(ring.owns(key) for key in KEYS[:50])


def test_a_conductor_not_in_the_ring_follows_nothing():
    ring = hashring.ConductorRing("late", list_hosts=lambda: {"other"})
    assert not any(ring.owns(key) for key in KEYS[:50])


def test_the_ring_is_read_again_only_when_due():
    now = [0.0]
    reads = []

    def hosts():
        reads.append(now[0])
        return {"a"} if len(reads) == 1 else {"a", "b"}

    ring = hashring.ConductorRing("a", clock=lambda: now[0], refresh_interval=5,
                                  list_hosts=hosts)
    assert ring.refresh().hosts == {"a"}
    now[0] = 4.9
    assert ring.refresh().hosts == {"a"}
    now[0] = 5.0
    assert ring.refresh().hosts == {"a", "b"}
    assert reads == [0.0, 5.0]


def test_a_failed_read_keeps_the_last_ring(caplog):
    calls = []

    def hosts():
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("database down")
        return {"a", "b"}

    ring = hashring.ConductorRing("a", refresh_interval=0, list_hosts=hosts)
    assert ring.refresh().hosts == {"a", "b"}
    assert ring.refresh().hosts == {"a", "b"}
    assert "Cannot read the live conductors" in caplog.text


def test_live_conductors_come_from_the_service_table(db):
    context = ml_context.get_admin_context()
    objects.MagnumService.heartbeat(context, "c1", BINARY)
    objects.MagnumService.heartbeat(context, "c2", BINARY)
    objects.MagnumService.heartbeat(context, "api-host", "magnum-lite-api")
    _make_stale(db, "c2")
    assert membership.live_conductors(context) == {"c1"}


def _make_stale(engine, host):
    """The host's last heartbeat is older than service_down_time: it is down."""
    old = timeutils.utcnow() - datetime.timedelta(hours=1)
    with engine.begin() as connection:
        connection.execute(sa.update(models.MagnumService.__table__).where(
            models.MagnumService.__table__.c.host == host).values(last_seen_up=old))


# -- two conductors share the clusters ----------------------------------------------------------

class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_two_conductors_check_each_cluster_once_and_take_over_from_a_dead_one(
        db, context, template):
    template.cluster_distro = "ubuntu"
    template.save()
    fake_plugin.FakeDriver.reset()
    fake_plugin.install(fake=fake_plugin.FakeDriver)
    admin = ml_context.get_admin_context()
    for host in ("host-a", "host-b"):
        objects.MagnumService.heartbeat(admin, host, BINARY)
    clusters = []
    for i in range(100):
        cluster = objects.Cluster(
            context, uuid=uuidutils.generate_uuid(), project_id=f"project-{i % 5}",
            user_id="u", name=f"c{i}", cluster_template_id=template.uuid,
            status=fields.ClusterStatus.CREATE_IN_PROGRESS, version=1, stack_id=f"s{i}")
        cluster.create_with_nodegroups([], context)
        cluster.record_event(context, "cluster.create.started")
        clusters.append(cluster.uuid)

    clock = _Clock()
    current = threading.local()
    polled: dict[str, list[str]] = collections.defaultdict(list)
    lock = threading.Lock()

    def record_host(ctx, cluster):
        with lock:
            polled[cluster.uuid].append(current.host)

    fake_plugin.FakeDriver.on_get_status = record_host
    reconcilers = {}
    for host in ("host-a", "host-b"):
        reconciler = conductor_reconciler.Reconciler(
            host, ring=hashring.ConductorRing(host, clock=clock, refresh_interval=10),
            clock=clock, workers=4)
        check_group = reconciler._check_group

        def tagged(driver, project_id, items, host=host, check_group=check_group):
            current.host = host
            return check_group(driver, project_id, items)

        reconciler._check_group = tagged
        reconcilers[host] = reconciler

    def one_round():
        polled.clear()
        for reconciler in reconcilers.values():
            reconciler.run_once()
        for reconciler in reconcilers.values():
            reconciler.wait(WAIT)
        clock.now += 5  # everything is due again

    try:
        one_round()
        assert sorted(polled) == sorted(clusters)
        assert all(len(hosts) == 1 for hosts in polled.values())
        shares = collections.Counter(hosts[0] for hosts in polled.values())
        assert shares["host-a"] > 10 and shares["host-b"] > 10, shares
        b_had = {uuid for uuid, hosts in polled.items() if hosts == ["host-b"]}

        # host-b stops: its heartbeat goes stale; once host-a reads the ring again it
        # follows every cluster, host-b's included.
        reconcilers.pop("host-b").stop()
        _make_stale(db, "host-b")
        clock.now += 10
        one_round()
        assert sorted(polled) == sorted(clusters)
        assert all(hosts == ["host-a"] for hosts in polled.values())
        assert b_had <= set(polled)

        # And a removed service row counts as gone just the same.
        objects.MagnumService.remove("host-b", BINARY)
        clock.now += 10
        one_round()
        assert len(polled) == 100
    finally:
        for reconciler in reconcilers.values():
            reconciler.stop()
        fake_plugin.FakeDriver.reset()


def test_the_reconciler_ring_defaults_to_the_service_table(db):
    reconciler = conductor_reconciler.Reconciler("h")
    assert isinstance(reconciler.ring, hashring.ConductorRing)
    assert reconciler.ring.host == "h"
