"""Repairs and auto-healing in the conductor (conductor/repair.py, conductor/healing.py) on a
real database, with a driver whose cloud and COE are in memory: the repair's phases and
records, and the healer's safety rules."""

from __future__ import annotations

import pytest

from magnum_lite import objects
from magnum_lite.common import context as ml_context
from magnum_lite.common import states
from magnum_lite.conductor import healing, health, repair
from magnum_lite.drivers import base
from magnum_lite.objects import cluster_operation, fields
from tests.unit.conductor import helpers
from tests.unit.drivers import fake_plugin

Status = fields.ClusterStatus
Health = fields.ClusterHealthStatus


class Cloud:
    """The nodes in the cloud and the COE: each node's server generation and readiness."""

    def __init__(self) -> None:
        self.generation: dict[str, int] = {}
        self.ready: dict[str, bool] = {}
        self.sent: list[list[str]] = []
        self.rolling: dict[str, int] = {}
        self.never_ready: set[str] = set()
        self.cordoned: set[str] = set()


class Coe(base.CoeNodes):
    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud

    def nodes(self):
        return {n: base.NodeHealth(n, ok, reason=None if ok else "NodeStatusUnknown")
                for n, ok in self.cloud.ready.items()}

    def drain(self, names):
        self.cloud.cordoned |= set(names)
        return True

    def uncordon(self, names):
        self.cloud.cordoned -= set(names)


class RepairingDriver(fake_plugin.FakeDriver):
    cloud: Cloud

    def repair(self, context, repair_):
        self.cloud.sent.append(list(repair_["nodes"]))
        for name in repair_["nodes"]:
            self.cloud.rolling[name] = 1

    def repair_state(self, context, repair_):
        c = self.cloud
        names = repair_["nodes"]
        if not all(n in c.rolling for n in names):
            return base.BATCH_UNSENT, None
        pending = [n for n in names if c.rolling[n] > 0]
        for name in pending:
            c.rolling[name] -= 1
        if pending:
            return base.BATCH_ROLLING, None
        for name in names:
            c.generation[name] = c.generation.get(name, 0) + 1
            c.ready[name] = name not in c.never_ready
        return base.BATCH_DONE, None

    def coe_nodes(self, cluster, cluster_template, *, credentials):
        return Coe(self.cloud)


@pytest.fixture
def cloud(fake_driver) -> Cloud:
    cloud = Cloud()
    RepairingDriver.cloud = cloud
    fake_plugin.install(fake=RepairingDriver)
    return cloud


@pytest.fixture
def admin():
    admin = ml_context.get_admin_context()
    admin.all_projects = True
    return admin


def _sick(make_cluster, cloud, *down, masters=1, labels=None):
    cluster = make_cluster(status=Status.CREATE_COMPLETE, labels=labels or {})
    admin = ml_context.get_admin_context()
    for ng in objects.NodeGroup.list_for_clusters(admin, [cluster.uuid]):
        if ng.role == "master" and masters != ng.node_count:
            ng.node_count = masters
            ng.save()
    names = [f"default-master-{i}" for i in range(masters)] + [
        f"default-worker-{i}" for i in range(2)]
    cloud.ready = {n: n not in down for n in names}
    return objects.Cluster.get_by_uuid(admin, cluster.uuid)


def _round(admin, cluster_uuid) -> bool:
    cluster = objects.Cluster.get_by_uuid(admin, cluster_uuid)
    operation = objects.ClusterOperation.get(admin, cluster.operation_uuid)
    template = objects.ClusterTemplate.get_by_uuid(admin, cluster.cluster_template_id)
    return repair.Run(admin, RepairingDriver({}), cluster, template, operation,
                      credentials=lambda: base.ClusterCredentials()).advance()


def _run(admin, cluster_uuid, rounds=50, tick=lambda: None):
    for _ in range(rounds):
        cluster = objects.Cluster.get_by_uuid(admin, cluster_uuid)
        if cluster.status != Status.UPDATE_IN_PROGRESS:
            return cluster
        _round(admin, cluster_uuid)
        tick()
    raise AssertionError("the repair did not end")


def _start(context, cluster, nodes, manager):
    cluster_operation.start(context, cluster, states.Kind.REPAIR, "cluster.repair",
                            {"nodes": nodes, "cause": "asked for"})
    manager.cluster_repair(context, cluster.uuid)
    helpers.settle()
    return helpers.operation_of(context, cluster.uuid)


# -- the repair ---------------------------------------------------------------------------------

