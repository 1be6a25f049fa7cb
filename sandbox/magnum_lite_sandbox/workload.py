"""A replicated workload on a simulated cluster: what a drain has to move.

Draining a node means nothing without work on it. Every simulated cluster runs a few replicas
(Kubernetes pods of a Deployment, Swarm tasks of a service, Marathon tasks) that its COE API
stand-in places and moves the way its scheduler would:

- a replica is placed on the eligible node (up, schedulable, a worker) with the fewest
  replicas, first in node order on a tie; it starts there ``start_seconds`` later (pulling
  and starting its container); with no eligible node it waits, unplaced;
- a replica whose node is no longer alive (down, removed; for Swarm also drained) is lost and
  a new one takes its slot, placed as above; so is one removed on purpose (an eviction).

The COE module decides what eligible and alive mean, names the replicas, and reports each
change (``lost``, ``scheduled``, ``started``) to the cluster's timeline.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
import dataclasses

START_SECONDS = 1.0


@dataclasses.dataclass
class Replica:
    """One replica: a pod or a task."""

    name: str
    slot: int
    serial: int                       # the how-many-th replica made, from 0
    created: float
    node: str | None = None
    scheduled_at: float | None = None
    running_at: float | None = None   # when it runs (or will, once started)
    told: bool = False                # its start was reported

    def running(self, now: float) -> bool:
        return self.running_at is not None and self.running_at <= now


@dataclasses.dataclass(frozen=True)
class Event:
    kind: str        # "lost" (or the COE's word), "scheduled", "started"
    replica: Replica
    node: str | None
    time: float


class Workload:
    """The replicas of one cluster (see the module docstring)."""

    def __init__(self, replicas: int, name: Callable[[int], str],
                 start_seconds: float = START_SECONDS) -> None:
        self.size = replicas
        self.name = name
        self.start_seconds = start_seconds
        self.replicas: list[Replica] = []
        self.made = 0
        self.removed: list[tuple[Replica, str, float]] = []  # (replica, why, when): history

    def start(self, now: float, eligible: Sequence[str]) -> list[Event]:
        """The workload as it runs when the cluster is first seen: placed and running."""
        events = []
        for slot in range(1, self.size + 1):
            replica = self._new(slot, now)
            if eligible:
                self._place(replica, eligible, now)
                replica.running_at, replica.told = now, True
                events.append(Event("started", replica, replica.node, now))
        return events

    def sync(self, now: float, alive: Collection[str], eligible: Sequence[str],
             why: Callable[[str], str] = lambda node: "lost") -> list[Event]:
        """Replicas on nodes no longer alive are taken away (``why``: "lost", unless the COE
        says otherwise for that node) and replaced; waiting ones are placed; those due have
        started."""
        events = []
        for replica in [r for r in self.replicas if r.node is not None and r.node not in alive]:
            reason = why(replica.node)
            events.append(Event(reason, replica, replica.node, now))
            self.remove(replica, now, reason)
        for replica in self.replicas:
            if replica.node is None and eligible:
                self._place(replica, eligible, now)
                replica.running_at = now + self.start_seconds
                events.append(Event("scheduled", replica, replica.node, now))
        for replica in self.replicas:
            if not replica.told and replica.running(now):
                replica.told = True
                events.append(Event("started", replica, replica.node, replica.running_at or now))
        return events

    def remove(self, replica: Replica, now: float, why: str) -> Replica:
        """Takes the replica away (lost, evicted, shut down); a new one takes its slot."""
        self.replicas.remove(replica)
        self.removed.append((replica, why, now))
        del self.removed[:-50]
        return self._new(replica.slot, now)

    def ready(self, now: float) -> list[Replica]:
        return [r for r in self.replicas if r.running(now)]

    def on(self, node: str) -> list[Replica]:
        return [r for r in self.replicas if r.node == node]

    # -- internals -------------------------------------------------------------------------
    def _new(self, slot: int, now: float) -> Replica:
        replica = Replica(name=self.name(self.made), slot=slot, serial=self.made, created=now)
        self.made += 1
        self.replicas.append(replica)
        self.replicas.sort(key=lambda r: r.slot)
        return replica

    def _place(self, replica: Replica, eligible: Sequence[str], now: float) -> None:
        load = {node: 0 for node in eligible}
        for other in self.replicas:
            if other.node in load:
                load[other.node] += 1
        replica.node = min(eligible, key=lambda n: load[n])  # min keeps the first on a tie
        replica.scheduled_at = now
