"""The health monitor (conductor/health.py) on a real database, with a driver whose COE is in
memory: what a check finds, what is recorded (and when not), and which clusters a
conductor checks."""

from __future__ import annotations

import threading

import pytest

from magnum_lite import objects
from magnum_lite.common import context as ml_context
from magnum_lite.common import exception
from magnum_lite.conductor import hashring, health
from magnum_lite.drivers import base
from magnum_lite.objects import fields
from tests.unit.conductor.helpers import WAIT
from tests.unit.drivers import fake_plugin

Health = fields.ClusterHealthStatus
Status = fields.ClusterStatus


def _nodes(**ready: bool) -> dict[str, base.NodeHealth]:
    return {name: base.NodeHealth(name, ok, reason=None if ok else "NodeStatusUnknown")
            for name, ok in ready.items()}


# -- what a check finds ------------------------------------------------------------------------

def test_every_node_ready_and_the_api_ok_is_healthy():
    finding = health.assess(base.CoeHealth("ok", _nodes(m0=True, w0=True, w1=True)), None,
                            1, 2)
    assert finding.status == Health.HEALTHY
    assert finding.reason == {"api": "ok", "m0.Ready": "True", "w0.Ready": "True",
                              "w1.Ready": "True"}
    assert finding.unhealthy == {}


def test_a_node_not_ready_is_unhealthy_and_named():
    finding = health.assess(base.CoeHealth("ok", _nodes(m0=True, w0=True, w1=False)), None,
                            1, 2)
    assert finding.status == Health.UNHEALTHY
    assert finding.reason["w1.Ready"] == "False"
    assert finding.unhealthy == {"w1": "NodeStatusUnknown"}
    assert "w1.Ready: False" in finding.summary()


def test_fewer_nodes_than_the_cluster_has_is_unhealthy():
    finding = health.assess(base.CoeHealth("ok", _nodes(m0=True, w0=True)), None, 1, 2)
    assert finding.status == Health.UNHEALTHY
    assert finding.reason["nodes"] == "2 of 3 registered"


def test_a_coe_that_lists_no_masters_counts_its_workers_only():
    finding = health.assess(base.CoeHealth("ok", _nodes(w0=True, w1=True),
                                           lists_masters=False), None, 3, 2)
    assert finding.status == Health.HEALTHY


def test_an_api_that_is_not_ready_is_unhealthy():
    finding = health.assess(base.CoeHealth("500: [-]etcd failed", _nodes(m0=True)), None,
                            1, 0)
    assert finding.status == Health.UNHEALTHY
    assert finding.reason["api"] == "500: [-]etcd failed"


def test_an_api_that_cannot_be_read_is_unknown_with_the_cause():
    finding = health.assess(None, "unreachable: connection refused", 1, 2)
    assert finding.status == Health.UNKNOWN
    assert finding.reason == {"api": "unreachable: connection refused"}


# -- a monitor over the database ---------------------------------------------------------------

class Coe(base.CoeNodes):
    """The in-memory COE of every cluster: `ready` per node, or `down` (unreachable)."""

    ready: dict[str, bool] = {}
    down = False
    calls = 0
    block: threading.Event | None = None
    blocked = threading.Event()  # set once a check waits on `block`

    def nodes(self):
        return _nodes(**self.ready)

    def drain(self, names):
        return True

    def uncordon(self, names):
        return None

    def health(self):
        type(self).calls += 1
        block = self.block
        if block is not None:
            type(self).blocked.set()
            block.wait(WAIT)
        if self.down:
            raise exception.CoeUnreachable(coe="Kubernetes", reason="connection refused")
        return base.CoeHealth("ok", self.nodes())


class MonitoredDriver(fake_plugin.FakeDriver):
    def get_monitor(self, cluster, cluster_template, *, credentials):
        return Coe()


@pytest.fixture
def coe(fake_driver):
    fake_plugin.install(fake=MonitoredDriver)
    Coe.ready = {"m0": True, "w0": True, "w1": True}
    Coe.down = False
    Coe.calls = 0
    Coe.block = None
    Coe.blocked = threading.Event()
    yield Coe
    Coe.block = None


def _ring(host, hosts):
    """A ring read anew at every round (as after `hash_ring_refresh_interval`)."""
    return hashring.ConductorRing(host, list_hosts=lambda: set(hosts), refresh_interval=0)


@pytest.fixture
def monitor(db):
    monitor = health.HealthMonitor("host-a", ring=_ring("host-a", {"host-a"}), workers=4)
    yield monitor
    monitor.stop()


def _round(monitor):
    started = monitor.run_once()
    monitor.wait(WAIT)
    return started


def _events(cluster_uuid):
    admin = ml_context.get_admin_context()
    return [e for e in objects.ClusterEvent.list(admin, cluster_uuid)
            if e.event_type == health.EVENT_TYPE]


