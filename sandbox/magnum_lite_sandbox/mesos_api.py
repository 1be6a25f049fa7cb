"""A small Mesos master HTTP API for one sandbox Mesos cluster, served by the guest agent.

A simulated Mesos cluster boots no mesos-master, yet its api_address
(`https://<host>:5050`) must answer as one: the cluster's status and its agents are read
from ``/master/state``. The guest agent plays the masters: one ``MesosAPI`` per Mesos cluster
on the cluster's loopback floating addresses at the cluster stack's ``api_port`` (5050), with
the cluster's CA, as the masters issue their certificate from the CA in their user data
(drivers/mesos_ubuntu_v1).

It reuses kube_api's server (listeners, per-connection TLS, CA switches, no answer while no
master is up) and answers what a reader and a drain need, in Mesos 1.x shapes:
``/master/state`` (``state.json`` too): version, leader and leader_info, activated and
deactivated agents, ``slaves`` (one per registered agent, its hostname the server's private
address as the boot configuration sets it, its ``version`` its own boot's) and
``frameworks`` (Marathon, registered, with its tasks); ``/master/slaves``,
``/master/frameworks``, ``/master/tasks``, ``/master/health`` (200, empty), ``/version``,
``/master/redirect`` (``/redirect``: 307 to the leading master, as any master answers it),
and the maintenance primitives: ``/master/maintenance/schedule`` (GET, POST),
``/master/maintenance/status``, ``POST /master/machine/down`` and ``/master/machine/up``,
simulated by ``mesos_sim``. As the driver configures mesos-master, the read-only endpoints
need no authentication and client certificates are not checked; the read-write ones
(maintenance, and any other write) need HTTP basic authentication with a principal of the
masters' ``/etc/mesos/credentials.json`` (any credentials when the view knows none), 401
without; other writes get 405 (the sandbox does not do them).

Marathon runs on every master (mesos-master.sh) and serves its REST API over HTTPS only, on
``MARATHON_PORT`` (8443) with the master's certificate, behind HTTP basic authentication as
the operator principal (``MARATHON_USER``, whose secret is the one credentials.json gives
it) on every endpoint: ``MarathonAPI`` answers on the same addresses as the master API, from
the same simulated cluster: ``/ping``, ``/v2/apps`` (``embed=apps.tasks`` for the tasks),
``/v2/apps/demo``, ``/v2/tasks``, and the kills that do not scale the app down (``POST
/v2/tasks/delete?scale=false`` with ``{"ids": [...]}``, ``DELETE
/v2/apps/demo/tasks/{taskId}?scale=false``); other writes get 405.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable
import dataclasses
import datetime
import hashlib
import hmac
from http import HTTPStatus
import ipaddress
import json
import ssl
import time
from typing import Any
import urllib.parse
import uuid

from magnum_lite.common import x509
from magnum_lite_sandbox import kube_api, mesos_sim
from magnum_lite_sandbox.cluster_sim import Node
from magnum_lite_sandbox.kube_sim import heat_time

DEFAULT_MESOS_VERSION = "1.7.1"
MESOS_PORT = 5050
AGENT_PORT = 5051
#: Marathon's HTTPS port (its HTTP port is disabled).
MARATHON_PORT = 8443
#: Who may use Marathon's API (its --http_credentials): the operator principal.
MARATHON_USER = "magnum-admin"
#: Marathon's realm in its 401 answers (its --http_realm default).
MARATHON_REALM = "Mesosphere"
MARATHON_VERSION = "1.6.322"
#: The paths mesos-master answers with a redirect to the leader (``leader_location``).
REDIRECT_PATHS = ("/master/redirect", "/redirect")
SCHEDULE_PATH = "/master/maintenance/schedule"
STATUS_PATH = "/master/maintenance/status"
DOWN_PATH = "/master/machine/down"
UP_PATH = "/master/machine/up"
#: Endpoints of mesos-master's read-write authentication realm (reads included).
READ_WRITE_PATHS = (SCHEDULE_PATH, STATUS_PATH, DOWN_PATH, UP_PATH)
_RESOURCES = {"cpus": 2.0, "mem": 3072.0, "disk": 35_000.0, "gpus": 0.0,
              "ports": "[31000-32000]"}
_NO_RESOURCES = {"cpus": 0.0, "mem": 0.0, "disk": 0.0, "gpus": 0.0}


@dataclasses.dataclass(frozen=True)
class MesosView:
    """What the API shows of a Mesos cluster; replaced as a whole when the cluster changes."""

    cluster_uuid: str
    nodes: tuple[Node, ...] = ()
    mesos_version: str = DEFAULT_MESOS_VERSION
    created: str | None = None
    never_ready: frozenset[str] = frozenset()  # nodes whose boot a fault holds (faults)
    stopped: frozenset[str] = frozenset()  # server ids a fault shut off (faults)
    state_dir: str | None = None  # where the timeline goes (None: nowhere)
    #: (principal, secret) of the masters' credentials.json: who may use the writes.
    credentials: tuple[tuple[str, str], ...] = ()


def _epoch(value: str | None) -> float:
    """Heat's timestamps as Mesos' seconds since the epoch (floats)."""
    stamp = heat_time(value)
    parsed = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")
    return parsed.replace(tzinfo=datetime.UTC).timestamp()


def _ip_number(address: str) -> int:
    """leader_info.ip: the IPv4 address as Mesos' network-order 32-bit integer."""
    try:
        return int.from_bytes(ipaddress.IPv4Address(address).packed, "little")
    except ValueError:
        return 0


