"""The rolling upgrade runner (conductor/upgrade.py) on a real database, with a driver whose
cloud and COE are in memory: the phases of each batch, what is recorded per batch, the
invariants (drained before replaced, never more than a batch away, resumed not redone), and
how it ends."""

from __future__ import annotations

from typing import Any

from oslo_utils import uuidutils
import pytest

from magnum_lite import objects
from magnum_lite.common import context as ml_context
from magnum_lite.common import exception, states, upgrade_params
from magnum_lite.conductor import upgrade
from magnum_lite.drivers import base
from magnum_lite.objects import cluster_operation, fields
from tests.unit.conductor import helpers
from tests.unit.conductor.conftest import NEW_KUBE, OLD_KUBE
from tests.unit.drivers import fake_plugin

OLD, NEW = OLD_KUBE, NEW_KUBE


class Cloud:
    """The cluster's nodes in the cloud and in the COE, shared by every driver instance."""

    def __init__(self, masters: int = 3, workers: int = 4) -> None:
        self.nodes = {f"m{i}": OLD for i in range(masters)}
        self.nodes.update({f"w{i}": OLD for i in range(workers)})
        self.masters, self.workers = masters, workers
        self.keys: dict[str, str] = {}  # node -> the target key it was moved to
        self.sent: list[list[str]] = []  # each batch update, in order
        self.rolling: dict[str, int] = {}  # node -> checks until its update completes
        self.incoming: dict[str, tuple[str, str]] = {}  # node -> (key, version) it gets
        self.down: set[str] = set()  # replaced, not back yet
        self.cordoned: set[str] = set()
        self.drain_refusals = 0  # drains answered "not yet" (a PodDisruptionBudget)
        self.never_ready: set[str] = set()
        self.settled = 0
        self.unavailable_peak = 0  # the most nodes cordoned or down at once

    def _peak(self) -> None:
        self.unavailable_peak = max(self.unavailable_peak, len(self.cordoned | self.down))


class Coe(base.CoeNodes):
    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud

    def nodes(self) -> dict[str, base.NodeHealth]:
        c = self.cloud
        return {name: base.NodeHealth(name, ready=name not in c.down, version=version,
                                      schedulable=name not in c.cordoned,
                                      reason="NotReady" if name in c.down else None)
                for name, version in c.nodes.items()}

    def drain(self, names: list[str]) -> bool:
        self.cloud.cordoned |= set(names)
        self.cloud._peak()
        if self.cloud.drain_refusals:
            self.cloud.drain_refusals -= 1
            return False
        return True

    def uncordon(self, names: list[str]) -> None:
        self.cloud.cordoned -= set(names)


class UpgradingDriver(fake_plugin.FakeDriver):
    """Plans batches of the in-memory cloud's nodes and moves them when asked."""

    cloud: Cloud

    def coe_version(self, cluster: Any, cluster_template: Any) -> str:
        return (cluster.labels or {}).get("kube_tag", OLD)

    def upgrade(self, context, cluster, nodegroups, *, max_batch_size, nodegroup_uuids,
                target_key, undo_key=None):
        """The nodes not moved to `target_key` yet (with `undo_key`: those moved to it)."""
        masters = next(ng for ng in nodegroups if ng.role == "master")
        workers = next(ng for ng in nodegroups if ng.role == "worker")

        def todo(name: str) -> bool:
            if undo_key is not None:
                return self.cloud.keys.get(name) == undo_key
            return self.cloud.keys.get(name) != target_key

        names = [f"m{i}" for i in range(self.cloud.masters) if todo(f"m{i}")]
        batches = [{"nodegroup": masters.uuid, "nodegroup_name": masters.name,
                    "role": "master", "nodes": [n], "stack": "cluster"} for n in names]
        left = [f"w{i}" for i in range(self.cloud.workers) if todo(f"w{i}")]
        for start in range(0, len(left), max_batch_size):
            batches.append({"nodegroup": workers.uuid, "nodegroup_name": workers.name,
                            "role": "worker", "nodes": left[start:start + max_batch_size],
                            "stack": "workers"})
        return batches

    def roll_batch(self, context, nodegroup, batch, target, *, credentials):
        assert set(batch["nodes"]) <= self.cloud.cordoned, "replaced before it was drained"
        version = target.builder.coe_version(target.cluster, target.cluster_template)
        self.cloud.sent.append(list(batch["nodes"]))
        for name in batch["nodes"]:
            self.cloud.rolling[name] = 1
            self.cloud.incoming[name] = (target.key, version)
            self.cloud.down.add(name)
        self.cloud._peak()

    def batch_state(self, context, batch, target_key):
        c = self.cloud
        if not all(c.keys.get(n) == target_key or c.incoming.get(n, ("",))[0] == target_key
                   for n in batch["nodes"]):
            return base.BATCH_UNSENT, None
        pending = [n for n in batch["nodes"] if c.rolling.get(n, 0) > 0]
        for name in pending:
            c.rolling[name] -= 1
        if pending:
            return base.BATCH_ROLLING, None
        for name in batch["nodes"]:
            if name in c.incoming:
                c.keys[name], c.nodes[name] = c.incoming.pop(name)
            if name not in c.never_ready:
                c.down.discard(name)
        return base.BATCH_DONE, None

    def settle_upgrade(self, context, nodegroup, batch, target, *, credentials):
        self.cloud.settled += 1
        return base.BATCH_DONE, None

    def coe_nodes(self, cluster, cluster_template, *, credentials):
        return Coe(self.cloud)


