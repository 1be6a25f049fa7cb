"""Faithful fakes of the COE APIs the conductor drains nodes through, served over real TLS on
127.0.0.1: a serving certificate from the cluster CA (SAN 127.0.0.1), client certificates
checked against it as each API does, and every request recorded.

Each fake keeps the little state a drain changes (nodes, pods, tasks, agents, a maintenance
schedule) and answers in the API's own shapes: Kubernetes `Status` errors, Docker's
`{"message": ...}`, Mesos' plain text. Tests move time on between rounds by calling the fake
(a kubelet finishing a terminating pod, swarm shutting a task down).
"""

from __future__ import annotations

import base64
import dataclasses
import http.server
import json
import os
import socket
import ssl
import tempfile
import threading
from typing import Any
import urllib.parse

from magnum_lite.common import x509


@dataclasses.dataclass
class Request:
    """One request as the server read it."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]
    #: The verified client certificate's subject: {"CN": [...], "O": [...]}, None without one.
    subject: dict[str, list[str]] | None
    not_after: str | None = None

    def __str__(self) -> str:
        query = "?" + urllib.parse.urlencode(self.query) if self.query else ""
        return f"{self.method} {self.path}{query}"


def server_context(ca: x509.KeyPair, *, names: tuple[str, ...] = ("127.0.0.1",),
                   client_certs: ssl.VerifyMode = ssl.CERT_NONE,
                   tls12: bool = False) -> ssl.SSLContext:
    """A serving context: a certificate from `ca` for `names`, clients checked against it.

    `tls12`: at most TLS 1.2, where a refused client certificate fails the handshake itself
    (with TLS 1.3 the client learns it from an alert after its first write, or from a reset).
    """
    serving = x509.issue_certificate(ca, "coe-api", sans=names, server=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if tls12:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = client_certs
    if client_certs != ssl.CERT_NONE:
        context.load_verify_locations(cadata=ca.certificate)
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "serving.pem")
        with open(path, "w", encoding="ascii") as f:
            f.write(serving.certificate + serving.private_key)
        context.load_cert_chain(path)
    return context


class _Listener(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeApi, context: ssl.SSLContext) -> None:
        self.fake = fake
        self.context = context
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        sock.settimeout(5)
        return self.context.wrap_socket(sock, server_side=True), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a refused handshake or a client that went away: not the test's business


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real APIs

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _serve(self) -> None:
        fake: FakeApi = self.server.fake  # type: ignore[attr-defined]
        parts = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        peer = self.connection.getpeercert() if hasattr(self.connection, "getpeercert") \
            else None
        subject = None
        if peer:
            subject = {"CN": [], "O": []}
            for rdn in peer.get("subject", ()):
                for key, value in rdn:
                    subject.setdefault({"commonName": "CN", "organizationName": "O"}.get(
                        key, key), []).append(value)
        request = Request(self.command, parts.path, dict(urllib.parse.parse_qsl(parts.query)),
                          body, {k.lower(): v for k, v in self.headers.items()}, subject,
                          (peer or {}).get("notAfter"))
        with fake.lock:
            fake.requests.append(request)
            status, answer, headers = fake.handle(request)
        data = answer if isinstance(answer, bytes) else \
            (answer.encode() if isinstance(answer, str) else json.dumps(answer).encode())
        self.send_response(status)
        content_type = "text/plain; charset=utf-8" if isinstance(answer, str) else \
            "application/json"
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve  # noqa: N815


class FakeApi:
    """A COE API on 127.0.0.1 over TLS while the `with` block runs; subclasses answer."""

    def __init__(self, ca: x509.KeyPair, *, client_certs: ssl.VerifyMode = ssl.CERT_NONE,
                 names: tuple[str, ...] = ("127.0.0.1",), tls12: bool = False) -> None:
        self.ca = ca
        self.lock = threading.RLock()
        self.requests: list[Request] = []
        self._listener = _Listener(self, server_context(ca, names=names,
                                                        client_certs=client_certs,
                                                        tls12=tls12))
        self.port = self._listener.server_address[1]
        self._thread = threading.Thread(target=self._listener.serve_forever, args=(0.05,),
                                        daemon=True)

    def handle(self, request: Request) -> tuple[int, Any, dict[str, str] | None]:
        raise NotImplementedError

    def __enter__(self) -> FakeApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._listener.shutdown()
        self._listener.server_close()
        self._thread.join(5)

    def seen(self) -> list[str]:
        """The requests so far as "METHOD /path?query", and forget them."""
        with self.lock:
            lines = [str(r) for r in self.requests]
            self.requests.clear()
        return lines


# -- Kubernetes ----------------------------------------------------------------------------

def k8s_status(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    """A metav1.Status failure, the body of every kube-apiserver error."""
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    if details is not None:
        body["details"] = details
    return body


@dataclasses.dataclass
class Pod:
    name: str
    node: str
    namespace: str = "default"
    owner: str | None = "ReplicaSet"
    mirror: bool = False
    phase: str = "Running"
    terminating: bool = False
    #: Evictions refused with 429 before one is granted (a PodDisruptionBudget at its limit).
    budget_refusals: int = 0


class FakeKubernetes(FakeApi):
    """kube-apiserver: client certificates optional (anonymous gets 401), CN/O as user and
    groups, only system:masters may write (no other RBAC here)."""

    def __init__(self, ca: x509.KeyPair, **kwargs: Any) -> None:
        super().__init__(ca, client_certs=ssl.CERT_OPTIONAL, **kwargs)
        self.nodes: dict[str, dict[str, Any]] = {}
        self.pods: list[Pod] = []

    def add_node(self, name: str, *, ready: bool = True, version: str = "v1.30.4",
                 unschedulable: bool = False) -> None:
        self.nodes[name] = {"ready": ready, "version": version, "unschedulable": unschedulable}

    def finish_terminations(self) -> None:
        """What the kubelets do between two rounds: terminating pods go away."""
        with self.lock:
            self.pods = [p for p in self.pods if not p.terminating]

    def _node(self, name: str) -> dict:
        node = self.nodes[name]
        spec = {"unschedulable": True} if node["unschedulable"] else {}
        ready = "True" if node["ready"] else "False"
        return {"kind": "Node", "apiVersion": "v1",
                "metadata": {"name": name, "uid": f"uid-{name}", "resourceVersion": "7"},
                "spec": spec,
                "status": {"conditions": [
                    {"type": "MemoryPressure", "status": "False"},
                    {"type": "Ready", "status": ready,
                     "reason": "KubeletReady" if node["ready"] else "NodeStatusUnknown",
                     "message": "kubelet is posting ready status" if node["ready"] else
                     "Kubelet stopped posting node status."}],
                    "nodeInfo": {"kubeletVersion": node["version"],
                                 "kubeProxyVersion": node["version"]}}}

    @staticmethod
    def _pod(pod: Pod) -> dict:
        metadata: dict[str, Any] = {"name": pod.name, "namespace": pod.namespace,
                                    "uid": f"uid-{pod.name}"}
        if pod.owner:
            metadata["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": pod.owner,
                                            "name": f"{pod.name}-owner", "uid": "x",
                                            "controller": True}]
        if pod.mirror:
            metadata["annotations"] = {"kubernetes.io/config.mirror": "abc",
                                       "kubernetes.io/config.source": "file"}
        if pod.terminating:
            metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        return {"kind": "Pod", "apiVersion": "v1", "metadata": metadata,
                "spec": {"nodeName": pod.node}, "status": {"phase": pod.phase}}

    @staticmethod
    def _page(kind: str, items: list[dict], query: dict[str, str]) -> dict:
        start = int(query.get("continue") or 0)
        limit = int(query.get("limit") or 0) or len(items) or 1
        page = items[start:start + limit]
        metadata = {"resourceVersion": "9"}
        if start + limit < len(items):
            metadata["continue"] = str(start + limit)
        return {"kind": kind, "apiVersion": "v1", "metadata": metadata, "items": page}

    def handle(self, request: Request) -> tuple[int, Any, dict[str, str] | None]:
        if request.subject is None:
            return 401, k8s_status(401, "Unauthorized", "Unauthorized"), None
        parts = request.path.strip("/").split("/")
        if request.method != "GET" and "system:masters" not in request.subject["O"]:
            user = request.subject["CN"][0]
            return 403, k8s_status(403, "Forbidden", f'User "{user}" cannot patch resource'), \
                None
        if parts[:3] == ["api", "v1", "nodes"]:
            if len(parts) == 3 and request.method == "GET":
                return 200, self._page("NodeList", [self._node(n) for n in self.nodes],
                                       request.query), None
            name = parts[3]
            if name not in self.nodes:
                return 404, k8s_status(404, "NotFound", f'nodes "{name}" not found',
                                       {"name": name, "kind": "nodes"}), None
            if request.method == "PATCH":
                if request.headers.get("content-type") != "application/merge-patch+json":
                    return 415, k8s_status(415, "UnsupportedMediaType",
                                           "the body of the request was in an unknown "
                                           "format"), None
                value = ((request.body or {}).get("spec") or {}).get("unschedulable")
                self.nodes[name]["unschedulable"] = bool(value)
            return 200, self._node(name), None
        if parts == ["api", "v1", "pods"] and request.method == "GET":
            selector = request.query.get("fieldSelector", "")
            node = selector.removeprefix("spec.nodeName=") if selector else None
            pods = [self._pod(p) for p in self.pods if node is None or p.node == node]
            return 200, self._page("PodList", pods, request.query), None
        if len(parts) == 7 and parts[:3] == ["api", "v1", "namespaces"] and \
                parts[4] == "pods" and parts[6] == "eviction" and request.method == "POST":
            return self._evict(parts[3], parts[5], request.body)
        return 404, k8s_status(404, "NotFound", "the server could not find the requested "
                                                "resource"), None

    def _evict(self, namespace: str, name: str, body: Any) -> tuple[int, Any, None]:
        if not isinstance(body, dict) or body.get("kind") != "Eviction" or \
                body.get("apiVersion") != "policy/v1" or \
                (body.get("metadata") or {}).get("name") != name:
            return 400, k8s_status(400, "BadRequest", "name in URL does not match name in "
                                                      "Eviction object"), None
        for pod in self.pods:
            if pod.name == name and pod.namespace == namespace:
                if pod.budget_refusals:
                    pod.budget_refusals -= 1
                    return 429, k8s_status(
                        429, "TooManyRequests",
                        "Cannot evict pod as it would violate the pod's disruption budget.",
                        {"causes": [{"reason": "DisruptionBudget",
                                     "message": "The disruption budget web needs 2 healthy "
                                                "pods and has 2 currently"}]}), None
                pod.terminating = True
                return 201, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                             "status": "Success", "code": 201}, None
        return 404, k8s_status(404, "NotFound", f'pods "{name}" not found'), None


# -- Docker (swarm mode) -------------------------------------------------------------------

class FakeDocker(FakeApi):
    """dockerd with --tlsverify on a manager: a client certificate of the CA is required."""

    def __init__(self, ca: x509.KeyPair, **kwargs: Any) -> None:
        super().__init__(ca, client_certs=ssl.CERT_REQUIRED, **kwargs)
        self.nodes: list[dict[str, Any]] = []
        self.tasks: list[dict[str, Any]] = []
        #: Updates answered "out of sequence" because someone else wrote the node first.
        self.conflicts = 0

    def add_node(self, hostname: str, *, role: str = "worker", state: str = "ready",
                 engine: str = "27.3.1", availability: str = "active") -> str:
        node_id = f"id{len(self.nodes):023d}"
        node = {"ID": node_id, "Version": {"Index": 10 + len(self.nodes)},
                "CreatedAt": "2026-01-01T00:00:00Z", "UpdatedAt": "2026-01-01T00:00:00Z",
                "Spec": {"Labels": {"magnum.openstack.org/role": role}, "Role": role,
                         "Availability": availability},
                "Description": {"Hostname": hostname,
                                "Platform": {"Architecture": "x86_64", "OS": "linux"},
                                "Engine": {"EngineVersion": engine}},
                "Status": {"State": state, "Addr": "10.0.0.1"}}
        if role == "manager":
            node["ManagerStatus"] = {"Leader": True, "Reachability": "reachable",
                                     "Addr": "10.0.0.1:2377"}
        self.nodes.append(node)
        return node_id

    def add_task(self, node_id: str, *, desired: str = "running", state: str = "running"
                 ) -> None:
        self.tasks.append({"ID": f"task{len(self.tasks)}", "NodeID": node_id,
                           "DesiredState": desired, "Status": {"State": state}})

    def settle(self) -> None:
        """What the node's agent does between rounds: tasks told to stop have stopped."""
        with self.lock:
            for task in self.tasks:
                if task["DesiredState"] != "running":
                    task["Status"]["State"] = "shutdown"

    def node(self, hostname: str) -> dict[str, Any]:
        return next(n for n in self.nodes if n["Description"]["Hostname"] == hostname)

    def handle(self, request: Request) -> tuple[int, Any, dict[str, str] | None]:
        path = request.path
        if path.startswith("/v1."):
            path = "/" + path.split("/", 2)[2]
        if path == "/nodes" and request.method == "GET":
            return 200, self.nodes, None
        if path == "/tasks" and request.method == "GET":
            filters = json.loads(request.query.get("filters") or "{}")
            tasks = [t for t in self.tasks
                     if not filters.get("node") or t["NodeID"] in filters["node"]]
            if filters.get("desired-state"):
                tasks = [t for t in tasks if t["DesiredState"] in filters["desired-state"]]
            return 200, tasks, None
        parts = path.strip("/").split("/")
        if parts[0] == "nodes" and len(parts) >= 2:
            node = next((n for n in self.nodes if n["ID"] == parts[1]), None)
            if node is None:
                return 404, {"message": f"node {parts[1]} not found"}, None
            if len(parts) == 2 and request.method == "GET":
                return 200, node, None
            if parts[2:] == ["update"] and request.method == "POST":
                return self._update(node, request)
        return 404, {"message": "page not found"}, None

    def _update(self, node: dict[str, Any], request: Request) -> tuple[int, Any, None]:
        if "version" not in request.query:
            return 400, {"message": "invalid node version '': strconv.ParseUint: parsing "
                                    "\"\": invalid syntax"}, None
        if self.conflicts:
            self.conflicts -= 1
            node["Version"]["Index"] += 1
        if int(request.query["version"]) != node["Version"]["Index"]:
            return 500, {"message": "rpc error: code = Unknown desc = update out of "
                                    "sequence"}, None
        spec = request.body
        if not isinstance(spec, dict) or spec.get("Availability") not in \
                ("active", "pause", "drain"):
            return 400, {"message": "invalid availability"}, None
        node["Spec"] = spec  # the whole spec is replaced, as swarm does
        node["Spec"].setdefault("Role", "worker")
        node["Version"]["Index"] += 1
        if spec["Availability"] == "drain":
            for task in self.tasks:
                if task["NodeID"] == node["ID"]:
                    task["DesiredState"] = "shutdown"
        return 200, b"", None


