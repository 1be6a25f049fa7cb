"""The rolling upgrade planner and runner (DESIGN.md §8).

The driver plans the batches (masters one at a time, then workers in batches of
`max_batch_size`) and moves each batch in the cloud; this module runs the plan and keeps
where it stands on the operation record (`cluster_operation.plan`), so a conductor killed
mid-batch is followed by its successor on the hash ring from the batch in progress, never
redoing a finished one. Per batch, in phases:

- drain: through the COE API (cordon and evict, Swarm drain, Mesos maintenance) until it
  says nothing movable is left on the batch's nodes;
- roll: the driver's update in which only the batch's members change (sent once: the
  driver tells a sent update from an unsent one by what the cloud holds);
- wait: the batch's nodes uncordoned (a node rebuilt under its old name comes back as the
  cordoned node it was), until the COE reports every one ready at the target version;
- uncordon again, then the batch is recorded as finished with its event, in one
  transaction.

After the last batch every node the upgrade is for must be ready at the target (also nodes
an earlier, failed call moved: a resumed upgrade waits for them); then every stack that
held a batch is settled (the target becomes its plain state) and the cluster shows the new
template, driver version, labels and COE version.
A drain or a node that does not finish in time, or a failed update, ends the upgrade in
UPDATE_FAILED naming the node and the cause; the nodes moved so far stay, and a new
upgrade call plans only the nodes still to move. The reconciler calls `advance` for every
upgrade it follows, as it reads other operations' status from the cloud.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from oslo_log import log as logging

from magnum_lite import objects
from magnum_lite.common import driver_factory, exception, failpoints, states, upgrade_params
from magnum_lite.conductor.plan_run import Failed, PlanRun
from magnum_lite.conf import CONF
from magnum_lite.drivers import base as drivers_base
from magnum_lite.objects import cluster_operation as operations

LOG = logging.getLogger(__name__)

Status = states.Status
Fault = states.Fault

DRAIN, ROLL, WAIT, VERIFY, SETTLE = upgrade_params.PHASES
#: How many phases one call of `advance` may pass (a drain done at once goes on to roll).
MAX_STEPS_PER_ROUND = 4


def _now() -> float:
    """Wall-clock seconds: the plan's times outlive the process that wrote them."""
    return time.time()


def _target_key(template_uuid: str, driver_id: str | None, labels: dict) -> str:
    """A short name of what the target nodes run, kept in the cloud by the driver."""
    text = json.dumps([template_uuid, driver_id, sorted(labels.items())])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def target_for(context: Any, cluster: Any, params: dict) -> tuple[
        drivers_base.UpgradeTarget, Any]:
    """(the upgrade's target, the target Driver row or None) from its parameters; for a
    rollback that undoes an upgrade which did not finish, with that upgrade's target.

    :raises exception.MagnumLiteException: the template or Driver version is gone, or no
        plugin serves it.
    """
    template = objects.ClusterTemplate.get_by_uuid(context, params["cluster_template_uuid"])
    row = None
    if params.get("driver_id"):
        row = objects.Driver.get_by_uuid(context, params["driver_id"])
    _name, plugin, config = driver_factory.plugin_for(row, template)
    if plugin is None:
        raise exception.NoDriverInstalled(server_type=template.server_type,
                                          distro=template.cluster_distro, coe=template.coe)
    labels = cluster.upgraded_labels(template)
    view = cluster.obj_clone()
    view.labels = labels
    view.cluster_template_id = template.uuid
    undone = None
    if params.get("undo_key"):
        undone, _undone_row = target_for(context, cluster, {
            "cluster_template_uuid": params["from_cluster_template_uuid"],
            "driver_id": params.get("from_driver_id")})
    return drivers_base.UpgradeTarget(plugin(config), view, template,
                                      _target_key(template.uuid, params.get("driver_id"),
                                                  labels), undone), row