@pytest.fixture
def cloud() -> Cloud:
    return Cloud()


@pytest.fixture
def driver(fake_driver, cloud, template):
    UpgradingDriver.cloud = cloud
    fake_plugin.install(fake=UpgradingDriver)
    template.labels = {"kube_tag": OLD}
    template.save()
    return UpgradingDriver


@pytest.fixture
def admin():
    admin = ml_context.get_admin_context()
    admin.all_projects = True
    return admin


def _start(context, make_cluster, template, target, max_batch_size=2, **labels):
    cluster = make_cluster(status=fields.ClusterStatus.CREATE_COMPLETE,
                           labels={"kube_tag": OLD, **labels})
    return _upgrade(context, cluster, template, target, max_batch_size)


def _upgrade(context, cluster, template, target, max_batch_size):
    """Start the upgrade operation as the API does (its params), without the cast."""
    cluster_operation.start(context, cluster, states.Kind.UPGRADE, "cluster.upgrade", {
        "cluster_template_uuid": target.uuid, "driver_id": None, "driver_version": None,
        "max_batch_size": max_batch_size, "nodegroup_uuid": None,
        "from_cluster_template_uuid": template.uuid, "from_driver_id": None,
        "from_driver_version": None})
    return objects.Cluster.get_by_uuid(context, cluster.uuid)


def _planned(manager, context, cluster):
    manager.cluster_upgrade(context, cluster.uuid)
    helpers.settle()
    return helpers.operation_of(context, cluster.uuid)


def _round(admin, cluster_uuid) -> bool:
    """One reconciler check of the upgrade, as the reconciler makes it."""
    cluster = objects.Cluster.get_by_uuid(admin, cluster_uuid)
    operation = objects.ClusterOperation.get(admin, cluster.operation_uuid)
    template = objects.ClusterTemplate.get_by_uuid(admin, cluster.cluster_template_id)
    nodegroups = objects.NodeGroup.list_for_clusters(admin, [cluster_uuid])
    return upgrade.Run(admin, UpgradingDriver({}), cluster, nodegroups, template, operation,
                       credentials=lambda: base.ClusterCredentials()).advance()


def _run(admin, cluster_uuid, rounds=100):
    for _ in range(rounds):
        cluster = objects.Cluster.get_by_uuid(admin, cluster_uuid)
        if cluster.status != fields.ClusterStatus.UPDATE_IN_PROGRESS:
            return cluster
        _round(admin, cluster_uuid)
    raise AssertionError("the upgrade did not end")


def _batch_events(admin, cluster_uuid):
    return [e.status_reason for e in objects.ClusterEvent.list(admin, cluster_uuid)
            if e.event_type == "cluster.upgrade.batch"]


