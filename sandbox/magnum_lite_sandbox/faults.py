"""Faults the sandbox plays on request: a node whose next boot never comes up.

An upgrade's failure paths (a replacement that never turns healthy: the wait times out, the
batch fails, the upgrade stops) need a node that stays down on purpose. ``magnum-lite-sandbox
fault never-ready NODE`` names one in ``<state dir>/faults.json``; the guest agent reads the
file each sweep (a stat, and a read only when it changed) and holds that node's boot: after
its next reboot it stays NotReady (Swarm: down; Mesos: no agent) until ``fault clear [NODE]``,
then it boots at the version its user data asks for. A node that does not reboot is not
affected. Names are server names, as the COE APIs show them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from magnum_lite_sandbox import config

FAULTS_FILE = "faults.json"
NEVER_READY = "never_ready"


def _path(state_dir: str | os.PathLike[str] | None) -> Path:
    base = Path(state_dir) if state_dir is not None else config.default_state_dir()
    return base / FAULTS_FILE


def _load(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _names(data: dict) -> list[str]:
    names = data.get(NEVER_READY)
    return [str(n) for n in names] if isinstance(names, list) else []


def _save(path: Path, names: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({NEVER_READY: sorted(set(names))}) + "\n", encoding="utf-8")
    os.replace(tmp, path)  # the agent never reads half a file


def never_ready(node: str, state_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """Hold the node's next boot until cleared; returns every node held."""
    path = _path(state_dir)
    names = sorted({*_names(_load(path)), node})
    _save(path, names)
    return names


def clear(node: str | None = None, state_dir: str | os.PathLike[str] | None = None
          ) -> list[str]:
    """Release one node (or every one); returns the nodes still held."""
    path = _path(state_dir)
    names = [] if node is None else [n for n in _names(_load(path)) if n != node]
    _save(path, names)
    return names


class Faults:
    """The agent's view of the faults file: read again only when its stat changed."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.path = _path(state_dir)
        self._stat: tuple | None = None
        self._never_ready: frozenset[str] = frozenset()

    def never_ready(self) -> frozenset[str]:
        """The nodes whose boot is held."""
        try:
            st = os.stat(self.path)
            stat: tuple | None = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            stat = None
        if stat != self._stat:
            self._stat = stat
            self._never_ready = frozenset(_names(_load(self.path))) if stat else frozenset()
        return self._never_ready