def new_plan(context: Any, driver: drivers_base.Driver, cluster: Any, nodegroups: list[Any],
             template: Any, params: dict) -> dict[str, Any]:
    """The plan kept on the operation: the driver's batches (to the target `params` name)
    and where the run stands.

    A rollback goes workers first, masters last (a kubelet must never be newer than its
    API server); one that undoes an upgrade which did not finish (`undo_key`, the target
    key of that upgrade's plan) takes back only the nodes that upgrade moved.

    :raises exception.MagnumLiteException: the target is gone (see target_for).
    """
    target, _row = target_for(context, cluster, params)
    nodegroup_uuids = [params["nodegroup_uuid"]] if params.get("nodegroup_uuid") else None
    undo = params.get("undo_key")
    batches = driver.upgrade(context, cluster, nodegroups,
                             max_batch_size=int(params.get("max_batch_size") or 1),
                             nodegroup_uuids=nodegroup_uuids, target_key=target.key,
                             undo_key=undo)
    if params.get("rollback"):
        batches = ([b for b in batches if b["role"] != "master"]
                   + [b for b in batches if b["role"] == "master"])
    return {
        "target_key": target.key,
        "from_version": params.get("undo_version") if undo else driver.coe_version(
            cluster, template),
        "to_version": target.builder.coe_version(target.cluster, target.cluster_template),
        "batches": batches,
        "batch": 0,
        "phase": DRAIN if batches else VERIFY,
        # The nodes that must be ready at the target before it succeeds: every node of the
        # COE for a whole cluster (also those a failed earlier call moved), else the
        # nodegroup's batches'.
        "verify": None if nodegroup_uuids is None else sorted(
            {name for batch in batches for name in batch["nodes"]}),
        "since": _now(),
        "finished": [],
    }


def _same_version(reported: str | None, wanted: str | None) -> bool:
    """Whether a node's reported version is the target's (v1.31.1 and 1.31.1 alike; a
    wanted 26.1 matches a reported 26.1.4)."""
    if wanted is None:
        return True
    if reported is None:
        return False
    got, want = reported.lstrip("v"), wanted.lstrip("v")
    return got == want or got.startswith((want + ".", want + "-", want + "+"))


def _nodegroup_view(nodegroups: list[Any], uuid: str, from_template: Any, target: Any
                    ) -> Any:
    """The batch's nodegroup as the target makes it: an image it had from its old template
    becomes the target template's (an image of its own stays)."""
    nodegroup = next((ng for ng in nodegroups if ng.uuid == uuid), None)
    if nodegroup is None:
        raise Failed(f"nodegroup {uuid} is gone", Fault.INVALID)
    view = nodegroup.obj_clone()
    if not view.image_id or (from_template is not None
                             and view.image_id == from_template.image_id):
        view.image_id = target.cluster_template.image_id
    return view