def master_id(view: MesosView) -> str:
    return mesos_sim.master_id(view.cluster_uuid)


def _masters(view: MesosView) -> list[Node]:
    return [n for n in view.nodes if n.role == "master"]


def _agents(view: MesosView) -> list[Node]:
    return [n for n in view.nodes if n.role != "master"]


def version_info(view: MesosView, version: str | None = None) -> dict[str, Any]:
    """/version: the build of the running mesos-master."""
    version = version or view.mesos_version
    return {"version": version, "git_tag": version,
            "git_sha": hashlib.sha1(version.encode()).hexdigest(),
            "build_date": "2019-01-09 00:00:00", "build_time": 1546992000.0,
            "build_user": ""}


def leader_info(view: MesosView, leader: Node | None = None,
                version: str | None = None) -> dict[str, Any] | None:
    """The leading master: `leader` (by default master 0, the first master elected when the
    ensemble formed)."""
    masters = _masters(view)
    if leader is None:
        if not masters:
            return None
        leader = masters[0]
    host = mesos_sim.host(leader)
    return {"id": master_id(view), "pid": f"master@{host}:{MESOS_PORT}", "port": MESOS_PORT,
            "hostname": host, "ip": _ip_number(host), "version": version or view.mesos_version,
            "address": {"hostname": host, "ip": host, "port": MESOS_PORT}}


def leader_location(view: MesosView, leader: Node | None = None) -> str | None:
    """Where /master/redirect sends a client: the leading master's base URL, scheme-relative
    (``//host:port``, no path) so that the client keeps the scheme it used (https here), made
    of leader_info's hostname and port as /master/state shows them; None with no leader."""
    info = leader_info(view, leader)
    if info is None:
        return None
    return f"//{info['hostname']}:{info['port']}"


def agent_object(view: MesosView, agent_id: str, node: Node, version: str | None = None,
                 active: bool = True, registered: float | None = None) -> dict[str, Any]:
    """One registered agent as /master/slaves shows it."""
    host = mesos_sim.host(node)
    return {
        "id": agent_id,
        "pid": f"slave(1)@{node.internal_ip or host}:{AGENT_PORT}",
        "hostname": host,
        "port": AGENT_PORT,
        "registered_time": registered if registered is not None
        else _epoch(node.created or view.created),
        "resources": dict(_RESOURCES),
        "used_resources": dict(_NO_RESOURCES),
        "offered_resources": dict(_NO_RESOURCES),
        "reserved_resources": {},
        "unreserved_resources": dict(_RESOURCES),
        # mesos-agent.sh adds the node's short host name (its server name) as an attribute:
        # the agent's hostname is its address, which a conductor cannot map to a server.
        "attributes": {"magnum_lite_node": node.name},
        "active": active,
        "deactivated": not active,
        "version": version or view.mesos_version,
        "capabilities": ["MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT"],
    }