def test_a_repair_replaces_just_its_nodes_once_and_records_each(
        cloud, manager, context, admin, make_cluster):
    cluster = _sick(make_cluster, cloud, "default-worker-1")
    version = cluster.version
    operation = _start(context, cluster, ["default-worker-1"], manager)
    assert operation.step == states.Step.FOLLOWING
    assert [r["nodes"] for r in operation.plan["repairs"]] == [["default-worker-1"]]
    done = _run(admin, cluster.uuid)
    assert done.status == Status.UPDATE_COMPLETE, done.status_reason
    assert done.status_reason == "repaired default-worker-1"
    assert done.version == version + 1
    assert cloud.sent == [["default-worker-1"]]  # each round a new Run: sent once
    assert cloud.generation == {"default-worker-1": 1}
    assert cloud.cordoned == set()
    [event] = [e for e in objects.ClusterEvent.list(admin, cluster.uuid)
               if e.event_type == repair.EVENT_TYPE]
    assert event.status_reason.startswith("repair 1 of 1: default-worker-1 replaced "
                                          "(asked for) in ")


def test_a_node_that_does_not_come_back_fails_the_repair_naming_it(
        cloud, manager, context, admin, make_cluster, monkeypatch, config):
    config.set_override("upgrade_node_timeout", 30, group="conductor")
    cluster = _sick(make_cluster, cloud, "default-worker-0")
    cloud.never_ready.add("default-worker-0")
    _start(context, cluster, ["default-worker-0"], manager)
    clock = [repair._now()]
    monkeypatch.setattr(repair, "_now", lambda: clock[0])
    _run(admin, cluster.uuid, tick=lambda: clock.__setitem__(0, clock[0] + 5))
    failed = objects.Cluster.get_by_uuid(admin, cluster.uuid)
    assert failed.status == Status.UPDATE_FAILED
    assert "node default-worker-0 is not back healthy within 30 s" in failed.status_reason
    assert helpers.operation_of(context, cluster.uuid).fault == states.Fault.NODE_NOT_READY


def test_an_unknown_node_fails_the_repair_before_the_cloud_is_asked(
        cloud, manager, context, admin, make_cluster):
    cluster = _sick(make_cluster, cloud)
    _start(context, cluster, ["nope-3"], manager)
    failed = objects.Cluster.get_by_uuid(admin, cluster.uuid)
    assert failed.status == Status.UPDATE_FAILED
    assert "nope-3" in failed.status_reason
    assert cloud.sent == []


# -- the healer ---------------------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _finding(cluster, cloud):
    return health.assess(base.CoeHealth("ok", Coe(cloud).nodes()), None,
                         cluster.master_count, cluster.node_count)


@pytest.fixture
def healer():
    started = []
    clock = Clock()
    healer = healing.Healer(lambda context, uuid: started.append(uuid), clock=clock)
    healer.started = started
    healer.clock = clock
    return healer


def _review(healer, cluster, cloud, expected=None, driver=None):
    """One round as the monitor runs it: the cluster as stored, reviewed, then recorded."""
    admin = ml_context.get_admin_context()
    cluster = objects.Cluster.get_by_uuid(admin, cluster.uuid)
    template = objects.ClusterTemplate.get_by_uuid(admin, cluster.cluster_template_id)
    finding, nodes = healer.review(driver or RepairingDriver({}), cluster, template,
                                   _finding(cluster, cloud), expected=expected)
    health.record(cluster, finding)
    return finding, nodes


ON = {"auto_healing_enabled": "true", "auto_healing_grace": "30"}


def test_without_the_label_nothing_is_repaired(cloud, healer, make_cluster):
    cluster = _sick(make_cluster, cloud, "default-worker-1")
    _review(healer, cluster, cloud)
    healer.clock.now += 10**6
    finding, nodes = _review(healer, cluster, cloud)
    assert nodes == [] and healing.REASON_KEY not in finding.reason
    assert finding.status == Health.UNHEALTHY