def test_the_plan_is_kept_on_the_operation_and_followed(driver, manager, context,
                                                        make_cluster, template, target):
    cluster = _start(context, make_cluster, template, target)
    operation = _planned(manager, context, cluster)
    assert operation.step == states.Step.FOLLOWING
    assert [b["nodes"] for b in operation.plan["batches"]] == [
        ["m0"], ["m1"], ["m2"], ["w0", "w1"], ["w2", "w3"]]
    assert (operation.plan["from_version"], operation.plan["to_version"]) == (OLD, NEW)
    assert operation.plan["phase"] == upgrade.DRAIN


def test_batches_go_masters_first_drained_and_never_more_than_a_batch_away(
        driver, manager, context, admin, make_cluster, template, target, cloud):
    cluster = _start(context, make_cluster, template, target, max_batch_size=2)
    version = cluster.version
    _planned(manager, context, cluster)
    done = _run(admin, cluster.uuid)
    assert done.status == fields.ClusterStatus.UPDATE_COMPLETE, done.status_reason
    assert cloud.sent == [["m0"], ["m1"], ["m2"], ["w0", "w1"], ["w2", "w3"]]
    assert cloud.unavailable_peak == 2
    assert set(cloud.nodes.values()) == {NEW}
    assert cloud.cordoned == set()  # every node uncordoned again
    assert cloud.settled == 2  # the masters' stack and the workers' stack
    # The cluster shows its new template, labels and COE version; one operation, one version.
    assert done.cluster_template_id == target.uuid
    assert done.labels == {"kube_tag": NEW}
    assert done.coe_version == NEW
    assert done.version == version
    for ng in objects.NodeGroup.list_for_clusters(admin, [cluster.uuid]):
        assert (ng.version, ng.image_id) == (NEW, "ubuntu-image-2")
    events = _batch_events(admin, cluster.uuid)
    assert [e.split(":")[0] for e in events] == [f"batch {i} of 5 ({r}s of nodegroup "
                                                 f"default-{r})" for i, r in
                                                 enumerate(["master"] * 3 + ["worker"] * 2,
                                                           start=1)]
    assert f"w2, w3 {OLD} -> {NEW} in" in events[-1]
    operation = helpers.operation_of(context, cluster.uuid)
    assert operation.outcome == states.Outcome.SUCCEEDED
    assert [f["batch"] for f in operation.plan["finished"]] == [0, 1, 2, 3, 4]


def test_the_target_template_s_labels_win_and_the_cluster_s_others_stay(
        driver, manager, context, admin, make_cluster, template, target):
    cluster = _start(context, make_cluster, template, target, max_batch_size=4,
                     team="storage")
    _planned(manager, context, cluster)
    assert _run(admin, cluster.uuid).labels == {"kube_tag": NEW, "team": "storage"}


def test_a_drain_held_back_by_a_budget_waits_before_anything_is_replaced(
        driver, manager, context, admin, make_cluster, template, target, cloud):
    cluster = _start(context, make_cluster, template, target)
    _planned(manager, context, cluster)
    cloud.drain_refusals = 3
    for _ in range(3):
        assert _round(admin, cluster.uuid) is False
    assert cloud.sent == []
    assert helpers.operation_of(context, cluster.uuid).plan["phase"] == upgrade.DRAIN
    assert _round(admin, cluster.uuid) is True
    assert cloud.sent == [["m0"]]


def test_a_drain_that_never_finishes_fails_naming_the_nodes(
        driver, manager, context, admin, make_cluster, template, target, cloud, monkeypatch,
        config):
    config.set_override("upgrade_drain_timeout", 30, group="conductor")
    cluster = _start(context, make_cluster, template, target)
    _planned(manager, context, cluster)
    cloud.drain_refusals = 10**6
    _round(admin, cluster.uuid)
    later = upgrade._now() + 31
    monkeypatch.setattr(upgrade, "_now", lambda: later)
    failed = _run(admin, cluster.uuid)
    assert failed.status == fields.ClusterStatus.UPDATE_FAILED
    assert "m0 were not drained within 30 s" in failed.status_reason
    assert helpers.operation_of(context, cluster.uuid).fault == states.Fault.DRAIN_FAILED
    assert cloud.sent == []