def marathon_framework(view: MesosView, leader: Node | None = None,
                       tasks: tuple[list, list] = ([], [])) -> dict[str, Any]:
    """Marathon, registered from the leading master with the principal the driver gives it,
    with its (running, completed) tasks."""
    masters = _masters(view)
    if leader is None and masters:
        leader = masters[0]
    host = mesos_sim.host(leader) if leader else "localhost"
    scheduler = uuid.uuid5(mesos_sim.IDENTITIES, view.cluster_uuid)
    return {
        "id": framework_id(view), "name": "marathon",
        "pid": f"scheduler-{scheduler}@{host}:{MARATHON_PORT}",
        "hostname": host, "webui_url": f"https://{host}:{MARATHON_PORT}", "user": "root",
        "principal": "marathon", "role": "*", "roles": ["*"], "active": True,
        "connected": True, "recovered": False, "checkpoint": True,
        "failover_timeout": 604800.0, "registered_time": _epoch(view.created),
        "unregistered_time": 0.0, "capabilities": ["PARTITION_AWARE"],
        "resources": dict(_NO_RESOURCES), "used_resources": dict(_NO_RESOURCES),
        "offered_resources": dict(_NO_RESOURCES), "tasks": tasks[0], "unreachable_tasks": [],
        "completed_tasks": tasks[1], "offers": [], "executors": [],
    }


def framework_id(view: MesosView) -> str:
    return f"{master_id(view)}-0000"


