"""The sandbox guest agent: plays the servers that the simulation does not boot.

Simulated servers run no cloud-init, os-collect-config or heat-config, so nothing inside them
would signal a wait condition or report a software deployment, and every stack would wait for
its timeout. This agent does what those guests would do, through the same APIs:

- a software deployment IN_PROGRESS: mark it COMPLETE with outputs through the software
  deployment API (what heat-config's notify hook reports for a script that ran);
- an in-progress ``OS::Heat::WaitCondition``: POST a SUCCESS signal to its handle's signal
  endpoint with the handle's own token (what the handle's ``curl_cli`` does), once per
  expected signal (``count``), with ids 1..count so repeats are idempotent;
- a ``WaitConditionHandle`` with no wait condition beside it: one SUCCESS signal;
- a credentials deployment (inputs ``cluster_uuid`` and ``credentials``, a JSON object of
  file path: content; a master's holds the cluster CA's ``/etc/kubernetes/pki/ca.crt`` and
  ``ca.key``) is applied before it is reported: a master's switches that cluster's API to
  the CA, as the script would restart kube-apiserver with a new one; a worker's (the
  certificate only) changes nothing served here. Credentials that cannot be used (not JSON,
  a key that does not match the certificate) make the deployment FAILED with status code 1,
  as a failing script would.

It also plays the masters' kube-apiserver (``ClusterServers``, ``kube_api``): every cluster
whose stacks are at rest gets a Kubernetes API on its loopback floating addresses (the
simulated floating IPs are 127.a.b.c) at the cluster stack's ``api_port``, with the CA that
master 0's guest reads from its user data (in the sandbox the ``user_data`` parameter of the
server's nested stack, found through the cluster stack's ``master_ids`` output), or the one
last applied by a credentials deployment, which wins. Nodes are the masters of the cluster
stack's outputs and the servers of its worker stacks' outputs. A cluster keeps being served
while Heat updates it, and stops being served when its stacks are deleted; a cluster with no
loopback address is logged once at INFO and not served.

Swarm-mode clusters (swarm_fedora_v2, whose node.env says ``COE='swarm-mode'``; a cluster
without COE is Kubernetes) get a Docker Engine API (``docker_api``) instead, with the CA the
managers hold in ``/etc/docker/tls``; and their join step (a deployment with the input
``swarm_cluster_uuid``) is reported with the ``worker_token`` output manager 0 would print.
Mesos clusters (mesos_ubuntu_v1, ``COE='mesos'``) get a Mesos master API (``mesos_api``) with
the CA the masters hold in ``/etc/mesos/ssl``.

It sweeps every ``BUSY_INTERVAL`` seconds while any stack is in progress and backs off to
``IDLE_INTERVAL`` when none is, so a stack's time is Heat's. An idle sweep costs Heat two list
calls: the in-progress stacks (nested ones included) and the top-level stacks tagged
``magnum-lite`` (the clusters, by name ``<slug>-<cluster uuid>`` and
``<cluster stack>-ng-<nodegroup uuid>-<chunk>``). Outputs are read (one stack GET each) only
for a stack whose (id, status, updated_time) changed and that is at rest; a new cluster costs
one more GET for its master's user data (and, the first time, one deployment listing, for a
rotation applied before the agent started). A busy sweep adds one list of all deployments
(with their input values), not one per member stack, plus one resource list per in-progress
stack that has a wait condition or handle, so the agent does not compete with the engine it
waits for. Each sweep logs its Heat call count at DEBUG. It finds the stacks and deployments
of every project in one call each: Heat's DB queries skip the project filter for a context
with the admin role (``is_admin``), so the admin user scoped to its own project suffices and
no ``stacks:global_index`` policy change is needed. Keystone or Heat being down is logged and
retried with backoff (the cluster APIs keep serving); SIGTERM closes them and stops at once.
"""

import argparse
import base64
from collections.abc import Callable, Iterable
import dataclasses
import email
import gzip
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from typing import Any

import yaml

from magnum_lite.common import x509
from magnum_lite.drivers.heat import names
from magnum_lite.sandbox import docker_api, kube_api, mesos_api

LOG = logging.getLogger("magnum_lite.sandbox.agent")

BUSY_INTERVAL = 0.25
IDLE_INTERVAL = 1.0
MAX_ERROR_INTERVAL = 5.0
RESEND_AFTER = 5.0
MAX_UNKNOWN_COUNT = 100
REQUEST_TIMEOUT = 10.0

WAIT_CONDITION = "OS::Heat::WaitCondition"
WAIT_HANDLE = "OS::Heat::WaitConditionHandle"

#: Outputs a heat-config hook reports for a script that ran cleanly.
DEPLOY_OUTPUTS = {"deploy_stdout": "", "deploy_stderr": "", "deploy_status_code": 0}

#: Posts a handle signal: (endpoint, token, body) -> None; raises on failure.
SignalPoster = Callable[[str, str, dict], None]