def test_a_node_that_never_comes_back_fails_the_upgrade_naming_it_and_a_new_call_resumes(
        driver, manager, context, admin, make_cluster, template, target, cloud, monkeypatch,
        config):
    config.set_override("upgrade_node_timeout", 60, group="conductor")
    cluster = _start(context, make_cluster, template, target)
    _planned(manager, context, cluster)
    cloud.never_ready.add("w2")
    clock = [upgrade._now()]
    monkeypatch.setattr(upgrade, "_now", lambda: clock[0])
    for _ in range(40):
        _round(admin, cluster.uuid)
        clock[0] += 5
        if objects.Cluster.get_by_uuid(admin, cluster.uuid).status != \
                fields.ClusterStatus.UPDATE_IN_PROGRESS:
            break
    failed = objects.Cluster.get_by_uuid(admin, cluster.uuid)
    assert failed.status == fields.ClusterStatus.UPDATE_FAILED
    assert "node w2 is not back healthy at version v1.31.1 within 60 s" in \
        failed.status_reason
    assert "w2: not ready (NotReady)" in failed.status_reason
    assert failed.cluster_template_id == template.uuid  # not upgraded: it is not done
    assert len(_batch_events(admin, cluster.uuid)) == 4  # the batches that finished stay
    # A new upgrade call plans only what is left (w2 and w3 were replaced already) and
    # succeeds only once w2 is back.
    cluster = _start_again(context, failed, template, target)
    operation = _planned(manager, context, cluster)
    assert operation.plan["batches"] == []
    for _ in range(3):
        _round(admin, cluster.uuid)
    assert objects.Cluster.get_by_uuid(admin, cluster.uuid).status == \
        fields.ClusterStatus.UPDATE_IN_PROGRESS
    cloud.never_ready.clear()
    cloud.down.discard("w2")
    done = _run(admin, cluster.uuid)
    assert done.status == fields.ClusterStatus.UPDATE_COMPLETE, done.status_reason
    assert set(cloud.nodes.values()) == {NEW}


def _start_again(context, cluster, template, target):
    return _upgrade(context, cluster, template, target, 2)


def test_a_new_owner_resumes_at_the_batch_in_progress_and_redoes_none(
        driver, manager, context, admin, make_cluster, template, target, cloud):
    cluster = _start(context, make_cluster, template, target)
    _planned(manager, context, cluster)
    while len(cloud.sent) < 4:  # into the first worker batch
        _round(admin, cluster.uuid)
    # Each round is a new Run from the record, as a conductor taking it over makes it.
    done = _run(admin, cluster.uuid)
    assert done.status == fields.ClusterStatus.UPDATE_COMPLETE
    assert cloud.sent == [["m0"], ["m1"], ["m2"], ["w0", "w1"], ["w2", "w3"]]
    events = _batch_events(admin, cluster.uuid)
    assert len(events) == len(set(events)) == 5


def test_of_two_conductors_reading_the_same_record_one_moves_it_on(
        driver, manager, context, admin, make_cluster, template, target, cloud):
    cluster = _start(context, make_cluster, template, target)
    _planned(manager, context, cluster)
    cluster = objects.Cluster.get_by_uuid(admin, cluster.uuid)
    operation = objects.ClusterOperation.get(admin, cluster.operation_uuid)
    nodegroups = objects.NodeGroup.list_for_clusters(admin, [cluster.uuid])
    runs = [upgrade.Run(admin, UpgradingDriver({}), cluster, nodegroups, template, operation,
                        credentials=lambda: base.ClusterCredentials()) for _ in range(2)]
    assert runs[0].advance() is True
    assert runs[1].advance() is True  # it found the record moved on and wrote nothing
    assert cloud.sent == [["m0"]]
    plan = objects.ClusterOperation.get(admin, operation.uuid).plan
    assert plan["phase"] == upgrade.ROLL


