"""Servers rebuilt in place through Nova's API: written by the Nova stand-in, read by the
agent.

A real Nova rebuild re-images a server under the same id (an Ironic node is deployed again)
and boots it with the user data it had, or with new user data from microversion 2.57 on; the
server's metadata becomes what the rebuild gave. The Nova stand-in (``cloud_api.nova``)
records each rebuild in ``<state dir>/rebuilds.json`` as {server id: {"seq", "image",
"user_data" (None: kept), "metadata", "at"}}; the guest agent (``cluster_apis``) reads the
file each sweep (a stat, and a read only when it changed), reboots the node with what it
now boots, and lists the rebuild's ``seq`` in the servers file once applied, so the stand-in
shows the server REBUILD until then. Written under a lock, atomically, by the stand-in
alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Any

from magnum_lite_sandbox import config

REBUILDS_FILE = "rebuilds.json"


def path(state_dir: str | os.PathLike[str] | None = None) -> Path:
    base = Path(state_dir) if state_dir is not None else config.default_state_dir()
    return base / REBUILDS_FILE


def read(state_dir: str | os.PathLike[str] | None = None) -> dict[str, dict[str, Any]]:
    """Every server's last rebuild, by server id."""
    try:
        data = json.loads(path(state_dir).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, dict)} \
        if isinstance(data, dict) else {}


def record(server_id: str, image: str, user_data: str | None, metadata: dict[str, str],
           at: str, state_dir: str | os.PathLike[str] | None = None) -> int:
    """Note a rebuild of the server; returns its sequence number (1 for the first)."""
    file = path(state_dir)
    file.parent.mkdir(parents=True, exist_ok=True)
    with open(file.with_name(file.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = read(state_dir)
        seq = int((data.get(server_id) or {}).get("seq") or 0) + 1
        data[server_id] = {"seq": seq, "image": image, "user_data": user_data,
                           "metadata": dict(metadata), "at": at}
        tmp = file.with_name(file.name + ".tmp")
        tmp.write_text(json.dumps(data, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, file)
    return seq


class Rebuilds:
    """A reader of the rebuilds file that reads it again only when its stat changed."""

    def __init__(self, state_dir: str | os.PathLike[str] | None) -> None:
        self.path = path(state_dir)
        self._stat: tuple | None = None
        self._rebuilds: dict[str, dict[str, Any]] = {}

    def all(self) -> dict[str, dict[str, Any]]:
        stat = None
        with contextlib.suppress(FileNotFoundError):
            found = self.path.stat()
            stat = (found.st_mtime_ns, found.st_size, found.st_ino)
        if stat != self._stat:
            self._stat = stat
            self._rebuilds = read(self.path.parent) if stat else {}
        return self._rebuilds