def test_a_node_unhealthy_past_its_grace_is_repaired_by_an_operation(
        cloud, healer, make_cluster, admin):
    cluster = _sick(make_cluster, cloud, "default-worker-1",
                    labels={**ON, "auto_healing_max_unhealthy": "50"})
    assert _review(healer, cluster, cloud)[1] == []  # just seen
    healer.clock.now += 29
    assert _review(healer, cluster, cloud)[1] == []  # within its grace
    healer.clock.now += 2
    finding, nodes = _review(healer, cluster, cloud)
    assert nodes == ["default-worker-1"]
    assert healer.act(cluster, nodes, finding) is True
    assert healer.started == [cluster.uuid]
    started = objects.Cluster.get_by_uuid(admin, cluster.uuid)
    assert (started.status, started.version) == (Status.UPDATE_IN_PROGRESS,
                                                 cluster.version + 1)
    operation = objects.ClusterOperation.get(admin, started.operation_uuid)
    assert operation.kind == states.Kind.REPAIR
    assert operation.params["auto"] is True
    assert "default-worker-1: NodeStatusUnknown" in operation.params["cause"]
    # Another operation runs now: a second start is refused, nothing happens.
    assert healer.act(cluster, nodes, finding) is False


def test_too_many_unhealthy_nodes_hold_healing_back_and_say_why(cloud, healer, make_cluster):
    """Half of the workers at once: a partition or an outage, not broken nodes."""
    cluster = _sick(make_cluster, cloud, "default-worker-1", labels=ON)
    _review(healer, cluster, cloud)
    healer.clock.now += 60
    finding, nodes = _review(healer, cluster, cloud)
    assert nodes == []
    assert "1 of 2 workers are unhealthy, more than 40 %" in finding.reason["healing"]
    assert "network partition" in finding.reason["healing"]
    # With a threshold above it, that node is repaired.
    relaxed = _sick(make_cluster, cloud, "default-worker-1",
                    labels={**ON, "auto_healing_max_unhealthy": "50"})
    _review(healer, relaxed, cloud)
    healer.clock.now += 60
    assert _review(healer, relaxed, cloud)[1] == ["default-worker-1"]


def test_a_master_goes_only_while_the_quorum_survives(cloud, healer, make_cluster):
    labels = {**ON, "auto_healing_max_unhealthy": "100"}
    one_down = _sick(make_cluster, cloud, "default-master-0", masters=3, labels=labels)
    _review(healer, one_down, cloud)
    healer.clock.now += 60
    assert _review(healer, one_down, cloud)[1] == ["default-master-0"]
    two_down = _sick(make_cluster, cloud, "default-master-0", "default-master-1", masters=3,
                     labels=labels)
    _review(healer, two_down, cloud)
    healer.clock.now += 60
    finding, nodes = _review(healer, two_down, cloud)
    assert nodes == []
    assert "quorum would not survive" in finding.reason["healing"]


def test_max_parallel_bounds_each_repair(cloud, healer, make_cluster):
    labels = {**ON, "auto_healing_max_parallel": "2", "auto_healing_max_unhealthy": "100%"}
    cluster = _sick(make_cluster, cloud, "default-worker-0", "default-worker-1",
                    "default-master-0", masters=1, labels=labels)
    _review(healer, cluster, cloud)
    healer.clock.now += 60
    nodes = _review(healer, cluster, cloud)[1]
    assert len(nodes) == 2 and "default-master-0" not in nodes  # one master: no quorum


def test_a_node_that_failed_to_heal_twice_is_left_alone(cloud, healer, make_cluster, admin,
                                                        context):
    cluster = _sick(make_cluster, cloud, "default-worker-1",
                    labels={**ON, "auto_healing_max_unhealthy": "50"})
    for _ in range(2):
        current = objects.Cluster.get_by_uuid(admin, cluster.uuid)
        cluster_operation.start(context, current, states.Kind.REPAIR, "cluster.repair",
                                {"nodes": ["default-worker-1"], "cause": "test"})
        cluster_operation.finish(admin, cluster.uuid, states.Kind.REPAIR,
                                 Status.UPDATE_FAILED, "not back",
                                 operation_uuid=objects.Cluster.get_by_uuid(
                                     admin, cluster.uuid).operation_uuid)
    cluster = objects.Cluster.get_by_uuid(admin, cluster.uuid)
    assert cluster.status == Status.UPDATE_FAILED  # still checked: its last was a repair
    _review(healer, cluster, cloud)
    healer.clock.now += 60
    finding, nodes = _review(healer, cluster, cloud)
    assert nodes == []
    assert "default-worker-1 failed to heal 2 times" in finding.reason["healing"]


def test_labels_that_are_no_numbers_count_as_their_defaults():
    assert healing.settings({"auto_healing_enabled": "True", "auto_healing_grace": "soon",
                             "auto_healing_max_parallel": "x",
                             "auto_healing_max_unhealthy": "40%"}) == (True, 300.0, 1, 40.0)
    assert healing.settings({})[0] is False


