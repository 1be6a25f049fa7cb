"""A repair: unhealthy nodes replaced one stack at a time (DESIGN.md §9), started by the
healer (conductor/healing.py) or asked for through the API.

The driver plans the repairs (`plan_repair`: one per stack holding some of the nodes, each
replacing only those members) and moves each in the cloud; this module runs the plan and
keeps where it stands on the operation record (`cluster_operation.plan`), like a rolling
upgrade (conductor/upgrade.py), so a conductor that dies mid-repair is followed by its
successor without replacing a node twice. Per repair, in phases:

- drain: through the COE API while it answers, for at most `[conductor]
  repair_drain_timeout` seconds (a node that is down rarely lets its pods go: it is
  replaced anyway);
- send: the driver's update that replaces just those members (sent once: the driver tells
  a sent repair from an unsent one by what the cloud holds);
- wait: until the COE reports the new nodes ready (`[conductor] upgrade_node_timeout`),
  uncordoned; then the repair is recorded with its event (`cluster.repair.node`: the
  nodes, the cause, how long it took), in one transaction.

When every repair is done the operation ends in UPDATE_COMPLETE; a failed update or a node
that does not come back ends it in UPDATE_FAILED naming the node and the cause.
"""

from __future__ import annotations

import time
from typing import Any

from oslo_log import log as logging

from magnum_lite.common import exception, failpoints, states
from magnum_lite.conductor.plan_run import Failed, PlanRun
from magnum_lite.conf import CONF
from magnum_lite.drivers import base as drivers_base
from magnum_lite.objects import cluster_operation as operations

LOG = logging.getLogger(__name__)

Fault = states.Fault
DRAIN, SEND, WAIT = "drain", "send", "wait"
#: The event of each repair done.
EVENT_TYPE = "cluster.repair.node"
MAX_STEPS_PER_ROUND = 4


def _now() -> float:
    """Wall-clock seconds: the plan's times outlive the process that wrote them."""
    return time.time()


def new_plan(context: Any, driver: drivers_base.Driver, cluster: Any, template: Any,
             nodegroups: list[Any], params: dict) -> dict[str, Any]:
    """The plan kept on the operation: the driver's repairs of the nodes `params` names.

    :raises exception.MagnumLiteException: a node the cluster does not have.
    """
    repairs = driver.plan_repair(context, cluster, nodegroups, list(params["nodes"]),
                                 cluster_template=template)
    return {"repairs": repairs, "index": 0, "phase": DRAIN if repairs else None,
            "since": _now(), "finished": []}


