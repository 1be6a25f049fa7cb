"""Node boots: which COE version each simulated node runs, and whether it is up.

A real node runs what its boot configuration installed. A rolling upgrade rebuilds or replaces
a node's server with new user data (or a new image): the node goes away for a boot and comes
back at the version the new user data asks for, to its COE a new node. The sandbox plays that
from what Heat holds of each server (``cluster_apis``: a digest of the user data and image
the server booted, as Heat's server update policies decide, and the version its node.env
asks for):

- a node first seen is up at once, at its version (a cluster that Heat built, or a node a
  resize added, is taken as booted by the time its stacks are at rest);
- a node whose server's digest or id changed goes down at once and comes back up after
  ``boot_seconds()`` (env ``MAGNUM_LITE_SANDBOX_BOOT_SECONDS``, default 2.0) at the new
  version, as a new generation; until then it runs (and reports) the old one;
- a boot held by a fault (``faults``: never-ready) does not come up; released, it comes up
  one boot time later;
- a node whose server a fault stopped (``faults``: stopped, by server id) goes down at once
  (a boot in progress stops with it); started, it comes up one boot time later as the same
  node (same generation, one more restart) unless it was being rebuilt. A server Heat puts
  in its place (a new id) is not stopped;
- a node whose server left the stacks is removed.

``Boots`` returns each change (up, down, removed), with when it happened, for the COE API
stand-ins to act on and put on the cluster's timeline.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
import dataclasses
import os
from typing import Protocol

BOOT_SECONDS_ENV = "MAGNUM_LITE_SANDBOX_BOOT_SECONDS"
DEFAULT_BOOT_SECONDS = 2.0


def boot_seconds() -> float:
    """How long a rebuilt node takes to come back (env, else the default)."""
    try:
        value = float(os.environ.get(BOOT_SECONDS_ENV, DEFAULT_BOOT_SECONDS))
    except ValueError:
        value = DEFAULT_BOOT_SECONDS
    return max(0.0, value)


class Guest(Protocol):
    """What Heat tells of a node (``kube_api.Node``)."""

    @property
    def name(self) -> str: ...

    @property
    def server_id(self) -> str: ...

    @property
    def version(self) -> str | None: ...

    @property
    def boot_digest(self) -> str: ...


@dataclasses.dataclass
class NodeBoot:
    """One node's boots."""

    name: str
    server_id: str
    digest: str
    version: str | None        # what runs: the version of the boot that last came up
    up_since: float            # when that boot came up (or the node was first seen)
    generation: int = 0        # boots come up since first seen (each a new node to the COE)
    down_since: float | None = None  # a boot in progress since then
    up_at: float | None = None       # when it comes up (pushed back while held)
    target: str | None = None        # the version it boots into
    held: bool = False               # held by a never-ready fault
    stopped: bool = False            # its server is shut off (a stop fault)
    restarting: bool = False         # the boot in progress is a restart, not a rebuild
    restarts: int = 0                # restarts of this generation (a new boot ID each)

    @property
    def ready(self) -> bool:
        return self.down_since is None


@dataclasses.dataclass(frozen=True)
class Change:
    name: str
    event: str      # "up", "down" or "removed"
    time: float
    reason: str     # "registered", "rebuilt", "never-ready", "stopped", "started", "removed"
    version: str | None = None  # what the node runs after the change (before, if removed)


class Boots:
    """The boots of one cluster's nodes (see the module docstring)."""

    def __init__(self, seconds: Callable[[], float] = boot_seconds) -> None:
        self.seconds = seconds
        self.nodes: dict[str, NodeBoot] = {}

    def get(self, name: str) -> NodeBoot | None:
        return self.nodes.get(name)

    def update(self, guests: Iterable[Guest], now: float) -> list[Change]:
        """What Heat now holds of the nodes: new ones come up, rebuilt ones go down."""
        changes = []
        seen = set()
        for guest in guests:
            seen.add(guest.name)
            boot = self.nodes.get(guest.name)
            if boot is None:
                self.nodes[guest.name] = NodeBoot(
                    name=guest.name, server_id=guest.server_id, digest=guest.boot_digest,
                    version=guest.version, up_since=now, target=guest.version)
                changes.append(Change(guest.name, "up", now, "registered", guest.version))
                continue
            replaced = bool(guest.server_id and boot.server_id
                            and guest.server_id != boot.server_id)
            rebuilt = bool(guest.boot_digest and boot.digest
                           and guest.boot_digest != boot.digest)
            if replaced or rebuilt:
                if boot.ready:
                    boot.down_since = now
                    changes.append(Change(guest.name, "down", now, "rebuilt", boot.version))
                boot.up_at = now + self.seconds()
                boot.target = guest.version
                boot.held = boot.stopped = boot.restarting = False
            elif boot.ready and boot.version is None:
                boot.version = boot.target = guest.version  # learnt, not changed
            boot.server_id = guest.server_id or boot.server_id
            boot.digest = guest.boot_digest or boot.digest
        for name in [n for n in self.nodes if n not in seen]:
            gone = self.nodes.pop(name)
            changes.append(Change(name, "removed", now, "removed", gone.version))
        return changes

    def advance(self, now: float, held: Collection[str] = (),
                stopped: Collection[str] = ()) -> list[Change]:
        """Boots due by `now` come up, except those held; servers stopped go down and those
        started again boot (see the module docstring)."""
        changes = []
        for boot in self.nodes.values():
            if self._power(boot, now, bool(boot.server_id) and boot.server_id in stopped,
                           changes):
                continue
            if boot.ready or boot.up_at is None or now < boot.up_at:
                continue
            if boot.name in held:
                if not boot.held:
                    boot.held = True
                    changes.append(Change(boot.name, "down", boot.up_at, "never-ready",
                                          boot.version))
                boot.up_at = now + self.seconds()
                continue
            up = boot.up_at
            if boot.restarting:
                boot.restarts += 1
                reason = "started"
            else:
                boot.version = boot.target if boot.target is not None else boot.version
                boot.generation += 1
                boot.restarts = 0
                reason = "rebuilt"
            boot.up_since, boot.down_since, boot.up_at = up, None, None
            boot.held = boot.restarting = False
            changes.append(Change(boot.name, "up", up, reason, boot.version))
        return sorted(changes, key=lambda c: c.time)

    def _power(self, boot: NodeBoot, now: float, off: bool, changes: list[Change]) -> bool:
        """A stop or start of the node's server; True while it is off."""
        if off and not boot.stopped:
            boot.stopped, boot.held = True, False
            if boot.ready:
                boot.down_since, boot.restarting = now, True
                changes.append(Change(boot.name, "down", now, "stopped", boot.version))
            boot.up_at = None
        elif boot.stopped and not off:
            boot.stopped = False
            boot.up_at = now + self.seconds()
        return boot.stopped