# -- Mesos ---------------------------------------------------------------------------------

class FakeMesos(FakeApi):
    """The leading mesos-master: reads open, writes need basic authentication; client
    certificates not asked for. A standby (`leader=` another fake) answers 307 to it."""

    def __init__(self, ca: x509.KeyPair, *, secret: str = "", principal: str = "magnum-admin",
                 leader: FakeMesos | None = None, **kwargs: Any) -> None:
        super().__init__(ca, client_certs=ssl.CERT_NONE, **kwargs)
        self.leader = leader
        self.credentials = f"{principal}:{secret}"
        self.agents: list[dict[str, Any]] = []
        self.tasks: list[dict[str, Any]] = []
        self.windows: list[dict[str, Any]] = []
        self.down: list[dict[str, str]] = []

    def add_agent(self, name: str | None, ip: str, *, version: str = "1.7.1",
                  active: bool = True) -> str:
        agent_id = f"master-S{len(self.agents)}"
        attributes = {"magnum_lite_node": name} if name else {}
        self.agents.append({"id": agent_id, "pid": f"slave(1)@{ip}:5051", "hostname": ip,
                            "port": 5051, "active": active, "deactivated": not active,
                            "version": version, "attributes": attributes,
                            "resources": {"cpus": 2.0}})
        return agent_id

    def add_task(self, agent_id: str, state: str = "TASK_RUNNING") -> None:
        self.tasks.append({"id": f"app.{len(self.tasks)}", "framework_id": "fw-0000",
                           "slave_id": agent_id, "state": state, "name": "app"})

    def finish_tasks(self) -> None:
        with self.lock:
            self.tasks = []

    @staticmethod
    def _key(machine: dict[str, str]) -> tuple[str, str]:
        return machine.get("hostname", "").lower(), machine.get("ip", "")

    def _scheduled(self) -> list[tuple[str, str]]:
        return [self._key(m) for w in self.windows for m in w["machine_ids"]]

    def handle(self, request: Request) -> tuple[int, Any, dict[str, str] | None]:
        if self.leader is not None:
            return 307, "", {"Location": f"//127.0.0.1:{self.leader.port}{request.path}"}
        if request.method == "GET":
            if request.path in ("/master/state", "/state.json"):
                return 200, {"version": "1.7.1", "slaves": self.agents, "frameworks": [
                    {"id": "fw-0000", "name": "marathon", "tasks": self.tasks}]}, None
            if request.path == "/master/maintenance/schedule":
                return 200, {"windows": self.windows} if self.windows else {}, None
            if request.path == "/master/maintenance/status":
                down = {self._key(m) for m in self.down}
                draining = [{"id": m, "statuses": []} for w in self.windows
                            for m in w["machine_ids"] if self._key(m) not in down]
                status: dict[str, Any] = {}
                if draining:
                    status["draining_machines"] = draining
                if self.down:
                    status["down_machines"] = self.down
                return 200, status, None
            return 404, "", None
        expected = "Basic " + base64.b64encode(self.credentials.encode()).decode()
        if request.headers.get("authorization") != expected:
            return 401, "", {"WWW-Authenticate": 'Basic realm="mesos-master-readwrite"'}
        if request.path == "/master/maintenance/schedule":
            return self._schedule(request.body)
        if request.path in ("/master/machine/down", "/master/machine/up"):
            return self._machines(request.path.rsplit("/", 1)[1], request.body)
        return 404, "", None

    def _schedule(self, body: Any) -> tuple[int, Any, None]:
        windows = (body or {}).get("windows") or []
        seen = []
        for window in windows:
            if not window.get("machine_ids"):
                return 400, "List of machines in the maintenance window is empty", None
            if "start" not in (window.get("unavailability") or {}):
                return 400, "Unavailability must have a start", None
            for machine in window["machine_ids"]:
                if self._key(machine) in seen:
                    return 400, f"Machine '{machine}' appears more than once in the " \
                                "schedule", None
                seen.append(self._key(machine))
        for machine in self.down:
            if self._key(machine) not in seen:
                return 400, f"Machine '{machine}' is deactivated and cannot be removed from " \
                            "the schedule", None
        self.windows = windows
        return 200, "", None

    def _machines(self, action: str, body: Any) -> tuple[int, Any, None]:
        if not isinstance(body, list) or not body:
            return 400, "List of machines is empty", None
        down = [self._key(m) for m in self.down]
        for machine in body:
            key = self._key(machine)
            if key not in self._scheduled():
                return 400, f"Machine '{machine}' is not part of a maintenance schedule", None
            if action == "down" and key in down:
                return 400, f"Machine '{machine}' is not in DRAINING mode and cannot be " \
                            "brought down", None
            if action == "up" and key not in down:
                return 400, f"Machine '{machine}' is not in DOWN mode and cannot be " \
                            "brought up", None
        keys = {self._key(m) for m in body}
        if action == "down":
            self.down += body
            gone = {a["id"] for a in self.agents
                    if (a["hostname"].lower(), a["pid"].rpartition("@")[2].split(":")[0])
                    in keys}
            self.agents = [a for a in self.agents if a["id"] not in gone]
            self.tasks = [t for t in self.tasks if t["slave_id"] not in gone]
        else:
            self.down = [m for m in self.down if self._key(m) not in keys]
            for window in self.windows:
                window["machine_ids"] = [m for m in window["machine_ids"]
                                         if self._key(m) not in keys]
            self.windows = [w for w in self.windows if w["machine_ids"]]
        return 200, "", None


def free_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