class Run(PlanRun):
    """One round of a repair the reconciler follows: a few phase steps, each recorded."""

    def advance(self) -> bool:
        """Move the repair on as far as the cloud and the COE allow now; True when it
        moved."""
        moved = False
        try:
            for _step in range(MAX_STEPS_PER_ROUND):
                if not self._step():
                    break
                moved = True
                if self.plan.get("phase") is None:
                    break
        except Failed as failure:
            self._end(states.ClusterStatus.UPDATE_FAILED, failure.reason, failure.fault)
            return True
        except exception.ConcurrentUpdate:
            LOG.info("Cluster %s: its repair moved on elsewhere", self.cluster.uuid)
            return True
        return moved

    def _step(self) -> bool:
        repairs = self.plan.get("repairs") or []
        index = int(self.plan.get("index", 0))
        if self.plan.get("phase") is None or index >= len(repairs):
            nodes = [name for repair in repairs for name in repair["nodes"]]
            self._end(states.ClusterStatus.UPDATE_COMPLETE,
                      f"repaired {', '.join(nodes) or 'nothing'}", None)
            self.plan["phase"] = None
            return True
        repair = repairs[index]
        phase = self.plan["phase"]
        if phase == DRAIN:
            return self._drain(repair)
        if phase == SEND:
            return self._send(repair)
        return self._wait(repair, index, len(repairs))

    # -- phases ---------------------------------------------------------------------------

    def _elapsed(self) -> float:
        return _now() - float(self.plan.get("since") or _now())

    def _drain(self, repair: dict) -> bool:
        coe = self._coe()
        if coe is not None and self._elapsed() < CONF.conductor.repair_drain_timeout:
            try:
                if not coe.drain(list(repair["nodes"])):
                    return False
            except exception.CoeError as err:
                LOG.info("Cluster %s: cannot drain %s (%s): replacing it anyway",
                         self.cluster.uuid, ", ".join(repair["nodes"]), err)
        return self._save(phase=SEND, started=self.plan.get("started") or _now())

    def _send(self, repair: dict) -> bool:
        state, reason = self.driver.repair_state(self.context, repair)
        if state == drivers_base.BATCH_UNSENT:
            self.driver.repair(self.context, repair)
            # A fault test stops the conductor here: the replacement sent, not recorded.
            failpoints.hit(f"conductor.repair.{self.plan.get('index', 0)}.sent")
            return False
        if state == drivers_base.BATCH_FAILED:
            raise Failed(f"replacing {', '.join(repair['nodes'])} failed: {reason}",
                          Fault.CLOUD_ERROR)
        if state == drivers_base.BATCH_DONE:
            # A node back under its old name joins as the cordoned node it was (Mesos
            # refuses a machine that is down): let it in now; the wait's end asks again.
            self._uncordon(list(repair["nodes"]))
            return self._save(phase=WAIT)
        return False

    def _wait(self, repair: dict, index: int, total: int) -> bool:
        coe = self._coe()
        names = list(repair["nodes"])
        if coe is not None:
            try:
                nodes = coe.nodes()
                behind = [n for n in names if n not in nodes or not nodes[n].ready]
                why = ", ".join(f"{n}: {_state_of(nodes.get(n))}" for n in behind)
            except exception.CoeError as err:
                behind, why = names, str(err)
            if behind:
                if self._elapsed() > CONF.conductor.upgrade_node_timeout:
                    raise Failed(f"node {', '.join(behind)} is not back healthy within "
                                  f"{CONF.conductor.upgrade_node_timeout} s: {why}",
                                  Fault.NODE_NOT_READY)
                return False
            if not self._uncordon(names):
                return False
        seconds = round(_now() - float(self.plan.get("started") or _now()), 1)
        cause = (self.operation.params or {}).get("cause") or "asked for"
        reason = (f"repair {index + 1} of {total}: {', '.join(names)} replaced ({cause}) "
                  f"in {seconds} s")
        LOG.info("Cluster %s: %s", self.cluster.uuid, reason)
        finished = [*self.plan.get("finished", []), {"index": index, "seconds": seconds}]
        return self._save(event=reason, phase=DRAIN, index=index + 1, finished=finished,
                          started=None)

    # -- records --------------------------------------------------------------------------

    def _save(self, event: str | None = None, **changes: Any) -> bool:
        """Write the plan's progress, guarded by the operation's revision."""
        plan = {**self.plan, **changes, "since": _now()}
        event_row = None
        if event is not None:
            op = self.operation
            event_row = {"cluster_id": self.cluster.uuid,
                         "cluster_version": self.cluster.version, "event_type": EVENT_TYPE,
                         "status": self.cluster.status, "status_reason": event,
                         "project_id": op.project_id, "user_id": op.user_id,
                         "request_id": op.request_id}
        self.operation = self.operation.update(
            expected={"revision": self.operation.revision}, event=event_row, plan=plan)
        self.plan = plan
        return True

    def _end(self, status: str, reason: str, fault: str | None) -> None:
        log = LOG.info if fault is None else LOG.warning
        log("Cluster %s: repair ended %s: %s", self.cluster.uuid, status, reason)
        operations.finish(self.context, self.cluster.uuid, states.Kind.REPAIR, status,
                          reason[:1000], fault=fault, operation_uuid=self.operation.uuid)


def _state_of(node: drivers_base.NodeHealth | None) -> str:
    if node is None:
        return "not known to the COE"
    return f"not ready ({node.reason or 'no reason given'})"
