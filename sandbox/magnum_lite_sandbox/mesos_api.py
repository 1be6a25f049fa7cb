"""A small Mesos master HTTP API for one sandbox Mesos cluster, served by the guest agent.

A simulated Mesos cluster boots no mesos-master, yet its api_address
(`https://<host>:5050`) must answer as one: the cluster's status and its agents are read
from ``/master/state``. The guest agent plays the masters: one ``MesosAPI`` per Mesos cluster
on the cluster's loopback floating addresses at the cluster stack's ``api_port`` (5050), with
the cluster's CA, as the masters issue their certificate from the CA in their user data
(drivers/mesos_ubuntu_v1).

It reuses kube_api's server (listeners, per-connection TLS, CA switches) and answers what a
reader needs, in Mesos 1.x shapes: ``/master/state`` (``state.json`` too): version, leader
and leader_info, activated_slaves, ``slaves`` (one per worker server, every one active, its
hostname the server's private address as the boot configuration sets it) and
``frameworks`` (Marathon, registered); ``/master/slaves``, ``/master/frameworks``,
``/master/health`` (200, empty), ``/version`` and ``/master/redirect`` (``/redirect``: 307 to
the leading master, as any master answers it). As the driver configures mesos-master, the
read-only endpoints need no authentication and client certificates are not checked; a write
gets 401 without credentials and 405 with them (the sandbox's API is read-only).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
from http import HTTPStatus
import ipaddress
import ssl
from typing import Any
import urllib.parse
import uuid

from magnum_lite.common import x509
from magnum_lite_sandbox import kube_api

DEFAULT_MESOS_VERSION = "1.7.1"
MESOS_PORT = 5050
AGENT_PORT = 5051
MARATHON_PORT = 8080
#: The paths mesos-master answers with a redirect to the leader (``leader_location``).
REDIRECT_PATHS = ("/master/redirect", "/redirect")
_NAMESPACE = uuid.UUID("6f1d2c3b-4a5e-4f60-8b7c-9d0e1f2a3b4c")  # uuid5 of Mesos identities
_RESOURCES = {"cpus": 2.0, "mem": 3072.0, "disk": 35_000.0, "gpus": 0.0,
              "ports": "[31000-32000]"}
_NO_RESOURCES = {"cpus": 0.0, "mem": 0.0, "disk": 0.0, "gpus": 0.0}


@dataclasses.dataclass(frozen=True)
class MesosView:
    """What the API shows of a Mesos cluster; replaced as a whole when the cluster changes."""

    cluster_uuid: str
    nodes: tuple[kube_api.Node, ...] = ()
    mesos_version: str = DEFAULT_MESOS_VERSION
    created: str | None = None


def _epoch(value: str | None) -> float:
    """Heat's timestamps as Mesos' seconds since the epoch (floats)."""
    stamp = kube_api._rfc3339(value)
    parsed = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")
    return parsed.replace(tzinfo=datetime.UTC).timestamp()


def _ip_number(address: str) -> int:
    """leader_info.ip: the IPv4 address as Mesos' network-order 32-bit integer."""
    try:
        return int.from_bytes(ipaddress.IPv4Address(address).packed, "little")
    except ValueError:
        return 0


def master_id(view: MesosView) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{view.cluster_uuid}/master"))


def _masters(view: MesosView) -> list[kube_api.Node]:
    return [n for n in view.nodes if n.role == "master"]


def _agents(view: MesosView) -> list[kube_api.Node]:
    return [n for n in view.nodes if n.role != "master"]


def _host(node: kube_api.Node) -> str:
    """The node's Mesos hostname: its private address (MESOS_HOSTNAME), else its name."""
    return node.internal_ip or node.name


def version_info(view: MesosView) -> dict[str, Any]:
    """/version: the build of the running mesos-master."""
    return {"version": view.mesos_version, "git_tag": view.mesos_version,
            "git_sha": hashlib.sha1(view.mesos_version.encode()).hexdigest(),
            "build_date": "2019-01-09 00:00:00", "build_time": 1546992000.0,
            "build_user": ""}


def leader_info(view: MesosView) -> dict[str, Any] | None:
    """Master 0 leads (the first master elected when the ensemble formed)."""
    masters = _masters(view)
    if not masters:
        return None
    host = _host(masters[0])
    return {"id": master_id(view), "pid": f"master@{host}:{MESOS_PORT}", "port": MESOS_PORT,
            "hostname": host, "ip": _ip_number(host), "version": view.mesos_version,
            "address": {"hostname": host, "ip": host, "port": MESOS_PORT}}


def leader_location(view: MesosView) -> str | None:
    """Where /master/redirect sends a client: the leading master's base URL, scheme-relative
    (``//host:port``, no path) so that the client keeps the scheme it used (https here), made
    of leader_info's hostname and port as /master/state shows them; None with no leader."""
    leader = leader_info(view)
    if leader is None:
        return None
    return f"//{leader['hostname']}:{leader['port']}"


def agent_object(view: MesosView, index: int, node: kube_api.Node) -> dict[str, Any]:
    """One registered, active agent as /master/slaves shows it."""
    host = _host(node)
    return {
        "id": f"{master_id(view)}-S{index}",
        "pid": f"slave(1)@{host}:{AGENT_PORT}",
        "hostname": host,
        "port": AGENT_PORT,
        "registered_time": _epoch(node.created or view.created),
        "resources": dict(_RESOURCES),
        "used_resources": dict(_NO_RESOURCES),
        "offered_resources": dict(_NO_RESOURCES),
        "reserved_resources": {},
        "unreserved_resources": dict(_RESOURCES),
        "attributes": {},
        "active": True,
        "deactivated": False,
        "version": view.mesos_version,
        "capabilities": ["MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT"],
    }