class Plan:
    """The wait conditions and handles of one stack (for one action of it), from its template."""

    def __init__(self) -> None:
        self.wait_conditions: dict[str, tuple[str | None, int | None]] = {}  # name: handle, count
        self.handles: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.wait_conditions or self.handles)


def _resources_of(template: dict) -> dict:
    res = template.get("resources")
    if res is None:
        res = template.get("Resources")
    return res if isinstance(res, dict) else {}


def _resolve_count(value: Any, parameters: dict) -> int | None:
    """A WaitCondition's count: a literal, or a get_param of the stack; else unknown."""
    if isinstance(value, dict) and set(value) == {"get_param"}:
        name = value["get_param"]
        value = parameters.get(name) if isinstance(name, str) else None
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _handle_of(value: Any) -> str | None:
    """The handle resource named by a WaitCondition's ``handle`` property, if literal."""
    if isinstance(value, dict):
        ref = value.get("get_resource") or value.get("Ref")
        return ref if isinstance(ref, str) else None
    return None


def make_plan(template: dict, parameters: dict) -> Plan:
    """Reads the resources the agent acts on from a stack's template."""
    plan = Plan()
    resources = _resources_of(template)
    handles = [n for n, r in resources.items() if isinstance(r, dict)
               and (r.get("type") or r.get("Type")) == WAIT_HANDLE]
    for name, res in resources.items():
        if not isinstance(res, dict):
            continue
        rtype = res.get("type") or res.get("Type")
        props = res.get("properties") or res.get("Properties") or {}
        if rtype == WAIT_CONDITION:
            count = _resolve_count(props.get("count", 1), parameters)
            plan.wait_conditions[name] = (_handle_of(props.get("handle")), count)
    waited = {h for h, _ in plan.wait_conditions.values()}
    if plan.wait_conditions and None in waited:
        waited.update(handles)  # a handle we cannot tell apart: signal all of them
    plan.handles = [h for h in handles if h not in waited]
    return plan


def _attr(obj: Any, name: str, default: Any = None) -> Any:
    """A field of a heatclient resource object (attribute) or of a plain dict."""
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


class CountingHeat:
    """A heatclient whose API calls are counted, so each sweep can log what it cost."""

    def __init__(self, heat: Any) -> None:
        self.heat = heat
        self.count = 0

    def __getattr__(self, name: str) -> Any:
        return _CountingManager(self, getattr(self.heat, name))


class _CountingManager:
    def __init__(self, counter: CountingHeat, manager: Any) -> None:
        self._counter = counter
        self._manager = manager

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._manager, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self._counter.count += 1
            return attr(*args, **kwargs)
        return call


# -- what a master's guest reads from its user data ------------------------------------------
CA_CERT_PATH = "/etc/kubernetes/pki/ca.crt"
CA_KEY_PATH = "/etc/kubernetes/pki/ca.key"
#: Where a swarm-mode manager holds the cluster CA (swarm_fedora_v2).
DOCKER_CA_CERT_PATH = "/etc/docker/tls/ca.crt"
DOCKER_CA_KEY_PATH = "/etc/docker/tls/ca.key"
#: Where a Mesos master holds it (mesos_ubuntu_v1).
MESOS_CA_CERT_PATH = "/etc/mesos/ssl/ca.crt"
MESOS_CA_KEY_PATH = "/etc/mesos/ssl/ca.key"
CA_PATHS = ((CA_CERT_PATH, CA_KEY_PATH), (DOCKER_CA_CERT_PATH, DOCKER_CA_KEY_PATH),
            (MESOS_CA_CERT_PATH, MESOS_CA_KEY_PATH))
#: The COE a cluster runs when master 0's node.env says none (the Kubernetes plugin's).
DEFAULT_COE = "kubernetes"
SWARM_MODE = "swarm-mode"
MESOS = "mesos"
NODE_ENV_PATH = "/etc/magnum-lite/node.env"
_ENV_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def _file_text(entry: dict) -> str:
    """A write_files entry's content decoded as cloud-init does (b64, gzip, or plain)."""
    content = entry.get("content", "")
    if isinstance(content, bytes):
        data = content
    else:
        data = str(content).encode()
    encoding = str(entry.get("encoding", "")).lower()
    if encoding in ("b64", "base64", "gz+b64", "gz+base64", "gzip+b64", "gzip+base64"):
        data = base64.b64decode(data)
    if encoding.startswith("gz"):
        data = gzip.decompress(data)
    return data.decode()


