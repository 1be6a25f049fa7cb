"""Faults the sandbox plays on request, for failure tests and demos.

Each is named in ``<state dir>/faults.json``, written by ``magnum-lite-sandbox fault ...`` (or
these functions, which tests call) and by the Nova stand-in's server actions; the guest agent
reads the file each sweep (a stat, and a read only when it changed), and so does the Nova
stand-in (another process) when it answers:

- ``never_ready`` (``fault never-ready NODE`` / ``fault clear [NODE]``): the node's next boot
  is held: after its next reboot it stays NotReady (Swarm: down; Mesos: no agent) until
  cleared, then it boots at the version its user data asks for. A node that does not reboot
  is not affected. Names are server names, as the COE APIs show them.
- ``stopped`` (``fault stop NODE`` / ``fault start NODE``, or Nova's ``os-stop`` /
  ``os-start`` server actions): the server is shut off. Nova shows it SHUTOFF and its COE
  loses the node as it loses a powered-off machine (Kubernetes: Ready Unknown,
  NodeStatusUnknown; Swarm: down; Mesos: the agent deactivated, then gone); started, it
  boots and comes back. A stop holds the server's Nova id, not its name (the node name is
  resolved through the agent's ``servers`` file), so a server Heat puts in its place (same
  name, new id) comes up healthy.
- ``unreachable`` (``fault unreachable CLUSTER`` / ``fault reachable [CLUSTER]``): the
  cluster's COE API refuses connections, as a master whose API server is down does (the
  host answers a TCP reset: ``ECONNREFUSED`` at once, not a timeout), until reachable again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import contextlib
import dataclasses
import fcntl
import json
import os
from pathlib import Path

from magnum_lite_sandbox import config, servers

FAULTS_FILE = "faults.json"
NEVER_READY = "never_ready"
STOPPED = "stopped"          # {server id: server name}
UNREACHABLE = "unreachable"  # [cluster uuid]


def _path(state_dir: str | os.PathLike[str] | None) -> Path:
    base = Path(state_dir) if state_dir is not None else config.default_state_dir()
    return base / FAULTS_FILE


def _load(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _names(data: dict, key: str = NEVER_READY) -> list[str]:
    names = data.get(key)
    return [str(n) for n in names] if isinstance(names, list) else []


def _stopped(data: dict) -> dict[str, str]:
    stopped = data.get(STOPPED)
    return {str(k): str(v) for k, v in stopped.items()} if isinstance(stopped, dict) else {}


@contextlib.contextmanager
def _changing(state_dir: str | os.PathLike[str] | None) -> Iterator[dict]:
    """The faults to change in place, saved at the end; one writer at a time (the CLI and
    the Nova stand-in both write), and a reader never sees half a file."""
    path = _path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = _load(path)
        yield data
        data = {key: value for key, value in (
            (NEVER_READY, sorted(set(_names(data)))), (STOPPED, _stopped(data)),
            (UNREACHABLE, sorted(set(_names(data, UNREACHABLE))))) if value}
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)


def never_ready(node: str, state_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """Hold the node's next boot until cleared; returns every node held."""
    with _changing(state_dir) as data:
        data[NEVER_READY] = names = sorted({*_names(data), node})
    return names


def clear(node: str | None = None, state_dir: str | os.PathLike[str] | None = None
          ) -> list[str]:
    """Release one node (or every one); returns the nodes still held."""
    with _changing(state_dir) as data:
        data[NEVER_READY] = names = [] if node is None else [
            n for n in _names(data) if n != node]
    return names


def stop(node: str, state_dir: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Shut off the server a node name (or server id) means, as the agent last saw it in
    Heat; returns every stopped server (id: name). LookupError when no server has that
    name, ValueError when several have (name one by its id then)."""
    found = servers.find(node, state_dir)
    if not found:
        raise LookupError(f"no simulated server {node!r} (see {servers.path(state_dir)})")
    if len(found) > 1:
        raise ValueError(f"{len(found)} servers are named {node!r}: give one of their ids, "
                         + ", ".join(s["id"] for s in found))
    return stop_server(found[0]["id"], str(found[0].get("name") or ""), state_dir)


def stop_server(server_id: str, name: str = "",
                state_dir: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Shut off a server by its id (Nova's os-stop); returns every stopped server."""
    with _changing(state_dir) as data:
        data[STOPPED] = stopped = {**_stopped(data), server_id: name}
    return stopped


def start(node: str | None = None, state_dir: str | os.PathLike[str] | None = None
          ) -> dict[str, str]:
    """Start the stopped servers of that name or id (every one when None); returns the
    servers still stopped."""
    return _start(lambda sid, name: node is None or node in (sid, name), state_dir)


def start_server(server_id: str, state_dir: str | os.PathLike[str] | None = None
                 ) -> dict[str, str]:
    """Start a server by its id (Nova's os-start); returns the servers still stopped."""
    return _start(lambda sid, name: sid == server_id, state_dir)


def _start(match: Callable[[str, str], bool], state_dir: str | os.PathLike[str] | None
           ) -> dict[str, str]:
    with _changing(state_dir) as data:
        data[STOPPED] = stopped = {sid: name for sid, name in _stopped(data).items()
                                   if not match(sid, name)}
    return stopped


def unreachable(cluster_uuid: str, state_dir: str | os.PathLike[str] | None = None
                ) -> list[str]:
    """Have the cluster's COE API refuse connections; returns every cluster so."""
    with _changing(state_dir) as data:
        data[UNREACHABLE] = uuids = sorted({*_names(data, UNREACHABLE), cluster_uuid})
    return uuids


def reachable(cluster_uuid: str | None = None,
              state_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """Have the cluster's COE API (every one's when None) answer again; returns the
    clusters still unreachable."""
    with _changing(state_dir) as data:
        data[UNREACHABLE] = uuids = [] if cluster_uuid is None else [
            u for u in _names(data, UNREACHABLE) if u != cluster_uuid]
    return uuids


@dataclasses.dataclass(frozen=True)
class Active:
    """The faults in force at one moment."""

    never_ready: frozenset[str] = frozenset()  # node names
    stopped: frozenset[str] = frozenset()      # server ids
    unreachable: frozenset[str] = frozenset()  # cluster uuids


class Faults:
    """The readers' view of the faults file: read again only when its stat changed."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.path = _path(state_dir)
        self._stat: tuple | None = None
        self._active = Active()

    def active(self) -> Active:
        """Every fault in force."""
        try:
            st = os.stat(self.path)
            stat: tuple | None = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            stat = None
        if stat != self._stat:
            self._stat = stat
            data = _load(self.path) if stat else {}
            self._active = Active(frozenset(_names(data)), frozenset(_stopped(data)),
                                  frozenset(_names(data, UNREACHABLE)))
        return self._active

    def never_ready(self) -> frozenset[str]:
        """The nodes whose boot is held."""
        return self.active().never_ready
