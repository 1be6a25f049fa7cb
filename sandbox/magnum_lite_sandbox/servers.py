"""The simulated servers as Nova would list them: written by the agent, read by the others.

Heat's simulation boots no server, so the Nova stand-in (``cloud_api.nova``) has none of its
own, and ``magnum-lite-sandbox fault stop NODE`` must find the server a node name means. The
guest agent knows every cluster's servers from Heat (``cluster_apis``): it writes them to
``<state dir>/servers.json`` whenever they change, as {"servers": [{"id", "name",
"cluster_uuid", "project_id", "role", "internal_ip", "created", "image", "flavor",
"rebuilt" (the last Nova rebuild it booted, ``rebuilds``)}]} in cluster then node order;
the cloud API stand-in and ``faults`` read it. Written atomically (one writer, the agent),
read again only when its stat changed. What each server booted with (its user data, as
Nova shows an admin) is written beside it, one file per server under
``<state dir>/user_data/``, when it changes.
"""

from __future__ import annotations

from collections.abc import Iterable
import json
import os
from pathlib import Path
from typing import Any

from magnum_lite_sandbox import config

SERVERS_FILE = "servers.json"


def path(state_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the servers file is (the default state dir when none is given)."""
    base = Path(state_dir) if state_dir is not None else config.default_state_dir()
    return base / SERVERS_FILE


def read(state_dir: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Every simulated server ([] before the agent wrote any)."""
    try:
        data = json.loads(path(state_dir).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return []
    found = data.get("servers") if isinstance(data, dict) else None
    return (
        [s for s in found if isinstance(s, dict) and s.get("id")] if isinstance(found, list) else []
    )


def write(servers: Iterable[dict[str, Any]], state_dir: str | os.PathLike[str]) -> None:
    """Replace the file's servers (the agent's call)."""
    target = path(state_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps({"servers": list(servers)}, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, target)  # a reader never sees half a file


def _user_data_path(server_id: str, state_dir: str | os.PathLike[str]) -> Path:
    return Path(state_dir) / "user_data" / server_id


def write_user_data(server_id: str, text: str, state_dir: str | os.PathLike[str]) -> None:
    """The user data the server booted with (the agent's call)."""
    target = _user_data_path(server_id, state_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)


def read_user_data(server_id: str, state_dir: str | os.PathLike[str]) -> str | None:
    """The user data the server booted with, None when unknown."""
    try:
        return _user_data_path(server_id, state_dir).read_text(encoding="utf-8")
    except (FileNotFoundError, ValueError):
        return None


def find(node: str, state_dir: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """The servers a node means: the one with that id, else every one with that name."""
    known = read(state_dir)
    by_id = [s for s in known if s["id"] == node]
    return by_id or [s for s in known if s.get("name") == node]


class Servers:
    """A reader of the servers file that reads it again only when its stat changed."""

    def __init__(self, state_dir: str | os.PathLike[str] | None) -> None:
        self.path = path(state_dir) if state_dir is not None else None
        self._stat: tuple | None = None
        self._servers: list[dict[str, Any]] = []

    def list(self) -> list[dict[str, Any]]:
        if self.path is None:
            return []
        try:
            st = os.stat(self.path)
            stat: tuple | None = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            stat = None
        if stat != self._stat:
            self._stat = stat
            self._servers = read(self.path.parent) if stat else []
        return self._servers