def state(view: MesosView, sim: mesos_sim.MesosSim | None = None) -> dict[str, Any]:
    """/master/state as the leading master answers it: what the simulation has, if given;
    else every worker an active agent at the cluster's version."""
    if sim is None:
        leader, version = None, view.mesos_version
        agents = [agent_object(view, f"{master_id(view)}-S{i}", n)
                  for i, n in enumerate(_agents(view))]
        tasks: tuple[list, list] = ([], [])
        unreachable = 0
    else:
        with sim.lock:
            name = sim.leader()
            leader = sim.node(name) if name else None
            version = sim.version(name) if name else view.mesos_version
            agents = [agent_object(view, sim.agent_id(a), n, a.version, a.active,
                                   a.registered) for n, a in sim.agent_list()]
            tasks = sim.tasks(framework_id(view))
            unreachable = sim.unreachable
    info = leader_info(view, leader, version)
    active = sum(1 for a in agents if a["active"])
    body: dict[str, Any] = {
        **version_info(view, version),
        "id": master_id(view),
        "start_time": _epoch(view.created),
        "elected_time": _epoch(view.created),
        "activated_slaves": active,
        "deactivated_slaves": len(agents) - active,
        "unreachable_slaves": unreachable,
        "slaves": agents,
        "frameworks": [marathon_framework(view, leader, tasks)] if info else [],
        "completed_frameworks": [],
        "unregistered_frameworks": [],
        "orphan_tasks": [],
        "flags": {"port": str(MESOS_PORT), "authenticate_agents": "true",
                  "authenticate_frameworks": "true", "authenticate_http_readonly": "false",
                  "authenticate_http_readwrite": "true", "registry": "replicated_log",
                  "quorum": str(len(_masters(view)) // 2 + 1), "work_dir": "/var/lib/mesos"},
    }
    if info is not None:
        body.update(pid=info["pid"], hostname=info["hostname"], leader=info["pid"],
                    leader_info=info)
    return body


def _basic(header: str) -> tuple[str, str] | None:
    """(principal, secret) of an ``Authorization: Basic`` header."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        principal, sep, secret = base64.b64decode(value.strip(), validate=True).decode(
        ).partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (principal, secret) if sep else None


class _MesosHandler(kube_api._Handler):
    """kube_api's handler with mesos-master's rules: reads need no credentials but for the
    read-write realm's endpoints; writes need basic authentication."""

    server_version = "Mesos"

    def _authenticated(self) -> bool:
        return True  # --authenticate_http_readonly=false

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = urllib.parse.urlsplit(self.path).path
        if path in REDIRECT_PATHS:
            self._redirect()
        elif path.rstrip("/") in READ_WRITE_PATHS and not self._write_allowed():
            return
        else:
            self._dispatch()  # a path below a redirect path too: 404, so no redirect loop

    do_HEAD = do_GET  # noqa: N815

    def _redirect(self) -> None:
        """As mesos-master answers on every master, the leader included: 307 with the
        leader's base URL and no body, or 503 while no master leads."""
        api: MesosAPI = self.server.api  # type: ignore[assignment]
        with api.sim.lock:
            name = api.sim.leader()
            location = leader_location(api.view, api.sim.node(name) if name else None)
        if location is None:
            self._send(503, "text/plain; charset=utf-8", b"No leader elected")
            return
        self.send_response(307, HTTPStatus(307).phrase)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _write_allowed(self) -> bool:
        """--authenticate_http_readwrite: a principal of the masters' credentials."""
        known = self.server.api.view.credentials
        header = self.headers.get("Authorization") or ""
        given = _basic(header)
        if known and not (given and any(hmac.compare_digest(f"{p}:{s}", ":".join(given))
                                        for p, s in known)) or not known and not header:
            self._send(401, "text/plain; charset=utf-8", b"Unauthorized")
            return False
        return True

    def _not_allowed(self) -> None:
        self._drain()
        if self._write_allowed():
            self._refuse()

    def _refuse(self) -> None:
        self._send(405, "text/plain; charset=utf-8",
                   b"the sandbox's Mesos master API is read-only but for maintenance")

    do_OPTIONS = _not_allowed  # noqa: N815


def _make_master_context(ca: x509.KeyPair, names: tuple[str, ...]) -> ssl.SSLContext:
    """A serving certificate for `names` (see ClusterAPI.set_certificate_names) and the
    loopback names mesos-master.sh always adds; client certificates are not asked for."""
    serving = x509.issue_certificate(ca, "mesos-master",
                                     sans=[*names, *kube_api.LOOPBACK_NAMES], server=True)
    context = kube_api.tls_context(ca, serving)
    context.verify_mode = ssl.CERT_NONE  # LIBPROCESS_SSL_REQUIRE_CERT is off
    return context


class _MarathonHandler(kube_api._Handler):
    """Marathon's rules: every endpoint behind HTTP basic authentication (--http_credentials),
    errors as JSON ``{"message": ...}``."""

    server_version = "Jetty(9.3.z-SNAPSHOT)"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if not self._gone() and self._authenticated():
            self._dispatch()

    do_HEAD = do_GET  # noqa: N815

    def _authenticated(self) -> bool:
        known = [(p, s) for p, s in self.server.api.view.credentials if p == MARATHON_USER]
        header = self.headers.get("Authorization") or ""
        given = _basic(header)
        if given and (not known or any(hmac.compare_digest(f"{p}:{s}", ":".join(given))
                                       for p, s in known)):
            return True
        body = json.dumps({"message": "Unauthorized"}).encode()
        self.send_response(401, HTTPStatus(401).phrase)
        self.send_header("WWW-Authenticate", f'Basic realm="{MARATHON_REALM}"')
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        return False

    def _refuse(self) -> None:
        self._send_json(405, {"message": "HTTP 405 Method Not Allowed"})

    def _not_allowed(self) -> None:
        self._drain()
        if self._authenticated():
            self._refuse()

    do_OPTIONS = _not_allowed  # noqa: N815


class MarathonAPI(kube_api.ClusterAPI):
    """Marathon's REST API of one Mesos cluster, on the simulation of its master API (see
    the module docstring)."""

    handler_class = _MarathonHandler
    kind = "Marathon API"
    sim: mesos_sim.MesosSim
    view: MesosView  # type: ignore[assignment]

    def set_view(self, view: MesosView) -> None:  # type: ignore[override]
        self.view = view  # the master API updates the simulation they share

    _make_context = staticmethod(_make_master_context)

    def route(self, path: str, query: dict[str, str], host: str) -> tuple[int, Any]:
        """(HTTP status, JSON body or text) for a GET of `path`."""
        if path == "/ping":
            return 200, "pong"
        if path == "/v2/info":
            return 200, {"name": "marathon", "version": MARATHON_VERSION,
                         "frameworkId": framework_id(self.view), "elected": True,
                         "http_config": {"http_port": None, "https_port": self.port}}
        if path == "/v2/tasks":
            return 200, {"tasks": self.sim.marathon_tasks()}
        embed = query.get("embed", "")
        if path == "/v2/apps":
            app = self.sim.marathon_app()
            if embed not in ("apps.tasks", "app.tasks"):
                app.pop("tasks")
            return 200, {"apps": [app]}
        if path == f"/v2/apps{mesos_sim.APP_ID}":
            return 200, {"app": self.sim.marathon_app()}
        if path.startswith("/v2/apps/"):
            return 404, {"message": f"App '{path[len('/v2/apps'):]}' does not exist"}
        return 404, {"message": "HTTP 404 Not Found"}

    def write(self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes,
              user: Any) -> tuple[int, Any] | None:
        """Kills that leave the app's instances as they are (scale=false, the default);
        None (405) for anything else, scaling down included."""
        if query.get("scale", "false") != "false" or query.get("wipe", "false") != "false":
            return None
        task_prefix = f"/v2/apps{mesos_sim.APP_ID}/tasks/"
        try:
            if method == "POST" and path == "/v2/tasks/delete":
                try:
                    data = json.loads(body or b"")
                except ValueError:
                    return 400, {"message": "Invalid JSON"}
                return 200, {"tasks": self.sim.kill(data)}
            if method == "DELETE" and path.startswith(task_prefix):
                task_id = urllib.parse.unquote(path[len(task_prefix):])
                killed = self.sim.kill({"ids": [task_id]})
                if not killed:
                    return 404, {"message": f"Task '{task_id}' does not exist"}
                return 200, {"task": killed[0]}
        except mesos_sim.MarathonError as exc:
            return exc.status, {"message": str(exc)}
        return None


class MesosAPI(kube_api.ClusterAPI):
    """The Mesos master API of one Mesos cluster, and Marathon's beside it (``marathon``,
    on the same addresses at ``marathon_port``; see the module docstring)."""

    handler_class = _MesosHandler
    sim_class = mesos_sim.MesosSim
    kind = "Mesos master API"
    sim: mesos_sim.MesosSim
    view: MesosView  # type: ignore[assignment]

    def __init__(self, view: MesosView, ca: x509.KeyPair, port: int = MESOS_PORT,
                 clock: Callable[[], float] = time.time,
                 marathon_port: int | None = None) -> None:
        super().__init__(view, ca, port, clock)  # type: ignore[arg-type]
        if marathon_port is None:
            marathon_port = MARATHON_PORT if port else 0  # 0: tests bind any free port
        self.marathon = MarathonAPI(view, ca, marathon_port, clock,  # type: ignore[arg-type]
                                    sim=self.sim)

    _make_context = staticmethod(_make_master_context)

    @property
    def addresses(self) -> dict[str, int]:
        """The master API's bound addresses where Marathon's is bound too (the agent binds
        again those that are not)."""
        marathon = self.marathon.addresses
        return {h: p for h, p in super().addresses.items() if h in marathon}

    def set_view(self, view: MesosView) -> None:  # type: ignore[override]
        super().set_view(view)  # type: ignore[arg-type]
        self.marathon.set_view(view)

    def set_ca(self, ca: x509.KeyPair) -> None:
        super().set_ca(ca)
        self.marathon.set_ca(ca)

    def set_certificate_names(self, names: Iterable[str]) -> None:
        super().set_certificate_names(names)
        self.marathon.set_certificate_names(names)

    def serve(self, hosts: Iterable[str]) -> dict[str, int]:
        """Listen on exactly these hosts, Marathon too; returns what the master API bound."""
        hosts = list(hosts)
        self.marathon.serve(hosts)
        return super().serve(hosts)

    def close(self) -> None:
        self.marathon.close()
        super().close()

    def route(self, path: str, query: dict[str, str], host: str) -> tuple[int, Any]:
        """(HTTP status, JSON body or text) for a GET of `path`."""
        view = self.view
        if path == "/master/health":
            return 200, ""
        if path == "/version":
            return 200, version_info(view, self.sim.api_version())
        if path in ("/master/state", "/master/state.json", "/state", "/state.json"):
            return 200, state(view, self.sim)
        if path in ("/master/slaves", "/slaves"):
            return 200, {"slaves": state(view, self.sim)["slaves"], "recovered_slaves": []}
        if path in ("/master/frameworks", "/frameworks"):
            body = state(view, self.sim)
            return 200, {"frameworks": body["frameworks"], "completed_frameworks": [],
                         "unregistered_frameworks": []}
        if path in ("/master/tasks", "/tasks"):
            running, completed = self.sim.tasks(framework_id(view))
            return 200, {"tasks": running + completed}
        if path == SCHEDULE_PATH:
            return 200, self.sim.schedule()
        if path == STATUS_PATH:
            return 200, self.sim.status()
        return 404, ""

    def write(self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes,
              user: Any) -> tuple[int, Any] | None:
        """The maintenance primitives (see the module docstring); 405 for anything else."""
        actions = {SCHEDULE_PATH: self.sim.update_schedule, DOWN_PATH: self.sim.machines_down,
                   UP_PATH: self.sim.machines_up}
        if method != "POST" or path not in actions:
            return None
        try:
            data = json.loads(body or b"")
        except ValueError as exc:
            return 400, f"Failed to parse body into JSON: {exc}"
        try:
            actions[path](data)
        except mesos_sim.MaintenanceError as exc:
            return 400, str(exc)
        return 200, None
