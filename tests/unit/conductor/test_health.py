"""The health monitor (conductor/health.py) on a real database, with a driver whose COE is in
memory: what a check finds, what is recorded (and when not), and which clusters a
conductor checks."""

from __future__ import annotations

import threading

import pytest

from magnum_lite import objects
from magnum_lite.common import context as ml_context
from magnum_lite.common import exception, states
from magnum_lite.conductor import hashring, healing, health
from magnum_lite.drivers import base, coe_http
from magnum_lite.objects import cluster_operation, fields
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


def _servers(*names_roles: str) -> list[base.ExpectedNode]:
    """ExpectedNode "m0" (a master when it starts with m) with server id "id-m0"."""
    return [base.ExpectedNode(n, f"id-{n}", "master" if n.startswith("m") else "worker")
            for n in names_roles]


def test_a_server_the_coe_does_not_list_is_named_not_registered_and_unhealthy():
    finding = health.assess(base.CoeHealth("ok", _nodes(m0=True, w0=True)), None, 1, 2,
                            _servers("m0", "w0", "w1"))
    assert finding.status == Health.UNHEALTHY
    assert finding.reason == {"api": "ok", "m0.Ready": "True", "w0.Ready": "True",
                              "w1.Ready": health.NOT_REGISTERED, "nodes": "2 of 3 registered"}
    assert finding.unhealthy == {"w1": "not registered in the COE"}
    assert "w1.Ready: NotRegistered" in finding.summary()


def test_a_coe_that_lists_no_masters_names_its_missing_agents_only():
    """Mesos forgets a stopped agent; its masters are never agents."""
    finding = health.assess(base.CoeHealth("ok", _nodes(w0=True), lists_masters=False),
                            None, 3, 2, _servers("m0", "m1", "m2", "w0", "w1"))
    assert finding.status == Health.UNHEALTHY
    assert finding.unhealthy == {"w1": "not registered in the COE"}
    assert not any(key.startswith("m") for key in finding.reason)


def test_unreachable_with_every_master_s_server_down_is_unhealthy_naming_them():
    servers = _servers("m0", "m1", "m2", "w0")
    finding = health.assess(None, "unreachable: connection refused", 3, 1, servers,
                            {"id-m0": "SHUTOFF", "id-m1": "ERROR",
                             "id-m2": base.SERVER_GONE})
    assert finding.status == Health.UNHEALTHY
    assert finding.reason == {"api": "unreachable: connection refused",
                              "m0.server": "SHUTOFF", "m1.server": "ERROR",
                              "m2.server": "NotFound"}
    assert finding.unhealthy == {"m0": "server SHUTOFF", "m1": "server ERROR",
                                 "m2": "server NotFound"}


@pytest.mark.parametrize("states", [
    {"id-m0": "SHUTOFF", "id-m1": "ACTIVE"},  # one master runs: the API is out of reach
    {"id-m0": "SHUTOFF", "id-m1": None},      # Nova did not say of one
    None,                                     # Nova was not asked
])
def test_unreachable_with_a_master_that_may_run_is_unknown(states):
    finding = health.assess(None, "unreachable: timed out", 2, 1, _servers("m0", "m1", "w0"),
                            states)
    assert finding.status == Health.UNKNOWN
    assert finding.reason == {"api": "unreachable: timed out"}


# -- a monitor over the database ---------------------------------------------------------------

class Coe(base.CoeNodes):
    """The in-memory COE of every cluster: `ready` per node, or `down` (unreachable); the
    cloud's servers (`servers`) and their Nova status by id (`nova`), and the reads of
    them."""

    ready: dict[str, bool] = {}
    down = False
    calls = 0
    servers: list[base.ExpectedNode] = []
    server_reads = 0
    nova: dict[str, str | None] = {}
    nova_asked: list[tuple[list[str], float]] = []
    time_left: list[float | None] = []
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
        type(self).time_left.append(coe_http.time_left())
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

    def expected_nodes(self, context, cluster, nodegroups):
        Coe.server_reads += 1
        return list(Coe.servers)

    def server_states(self, context, server_ids, *, timeout):
        Coe.nova_asked.append((list(server_ids), timeout))
        return {i: Coe.nova.get(i) for i in server_ids}


@pytest.fixture
def coe(fake_driver):
    fake_plugin.install(fake=MonitoredDriver)
    Coe.ready = {"m0": True, "w0": True, "w1": True}
    Coe.down = False
    Coe.calls = 0
    Coe.block = None
    Coe.blocked = threading.Event()
    Coe.servers = _servers("m0", "w0", "w1")
    Coe.server_reads = 0
    Coe.nova = {}
    Coe.nova_asked = []
    Coe.time_left = []
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


def test_a_cluster_whose_repair_failed_is_still_checked_one_whose_upgrade_failed_is_not(
        coe, monitor, make_cluster):
    """Healing goes on after a failed repair (until the failed-twice rule); another failed
    operation is the user's to look at."""
    admin = ml_context.get_admin_context()
    repaired, upgraded = (make_cluster(status=Status.CREATE_COMPLETE) for _ in range(2))
    for cluster, kind in ((repaired, states.Kind.REPAIR), (upgraded, states.Kind.UPGRADE)):
        cluster_operation.start(admin, objects.Cluster.get_by_uuid(admin, cluster.uuid), kind,
                                f"cluster.{kind}", {"nodes": ["w1"]})
        cluster_operation.finish(admin, cluster.uuid, kind, Status.UPDATE_FAILED, "failed",
                                 operation_uuid=_get(cluster.uuid).operation_uuid)
    assert _round(monitor) == 1
    assert _get(repaired.uuid).health_status == Health.HEALTHY
    assert _get(upgraded.uuid).health_status is None


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
    hosts = {"host-a", "host-b"}
    clusters = [make_cluster(status=Status.CREATE_COMPLETE) for _ in range(8)]
    ring = hashring.HashRing(hosts)
    while len({ring.owner(c.uuid) for c in clusters}) < 2:  # random uuids: make both own some
        clusters.append(make_cluster(status=Status.CREATE_COMPLETE))
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