def cloud_config_files(user_data: str) -> dict[str, str]:
    """The files the user data's cloud-config writes (path: text): from the text/cloud-config
    part of a multipart MIME message, or from a plain ``#cloud-config`` text."""
    message = email.message_from_string(user_data or "")
    parts = [p for p in message.walk() if not p.is_multipart()] if message.is_multipart() \
        else []
    texts = []
    for part in parts:
        if part.get_content_type() == "text/cloud-config":
            payload = part.get_payload(decode=True) or b""
            texts.append(payload.decode(part.get_content_charset() or "utf-8"))
    if not parts and (user_data or "").lstrip().startswith("#cloud-config"):
        texts.append(user_data)
    files: dict[str, str] = {}
    for text in texts:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            continue
        entries = data.get("write_files") if isinstance(data, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and entry.get("path"):
                files[str(entry["path"])] = _file_text(entry)
    return files


def parse_env(text: str) -> dict[str, str]:
    """KEY='value' lines of a file the boot scripts source (node.env)."""
    env = {}
    for line in text.splitlines():
        match = _ENV_LINE.match(line.strip())
        if match:
            value = match.group(2).strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            env[match.group(1)] = value
    return env


def ca_of(files: dict[str, str]) -> x509.KeyPair | None:
    """The cluster CA among written files (PEM; Kubernetes' or Docker's place), or None
    when they do not hold one."""
    for cert_path, key_path in CA_PATHS:
        cert, key = files.get(cert_path), files.get(key_path)
        if cert and key and "BEGIN CERTIFICATE" in cert and "PRIVATE KEY" in key:
            return x509.KeyPair(certificate=cert, private_key=key)
    return None


@dataclasses.dataclass(frozen=True)
class BootInfo:
    """What a master's guest learns from its user data: the cluster CA and node.env."""

    ca: x509.KeyPair | None
    env: dict[str, str]


def boot_info(user_data: str) -> BootInfo:
    files = cloud_config_files(user_data)
    return BootInfo(ca=ca_of(files), env=parse_env(files.get(NODE_ENV_PATH, "")))


def credentials_ca(credentials: Any) -> x509.KeyPair | None:
    """The cluster CA in a credentials deployment's ``credentials`` input (a JSON object of
    path: content, or that object decoded): a master's files hold its certificate and key.
    None for a worker's (the certificate only) or files without the CA (a trustee change):
    nothing the sandbox serves changes then. ValueError, naming no secret, for input the
    script could not read."""
    if isinstance(credentials, str):
        try:
            credentials = json.loads(credentials)
        except ValueError:
            raise ValueError("credentials is not a JSON object") from None
    if not isinstance(credentials, dict):
        raise ValueError("credentials is not a JSON object")
    files = {str(k): str(v) for k, v in credentials.items()}
    ca = ca_of(files)
    for cert_path, key_path in CA_PATHS:
        if ca is None and key_path in files and cert_path in files:
            raise ValueError(f"{cert_path} and {key_path} must be PEM")
    return ca


def guest_outputs(inputs: dict[str, Any]) -> dict[str, Any]:
    """What a deployment's script reports besides its status: a swarm's join step
    (input ``swarm_cluster_uuid``, swarm_fedora_v2's join_tokens.yaml) reports the worker
    join token manager 0's swarm would print."""
    uuid = inputs.get("swarm_cluster_uuid")
    if uuid:
        return {"worker_token": docker_api.join_token(str(uuid), "worker")}
    return {}


# -- serving each cluster's Kubernetes API ---------------------------------------------------
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_WORKER_STACK = re.compile(rf"^(?P<cluster>.+-{_UUID})-ng-(?P<ng>{_UUID})-(?P<chunk>[0-9]+)$")
_CLUSTER_STACK = re.compile(rf"^.+-(?P<uuid>{_UUID})$")
#: Retry binding an address that was busy after this many seconds (no Heat calls).
LISTEN_RETRY = 30.0


def _ordered(values: Any) -> list[Any]:
    """A ResourceGroup attribute map ({"0": v, "1": v}) as a list in member order."""
    if isinstance(values, dict):
        return [values[k] for k in sorted(values, key=lambda k: (len(str(k)), str(k)))]
    return list(values or [])


def _readable(status: str) -> bool:
    """Outputs are read only from a stack at rest (never while Heat builds it)."""
    return status.endswith("_COMPLETE") and not status.startswith("DELETE")


def api_hosts(outputs: dict[str, Any]) -> list[str]:
    """The cluster's servable API addresses, the api_address host first.

    The driver's api_address is the load balancer's floating IP, else master 0's floating IP,
    else the VIP, else master 0's private IP; only loopback addresses (the simulated floating
    IPs) can be served here. Every master's floating IP is served too, as every master runs
    an API server.
    """
    masters_fip = [a for a in _ordered(outputs.get("master_floating_addresses")) if a]
    masters_ip = [a for a in _ordered(outputs.get("master_private_addresses")) if a]
    candidates = [outputs.get("lb_floating_ip"), *masters_fip[:1], outputs.get("lb_vip"),
                  *masters_ip[:1], *masters_fip[1:]]
    return list(dict.fromkeys(h for h in candidates if kube_api.servable(h)))


@dataclasses.dataclass
class _StackRead:
    key: tuple
    outputs: dict[str, Any]
    parameters: dict[str, Any]


@dataclasses.dataclass
class _Cluster:
    stack_id: str
    signature: tuple = ()
    api: kube_api.ClusterAPI | None = None  # a docker_api.DockerAPI for swarm-mode
    hosts: tuple[str, ...] = ()
    retry_at: float = 0.0
    told: set = dataclasses.field(default_factory=set)  # INFO lines already logged


class ClusterServers:
    """Serves the Kubernetes API of every cluster in Heat (see the module docstring)."""

    def __init__(self, api_factory: Callable[..., Any] = kube_api.ClusterAPI,
                 clock: Callable[[], float] = time.monotonic,
                 docker_factory: Callable[..., Any] = docker_api.DockerAPI,
                 mesos_factory: Callable[..., Any] = mesos_api.MesosAPI) -> None:
        self.api_factory = api_factory
        self.docker_factory = docker_factory
        self.mesos_factory = mesos_factory
        self.clock = clock
        self.clusters: dict[str, _Cluster] = {}  # by cluster uuid
        self._reads: dict[str, _StackRead] = {}  # by stack id
        self._boot: dict[str, BootInfo] = {}  # by cluster stack id
        self._credentials: dict[str, x509.KeyPair] = {}  # applied rotations, by cluster uuid
        self._deployments: list | None = None  # one listing per sweep, when needed

    def sweep(self, heat: Any) -> None:
        """One tagged stack listing; more calls only for clusters whose stacks changed."""
        listing = list(heat.stacks.list(tags=names.STACK_TAG))
        groups: dict[str, tuple[Any, list]] = {}
        by_name = {}
        for stack in listing:
            match = _CLUSTER_STACK.match(_attr(stack, "stack_name", ""))
            if match and not _WORKER_STACK.match(_attr(stack, "stack_name", "")):
                groups[match.group("uuid")] = (stack, [])
                by_name[_attr(stack, "stack_name")] = match.group("uuid")
        for stack in listing:
            match = _WORKER_STACK.match(_attr(stack, "stack_name", ""))
            if match and match.group("cluster") in by_name:
                groups[by_name[match.group("cluster")]][1].append((match, stack))
        self._deployments = None
        for uuid, (cluster, workers) in groups.items():
            try:
                self._sweep_cluster(heat, uuid, cluster, workers)
            except Exception as exc:  # noqa: BLE001 - one cluster must not stop the others
                level = logging.DEBUG if _is_not_found(exc) else logging.WARNING
                LOG.log(level, "cluster %s: %s", uuid, exc)
        for uuid in [u for u in self.clusters if u not in groups]:
            self._stop(uuid, "its stacks are gone")
        for uuid in [u for u in self._credentials if u not in groups]:
            del self._credentials[uuid]
        live = {_attr(s, "id") for s in listing}
        for stack_id in [i for i in self._reads if i not in live]:
            del self._reads[stack_id]
        for stack_id in [i for i in self._boot if i not in live]:
            del self._boot[stack_id]

    def apply_credentials(self, cluster_uuid: str, credentials: Any) -> None:
        """What the credentials script does on a master when the CA changed: install it and
        restart the API with it (a worker's files change nothing served here). Raises
        ValueError (naming no secret) when the credentials are unusable."""
        ca = credentials_ca(credentials)
        if ca is None:
            return  # a worker's files, or no new CA: the API stays as it is
        if self._credentials.get(cluster_uuid) != ca:
            # A certificate and key that do not belong together, or no CA: as the script
            # would, fail before anything changes.
            x509.issue_certificate(ca, "credentials-check", server=False, client=True)
        cluster = self.clusters.get(cluster_uuid)
        if cluster is not None and cluster.api is not None:
            cluster.api.set_ca(ca)
        if self._credentials.get(cluster_uuid) != ca:
            LOG.info("cluster %s: CA %s installed", cluster_uuid,
                     x509.fingerprint(ca.certificate)[:16])
        self._credentials[cluster_uuid] = ca

    def close(self) -> None:
        """Stops every API at once (SIGTERM)."""
        apis = [c.api for c in self.clusters.values() if c.api is not None]
        self.clusters.clear()
        stoppers = [threading.Thread(target=api.close) for api in apis]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()

    # -- one cluster -------------------------------------------------------------------------
    def _stop(self, uuid: str, why: str) -> None:
        cluster = self.clusters.pop(uuid, None)
        self._credentials.pop(uuid, None)
        if cluster is not None and cluster.api is not None:
            cluster.api.close()
            LOG.info("cluster %s: stopped serving its API (%s)", uuid, why)

    def _sweep_cluster(self, heat: Any, uuid: str, stack: Any, workers: list) -> None:
        status = str(_attr(stack, "stack_status", ""))
        cluster = self.clusters.get(uuid)
        if cluster is not None and cluster.stack_id != _attr(stack, "id"):
            self._stop(uuid, "its stack was replaced")
            cluster = None
        if status.startswith("DELETE"):
            if cluster is not None:
                self._stop(uuid, f"stack {status}")
            return
        if cluster is None and not _readable(status):
            return  # not up yet (or failed before it ever was)
        live = [w for m, w in sorted(workers, key=lambda mw: (mw[0].group("ng"),
                                                              int(mw[0].group("chunk"))))
                if not str(_attr(w, "stack_status", "")).startswith("DELETE")]
        signature = tuple(_stack_key(s) for s in [stack, *live])
        if cluster is None:
            cluster = self.clusters[uuid] = _Cluster(stack_id=_attr(stack, "id"))
        elif cluster.signature == signature:
            self._retry_listen(uuid, cluster)
            return
        read = self._read(heat, stack)
        if read is None:
            return
        cluster.signature = signature
        nodes = self._masters(stack, read)
        for worker in live:
            worker_read = self._read(heat, worker)
            if worker_read is not None:
                nodes += _nodes(worker_read.outputs, "node", "worker",
                                _attr(worker, "creation_time"))
        boot = self._boot_info(heat, uuid, stack, read)
        ca = self._credentials.get(uuid) or boot.ca
        if ca is None:
            self._tell(uuid, cluster, "no-ca", "cluster %s: no CA in its masters' user data "
                       "(%s): its API is not served", uuid, CA_CERT_PATH)
            return
        coe = boot.env.get("COE", DEFAULT_COE)
        view: Any
        if coe == SWARM_MODE:
            view = docker_api.DockerView(
                cluster_uuid=uuid, nodes=tuple(nodes),
                docker_version=boot.env.get("DOCKER_VERSION")
                or docker_api.DEFAULT_DOCKER_VERSION, created=_attr(stack, "creation_time"))
            factory, default_port = self.docker_factory, 2376
        elif coe == MESOS:
            view = mesos_api.MesosView(
                cluster_uuid=uuid, nodes=tuple(nodes),
                mesos_version=boot.env.get("MESOS_VERSION") or mesos_api.DEFAULT_MESOS_VERSION,
                created=_attr(stack, "creation_time"))
            factory, default_port = self.mesos_factory, mesos_api.MESOS_PORT
        else:
            version = boot.env.get("KUBE_VERSION", "")
            view = kube_api.ClusterView(
                cluster_uuid=uuid, nodes=tuple(nodes),
                kube_version=f"v{version.lstrip('v')}" if version
                else kube_api.DEFAULT_KUBE_VERSION,
                created=_attr(stack, "creation_time"))
            factory, default_port = self.api_factory, 6443
        hosts = tuple(api_hosts(read.outputs))
        try:
            port = int(read.parameters.get("api_port") or default_port)
        except ValueError:
            port = default_port
        if not hosts:
            self._tell(uuid, cluster, "no-address", "cluster %s: no loopback address to serve "
                       "its API on (api_address is not a simulated floating IP)", uuid)
            if cluster.api is not None:
                cluster.api.close()
                cluster.api = None
            return
        if cluster.api is not None and cluster.api.port != port:
            cluster.api.close()
            cluster.api = None
        if cluster.api is None:
            cluster.api = factory(view, ca, port)
        else:
            cluster.api.set_view(view)
            cluster.api.set_ca(ca)
        cluster.hosts = hosts
        cluster.api.serve(hosts)
        cluster.retry_at = self.clock() + LISTEN_RETRY

    def _retry_listen(self, uuid: str, cluster: _Cluster) -> None:
        """Binds addresses that were busy last time, now and then (no Heat calls)."""
        if cluster.api is None or not cluster.hosts or self.clock() < cluster.retry_at:
            return
        if set(cluster.api.addresses) != set(cluster.hosts):
            cluster.api.serve(cluster.hosts)
        cluster.retry_at = self.clock() + LISTEN_RETRY

    @staticmethod
    def _tell(uuid: str, cluster: _Cluster, what: str, message: str, *args: Any) -> None:
        if what not in cluster.told:
            cluster.told.add(what)
            LOG.info(message, *args)

    def _read(self, heat: Any, stack: Any) -> _StackRead | None:
        """The stack's outputs and parameters, read again only when it changed and is at
        rest; while Heat works on it, what was read before (None if nothing yet)."""
        stack_id = _attr(stack, "id")
        key = _stack_key(stack)
        cached = self._reads.get(stack_id)
        if cached is not None and cached.key == key:
            return cached
        if not _readable(str(_attr(stack, "stack_status", ""))):
            return cached
        detail = heat.stacks.get(f"{_attr(stack, 'stack_name')}/{stack_id}")
        outputs = {o["output_key"]: o.get("output_value")
                   for o in (_attr(detail, "outputs") or [])}
        read = _StackRead(key=key, outputs=outputs,
                          parameters=dict(_attr(detail, "parameters") or {}))
        self._reads[stack_id] = read
        return read

    @staticmethod
    def _masters(stack: Any, read: _StackRead) -> list[kube_api.Node]:
        return _nodes(read.outputs, "master", "master", _attr(stack, "creation_time"))

    def _boot_info(self, heat: Any, uuid: str, stack: Any, read: _StackRead) -> BootInfo:
        """Master 0's user data as its guest reads it (in the sandbox: the parameter of the
        server's nested stack), read once per cluster stack; and, the first time, the newest
        credentials deployment already applied (a rotation before this agent started)."""
        stack_id = _attr(stack, "id")
        boot = self._boot.get(stack_id)
        if boot is not None and boot.ca is not None:
            return boot
        server = next((s for s in _ordered(read.outputs.get("master_ids")) if s), None)
        if server is None:
            servers = heat.resources.list(stack_id, nested_depth=3,
                                          filters={"type": "OS::Nova::Server"})
            ids = sorted((_attr(r, "parent_resource") or "", _attr(r, "physical_resource_id"))
                         for r in servers if _attr(r, "physical_resource_id"))
            server = ids[0][1] if ids else None
        if server is None:
            boot = BootInfo(ca=None, env={})
        else:
            detail = heat.stacks.get(server, resolve_outputs=False)
            boot = boot_info(str((_attr(detail, "parameters") or {}).get("user_data") or ""))
        self._boot[stack_id] = boot
        if uuid not in self._credentials:
            newest = self._newest_credentials(heat, uuid)
            if newest is not None:
                self._credentials[uuid] = newest
        return boot

    def _newest_credentials(self, heat: Any, uuid: str) -> x509.KeyPair | None:
        if self._deployments is None:
            self._deployments = list(heat.software_deployments.list())
        found = []
        for deployment in self._deployments:
            inputs = _attr(deployment, "input_values") or {}
            if _attr(deployment, "status") == "COMPLETE" and \
                    inputs.get("cluster_uuid") == uuid and "credentials" in inputs:
                stamp = _attr(deployment, "updated_time") or _attr(deployment, "creation_time")
                found.append((stamp or "", inputs["credentials"]))
        for _, credentials in sorted(found, key=lambda f: f[0], reverse=True):
            try:
                ca = credentials_ca(credentials)
            except ValueError:
                continue
            if ca is not None:  # a master's
                return ca
        return None


def _stack_key(stack: Any) -> tuple:
    return (_attr(stack, "id"), _attr(stack, "stack_status"), _attr(stack, "updated_time"))


def _nodes(outputs: dict[str, Any], prefix: str, role: str,
           created: str | None) -> list[kube_api.Node]:
    """The servers of a cluster stack (prefix "master") or a worker stack ("node")."""
    names_ = _ordered(outputs.get(f"{prefix}_names"))
    ips = _ordered(outputs.get(f"{prefix}_private_addresses"))
    ids = _ordered(outputs.get(f"{prefix}_ids"))
    nodes = []
    for i, name in enumerate(names_):
        if name:
            nodes.append(kube_api.Node(name=str(name), role=role,
                                       internal_ip=str(ips[i] or "") if i < len(ips) else "",
                                       server_id=str(ids[i] or "") if i < len(ids) else "",
                                       created=created))
    return nodes


class Agent:
    """One sweep at a time over the in-progress stacks; see the module docstring."""

    def __init__(self, heat: Any, post_signal: SignalPoster,
                 clock: Callable[[], float] = time.monotonic,
                 clusters: ClusterServers | None = None) -> None:
        self.heat = CountingHeat(heat)
        self.post_signal = post_signal
        self.clock = clock
        self.clusters = clusters
        self._plans: dict[tuple, Plan] = {}
        self._sent: dict[tuple, float] = {}  # (stack, action key, handle, signal id): time
        self._handle_creds: dict[tuple, tuple[str, str]] = {}

    # -- one sweep ---------------------------------------------------------------------
    def sweep(self) -> bool:
        """Acts on every in-progress stack and serves the clusters' APIs; True when any
        stack was in progress."""
        self.heat.count = 0
        try:
            return self._sweep()
        finally:
            LOG.debug("sweep made %d Heat calls", self.heat.count)

    def _sweep(self) -> bool:
        if self.clusters is not None:
            self.clusters.sweep(self.heat)
        stacks = list(self.heat.stacks.list(show_nested=True,
                                            filters={"status": "IN_PROGRESS"}))
        if not stacks:
            self._forget(set())
            return False  # deployments and wait conditions only run inside a stack action
        self._complete_deployments()
        live = set()
        for stack in stacks:
            key = self._stack_key(stack)
            live.add(key)
            try:
                self._sweep_stack(stack, key)
            except Exception as exc:  # noqa: BLE001 - one stack must not stop the others
                if _is_not_found(exc):
                    LOG.debug("stack %s went away during the sweep", _attr(stack, "id"))
                else:
                    LOG.warning("stack %s: %s", _attr(stack, "id"), exc)
        self._forget(live)
        return True

    @staticmethod
    def _stack_key(stack: Any) -> tuple:
        return (_attr(stack, "id"), _attr(stack, "stack_status"),
                _attr(stack, "updated_time") or _attr(stack, "creation_time"))

    def _forget(self, live: set) -> None:
        """Drops what belongs to actions that finished, so memory stays bounded."""
        for key in [k for k in self._plans if k not in live]:
            del self._plans[key]
        live_ids = {k[0] for k in live}
        for sent in [s for s in self._sent if s[0][0] not in live_ids]:
            del self._sent[sent]
        for creds in [c for c in self._handle_creds if c[0] not in live_ids]:
            del self._handle_creds[creds]

    def _plan(self, ref: str, key: tuple) -> Plan:
        """The stack's plan, read once per stack action (the template changes only on update)."""
        plan = self._plans.get(key)
        if plan is None:
            template = self.heat.stacks.template(ref)
            plan = make_plan(template, {})
            if any(count is None for _, count in plan.wait_conditions.values()):
                # A count from a parameter: read the stack's parameters to resolve it.
                detail = self.heat.stacks.get(ref, resolve_outputs=False)
                plan = make_plan(template, _attr(detail, "parameters") or {})
            self._plans[key] = plan
        return plan

    def _sweep_stack(self, stack: Any, key: tuple) -> None:
        ref = f"{_attr(stack, 'stack_name')}/{_attr(stack, 'id')}"
        plan = self._plan(ref, key)
        if not plan:
            return
        resources = {_attr(r, "resource_name"): r for r in self.heat.resources.list(ref)}
        for name, (handle, count) in plan.wait_conditions.items():
            res = resources.get(name)
            if res is None or not _in_progress(res):
                continue
            targets = [handle] if handle else [h for h, r in resources.items()
                                               if _attr(r, "resource_type") == WAIT_HANDLE]
            for target in targets:
                self._signal_handle(ref, key, target, count)
        for handle in plan.handles:
            res = resources.get(handle)
            if res is not None and str(_attr(res, "resource_status", "")).endswith("COMPLETE"):
                self._signal_handle(ref, key, handle, 1)

    # -- acting like a guest -------------------------------------------------------------
    def _complete_deployments(self) -> None:
        """Reports every deployment that is waiting for its server as done, after applying
        it where the guest's script would change something the sandbox plays (a cluster's
        credentials: see ``_apply``); one that cannot be applied is reported FAILED."""
        for deployment in self.heat.software_deployments.list():
            if _attr(deployment, "status") != "IN_PROGRESS":
                continue
            deployment_id = _attr(deployment, "id")
            status, reason, outputs = "COMPLETE", "Outputs received", dict(DEPLOY_OUTPUTS)
            outputs.update(guest_outputs(_attr(deployment, "input_values") or {}))
            try:
                self._apply(deployment)
            except ValueError as exc:
                status = "FAILED"  # Heat's words for a script that failed:
                reason = "deploy_status_code : Deployment exited with non-zero status code: 1"
                outputs.update(deploy_stderr=f"{exc}\n", deploy_status_code=1)
            except Exception as exc:  # noqa: BLE001 - e.g. Heat hiccup: try again next sweep
                LOG.warning("deployment %s: not applied yet: %s", deployment_id, exc)
                continue
            try:
                self.heat.software_deployments.update(
                    deployment_id, status=status, status_reason=reason,
                    output_values=outputs)
            except Exception as exc:  # noqa: BLE001 - e.g. deleted meanwhile; next sweep
                LOG.warning("deployment %s: %s", deployment_id, exc)
                continue
            LOG.info("deployment %s (%s of server %s) %s%s", deployment_id,
                     _attr(deployment, "action"), _attr(deployment, "server_id"), status,
                     f": {outputs['deploy_stderr'].strip()}" if status == "FAILED" else "")

    def _apply(self, deployment: Any) -> None:
        """A credentials deployment (inputs ``cluster_uuid`` and ``credentials``) switches
        that cluster's API to the new CA, as the masters' script would restart theirs."""
        inputs = _attr(deployment, "input_values")
        if inputs is None:  # Heat's listing carries them; read them if a listing did not
            inputs = _attr(self.heat.software_deployments.get(_attr(deployment, "id")),
                           "input_values")
        inputs = inputs or {}
        if self.clusters is None or "credentials" not in inputs or \
                not inputs.get("cluster_uuid"):
            return
        self.clusters.apply_credentials(str(inputs["cluster_uuid"]), inputs["credentials"])

    def _signal_handle(self, ref: str, key: tuple, handle: str, count: int | None) -> None:
        now = self.clock()
        if count is None:
            # Unknown count: one more distinct signal per sweep until the condition is met.
            done = [k for k in self._sent if k[:3] == (key, ref, handle)]
            ids = [str(len(done) + 1)] if len(done) < MAX_UNKNOWN_COUNT else []
        else:
            ids = [str(i) for i in range(1, count + 1)]
        for sid in ids:
            sent_key = (key, ref, handle, sid)
            sent_at = self._sent.get(sent_key)
            if sent_at is not None and now - sent_at < RESEND_AFTER:
                continue
            endpoint, token = self._handle_credentials(ref, handle)
            try:
                self.post_signal(endpoint, token, {"status": "SUCCESS", "id": sid,
                                                   "reason": "Signal from the sandbox agent",
                                                   "data": "ok"})
            except Exception:
                # Perhaps the handle's token expired: read it again on the next sweep.
                self._handle_creds.pop((ref.rsplit("/", 1)[-1], handle), None)
                raise
            self._sent[sent_key] = now
            LOG.info("signalled %s of %s (id %s)", handle, ref, sid)

    def _handle_credentials(self, ref: str, handle: str) -> tuple[str, str]:
        cache_key = (ref.rsplit("/", 1)[-1], handle)
        creds = self._handle_creds.get(cache_key)
        if creds is None:
            res = self.heat.resources.get(ref, handle)
            attributes = _attr(res, "attributes") or {}
            creds = (attributes["endpoint"], attributes["token"])
            self._handle_creds[cache_key] = creds
        return creds


def _in_progress(res: Any) -> bool:
    """A resource status such as CREATE_IN_PROGRESS or UPDATE_IN_PROGRESS."""
    return str(_attr(res, "resource_status", "")).endswith("_IN_PROGRESS")


def _is_not_found(exc: Exception) -> bool:
    return type(exc).__name__ in ("HTTPNotFound", "NotFound") or \
        getattr(exc, "code", None) == 404 or getattr(exc, "http_status", None) == 404


# -- process ----------------------------------------------------------------------------
def load_sandbox(state_dir: str) -> dict:
    """The contract file written by the start command (see magnum_lite.sandbox)."""
    with open(os.path.join(state_dir, "sandbox.json"), encoding="utf-8") as f:
        return json.load(f)


def build_clients(sandbox: dict) -> tuple[Any, SignalPoster]:
    """A heatclient for the admin user scoped to its project, and a poster for handle signals.

    Imported here so that importing this module (e.g. in unit tests) needs neither library.
    """
    from heatclient import client as heat_client
    from keystoneauth1 import session as ks_session
    from keystoneauth1.identity import v3

    admin = sandbox["users"]["admin"]
    auth = v3.Password(auth_url=sandbox["keystone_url"], username=admin["username"],
                       password=admin["password"], project_name=admin["project_name"],
                       user_domain_name=admin.get("user_domain_name", "Default"),
                       project_domain_name=admin.get("project_domain_name", "Default"))
    sess = ks_session.Session(auth=auth, timeout=REQUEST_TIMEOUT)
    heat = heat_client.Client("1", session=sess, service_type="orchestration",
                              interface="public", region_name=sandbox.get("region"))
    signal_session = ks_session.Session(timeout=REQUEST_TIMEOUT)

    def post_signal(endpoint: str, token: str, body: dict) -> None:
        signal_session.post(endpoint, json=body, authenticated=False,
                            headers={"X-Auth-Token": token, "Accept": "application/json"})

    return heat, post_signal


class _Stop(BaseException):
    """Raised by the SIGTERM handler to abandon a request in flight (a BaseException, so no
    ``except Exception`` on the way swallows it)."""


def run(state_dir: str, stop: threading.Event | None = None,
        clients: Callable[[dict], tuple[Any, SignalPoster]] = build_clients,
        servers: ClusterServers | None = None) -> None:
    """The agent's loop: sweep, sleep, survive outages, until ``stop`` is set.

    The cluster APIs outlive a Heat outage (a real cluster does not notice one); they are
    closed when the loop ends, however it ends.
    """
    stop = stop or threading.Event()
    servers = servers if servers is not None else ClusterServers()
    agent: Agent | None = None
    failures = 0
    delay = IDLE_INTERVAL
    try:
        while not stop.is_set():
            try:
                if agent is None:
                    agent = Agent(*clients(load_sandbox(state_dir)), clusters=servers)
                busy = agent.sweep()
                if failures:
                    LOG.info("Heat reachable again after %d failed sweeps", failures)
                failures = 0
                delay = BUSY_INTERVAL if busy else \
                    min(max(delay, BUSY_INTERVAL) * 2, IDLE_INTERVAL)
            except _Stop:
                break
            except Exception as exc:  # noqa: BLE001 - never crash-loop: log, back off, retry
                failures += 1
                delay = min(BUSY_INTERVAL * 2 ** failures, MAX_ERROR_INTERVAL)
                level = logging.WARNING if failures in (1, 10) or failures % 60 == 0 \
                    else logging.DEBUG
                LOG.log(level, "sweep failed (%d in a row, retry in %.1fs): %s", failures,
                        delay, exc)
                if failures >= 3:
                    agent = None  # rebuild: fresh token, fresh catalog, fresh handle tokens
            stop.wait(delay)
    finally:
        servers.close()


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m magnum_lite.sandbox.agent",
                                     description="Sandbox guest agent (see module docstring).")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("keystoneauth", "urllib3", "heatclient"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    stop = threading.Event()

    def on_term(signum: int, frame: Any) -> None:
        stop.set()
        raise _Stop()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    LOG.info("sandbox agent started (state dir %s)", args.state_dir)
    try:
        run(args.state_dir, stop)
    except _Stop:
        pass
    LOG.info("sandbox agent stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
