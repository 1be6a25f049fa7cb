"""A small Kubernetes API server for one sandbox cluster, served by the guest agent.

A simulated cluster boots no kube-apiserver, yet `openstack coe cluster config` hands out a
kubeconfig for its ``api_address``, and clients (the official ``kubernetes`` Python client,
kubectl) must be able to use it. The guest agent (``magnum_lite_sandbox.agent``) plays the
masters: it runs one ``ClusterAPI`` per cluster on the cluster's loopback floating addresses
(127.0.0.0/8, see ``templates/generate.py``) with the cluster's own CA, as kubeadm would set it
up from the CA in the masters' user data.

What it is faithful to, so that clients behave as against a real cluster:

- TLS with a serving certificate issued from the cluster CA whose SANs are what the master's
  boot configuration has kubeadm put in (``set_certificate_names``: its certSANs and the
  node's address), or every address served when that is not known, plus the ``kubernetes``
  service names. So a client reaching the API by an address a real master's certificate
  would not name fails hostname verification here too;
- client-certificate authentication against the cluster CA: user = CN, groups = O. Like
  kube-apiserver, client certificates are requested, not required (``ssl.CERT_OPTIONAL``):
  without one, a request is anonymous, which may read ``/healthz``, ``/livez``, ``/readyz``
  and ``/version`` (the default ``system:public-info-viewer`` binding) and gets 401
  Unauthorized with a ``Status`` anywhere else. One difference: a certificate that does not
  verify against the cluster CA (another CA's, or the old CA's after a rotation) fails the TLS
  handshake here, where kube-apiserver would finish it and answer 401; OpenSSL offers no
  "verify but continue" mode to Python's ``ssl``. Either way the client is refused;
- the shapes of ``/version``, ``/api``, ``/api/v1``, ``/apis`` (authentication.k8s.io and
  policy), nodes, pods, namespaces and PodDisruptionBudgets (GET, with ``limit``/``continue``
  paging, equality label selectors and the field selectors the API server allows, such as
  ``spec.nodeName``), with every field the client's models require; the writes a drain
  needs: a node's cordon (PATCH ``spec.unschedulable``) and a pod's eviction (the
  ``eviction`` subresource, refused with 429 when the PodDisruptionBudget would be broken),
  whose simulation is ``kube_sim``'s; and creating a ``SelfSubjectReview`` (``kubectl auth
  whoami``), which shows how a certificate authenticated. Errors are ``Status`` objects: 404
  NotFound, 405 MethodNotAllowed for any other write, 400 BadRequest for a ``watch``, which
  is not supported;
- availability: while no master is up (a single master being rebuilt), connections are
  dropped unanswered, as a load balancer without members does; while a fault makes the API
  unreachable (``set_reachable``, ``faults``), nothing listens: connections are refused, as
  by a master whose API server is down.

Every authenticated user may read and write everything (no RBAC): the sandbox checks
authentication, which is what a CA rotation changes. Nodes are the cluster's servers, each at
the version its own boot runs (``kube_sim``, ``boots``). A CA switch (``set_ca``) re-issues the
serving certificate and drops open connections, as a restarted kube-apiserver would, so a
kept-alive connection cannot outlive the old CA.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
import dataclasses
import datetime
import hashlib
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import ipaddress
import json
import logging
import os
import socket
import ssl
import tempfile
import threading
import time
from typing import Any
import urllib.parse
import uuid

from magnum_lite.common import x509
from magnum_lite_sandbox import cluster_sim, kube_sim
from magnum_lite_sandbox.cluster_sim import Node
from magnum_lite_sandbox.kube_sim import heat_time, status

LOG = logging.getLogger("magnum_lite_sandbox.kube_api")

DEFAULT_KUBE_VERSION = "v1.30.4"
#: Names a kubeadm API server certificate carries besides its addresses.
SERVICE_NAMES = ("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                 "kubernetes.default.svc.cluster.local")
#: Names the swarm and Mesos boot scripts put in a master's API certificate besides its
#: addresses (docker_api, mesos_api).
LOOPBACK_NAMES = ("127.0.0.1", "localhost")
#: Paths the default RBAC lets anyone read (system:public-info-viewer).
PUBLIC_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version"})
NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
#: Idle keep-alive connections are closed after this many seconds (each holds a thread).
CONNECTION_TIMEOUT = 30.0
#: The largest request body read (a bigger one is answered 413).
MAX_BODY = 1 << 20


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclasses.dataclass(frozen=True)
class ClusterView:
    """What the API shows of a cluster; replaced as a whole when the cluster changes."""

    cluster_uuid: str
    nodes: tuple[Node, ...] = ()
    kube_version: str = DEFAULT_KUBE_VERSION
    created: str | None = None
    never_ready: frozenset[str] = frozenset()  # nodes whose boot a fault holds (faults)
    stopped: frozenset[str] = frozenset()  # server ids a fault shut off (faults)
    state_dir: str | None = None  # where the timeline goes (None: nowhere)


# -- the shapes ---------------------------------------------------------------------------

def version_info(kube_version: str) -> dict:
    """/version: the fields of version.Info (all required by the client's VersionInfo)."""
    major, minor = kube_version.lstrip("v").split(".")[:2]
    return {"major": major, "minor": minor, "gitVersion": kube_version,
            "gitCommit": hashlib.sha1(kube_version.encode()).hexdigest(),
            "gitTreeState": "clean", "buildDate": "2024-08-14T19:00:00Z",
            "goVersion": "go1.22.5", "compiler": "gc", "platform": "linux/amd64"}


def namespace_object(view: ClusterView, name: str) -> dict:
    return {"kind": "Namespace", "apiVersion": "v1",
            "metadata": {"name": name, "uid": str(uuid.uuid5(kube_sim.IDENTITIES,
                                                             f"{view.cluster_uuid}/ns/{name}")),
                         "resourceVersion": "1", "creationTimestamp": heat_time(view.created),
                         "labels": {"kubernetes.io/metadata.name": name}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


AUTHN_GROUP = "authentication.k8s.io"
AUTHN_VERSION = f"{AUTHN_GROUP}/v1"
SELF_SUBJECT_REVIEWS = f"/apis/{AUTHN_VERSION}/selfsubjectreviews"


def self_subject_review(user: str, groups: Iterable[str]) -> dict:
    """What ``kubectl auth whoami`` gets: the caller as the API authenticated it."""
    return {"kind": "SelfSubjectReview", "apiVersion": AUTHN_VERSION,
            "metadata": {"creationTimestamp": _now()},
            "status": {"userInfo": {"username": user,
                                    "groups": [*groups, "system:authenticated"]}}}


POLICY_GROUP = "policy"
POLICY_VERSION = f"{POLICY_GROUP}/v1"


def _group(name: str, group_version: str) -> dict:
    version = {"groupVersion": group_version, "version": group_version.split("/")[1]}
    return {"name": name, "versions": [version], "preferredVersion": version}


_GROUPS = {AUTHN_GROUP: _group(AUTHN_GROUP, AUTHN_VERSION),
           POLICY_GROUP: _group(POLICY_GROUP, POLICY_VERSION)}
_API_GROUPS = {"kind": "APIGroupList", "apiVersion": "v1", "groups": list(_GROUPS.values())}
_GROUP_RESOURCES = {
    AUTHN_VERSION: [{"name": "selfsubjectreviews", "singularName": "selfsubjectreview",
                     "namespaced": False, "kind": "SelfSubjectReview", "verbs": ["create"]}],
    POLICY_VERSION: [{"name": "poddisruptionbudgets", "singularName": "poddisruptionbudget",
                      "namespaced": True, "kind": "PodDisruptionBudget",
                      "verbs": ["get", "list"], "shortNames": ["pdb"]}],
}

_RESOURCES = [
    {"name": "namespaces", "singularName": "namespace", "namespaced": False,
     "kind": "Namespace", "verbs": ["get", "list"], "shortNames": ["ns"]},
    {"name": "nodes", "singularName": "node", "namespaced": False, "kind": "Node",
     "verbs": ["get", "list", "patch"], "shortNames": ["no"]},
    {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
     "verbs": ["get", "list"], "shortNames": ["po"], "categories": ["all"]},
    {"name": "pods/eviction", "singularName": "", "namespaced": True, "group": POLICY_GROUP,
     "version": "v1", "kind": "Eviction", "verbs": ["create"]},
]


# -- selectors and paging -----------------------------------------------------------------

class BadRequest(Exception):
    """A query the server refuses with 400 (message for the Status)."""


def _label_matcher(selector: str) -> Any:
    """Equality-based label selectors: ``k``, ``!k``, ``k=v``, ``k==v``, ``k!=v``."""
    terms = []
    for raw in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in raw:
            key, value = raw.split("!=", 1)
            terms.append((key.strip(), "!=", value.strip()))
        elif "==" in raw or "=" in raw:
            key, value = raw.split("==", 1) if "==" in raw else raw.split("=", 1)
            terms.append((key.strip(), "=", value.strip()))
        elif raw.startswith("!"):
            terms.append((raw[1:].strip(), "!", ""))
        elif " in " in raw or " notin " in raw or "(" in raw:
            raise BadRequest(f"unable to parse requirement: set-based selector {raw!r} is not "
                             "supported by the sandbox")
        else:
            terms.append((raw, "exists", ""))

    def matches(labels: dict) -> bool:
        for key, op, value in terms:
            present = key in labels
            if op == "exists" and not present or op == "!" and present:
                return False
            if op == "=" and labels.get(key) != value:
                return False
            if op == "!=" and present and labels[key] == value:
                return False
        return True
    return matches


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


#: The fields each kind can be selected by (``fieldSelector``), as the API server allows.
FIELDS: dict[str, dict[str, Any]] = {
    "NodeList": {"metadata.name": lambda o: o["metadata"]["name"],
                 "spec.unschedulable": lambda o: o["spec"].get("unschedulable", False)},
    "PodList": {"metadata.name": lambda o: o["metadata"]["name"],
                "metadata.namespace": lambda o: o["metadata"]["namespace"],
                "spec.nodeName": lambda o: o["spec"].get("nodeName"),
                "spec.restartPolicy": lambda o: o["spec"].get("restartPolicy"),
                "spec.schedulerName": lambda o: o["spec"].get("schedulerName"),
                "spec.serviceAccountName": lambda o: o["spec"].get("serviceAccountName"),
                "status.phase": lambda o: o["status"].get("phase"),
                "status.podIP": lambda o: o["status"].get("podIP")},
    "NamespaceList": {"metadata.name": lambda o: o["metadata"]["name"],
                      "status.phase": lambda o: o["status"].get("phase")},
    "PodDisruptionBudgetList": {"metadata.name": lambda o: o["metadata"]["name"],
                                "metadata.namespace": lambda o: o["metadata"]["namespace"]},
}


def _field_matcher(selector: str, fields: dict[str, Any]) -> Any:
    """Equality field selectors (``f=v``, ``f==v``, ``f!=v``) on the kind's fields; others are
    refused, as the API server does."""
    terms = []
    for raw in filter(None, (t.strip() for t in selector.split(","))):
        op = "!=" if "!=" in raw else "="
        key, value = raw.split("!=" if op == "!=" else ("==" if "==" in raw else "="), 1)
        if key.strip() not in fields:
            raise BadRequest(f'field label not supported: {key.strip()}')
        terms.append((fields[key.strip()], op, value.strip()))

    def matches(obj: dict) -> bool:
        return all((_text(get(obj)) == v) == (op == "=") for get, op, v in terms)
    return matches


def list_object(kind: str, items: list[dict], query: dict[str, str], version: str,
                api_version: str = "v1") -> dict:
    """A list of ``items`` filtered by the query's selectors and paged by ``limit`` and
    ``continue`` (the token is the offset, opaque to clients)."""
    if query.get("labelSelector"):
        match = _label_matcher(query["labelSelector"])
        items = [i for i in items if match(i["metadata"].get("labels") or {})]
    if query.get("fieldSelector"):
        match = _field_matcher(query["fieldSelector"], FIELDS.get(kind, {}))
        items = [i for i in items if match(i)]
    start = 0
    if query.get("continue"):
        try:
            start = int(base64.urlsafe_b64decode(query["continue"].encode()).decode())
        except ValueError:
            raise BadRequest("continue key is not valid") from None
    metadata: dict[str, Any] = {"resourceVersion": version}
    items = items[start:]
    limit = query.get("limit")
    if limit:
        try:
            count = int(limit)
        except ValueError:
            raise BadRequest(f"invalid limit {limit!r}") from None
        if count > 0 and len(items) > count:
            metadata["continue"] = base64.urlsafe_b64encode(
                str(start + count).encode()).decode()
            metadata["remainingItemCount"] = len(items) - count
            items = items[:count]
    return {"kind": kind, "apiVersion": api_version, "metadata": metadata, "items": items}


# -- the server ---------------------------------------------------------------------------

class _Listener(ThreadingHTTPServer):
    """One bound address of a cluster API; TLS is set up per connection with the API's
    current context, so a CA switch applies to every new connection at once."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(self, api: ClusterAPI, address: tuple[str, int]) -> None:
        self.api = api
        super().__init__(address, api.handler_class)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, peer = super().get_request()
        # The handshake runs in the connection's own thread (see _Handler.handle), so a
        # slow or hostile client cannot hold up accept().
        tls = self.api.context.wrap_socket(sock, server_side=True,
                                           do_handshake_on_connect=False)
        return tls, peer

    def handle_error(self, request: Any, client_address: Any) -> None:
        LOG.debug("cluster %s: connection from %s failed", self.api.view.cluster_uuid,
                  client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-apiserver"
    sys_version = ""
    timeout = CONNECTION_TIMEOUT
    server: _Listener

    def handle(self) -> None:
        api = self.server.api
        if not api.available():
            # No master is up: the load balancer in front has no member to pass this to.
            LOG.debug("cluster %s: no master up, connection from %s dropped",
                      api.view.cluster_uuid, self.client_address)
            return
        try:
            self.request.do_handshake()
        except (ssl.SSLError, OSError) as exc:
            # Among others: a client certificate the cluster CA did not sign.
            LOG.debug("cluster %s: TLS handshake with %s refused: %s", api.view.cluster_uuid,
                      self.client_address, exc)
            return
        self.user = _identity(self.request.getpeercert())
        if not api.track(self.request):
            return  # the API is stopping or switched CA while we shook hands
        try:
            super().handle()
        except (ssl.SSLError, OSError):
            pass  # dropped by a CA switch or by the client
        finally:
            api.untrack(self.request)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        LOG.debug("cluster %s: %s %s", self.server.api.view.cluster_uuid,
                  self.address_string(), format % args)

    # -- dispatch --------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._dispatch()

    do_HEAD = do_GET  # noqa: N815 - the same answer without its body (see _send)

    def _not_allowed(self) -> None:
        self._drain()
        if self._authenticated():
            self._refuse()

    def _refuse(self) -> None:
        """The answer to a method the resource does not allow."""
        self._send_json(405, status(405, "MethodNotAllowed", "the server does not allow "
                                    "this method on the requested resource", {}))

    do_OPTIONS = _not_allowed  # noqa: N815

    def _write(self) -> None:
        """POST, PUT, PATCH, DELETE: what the API accepts (``ClusterAPI.write``), else 405."""
        body = self._body()
        if body is None or self._gone():
            return
        url = urllib.parse.urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        if not self._write_allowed():
            return
        try:
            result = self.server.api.write(self.command, path, query, self.headers, body,
                                           self.user)
        except BadRequest as exc:
            result = 400, status(400, "BadRequest", str(exc))
        if result is None:
            self._refuse()
        else:
            self._answer(*result)

    do_POST = do_PUT = do_PATCH = do_DELETE = _write  # noqa: N815

    def _write_allowed(self) -> bool:
        """Whether the caller may write at all (answered here when not)."""
        return self._authenticated()

    def _body(self) -> bytes | None:
        """The request body; None (answered 413, connection closed) when too large."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY:
            self.close_connection = True
            self._send(413, "text/plain; charset=utf-8", b"request body too large")
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _drain(self) -> None:
        """Reads the request body, so the kept-alive connection stays in step."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY:
            self.close_connection = True  # not worth reading: answer, then hang up
        elif length > 0:
            self.rfile.read(length)

    def _gone(self) -> bool:
        """When the last master went down meanwhile: hang up without an answer, as the load
        balancer does when the member behind a connection dies."""
        if self.server.api.available():
            return False
        self.close_connection = True
        return True

    def _authenticated(self) -> bool:
        if self.user is None:
            self._send_json(401, status(401, "Unauthorized", "Unauthorized"))
            return False
        return True

    def _dispatch(self) -> None:
        if self._gone():
            return
        url = urllib.parse.urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        if path not in PUBLIC_PATHS and not self._authenticated():
            return
        try:
            code, body = self.server.api.route(path, query, self.headers.get("Host", ""))
        except BadRequest as exc:
            code, body = 400, status(400, "BadRequest", str(exc))
        self._answer(code, body)

    def _answer(self, code: int, body: Any) -> None:
        """Text as text/plain, None as an empty body, anything else as JSON."""
        if body is None:
            self._send(code, None, b"")
        elif isinstance(body, str):
            self._send(code, "text/plain; charset=utf-8", body.encode())
        else:
            self._send_json(code, body)

    def _send_json(self, code: int, body: Any) -> None:
        self._send(code, "application/json", json.dumps(body).encode())

    def _send(self, code: int, content_type: str | None, data: bytes) -> None:
        self.send_response(code, HTTPStatus(code).phrase)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


def _identity(peer: dict | None) -> tuple[str, tuple[str, ...]] | None:
    """(user, groups) from a verified client certificate: CN and O, as kube-apiserver maps
    them; None for an anonymous connection."""
    if not peer:
        return None
    names: dict[str, list[str]] = {}
    for rdn in peer.get("subject", ()):
        for key, value in rdn:
            names.setdefault(key, []).append(value)
    cn = names.get("commonName")
    if not cn:
        return None
    return cn[0], tuple(names.get("organizationName", ()))


def tls_context(ca: x509.KeyPair, serving: x509.KeyPair) -> ssl.SSLContext:
    """The server side: the serving pair, and client certificates checked against the CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_OPTIONAL
    context.load_verify_locations(cadata=ca.certificate)
    # ssl loads a key pair only from files: a private directory, removed at once.
    with tempfile.TemporaryDirectory(prefix="kube-api-") as tmp:
        cert_path, key_path = os.path.join(tmp, "tls.crt"), os.path.join(tmp, "tls.key")
        with open(cert_path, "w", encoding="ascii") as f:
            f.write(serving.certificate)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(serving.private_key)
        context.load_cert_chain(cert_path, key_path)
    return context


class ClusterAPI:
    """The API of one cluster: a view, a CA, the addresses it listens on, and the simulated
    cluster behind it (``sim``, a ``cluster_sim.ClusterSim``).

    Another COE's API (docker_api, mesos_api) subclasses it for its routes (`route`,
    `write`), its request handler (`handler_class`), its simulation (`sim_class`) and its
    serving certificate (`_make_context`)."""

    #: Answers each connection (a BaseHTTPRequestHandler subclass).
    handler_class: type[BaseHTTPRequestHandler] = _Handler
    #: The simulated cluster behind the API.
    sim_class: type[cluster_sim.ClusterSim] = kube_sim.KubeSim
    #: What the logs call the API served.
    kind = "Kubernetes API"

    def __init__(self, view: ClusterView, ca: x509.KeyPair, port: int = 6443,
                 clock: Callable[[], float] = time.time,
                 sim: cluster_sim.ClusterSim | None = None) -> None:
        self.view = view
        # Another API of the same cluster (Mesos' Marathon) shares its simulation.
        self.sim = sim if sim is not None else self.sim_class(view, clock)
        self.port = port
        self._ca = ca
        self._lock = threading.Lock()
        self._listeners: dict[str, _Listener] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._connections: set[Any] = set()
        self._closed = False
        self._reachable = True
        self._hosts: tuple[str, ...] = ()  # where the API is asked to listen
        self._generation = 1
        self._names: tuple[str, ...] = ()  # from the boot configuration; () = served hosts
        self._sans: tuple[str, ...] | None = None  # what the serving certificate names
        self.context: ssl.SSLContext | None = None  # made when there is something to serve

    # -- state the agent changes -----------------------------------------------------------
    @property
    def ca_certificate(self) -> str:
        return self._ca.certificate

    @property
    def addresses(self) -> dict[str, int]:
        """Each bound address and its port (the port differs from ``port`` only for 0)."""
        with self._lock:
            return {host: lst.server_address[1] for host, lst in self._listeners.items()}

    def set_view(self, view: ClusterView) -> None:
        """Show new nodes (or new versions, or faults); open connections keep working."""
        if view != self.view:
            self.view = view
            self._generation += 1
            self.sim.update(view)

    def tick(self) -> None:
        """Lets time act on the simulated cluster (boots, starting replicas); the agent
        calls it every sweep, so the timeline does not wait for a client's request."""
        self.sim.advance()

    def available(self) -> bool:
        """Whether a connection gets an answer: some master is up."""
        return self.sim.available()

    def set_ca(self, ca: x509.KeyPair) -> None:
        """Switch to a new cluster CA: a new serving certificate, client certificates checked
        against the new CA only, and every open connection dropped (a restarted apiserver)."""
        if ca == self._ca:
            return
        with self._lock:
            hosts = tuple(self._listeners)
            sans = self._names or hosts
            # Made before anything changes: a CA that does not work leaves the old in place.
            context = self._make_context(ca, sans) if hosts else None
            self._ca, self.context = ca, context
            self._sans = sans if hosts else None
            self._drop_connections()
        LOG.info("cluster %s: API switched to CA %s", self.view.cluster_uuid,
                 x509.fingerprint(ca.certificate)[:16])

    def set_certificate_names(self, names: Iterable[str]) -> None:
        """Have the serving certificate name these (besides what the COE adds itself)
        instead of the served addresses: what the master's boot configuration puts in its
        certificate, so a client reaching the API by an address a real master's would not
        name fails verification, as on a real cloud. Empty: the served addresses (nothing
        is known). A change re-issues the certificate for new connections; open ones stay."""
        wanted = tuple(dict.fromkeys(n for n in names if n))
        with self._lock:
            if wanted == self._names:
                return
            hosts = tuple(self._listeners)
            sans = wanted or hosts
            context = self._make_context(self._ca, sans) if hosts else None
            self._names, self.context = wanted, context
            self._sans = sans if hosts else None

    def set_reachable(self, reachable: bool) -> None:
        """Unreachable: stop listening and drop every connection, so that clients are
        refused (ECONNREFUSED) as by a master whose API server is down; reachable again:
        listen where ``serve`` last asked. The simulated cluster goes on meanwhile."""
        with self._lock:
            if reachable == self._reachable or self._closed:
                return
            self._reachable = reachable
            if not reachable:
                self._stop_listeners()
                self._drop_connections()
        LOG.info("cluster %s: the %s is %s", self.view.cluster_uuid, self.kind,
                 "reachable again" if reachable else "unreachable (a fault)")
        if reachable:
            self.serve(self._hosts)

    def serve(self, hosts: Iterable[str]) -> dict[str, int]:
        """Listen on exactly these hosts (others are closed); returns what is bound. A host
        that cannot be bound (in use, not local) is logged and left out, to retry later.
        While unreachable, the hosts are only remembered."""
        wanted = list(dict.fromkeys(hosts))
        with self._lock:
            self._hosts = tuple(wanted)
            if self._closed or not self._reachable:
                return {}
            for host in [h for h in self._listeners if h not in wanted]:
                self._stop_listener(host)
            new = [h for h in wanted if h not in self._listeners]
            sans = self._names or tuple(wanted)
            if new and (self.context is None or self._sans is None
                        or not set(sans) <= set(self._sans)):
                self.context = self._make_context(self._ca, sans)
                self._sans = sans
            for host in new:
                try:
                    listener = _Listener(self, (host, self.port))
                except OSError as exc:
                    LOG.warning("cluster %s: cannot listen on %s:%s: %s",
                                self.view.cluster_uuid, host, self.port, exc)
                    continue
                thread = threading.Thread(target=listener.serve_forever, kwargs={
                    "poll_interval": 0.2}, name=f"kube-api-{host}", daemon=True)
                self._listeners[host] = listener
                self._threads[host] = thread
                thread.start()
                LOG.info("cluster %s: serving the %s on https://%s:%s",
                         self.view.cluster_uuid, self.kind, host, listener.server_address[1])
            return {h: lst.server_address[1] for h, lst in self._listeners.items()}

    def close(self) -> None:
        """Stop listening and drop every connection (the cluster is gone, or the agent)."""
        with self._lock:
            self._closed = True
            self._stop_listeners()
            self._drop_connections()

    # -- internals -------------------------------------------------------------------------
    @staticmethod
    def _make_context(ca: x509.KeyPair, names: tuple[str, ...]) -> ssl.SSLContext:
        """The TLS context with a serving certificate for `names` (the boot configuration's,
        else the served hosts) and what kubeadm always adds, the service names."""
        serving = x509.issue_certificate(ca, "kube-apiserver",
                                         sans=list(names) + list(SERVICE_NAMES), server=True)
        return tls_context(ca, serving)

    def _stop_listeners(self) -> None:
        stoppers = [threading.Thread(target=self._stop_listener, args=(host,))
                    for host in list(self._listeners)]
        for stopper in stoppers:  # each waits up to a poll interval: wait for all at once
            stopper.start()
        for stopper in stoppers:
            stopper.join()

    def _stop_listener(self, host: str) -> None:
        listener = self._listeners[host]
        listener.shutdown()
        listener.server_close()
        self._threads[host].join(timeout=2)
        # Popped only now: close() runs one of these per host in parallel.
        self._listeners.pop(host, None)
        self._threads.pop(host, None)

    def track(self, conn: Any) -> bool:
        """Called by a connection after its handshake; False if it must close at once (the
        API is closing, or it switched CA while this connection shook hands with the old)."""
        with self._lock:
            if self._closed or getattr(conn, "context", None) is not self.context:
                return False
            self._connections.add(conn)
            return True

    def untrack(self, conn: Any) -> None:
        with self._lock:
            self._connections.discard(conn)

    def _drop_connections(self) -> None:
        for conn in list(self._connections):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._connections.clear()

    # -- routes ----------------------------------------------------------------------------
    def route(self, path: str, query: dict[str, str], host: str) -> tuple[int, Any]:
        """(HTTP status, JSON body or text) for a GET of ``path``."""
        version = str(self._generation + self.sim.revision)
        if path in ("/healthz", "/livez", "/readyz"):
            return 200, "ok"
        if path == "/version":
            return 200, version_info(self.sim.api_version())
        if query.get("watch") in ("1", "true"):
            raise BadRequest("watch is not supported by the sandbox API")
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"],
                         "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                         "serverAddress": host or
                                                         f"127.0.0.1:{self.port}"}]}
        if path == "/apis":
            return 200, _API_GROUPS
        parts = path.strip("/").split("/")
        if parts[0] == "apis" and len(parts) == 2 and parts[1] in _GROUPS:
            return 200, {"kind": "APIGroup", "apiVersion": "v1", **_GROUPS[parts[1]]}
        if parts[0] == "apis" and "/".join(parts[1:3]) in _GROUP_RESOURCES and len(parts) == 3:
            group_version = "/".join(parts[1:3])
            return 200, {"kind": "APIResourceList", "apiVersion": "v1",
                         "groupVersion": group_version,
                         "resources": _GROUP_RESOURCES[group_version]}
        if path == "/api/v1":
            return 200, {"kind": "APIResourceList", "groupVersion": "v1",
                         "resources": _RESOURCES}
        if path.startswith("/api/v1/"):
            return self._resource(parts[2:], query, version)
        if path.startswith(f"/apis/{POLICY_VERSION}/"):
            return self._budgets(parts[3:], query, version)
        return 404, _no_such_resource()

    def _resource(self, parts: list[str], query: dict[str, str],
                  version: str) -> tuple[int, dict]:
        if parts[0] == "nodes" and len(parts) <= 2:
            nodes = self.sim.nodes(_now())
            if len(parts) == 1:
                return 200, list_object("NodeList", nodes, query, version)
            return self._one(nodes, "nodes", parts[1])
        if parts[0] == "pods" and len(parts) == 1:
            return 200, list_object("PodList", self.sim.pods(), query, version)
        if parts[0] == "namespaces":
            namespaces = [namespace_object(self.view, n) for n in NAMESPACES]
            if len(parts) == 1:
                return 200, list_object("NamespaceList", namespaces, query, version)
            code, ns = self._one(namespaces, "namespaces", parts[1])
            if code != 200 or len(parts) == 2:
                return code, ns
            pods = [p for p in self.sim.pods() if p["metadata"]["namespace"] == parts[1]]
            if parts[2] == "pods" and len(parts) == 3:
                return 200, list_object("PodList", pods, query, version)
            if parts[2] == "pods" and len(parts) == 4:
                return self._one(pods, "pods", parts[3])
        return 404, _no_such_resource()

    def _budgets(self, parts: list[str], query: dict[str, str],
                 version: str) -> tuple[int, dict]:
        """/apis/policy/v1/[namespaces/{ns}/]poddisruptionbudgets[/{name}]."""
        namespace = None
        if len(parts) >= 2 and parts[0] == "namespaces":
            namespace, parts = parts[1], parts[2:]
        if not parts or parts[0] != "poddisruptionbudgets" or len(parts) > 2 or \
                (len(parts) == 2 and namespace is None):
            return 404, _no_such_resource()
        budgets = [b for b in [self.sim.budget()]
                   if namespace is None or b["metadata"]["namespace"] == namespace]
        if len(parts) == 2:
            return self._one(budgets, "poddisruptionbudgets.policy", parts[1])
        return 200, list_object("PodDisruptionBudgetList", budgets, query, version,
                                POLICY_VERSION)

    def write(self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes,
              user: tuple[str, tuple[str, ...]] | None) -> tuple[int, Any] | None:
        """(HTTP status, body) for a write the API accepts; None for 405. Kubernetes: a
        SelfSubjectReview, a node's cordon (PATCH), a pod's eviction."""
        parts = path.strip("/").split("/")
        if method == "POST" and path == SELF_SUBJECT_REVIEWS and user is not None:
            return 201, self_subject_review(*user)
        if method == "PATCH" and parts[:3] == ["api", "v1", "nodes"] and len(parts) == 4:
            return self.sim.patch_node(parts[3], headers.get("Content-Type", ""), body,
                                       _now())
        if method == "POST" and parts[:3] == ["api", "v1", "namespaces"] and \
                len(parts) == 7 and parts[4] == "pods" and parts[6] == "eviction":
            return self.sim.evict(parts[3], parts[5], body, query.get("dryRun") == "All")
        return None

    @staticmethod
    def _one(objects: list[dict], kind: str, name: str) -> tuple[int, dict]:
        for obj in objects:
            if obj["metadata"]["name"] == name:
                return 200, obj
        return 404, status(404, "NotFound", f'{kind} "{name}" not found',
                           {"name": name, "kind": kind})


def _no_such_resource() -> dict:
    return status(404, "NotFound", "the server could not find the requested resource", {})


def servable(address: str | None) -> bool:
    """Whether this machine can listen on the address without privileges (127.0.0.0/8)."""
    try:
        return address is not None and ipaddress.ip_address(address) in \
            ipaddress.ip_network("127.0.0.0/8")
    except ValueError:
        return False