def test_an_upgrade_needs_its_template(driver, manager, context, admin, make_cluster,
                                       template):
    cluster = make_cluster(status=fields.ClusterStatus.CREATE_COMPLETE)
    cluster_operation.start(context, cluster, states.Kind.UPGRADE, "cluster.upgrade", {
        "cluster_template_uuid": uuidutils.generate_uuid(), "max_batch_size": 1})
    manager.cluster_upgrade(context, cluster.uuid)
    helpers.settle()
    failed = objects.Cluster.get_by_uuid(admin, cluster.uuid)
    assert failed.status == fields.ClusterStatus.UPDATE_FAILED
    assert "could not be found" in failed.status_reason or "not found" in \
        failed.status_reason.lower()


def test_versions_compare_as_kubernetes_and_docker_name_them():
    assert upgrade._same_version("v1.31.1", "v1.31.1")
    assert upgrade._same_version("1.31.1", "v1.31.1")
    assert upgrade._same_version("26.1.4", "26.1")
    assert not upgrade._same_version("v1.30.4", "v1.31.1")
    assert not upgrade._same_version("v1.31.10", "v1.31.1")
    assert not upgrade._same_version(None, "v1.31.1")
    assert upgrade._same_version("anything", None)


def test_a_coe_that_lists_no_masters_judges_a_master_batch_by_its_api(
        driver, manager, context, admin, make_cluster, template, target, cloud, monkeypatch):
    """Mesos lists its agents only: its masters' batches wait on the API answering."""
    agents_only = Coe.nodes
    monkeypatch.setattr(Coe, "nodes", lambda self: {
        name: node for name, node in agents_only(self).items() if name.startswith("w")})
    cluster = _start(context, make_cluster, template, target)
    _planned(manager, context, cluster)
    done = _run(admin, cluster.uuid)
    assert done.status == fields.ClusterStatus.UPDATE_COMPLETE, done.status_reason
    assert cloud.sent[:3] == [["m0"], ["m1"], ["m2"]]


def test_the_target_template_cannot_go_while_an_upgrade_moves_to_it(
        driver, manager, context, admin, make_cluster, template, target):
    cluster = _start(context, make_cluster, template, target)
    _planned(manager, context, cluster)
    with pytest.raises(exception.ClusterTemplateReferenced):
        target.destroy()
    assert _run(admin, cluster.uuid).status == fields.ClusterStatus.UPDATE_COMPLETE
    objects.Cluster.get_by_uuid(admin, cluster.uuid)  # now on it: still referenced
    with pytest.raises(exception.ClusterTemplateReferenced):
        target.destroy()


def test_an_upgrade_whose_target_is_gone_fails_instead_of_stalling(
        driver, manager, context, admin, make_cluster, template, target):
    cluster = _start(context, make_cluster, template, target)
    operation = _planned(manager, context, cluster)
    operation.update(params={**operation.params,
                             "cluster_template_uuid": uuidutils.generate_uuid()})
    failed = _run(admin, cluster.uuid)
    assert failed.status == fields.ClusterStatus.UPDATE_FAILED
    assert "the upgrade's target is gone" in failed.status_reason


# -- rollback of an upgrade that did not finish ------------------------------------------------

def _ask_rollback(context, cluster_uuid) -> bool:
    """A rollback asked while the upgrade runs, recorded as the API records it."""
    from magnum_lite.api.controllers.v1 import cluster_upgrade

    cluster = objects.Cluster.get_by_uuid(context, cluster_uuid)
    return cluster_upgrade.cancel(context, cluster,
                                  cluster_upgrade.UpgradeRequest(None, None, None,
                                                                 rollback=True))