def _get(cluster_uuid):
    return objects.Cluster.get_by_uuid(ml_context.get_admin_context(), cluster_uuid)


def test_a_change_of_health_is_recorded_once_with_its_event_and_no_new_version(
        coe, monitor, make_cluster):
    cluster = make_cluster(status=Status.CREATE_COMPLETE)
    assert _round(monitor) == 1
    checked = _get(cluster.uuid)
    assert checked.health_status == Health.HEALTHY
    assert checked.health_status_reason["w1.Ready"] == "True"
    assert checked.version == cluster.version
    coe.ready["w1"] = False
    _round(monitor)
    _round(monitor)  # the same finding again: nothing more
    checked = _get(cluster.uuid)
    assert checked.health_status == Health.UNHEALTHY
    assert checked.health_status_reason["w1.Ready"] == "False"
    assert checked.version == cluster.version
    events = _events(cluster.uuid)
    assert [e.status_reason.split(":")[0] for e in events] == ["HEALTHY", "UNHEALTHY"]
    assert "w1.Ready: False" in events[-1].status_reason
    coe.down = True
    _round(monitor)
    checked = _get(cluster.uuid)
    assert checked.health_status == Health.UNKNOWN
    assert "connection refused" in checked.health_status_reason["api"]
    coe.down = False
    coe.ready["w1"] = True
    _round(monitor)
    assert _get(cluster.uuid).health_status == Health.HEALTHY
    assert len(_events(cluster.uuid)) == 4


def test_only_complete_clusters_without_an_operation_are_checked(coe, monitor, make_cluster):
    make_cluster(status=Status.CREATE_IN_PROGRESS)
    make_cluster(status=Status.UPDATE_IN_PROGRESS)
    make_cluster(status=Status.CREATE_FAILED)
    complete = make_cluster(status=Status.UPDATE_COMPLETE)
    assert _round(monitor) == 1
    assert _get(complete.uuid).health_status == Health.HEALTHY


def test_a_health_finding_is_not_written_once_an_operation_started(coe, make_cluster):
    cluster = make_cluster(status=Status.CREATE_COMPLETE)
    finding = health.assess(base.CoeHealth("ok", _nodes(m0=True)), None, 1, 0)
    read = _get(cluster.uuid)
    cluster.status = Status.UPDATE_IN_PROGRESS
    cluster.save()
    assert health.record(read, finding) is False
    assert _get(cluster.uuid).health_status is None


def test_a_health_finding_never_fails_a_user_s_write_nor_is_undone_by_it(coe, make_cluster):
    """The finding takes no revision: a user who read the cluster before it still writes,
    and writes only what they changed."""
    cluster = make_cluster(status=Status.CREATE_COMPLETE)
    users_copy = _get(cluster.uuid)
    finding = health.assess(base.CoeHealth("ok", _nodes(m0=True, w0=True, w1=True)), None,
                            1, 2)
    assert health.record(_get(cluster.uuid), finding) is True
    users_copy.name = "renamed"
    users_copy.save()
    after = _get(cluster.uuid)
    assert (after.name, after.health_status) == ("renamed", Health.HEALTHY)


def test_a_cluster_whose_check_hangs_does_not_hold_the_others(coe, make_cluster, db):
    monitor = health.HealthMonitor("host-a", ring=_ring("host-a", {"host-a"}), workers=2)
    try:
        first = make_cluster(status=Status.CREATE_COMPLETE)
        hanging = coe.block = threading.Event()
        assert monitor.run_once() == 1  # its check hangs (an API that does not answer)
        assert coe.blocked.wait(WAIT)
        second = make_cluster(status=Status.CREATE_COMPLETE)
        coe.block = None
        assert monitor.run_once() == 1  # the second only: the first is still being checked
        deadline = threading.Event()
        for _ in range(int(WAIT / 0.05)):
            if _get(second.uuid).health_status is not None:
                break
            deadline.wait(0.05)
        assert _get(second.uuid).health_status == Health.HEALTHY
        assert _get(first.uuid).health_status is None
    finally:
        hanging.set()
        monitor.stop()


def test_two_conductors_share_the_clusters_and_one_takes_all_when_the_other_is_gone(
        coe, make_cluster, db):
    clusters = [make_cluster(status=Status.CREATE_COMPLETE) for _ in range(8)]
    hosts = {"host-a", "host-b"}
    a = health.HealthMonitor("host-a", ring=_ring("host-a", hosts), workers=2)
    b = health.HealthMonitor("host-b", ring=_ring("host-b", hosts), workers=2)
    try:
        shares = (_round(a), _round(b))
        assert sum(shares) == len(clusters) and all(shares), shares
        hosts.discard("host-b")  # host-b died: host-a checks its clusters at its next round
        assert _round(a) == len(clusters)
    finally:
        a.stop()
        b.stop()
