"""Each cluster's timeline: every change of a simulated node's availability, for tests to read.

A rolling upgrade must never take more nodes out of service than it says, nor leave a
workload short; a test proves that from what the cluster saw, not from what the service
claims. The COE API stand-ins (``cluster_sim`` and the Kubernetes, Docker and Mesos ones)
append one JSON object per change to ``<state dir>/timeline/<cluster uuid>.jsonl``:

- ``time`` (seconds since the epoch, when the change happened), ``node`` (the server name),
  ``event``, ``version`` (the COE version the node runs: kubelet, Docker engine, Mesos
  agent), and the node's state after it: ``ready`` (up, registered, serving) and
  ``schedulable`` (new work may go there: not cordoned, paused, drained or in maintenance);
- ``ready_replicas``: how many of the cluster's workload replicas (Kubernetes pods, Swarm or
  Marathon tasks) are running and ready after it;
- events: ``up`` / ``down`` (``reason``: ``registered`` when first seen, ``rebuilt`` for a
  new boot, ``never-ready`` for a boot held by a fault, ``stopped`` / ``started`` for a
  server a fault shut off and started again, ``maintenance`` for a Mesos machine
  brought down or up), ``removed`` (its server left the stacks), ``cordoned`` /
  ``uncordoned`` / ``drained`` (Kubernetes cordon, Swarm availability pause / active /
  drain, a Mesos machine entering or leaving a maintenance window; on Kubernetes ``drained``
  also marks a cordoned node left without workload pods), and for the workload
  ``pod evicted`` / ``pod lost`` / ``pod scheduled`` / ``pod started`` (Kubernetes),
  ``task shutdown`` / ``task lost`` / ``task scheduled`` / ``task started`` (Swarm, Mesos)
  and ``task killed`` (Mesos: through Marathon's API, without scaling its app down), with
  ``pod`` or ``task`` naming it (``node`` is where it was or goes).

Lines are appended by the one agent process; ``read`` returns them in time order.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import threading
from typing import Any

from magnum_lite_sandbox import config

TIMELINE_DIR = "timeline"


def _state_dir(state_dir: str | os.PathLike[str] | None) -> Path:
    return Path(state_dir) if state_dir is not None else config.default_state_dir()


def path(cluster_uuid: str, state_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the cluster's timeline is (the default state dir when none is given)."""
    return _state_dir(state_dir) / TIMELINE_DIR / f"{cluster_uuid}.jsonl"


def read(cluster_uuid: str, state_dir: str | os.PathLike[str] | None = None) -> list[dict]:
    """Every entry of the cluster's timeline, oldest first ([] when it has none); a line
    being written meanwhile is left out."""
    try:
        text = path(cluster_uuid, state_dir).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    entries = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return sorted(entries, key=lambda e: e.get("time", 0.0))


class Timeline:
    """Appends one cluster's entries (one writer: the agent)."""

    def __init__(self, cluster_uuid: str, state_dir: str | os.PathLike[str]) -> None:
        self.path = path(cluster_uuid, state_dir)
        self._lock = threading.Lock()

    def append(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, sort_keys=True) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line)
