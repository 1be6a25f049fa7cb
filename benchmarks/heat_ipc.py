"""One fake Heat (tests/fakes/heat.py) shared by conductors in other processes.

The benchmark's process serves its FakeHeatCloud on a multiprocessing.connection Listener;
a conductor process installs `RemoteHeatCloud(address, authkey).client_for` as
`clients.get_heat_client`. Its client forwards the calls the Heat driver makes
(drivers/heat/stacks.py: stacks.list/get/create/preview/preview_update/update/delete,
resources.list/mark_unhealthy) and rebuilds what heatclient returns (`Stack`, `Resource`
objects from their info dicts; Heat's errors are re-raised as they were raised), so the
driver sees the same shapes as from the in-process FakeHeatClient. Each conductor thread
keeps a connection of its own; the server answers each connection in a thread of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from multiprocessing import connection
import pickle
import threading
from typing import Any

from heatclient.v1 import resources as heat_resources
from heatclient.v1 import stacks as heat_stacks

_MANAGERS = ("stacks", "resources")


def _encode(value: Any) -> Any:
    """heatclient objects as ("stack"|"resource", info); lists of them element-wise."""
    if isinstance(value, heat_stacks.Stack):
        return ("stack", value.to_dict())
    if isinstance(value, heat_resources.Resource):
        return ("resource", value.to_dict())
    if isinstance(value, list):
        return ("list", [_encode(v) for v in value])
    return ("value", value)


def _decode(manager: Any, value: tuple[str, Any]) -> Any:
    kind, payload = value
    if kind == "stack":
        return heat_stacks.Stack(manager, payload, loaded=True)
    if kind == "resource":
        return heat_resources.Resource(manager, payload, loaded=True)
    if kind == "list":
        return [_decode(manager, v) for v in payload]
    return payload


#: Connections waiting to be accepted. multiprocessing's default (1) overflows when a
#: conductor's threads first connect at once: a client whose handshake Linux then drops
#: waits for the server's challenge forever.
BACKLOG = 256


class HeatServer:
    """Serves `cloud` (a FakeHeatCloud) to RemoteHeatCloud clients until closed."""

    def __init__(self, cloud: Any, authkey: bytes) -> None:
        self.cloud = cloud
        self.listener = connection.Listener(("127.0.0.1", 0), backlog=BACKLOG,
                                            authkey=authkey)
        self.address = self.listener.address
        self._closed = False
        threading.Thread(target=self._accept, name="heat-ipc-accept", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn = self.listener.accept()
            except (OSError, EOFError, connection.AuthenticationError):
                continue
            threading.Thread(target=self._serve, args=(conn,), name="heat-ipc",
                             daemon=True).start()

    def _serve(self, conn: connection.Connection) -> None:
        with conn:
            while True:
                try:
                    project_id, manager, method, args, kwargs = conn.recv()
                except (EOFError, OSError):
                    return
                client = self.cloud.client_for(_Project(project_id))
                try:
                    result = getattr(getattr(client, manager), method)(*args, **kwargs)
                    if method == "list" and manager == "stacks":
                        result = list(result)  # heatclient's generator, asked here
                    answer = ("ok", _encode(result))
                except BaseException as err:  # noqa: BLE001 (Heat's errors go back as raised)
                    try:
                        pickle.dumps(err)
                        answer = ("error", err)
                    except Exception:
                        answer = ("error", RuntimeError(f"{type(err).__name__}: {err}"))
                conn.send(answer)

    def close(self) -> None:
        self._closed = True
        self.listener.close()


class _Project:
    def __init__(self, project_id: str) -> None:
        self.project_id = project_id


class RemoteHeatCloud:
    """The conductor's side: `client_for(context)` has get_heat_client's signature."""

    def __init__(self, address: tuple[str, int], authkey: bytes) -> None:
        self.address, self.authkey = address, authkey
        self._local = threading.local()

    def call(self, project_id: str, manager: str, method: str, args: tuple,
             kwargs: dict[str, Any]) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connection.Client(self.address, authkey=self.authkey)
        conn.send((project_id, manager, method, args, kwargs))
        status, value = conn.recv()
        if status == "error":
            raise value
        return value

    def client_for(self, context: Any) -> RemoteHeatClient:
        return RemoteHeatClient(self, context.project_id)


class _RemoteManager:
    def __init__(self, cloud: RemoteHeatCloud, project_id: str, name: str) -> None:
        self.cloud, self.project_id, self.name = cloud, project_id, name

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _decode(self, self.cloud.call(self.project_id, self.name, method, args,
                                             kwargs))

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_"):
            raise AttributeError(method)
        return lambda *args, **kwargs: self._call(method, *args, **kwargs)


class _RemoteStacks(_RemoteManager):
    def list(self, **kwargs: Any) -> Iterator[heat_stacks.Stack]:
        # heatclient's list is a generator: nothing is asked until it is iterated.
        def paginate() -> Iterator[heat_stacks.Stack]:
            yield from self._call("list", **kwargs)
        return paginate()


class RemoteHeatClient:
    """What `heatclient.client.Client("1", ...)` is to the drivers: .stacks, .resources."""

    def __init__(self, cloud: RemoteHeatCloud, project_id: str) -> None:
        self.project_id = project_id
        self.stacks = _RemoteStacks(cloud, project_id, "stacks")
        self.resources = _RemoteManager(cloud, project_id, "resources")