def marathon_framework(view: MesosView) -> dict[str, Any]:
    """Marathon, registered from master 0 with the principal the driver gives it."""
    masters = _masters(view)
    host = _host(masters[0]) if masters else "localhost"
    return {
        "id": f"{master_id(view)}-0000", "name": "marathon",
        "pid": f"scheduler-{uuid.uuid5(_NAMESPACE, view.cluster_uuid)}@{host}:{MARATHON_PORT}",
        "hostname": host, "webui_url": f"http://{host}:{MARATHON_PORT}", "user": "root",
        "principal": "marathon", "role": "*", "roles": ["*"], "active": True,
        "connected": True, "recovered": False, "checkpoint": True,
        "failover_timeout": 604800.0, "registered_time": _epoch(view.created),
        "unregistered_time": 0.0, "capabilities": ["PARTITION_AWARE"],
        "resources": dict(_NO_RESOURCES), "used_resources": dict(_NO_RESOURCES),
        "offered_resources": dict(_NO_RESOURCES), "tasks": [], "unreachable_tasks": [],
        "completed_tasks": [], "offers": [], "executors": [],
    }


def state(view: MesosView) -> dict[str, Any]:
    """/master/state as the leading master answers it."""
    leader = leader_info(view)
    agents = [agent_object(view, i, n) for i, n in enumerate(_agents(view))]
    body: dict[str, Any] = {
        **version_info(view),
        "id": master_id(view),
        "start_time": _epoch(view.created),
        "elected_time": _epoch(view.created),
        "activated_slaves": len(agents),
        "deactivated_slaves": 0,
        "unreachable_slaves": 0,
        "slaves": agents,
        "frameworks": [marathon_framework(view)] if leader else [],
        "completed_frameworks": [],
        "unregistered_frameworks": [],
        "orphan_tasks": [],
        "flags": {"port": str(MESOS_PORT), "authenticate_agents": "true",
                  "authenticate_frameworks": "true", "authenticate_http_readonly": "false",
                  "authenticate_http_readwrite": "true", "registry": "replicated_log",
                  "quorum": str(len(_masters(view)) // 2 + 1), "work_dir": "/var/lib/mesos"},
    }
    if leader is not None:
        body.update(pid=leader["pid"], hostname=leader["hostname"], leader=leader["pid"],
                    leader_info=leader)
    return body


class _MesosHandler(kube_api._Handler):
    """kube_api's handler with mesos-master's rules: reads need no credentials, writes
    need basic authentication and are refused anyway (the sandbox is read-only)."""

    server_version = "Mesos"

    def _authenticated(self) -> bool:
        return True  # --authenticate_http_readonly=false

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if urllib.parse.urlsplit(self.path).path in REDIRECT_PATHS:
            self._redirect()
        else:
            self._dispatch()  # a path below a redirect path too: 404, so no redirect loop

    do_HEAD = do_GET  # noqa: N815

    def _redirect(self) -> None:
        """As mesos-master answers on every master, the leader included: 307 with the
        leader's base URL and no body, or 503 while no master leads."""
        location = leader_location(self.server.api.view)  # type: ignore[arg-type]
        if location is None:
            self._send(503, "text/plain; charset=utf-8", b"No leader elected")
            return
        self.send_response(307, HTTPStatus(307).phrase)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _not_allowed(self) -> None:
        self._drain()
        if not self.headers.get("Authorization"):
            self._send(401, "text/plain; charset=utf-8", b"Unauthorized")
            return
        self._send(405, "text/plain; charset=utf-8",
                   b"the sandbox's Mesos master API is read-only")

    do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_POST = _not_allowed  # noqa: N815


class MesosAPI(kube_api.ClusterAPI):
    """The Mesos master API of one Mesos cluster (see the module docstring)."""

    handler_class = _MesosHandler
    kind = "Mesos master API"

    def __init__(self, view: MesosView, ca: x509.KeyPair, port: int = MESOS_PORT) -> None:
        super().__init__(view, ca, port)  # type: ignore[arg-type]

    @staticmethod
    def _make_context(ca: x509.KeyPair, names: tuple[str, ...]) -> ssl.SSLContext:
        """A serving certificate for `names` (see ClusterAPI.set_certificate_names) and
        the loopback names mesos-master.sh always adds."""
        serving = x509.issue_certificate(ca, "mesos-master",
                                         sans=[*names, *kube_api.LOOPBACK_NAMES], server=True)
        context = kube_api.tls_context(ca, serving)
        context.verify_mode = ssl.CERT_NONE  # LIBPROCESS_SSL_REQUIRE_CERT is off
        return context

    def route(self, path: str, query: dict[str, str], host: str) -> tuple[int, Any]:
        """(HTTP status, JSON body or text) for a GET of `path`."""
        view: MesosView = self.view  # type: ignore[assignment]
        if path == "/master/health":
            return 200, ""
        if path == "/version":
            return 200, version_info(view)
        if path in ("/master/state", "/master/state.json", "/state", "/state.json"):
            return 200, state(view)
        if path in ("/master/slaves", "/slaves"):
            return 200, {"slaves": [agent_object(view, i, n)
                                    for i, n in enumerate(_agents(view))],
                         "recovered_slaves": []}
        if path in ("/master/frameworks", "/frameworks"):
            body = state(view)
            return 200, {"frameworks": body["frameworks"], "completed_frameworks": [],
                         "unregistered_frameworks": []}
        return 404, ""