def _servers(cluster):
    """The servers the cloud holds for `cluster` (as Driver.expected_nodes gives them)."""
    return RepairingDriver({}).expected_nodes(
        None, cluster, objects.NodeGroup.list_for_clusters(
            ml_context.get_admin_context(), [cluster.uuid]))


def test_a_conductor_taking_the_cluster_over_keeps_the_grace(cloud, healer, make_cluster,
                                                             admin):
    cluster = _sick(make_cluster, cloud, "default-worker-1",
                    labels={**ON, "auto_healing_max_unhealthy": "50"})
    _review(healer, cluster, cloud)  # first seen at 100 by this conductor
    stored = objects.Cluster.get_by_uuid(admin, cluster.uuid)
    assert stored.health_since == {"default-worker-1": "1970-01-01T00:01:40+00:00"}
    assert stored.version == cluster.version and stored.revision == cluster.revision
    other = healing.Healer(lambda context, uuid: None, clock=healer.clock)
    healer.clock.now += 31
    finding, nodes = _review(other, cluster, cloud)  # a new conductor, past the grace
    assert nodes == ["default-worker-1"]
    # Chosen for a repair, the node leaves health_since: its grace starts anew should the
    # repair not heal it.
    assert finding.since == {}
    assert objects.Cluster.get_by_uuid(admin, cluster.uuid).health_since is None


def test_a_node_healthy_again_leaves_health_since(cloud, healer, make_cluster, admin):
    cluster = _sick(make_cluster, cloud, "default-worker-0", "default-worker-1")
    _review(healer, cluster, cloud)
    cloud.ready["default-worker-0"] = True
    healer.clock.now += 5
    _review(healer, cluster, cloud)
    assert objects.Cluster.get_by_uuid(admin, cluster.uuid).health_since == {
        "default-worker-1": "1970-01-01T00:01:40+00:00"}
    cloud.ready["default-worker-1"] = True
    _review(healer, cluster, cloud)
    assert objects.Cluster.get_by_uuid(admin, cluster.uuid).health_since is None


class PlanCounting(RepairingDriver):
    plans = 0

    def plan_repair(self, *args, **kwargs):
        type(self).plans += 1
        return super().plan_repair(*args, **kwargs)


def test_roles_come_from_the_cluster_s_servers_without_a_repair_plan(cloud, healer,
                                                                      make_cluster):
    labels = {**ON, "auto_healing_max_unhealthy": "100"}
    cluster = _sick(make_cluster, cloud, "default-master-0", masters=3, labels=labels)
    servers = _servers(cluster)
    reads = []

    def expected():
        reads.append(1)
        return servers

    driver = PlanCounting({})
    PlanCounting.plans = 0
    assert _review(healer, cluster, cloud, expected, driver)[1] == []
    healer.clock.now += 60
    # A master (of 3), known as one from the servers: its quorum survives.
    assert _review(healer, cluster, cloud, expected, driver)[1] == ["default-master-0"]
    assert PlanCounting.plans == 0 and len(reads) == 2
    # Without the servers, the driver's plan says (a read of the cloud).
    _review(healer, cluster, cloud, None, driver)
    assert PlanCounting.plans == 1


def test_a_node_the_coe_no_longer_lists_is_healed_like_one_not_ready(cloud, healer,
                                                                     make_cluster, admin):
    cluster = _sick(make_cluster, cloud, labels={**ON, "auto_healing_max_unhealthy": "50"})
    del cloud.ready["default-worker-1"]  # forgotten by the COE (Mesos, after ~75 s)
    servers = _servers(cluster)
    template = objects.ClusterTemplate.get_by_uuid(admin, cluster.cluster_template_id)

    def review():
        current = objects.Cluster.get_by_uuid(admin, cluster.uuid)
        finding = health.assess(base.CoeHealth("ok", Coe(cloud).nodes()), None,
                                current.master_count, current.node_count, servers)
        finding, nodes = healer.review(RepairingDriver({}), current, template, finding)
        health.record(current, finding)
        return finding, nodes

    finding, nodes = review()
    assert nodes == [] and finding.reason["default-worker-1.Ready"] == "NotRegistered"
    healer.clock.now += 31
    finding, nodes = review()
    assert nodes == ["default-worker-1"]
    assert healer.act(cluster, nodes, finding) is True
    operation = objects.ClusterOperation.get(
        admin, objects.Cluster.get_by_uuid(admin, cluster.uuid).operation_uuid)
    assert "default-worker-1: not registered in the COE" in operation.params["cause"]