def test_steady_rounds_never_read_the_cloud_and_a_forgotten_node_is_named_from_one_read(
        coe, monitor, make_cluster):
    cluster = make_cluster(status=Status.CREATE_COMPLETE)
    for _ in range(3):
        _round(monitor)
    assert _get(cluster.uuid).health_status == Health.HEALTHY
    assert coe.server_reads == 0  # every node listed: nothing to name
    del coe.ready["w1"]  # the COE forgot it
    for _ in range(3):
        _round(monitor)
    checked = _get(cluster.uuid)
    assert checked.health_status == Health.UNHEALTHY
    assert checked.health_status_reason["w1.Ready"] == health.NOT_REGISTERED
    assert coe.server_reads == 1  # kept while the cluster does not change
    renamed = _get(cluster.uuid)
    renamed.name = "renamed"  # a write: a new revision (an operation: a new version too)
    renamed.save()
    _round(monitor)
    _round(monitor)
    assert coe.server_reads == 2


def test_a_cloud_that_cannot_say_is_asked_again_only_after_a_while(coe, make_cluster, db):
    clock = [1000.0]
    monitor = health.HealthMonitor("host-a", ring=_ring("host-a", {"host-a"}), workers=2,
                                   clock=lambda: clock[0])
    try:
        cluster = make_cluster(status=Status.CREATE_COMPLETE)
        del coe.ready["w1"]
        failing = iter([exception.CloudError(service="Heat", reason="503")])

        def expected_nodes(self, context, cluster_, nodegroups):
            Coe.server_reads += 1
            error = next(failing, None)
            if error is not None:
                raise error
            return list(Coe.servers)

        MonitoredDriver.expected_nodes, original = expected_nodes, \
            MonitoredDriver.expected_nodes
        try:
            _round(monitor)
            checked = _get(cluster.uuid)
            assert checked.health_status_reason["nodes"] == "2 of 3 registered"
            assert "w1.Ready" not in checked.health_status_reason
            _round(monitor)
            assert coe.server_reads == 1
            clock[0] += health.EXPECTED_RETRY
            _round(monitor)
            assert coe.server_reads == 2
            assert _get(cluster.uuid).health_status_reason["w1.Ready"] == \
                health.NOT_REGISTERED
        finally:
            MonitoredDriver.expected_nodes = original
    finally:
        monitor.stop()


def test_unreachable_with_the_lone_master_shut_off_is_unhealthy_then_healthy_again(
        coe, monitor, make_cluster, config):
    config.set_override("check_timeout", 7, group="health")
    cluster = make_cluster(status=Status.CREATE_COMPLETE)
    coe.down = True
    coe.nova = {"id-m0": "ACTIVE"}
    _round(monitor)
    assert _get(cluster.uuid).health_status == Health.UNKNOWN  # the master runs
    coe.nova = {"id-m0": "SHUTOFF"}
    _round(monitor)
    checked = _get(cluster.uuid)
    assert checked.health_status == Health.UNHEALTHY
    assert checked.health_status_reason["m0.server"] == "SHUTOFF"
    assert "connection refused" in checked.health_status_reason["api"]
    assert [ids for ids, _timeout in coe.nova_asked] == [["id-m0"], ["id-m0"]]
    assert all(0 < timeout <= 7 for _ids, timeout in coe.nova_asked)
    coe.down = False
    coe.nova = {"id-m0": "ACTIVE"}
    _round(monitor)
    assert _get(cluster.uuid).health_status == Health.HEALTHY
    assert len(coe.nova_asked) == 2  # reachable: Nova is not asked


def test_one_check_has_one_deadline(coe, monitor, make_cluster, config):
    config.set_override("coe_api_timeout", 4, group="conductor")
    assert health.check_timeout() == 8
    config.set_override("check_timeout", 3, group="health")
    assert health.check_timeout() == 3
    make_cluster(status=Status.CREATE_COMPLETE)
    _round(monitor)
    [left] = coe.time_left
    assert left is not None and left <= 3
    assert coe_http.time_left() is None  # only within the check's thread and block


def test_the_healer_takes_roles_from_the_kept_servers_not_a_repair_plan_each_round(
        coe, make_cluster, db, monkeypatch):
    plans = []
    monkeypatch.setattr(MonitoredDriver, "plan_repair",
                        lambda self, *a, **k: plans.append(a) or [], raising=False)
    monitor = health.HealthMonitor("host-a", ring=_ring("host-a", {"host-a"}), workers=2,
                                   healer=healing.Healer(lambda context, uuid: None))
    try:
        cluster = make_cluster(status=Status.CREATE_COMPLETE, labels={
            "auto_healing_enabled": "true", "auto_healing_grace": "3600"})
        coe.ready["w1"] = False
        for _ in range(3):
            _round(monitor)
        checked = _get(cluster.uuid)
        assert checked.health_status == Health.UNHEALTHY
        assert "1 of 2 workers are unhealthy" in checked.health_status_reason["healing"]
        assert list(checked.health_since) == ["w1"]
        assert coe.server_reads == 1 and plans == []
    finally:
        monitor.stop()