class Run(PlanRun):
    """One round of an upgrade the reconciler follows: a few phase steps, each recorded."""

    def __init__(self, context: Any, driver: drivers_base.Driver, cluster: Any,
                 nodegroups: list[Any], template: Any, operation: Any,
                 credentials: drivers_base.CredentialsLoader) -> None:
        super().__init__(context, driver, cluster, template, operation, credentials)
        self.nodegroups = nodegroups
        self._target: tuple[drivers_base.UpgradeTarget, Any] | None = None

    @property
    def target(self) -> drivers_base.UpgradeTarget:
        return self._resolved()[0]

    @property
    def row(self) -> Any:
        return self._resolved()[1]

    def _resolved(self) -> tuple[drivers_base.UpgradeTarget, Any]:
        """The target, read once per round; one gone (its template or Driver version
        deleted, its plugin uninstalled) fails the upgrade instead of stalling it."""
        if self._target is None:
            try:
                self._target = target_for(self.context, self.cluster,
                                          self.operation.params or {})
            except (exception.NotFound, exception.NoDriverInstalled) as err:
                raise Failed(f"the upgrade's target is gone: {err}", Fault.INVALID) from err
        return self._target

    # -- the round ------------------------------------------------------------------------

    def advance(self) -> bool:
        """Move the upgrade on as far as the cloud and the COE allow now; True when it
        moved (the reconciler then checks again soon)."""
        moved = False
        try:
            for _step in range(MAX_STEPS_PER_ROUND):
                if not self._step():
                    break
                moved = True
                if self.plan.get("phase") is None:
                    break
        except Failed as failure:
            self._fail(failure.reason, failure.fault)
            return True
        except exception.ConcurrentUpdate:
            LOG.info("Cluster %s: its upgrade moved on elsewhere", self.cluster.uuid)
            return True
        return moved

    def _step(self) -> bool:
        phase = self.plan.get("phase")
        params = self.operation.params or {}
        if params.get("cancel") and not params.get("rollback") and phase in (DRAIN, VERIFY):
            return self._cancel(params)
        if phase == SETTLE:
            return self._settle()
        if phase == VERIFY:
            return self._verify()
        batches = self.plan.get("batches") or []
        index = int(self.plan.get("batch", 0))
        if index >= len(batches):
            return self._save(phase=VERIFY)
        batch = batches[index]
        if phase == DRAIN:
            return self._drain(batch)
        if phase == ROLL:
            return self._roll(batch)
        if phase == WAIT:
            return self._wait(batch, index, len(batches))
        raise Failed(f"the upgrade's plan has an unknown phase {phase!r}", Fault.INTERNAL_ERROR)

    # -- phases ---------------------------------------------------------------------------

    def _elapsed(self) -> float:
        return _now() - float(self.plan.get("since") or _now())

    def _drain(self, batch: dict) -> bool:
        coe = self._coe()
        if coe is not None:
            try:
                drained = coe.drain(list(batch["nodes"]))
                why = "pods or tasks are still on them"
            except exception.CoeError as err:
                drained, why = False, str(err)
            if not drained:
                if self._elapsed() > CONF.conductor.upgrade_drain_timeout:
                    raise Failed(f"nodes {', '.join(batch['nodes'])} were not drained "
                                  f"within {CONF.conductor.upgrade_drain_timeout} s: {why}",
                                  Fault.DRAIN_FAILED)
                return False
        return self._save(phase=ROLL, batch_started=self.plan.get("batch_started")
                          or _now())

    def _nodegroup(self, batch: dict) -> Any:
        return _nodegroup_view(self.nodegroups, batch["nodegroup"], self.template, self.target)

    def _roll(self, batch: dict) -> bool:
        state, reason = self.driver.batch_state(self.context, batch, self.target.key)
        if state == drivers_base.BATCH_UNSENT:
            self.driver.roll_batch(self.context, self._nodegroup(batch), batch, self.target,
                                   credentials=self.credentials)
            # A fault test stops the conductor here: the batch's update sent, mid-batch.
            failpoints.hit(f"conductor.upgrade.batch_{self.plan.get('batch', 0)}.sent")
            return False
        if state == drivers_base.BATCH_FAILED:
            raise Failed(f"replacing {', '.join(batch['nodes'])} failed: {reason}",
                          Fault.CLOUD_ERROR)
        if state == drivers_base.BATCH_DONE:
            # A node rebuilt under its old name joins as the cordoned node it was
            # (Kubernetes keeps the Node object; Mesos refuses a machine that is down): let
            # it in now; the wait's end asks again.
            self._uncordon(list(batch["nodes"]))
            return self._save(phase=WAIT)
        return False

    def _masters(self) -> set[str]:
        return {name for batch in self.plan.get("batches") or []
                if batch["role"] == "master" for name in batch["nodes"]}

    def _behind(self, coe: drivers_base.CoeNodes, names: list[str] | None,
                role: str | None = None) -> bool:
        """Whether some of the nodes `names` (None: every node the COE knows) are not ready
        at the target version yet; past the node timeout that fails the upgrade.

        A COE that lists no masters (Mesos lists its agents) judges a master batch by its
        API answering at all.
        """
        wanted = self.plan.get("to_version")
        try:
            nodes = coe.nodes()
            if role == "master" and not self._masters() & set(nodes):
                names = []
            behind = [name for name in (sorted(nodes) if names is None else names)
                      if name not in nodes or not nodes[name].ready
                      or not _same_version(nodes[name].version, wanted)]
            why = "; ".join(_health(name, nodes.get(name), wanted) for name in behind)
        except exception.CoeError as err:
            behind, why = list(names or ["the cluster's nodes"]), str(err)
        if behind and self._elapsed() > CONF.conductor.upgrade_node_timeout:
            raise Failed(f"node {', '.join(behind)} is not back healthy at version "
                          f"{wanted} within {CONF.conductor.upgrade_node_timeout} s: {why}",
                          Fault.NODE_NOT_READY)
        return bool(behind)

    def _verify(self) -> bool:
        """Every node the upgrade is for ready at the target: only then it may succeed."""
        coe = self._coe()
        if coe is not None and self._behind(coe, self.plan.get("verify")):
            return False
        return self._save(phase=SETTLE)

    def _wait(self, batch: dict, index: int, total: int) -> bool:
        coe = self._coe()
        if coe is not None:
            if self._behind(coe, list(batch["nodes"]), batch["role"]):
                return False
            if not self._uncordon(list(batch["nodes"])):
                return False
        seconds = round(_now() - float(self.plan.get("batch_started") or _now()), 1)
        finished = [*self.plan.get("finished", []), {"batch": index, "seconds": seconds}]
        reason = (f"batch {index + 1} of {total} ({batch['role']}s of nodegroup "
                  f"{batch['nodegroup_name']}): {', '.join(batch['nodes'])} "
                  f"{self.plan.get('from_version')} -> {self.plan.get('to_version')} "
                  f"in {seconds} s")
        LOG.info("Cluster %s: upgrade %s", self.cluster.uuid, reason)
        return self._save(event=reason, phase=DRAIN, batch=index + 1, finished=finished,
                          batch_started=None)

    def _settle(self) -> bool:
        """Settle each stack that held a batch; then the upgrade succeeded."""
        pending = []
        seen = set()
        for batch in self.plan.get("batches") or []:
            if batch["stack"] in seen:
                continue
            seen.add(batch["stack"])
            state, reason = self.driver.settle_upgrade(
                self.context, self._nodegroup(batch), batch, self.target,
                credentials=self.credentials)
            if state == drivers_base.BATCH_FAILED:
                raise Failed(f"settling {batch['stack']} failed: {reason}", Fault.CLOUD_ERROR)
            if state != drivers_base.BATCH_DONE:
                pending.append(batch["stack"])
        if pending:
            return False
        self._succeed()
        self.plan["phase"] = None
        return True

    def _cancel(self, params: dict) -> bool:
        """A rollback asked while the upgrade ran (the API records it on the operation):
        at this batch boundary the same operation turns into the rollback that takes back
        the nodes moved so far, batch by batch. Nodes of the batch whose drain had begun
        are uncordoned first (nothing of theirs was replaced)."""
        batches = self.plan.get("batches") or []
        index = int(self.plan.get("batch", 0))
        if (self.plan.get("phase") == DRAIN and index < len(batches)
                and not self._uncordon(list(batches[index]["nodes"]))):
            return False
        cancel = params["cancel"]
        rollback = {**upgrade_params.rollback_of(params, self.plan, cancel.get("max_batch_size")),
                    "cancelled": cancel}
        try:
            plan = new_plan(self.context, self.driver, self.cluster, self.nodegroups,
                            self.template, rollback)
        except (exception.NotFound, exception.NoDriverInstalled) as err:
            raise Failed(f"the rollback's target is gone: {err}", Fault.INVALID) from err
        moved = sorted({name for batch in plan["batches"] for name in batch["nodes"]})
        reason = (f"rollback asked: the upgrade to {self.plan.get('to_version')} stopped "
                  f"after {index} of {len(batches)} batches; taking back "
                  f"{', '.join(moved) or 'no node'} to {plan['to_version']} in "
                  f"{len(plan['batches'])} batches")
        LOG.info("Cluster %s: %s", self.cluster.uuid, reason)
        self.operation = self.operation.update(
            expected={"revision": self.operation.revision},
            event=self._event("cluster.upgrade.rollback", reason, cancel),
            params=rollback, plan=plan)
        self.plan = plan
        self._target = None
        return True

    # -- records --------------------------------------------------------------------------

    def _event(self, event_type: str, reason: str, by: dict | None = None) -> dict:
        """An event of the upgrade: by the operation's requester, or by `by` (the user
        and request that asked for it)."""
        op = self.operation
        by = by or {}
        return {"cluster_id": self.cluster.uuid, "cluster_version": self.cluster.version,
                "event_type": event_type, "status": self.cluster.status,
                "status_reason": reason, "project_id": op.project_id,
                "user_id": by.get("user_id") or op.user_id,
                "request_id": by.get("request_id") or op.request_id}

    def _save(self, event: str | None = None, **changes: Any) -> bool:
        """Write the plan's progress, guarded by the operation's revision (of two
        conductors following the same upgrade after a ring change, one moves it on)."""
        plan = {**self.plan, **changes, "since": _now()}
        event_row = None
        if event is not None:
            event_row = self._event("cluster.upgrade.batch", event)
        self.operation = self.operation.update(
            expected={"revision": self.operation.revision}, event=event_row, plan=plan)
        self.plan = plan
        return True

    def _succeed(self) -> None:
        target, row = self.target, self.row
        upgraded = {b["nodegroup"] for b in self.plan.get("batches") or []}
        version = self.plan.get("to_version")
        for uuid in upgraded:
            view = _nodegroup_view(self.nodegroups, uuid, self.template, target)

            def mutate(nodegroup: Any, image: str | None = view.image_id) -> None:
                nodegroup.version = version
                nodegroup.image_id = image

            try:
                objects.NodeGroup.update_with_retry(self.context, self.cluster.uuid, uuid,
                                                    mutate)
            except exception.NodeGroupNotFound:
                continue
        changes: dict[str, Any] = {"cluster_template_id": target.cluster_template.uuid,
                                   "labels": target.cluster.labels, "coe_version": version}
        if row is not None:
            changes.update(driver_id=row.uuid, driver_version=row.version)
        batches = len(self.plan.get("batches") or [])
        done = "rolled back" if (self.operation.params or {}).get("rollback") else "upgraded"
        operations.finish(self.context, self.cluster.uuid, states.Kind.UPGRADE,
                          Status.UPDATE_COMPLETE, f"{done} to {version} ({batches} batches)",
                          operation_uuid=self.operation.uuid, **changes)
        LOG.info("Cluster %s: upgrade to %s complete", self.cluster.uuid, version)

    def _fail(self, reason: str, fault: str) -> None:
        LOG.warning("Cluster %s: upgrade failed: %s", self.cluster.uuid, reason)
        operations.finish(self.context, self.cluster.uuid, states.Kind.UPGRADE,
                          Status.UPDATE_FAILED, reason[:1000], fault=fault,
                          operation_uuid=self.operation.uuid)


def _health(name: str, node: drivers_base.NodeHealth | None, wanted: str | None) -> str:
    """What the COE says of a node that is not back yet, for the failure's reason."""
    if node is None:
        return f"{name}: not known to the COE"
    if not node.ready:
        return f"{name}: not ready ({node.reason or 'no reason given'})"
    return f"{name}: runs {node.version}, not {wanted}"