def test_a_rollback_asked_mid_upgrade_stops_after_the_batch_and_takes_back_what_moved(
        driver, manager, context, admin, make_cluster, template, target, cloud):
    cluster = _start(context, make_cluster, template, target, max_batch_size=2)
    version = cluster.version
    operation = _planned(manager, context, cluster)
    while len(cloud.sent) < 4:  # the first worker batch is sent
        _round(admin, cluster.uuid)
    assert _ask_rollback(context, cluster.uuid)
    done = _run(admin, cluster.uuid)
    assert done.status == fields.ClusterStatus.UPDATE_COMPLETE, done.status_reason
    assert done.status_reason == f"rolled back to {OLD} (4 batches)"
    # The batch in progress finished; w2 and w3 were never touched; then workers first,
    # masters last, each taken back once.
    assert cloud.sent == [["m0"], ["m1"], ["m2"], ["w0", "w1"],
                          ["w0", "w1"], ["m0"], ["m1"], ["m2"]]
    assert set(cloud.nodes.values()) == {OLD}
    assert cloud.unavailable_peak == 2 and cloud.cordoned == set()
    # One operation, one version; the cluster keeps its template and labels.
    assert done.version == version
    assert done.cluster_template_id == template.uuid
    assert done.labels == {"kube_tag": OLD}
    assert done.coe_version == OLD
    events = [(e.event_type, e.status_reason) for e in
              objects.ClusterEvent.list(admin, cluster.uuid)
              if e.event_type.startswith("cluster.upgrade.")]
    kinds = [kind for kind, _ in events]
    # Asked during the 4th batch, which finishes; then the rollback starts.
    assert kinds == ["cluster.upgrade.batch"] * 3 + ["cluster.upgrade.rollback",
                                                     "cluster.upgrade.batch",
                                                     "cluster.upgrade.rollback"] + [
        "cluster.upgrade.batch"] * 4
    assert "stopped after 4 of 5 batches; taking back m0, m1, m2, w0, w1" in events[5][1]
    assert f"w0, w1 {NEW} -> {OLD}" in events[6][1]
    finished = helpers.operation_of(context, cluster.uuid)
    assert finished.uuid == operation.uuid
    assert finished.params["rollback"] is True and finished.params["cancelled"]
    assert finished.outcome == states.Outcome.SUCCEEDED


def test_a_rollback_asked_while_a_batch_drains_lets_it_go_and_replaces_nothing(
        driver, manager, context, admin, make_cluster, template, target, cloud):
    cluster = _start(context, make_cluster, template, target)
    _planned(manager, context, cluster)
    cloud.drain_refusals = 10
    _round(admin, cluster.uuid)
    assert cloud.cordoned == {"m0"} and cloud.sent == []
    assert _ask_rollback(context, cluster.uuid)
    done = _run(admin, cluster.uuid)
    assert done.status == fields.ClusterStatus.UPDATE_COMPLETE, done.status_reason
    assert cloud.sent == [] and cloud.cordoned == set()
    assert done.cluster_template_id == template.uuid


def test_a_rollback_of_a_failed_upgrade_takes_back_only_the_nodes_it_moved(
        driver, manager, context, admin, make_cluster, template, target, cloud, monkeypatch,
        config):
    config.set_override("upgrade_node_timeout", 60, group="conductor")
    cluster = _start(context, make_cluster, template, target)
    _planned(manager, context, cluster)
    cloud.never_ready.add("w0")
    clock = [upgrade._now()]
    monkeypatch.setattr(upgrade, "_now", lambda: clock[0])
    for _ in range(40):
        _round(admin, cluster.uuid)
        clock[0] += 5
        if objects.Cluster.get_by_uuid(admin, cluster.uuid).status != \
                fields.ClusterStatus.UPDATE_IN_PROGRESS:
            break
    failed_op = helpers.operation_of(context, cluster.uuid)
    assert failed_op.outcome == states.Outcome.FAILED
    cloud.never_ready.clear()
    params = upgrade_params.rollback_of(failed_op.params, failed_op.plan)
    cluster_operation.start(context, objects.Cluster.get_by_uuid(admin, cluster.uuid),
                            states.Kind.UPGRADE, "cluster.upgrade", params)
    operation = _planned(manager, context, cluster)
    assert [b["nodes"] for b in operation.plan["batches"]] == [
        ["w0", "w1"], ["m0"], ["m1"], ["m2"]]
    assert (operation.plan["from_version"], operation.plan["to_version"]) == (NEW, OLD)
    done = _run(admin, cluster.uuid)
    assert done.status == fields.ClusterStatus.UPDATE_COMPLETE, done.status_reason
    assert set(cloud.nodes.values()) == {OLD}
    assert cloud.sent[-4:] == [["w0", "w1"], ["m0"], ["m1"], ["m2"]]
    assert ["w2", "w3"] not in cloud.sent  # never moved, never taken back
