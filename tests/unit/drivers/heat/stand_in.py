"""The sandbox's Nova and Glance stand-ins served in-process, for the driver's rebuilds of
baremetal servers through Nova: the fake Heat's servers are listed as the sandbox's agent
lists them, and the agent's part (a rebuilt server has booted) is played by `boot`."""

from __future__ import annotations

import pathlib
from typing import Any

from keystoneauth1 import noauth
import requests

from magnum_lite_sandbox import rebuilds
from magnum_lite_sandbox import servers as sandbox_servers
from magnum_lite_sandbox.cloud_api import base as sandbox_base
from magnum_lite_sandbox.cloud_api import server

IMAGE = "7f1c4d2a-93b6-4e0f-a8d5-1b2c3d4e5f60"  # the stand-in's seeded ubuntu-22.04

SERVICES = ("compute", "image")


class Swappable:
    """A WSGI app whose app is swapped per test (one server, slow to stop, per module)."""

    def __init__(self) -> None:
        self.app: Any = None

    def __call__(self, environ: dict, start_response: Any) -> Any:
        return self.app(environ, start_response)


class As(noauth.NoAuth):
    """No token; the identity headers the stand-in without Keystone reads (as
    keystonemiddleware would set them from a token of these roles)."""

    def __init__(self, roles: str) -> None:
        super().__init__()
        self.roles = roles

    def get_headers(self, session: Any, **kwargs: Any) -> dict[str, str]:
        return {"X-Roles": self.roles}


class Nova:
    #: Whom the stand-in without Keystone takes a caller without identity headers for.
    project_id = sandbox_base.DEFAULT_PROJECT_ID

    def __init__(self, srv: server.CloudApiServer, state_dir: pathlib.Path) -> None:
        self.state_dir = state_dir
        ports = srv.ports()
        self.url = f"http://127.0.0.1:{ports['compute']}/v2.1"
        self.glance = f"http://127.0.0.1:{ports['image']}"
        self.listed: list[dict[str, Any]] = []

    def list(self, server_ids: Any, user_data: dict[str, str] | None = None) -> None:
        """The servers as the agent lists them, with the user data they booted."""
        self.listed = [{"id": sid, "name": f"node-{i}", "project_id": self.project_id,
                        "role": "worker", "image": IMAGE, "rebuilt": 0}
                       for i, sid in enumerate(server_ids)]
        sandbox_servers.write(self.listed, self.state_dir)
        for sid, text in (user_data or {}).items():
            sandbox_servers.write_user_data(sid, text, self.state_dir)

    def boot(self) -> None:
        """What the agent does on its sweep: a rebuilt server has booted."""
        done = rebuilds.read(self.state_dir)
        for entry in self.listed:
            entry["rebuilt"] = int((done.get(entry["id"]) or {}).get("seq") or 0)
        sandbox_servers.write(self.listed, self.state_dir)

    def show(self, server_id: str) -> dict[str, Any]:
        response = requests.get(f"{self.url}/servers/{server_id}",
                                headers={"X-Project-Id": self.project_id}, timeout=5)
        return response.json()["server"]
