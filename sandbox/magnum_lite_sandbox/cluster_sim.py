"""The simulated cluster behind one COE API stand-in: its nodes, their boots, its workload.

The Kubernetes, Docker and Mesos API stand-ins (``kube_api``, ``docker_api``, ``mesos_api``)
answer from a view of the cluster that the guest agent rebuilds from Heat
(``cluster_apis``), and from state of their own that clients change (a cordon, a Swarm
availability, a Mesos maintenance window) or that time changes (a node's boot, a replica
starting). ``ClusterSim`` is that state, shared by the three: each node's boots (``boots``:
the version it runs, whether it is up), a workload of ``replica_count`` replicas
(``workload``) that drains move, and the cluster's timeline (``timeline``), which records
every change. The COE's own rules are a subclass's (``kube_sim``, ``swarm_sim``,
``mesos_sim``): what schedulable means, where replicas may run, what a drain does.

Time moves on when the agent ticks the API (each sweep) and before each request is answered;
one lock guards the state (the API's request threads and the agent's sweep).
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import datetime
import threading
import time
from typing import Any

from magnum_lite_sandbox import boots, timeline, workload


@dataclasses.dataclass(frozen=True)
class Node:
    """One server of the cluster, as Heat holds it: the node its COE registers."""

    name: str
    role: str                 # "master" or "worker"
    internal_ip: str = ""
    server_id: str = ""
    created: str | None = None  # the Heat timestamp of the stack that made it
    version: str | None = None  # the COE version its user data asks for (None: unknown)
    boot_digest: str = ""       # of its server's user data and image ("" when unknown)


def stamp(epoch: float) -> str:
    """Seconds since the epoch as Kubernetes and Docker write times (UTC, seconds, "Z")."""
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ClusterSim:
    """Nodes, boots, workload and timeline of one cluster (see the module docstring)."""

    #: What the timeline calls a replica ("pod evicted", "task started").
    replica_word = "pod"
    replica_count = 3

    def __init__(self, view: Any, clock: Callable[[], float] = time.time) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.boots = boots.Boots()
        self.workload = workload.Workload(self.replica_count, self.replica_name)
        self.revision = 1
        self.touched: dict[str, int] = {}  # node or replica name: revision of its last change
        self.view = view
        self.timeline: timeline.Timeline | None = None
        self.now = clock()
        self._started = False
        with self.lock:
            self._update(view, self.now)

    # -- what the API calls ----------------------------------------------------------------
    def update(self, view: Any) -> None:
        """A new view of the cluster from Heat (nodes, versions, faults)."""
        with self.lock:
            self._update(view, self.clock())

    def advance(self) -> float:
        """Lets time act (boots come up, replicas start); returns the time it is now."""
        with self.lock:
            self._advance(self.clock())
            return self.now

    def available(self) -> bool:
        """Whether the API answers: some master is up (the load balancer has a member)."""
        with self.lock:
            self._advance(self.clock())
            masters = [n.name for n in self.view.nodes if n.role == "master"]
            return not masters or any(self.ready(m) for m in masters)

    def api_version(self) -> str:
        """The version the API reports: the first master up's (where the load balancer
        sends the request), else master 0's, else the cluster's."""
        with self.lock:
            self._advance(self.clock())
            return self.version(self.leader() or "")

    def leader(self) -> str | None:
        """The master that answers: the first one up, else the first one."""
        masters = [n.name for n in self.view.nodes if n.role == "master"]
        return next((m for m in masters if self.ready(m)), masters[0] if masters else None)

    # -- state, for the subclass and the renderers (with the lock held) --------------------
    def node(self, name: str) -> Node | None:
        return next((n for n in self.view.nodes if n.name == name), None)

    def version(self, name: str) -> str:
        """The COE version the node runs: its last boot's, else the cluster's."""
        boot = self.boots.get(name)
        return boot.version if boot is not None and boot.version else self.default_version()

    def ready(self, name: str) -> bool:
        boot = self.boots.get(name)
        return boot is not None and boot.ready

    def schedulable(self, name: str) -> bool:
        return True

    def alive(self) -> set[str]:
        """Nodes the workload's replicas keep running on."""
        return {n.name for n in self.view.nodes if self.ready(n.name)}

    def eligible(self) -> list[str]:
        """Nodes new replicas may go to, in node order."""
        return [n.name for n in self.view.nodes
                if n.role == "worker" and self.ready(n.name) and self.schedulable(n.name)]

    def ready_replicas(self) -> int:
        return len(self.workload.ready(self.now))

    def record(self, node: str, event: str, when: float | None = None,
               version: str | None = None, **fields: Any) -> None:
        """Puts a change on the timeline, with the node's state after it."""
        self.revision += 1
        self.touched[node] = self.revision
        if self.timeline is None:
            return
        entry = {"time": round(self.now if when is None else when, 6), "node": node,
                 "event": event, "version": version or self.version(node),
                 "ready": self.ready(node), "schedulable": self.schedulable(node),
                 "ready_replicas": self.ready_replicas(), **fields}
        self.timeline.append(entry)

    # -- what a COE changes ----------------------------------------------------------------
    def default_version(self) -> str:
        raise NotImplementedError

    def replica_name(self, serial: int) -> str:
        return f"demo-{serial}"

    def on_change(self, change: boots.Change) -> str | None:
        """A node came up, went down or was removed: what to record (the change's event by
        default; None for nothing, when the COE does not see it)."""
        return change.event

    def lost_reason(self, node: str) -> str:
        """Why replicas leave a node that is no longer alive."""
        return "lost"

    def settle(self) -> None:
        """After time acted: what the COE records of the new state (e.g. a node drained)."""

    # -- internals -------------------------------------------------------------------------
    def _update(self, view: Any, now: float) -> None:
        self.now = max(self.now, now)
        self.view = view
        state_dir = getattr(view, "state_dir", None)
        if state_dir and (self.timeline is None or self.timeline.path != timeline.path(
                view.cluster_uuid, state_dir)):
            self.timeline = timeline.Timeline(view.cluster_uuid, state_dir)
        self._apply(self.boots.update(view.nodes, self.now))
        if not self._started:
            self._started = True
            for event in self.workload.start(self.now, self.eligible()):
                self._replica_event(event)
        self._advance(now)

    def _advance(self, now: float) -> None:
        self.now = max(self.now, now)
        self._apply(self.boots.advance(self.now, getattr(self.view, "never_ready", ()),
                                       getattr(self.view, "stopped", ())))
        for event in self.workload.sync(self.now, self.alive(), self.eligible(),
                                        self.lost_reason):
            self._replica_event(event)
        self.settle()

    def _apply(self, changes: list[boots.Change]) -> None:
        for change in changes:
            event = self.on_change(change)
            if event is not None:
                self.record(change.name, event, change.time, change.version,
                            reason=change.reason)

    def _replica_event(self, event: workload.Event) -> None:
        self.touched[event.replica.name] = self.revision + 1
        self.record(event.node or "", f"{self.replica_word} {event.kind}", event.time,
                    **{self.replica_word: event.replica.name})
