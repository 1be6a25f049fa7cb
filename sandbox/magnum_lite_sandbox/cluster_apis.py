"""Which clusters get a COE API, on which addresses, with which CA: the masters' servers.

Simulated servers boot no kube-apiserver, Docker engine or mesos-master, yet magnum-lite's
users (``cluster config``, kubectl, docker, Mesos clients) need each cluster's API at its
api_address. ``ClusterServers`` plays the masters, once per agent sweep: every cluster whose
stacks are at rest gets an API on its loopback floating addresses (the simulated floating
IPs are 127.a.b.c) at the cluster stack's ``api_port``, with the CA that master 0's guest
reads from its user data (``user_data``; in the sandbox the ``user_data`` parameter of the
server's nested stack, found through the cluster stack's ``master_ids`` output), or the one
last applied by a credentials deployment, which wins (``apply_credentials``, called by the
agent before it reports the deployment). Nodes are the masters of the cluster stack's outputs
and the servers of its worker stacks' outputs.

The COE is what master 0's files configure (``user_data.coe_of``): Kubernetes (``kube_api``),
swarm-mode (``docker_api``, swarm_fedora_v2) or Mesos (``mesos_api``, mesos_ubuntu_v1).
The API's serving certificate names what master 0's would (``certificate_names``), not the
addresses served, so an address clients use that a real master's certificate would not name
fails their TLS verification here too.

Each node runs what its own server's user data installs (``user_data.node_version``: a
Kubernetes node's kube_tag, a swarm node's docker_version, a Mesos node's mesos_version), not
master 0's for the whole cluster: a rolling upgrade gives one batch of servers new user data
(and perhaps a new image) at a time, and those nodes reboot into what they then boot
(``boots``), while the API's simulated cluster (``cluster_sim``) keeps their cordons, moves
their workload and writes the cluster's timeline (``timeline``, under ``state_dir``). What a
server boots after an update follows Heat's OS::Nova::Server (``booted_after``): new user
data only under its ``user_data_update_policy`` REPLACE or REBUILD (the drivers' node
template says IGNORE, so a rotation's new user data rebuilds nothing), a new image with the
user data the server had. Heat updates every server's nested stack of an updated stack, so
a server stack being updated says nothing by itself: only what it boots does. Heat acts on
a change of its own properties, not on what the server runs, so a server rebuilt through
Nova's API (``rebuilds``, recorded by the Nova stand-in) boots what the rebuild gave and
keeps it until Heat's properties change.
Faults named in the state dir (``faults``) are read each sweep (a stat): nodes whose boot is
held, servers shut off (by server id: a server Heat puts in a stopped one's place boots), and
clusters whose API refuses connections (its listeners closed while the fault lasts). The
servers of every cluster served are written to the state dir (``servers``) when they change,
for the Nova stand-in to list and for ``fault stop NODE`` to find a node's server by name.

A cluster keeps being served while Heat updates it (a resize or an upgrade batch shows once
its stacks are at rest again, a rotation as soon as its credentials are applied), and stops
being served when its stacks are deleted; a cluster with no loopback address is logged once
at INFO and not served. Heat is asked little: one listing of the top-level stacks tagged
``magnum-lite`` per sweep (the clusters, by name ``<slug>-<cluster uuid>`` and
``<cluster stack>-ng-<nodegroup uuid>-<chunk>``); outputs are read (one stack GET each) only
for a stack whose (id, status, updated_time) changed and that is at rest, and with them the
user data of that stack's servers (one GET of each server's nested stack, found through the
cluster stack's ``master_ids`` and the worker stacks' ``node_ids``; parsed again only when
that stack's updated_time changed); a new cluster also costs, the first time, one
deployment listing, for a rotation applied before the agent started. An idle sweep makes no
more calls than the listing.
"""

from collections.abc import Callable
import dataclasses
import hashlib
import logging
import re
import threading
import time
from typing import Any

from magnum_lite.common import x509
from magnum_lite.drivers.heat import names
from magnum_lite_sandbox import (
    docker_api,
    faults,
    kube_api,
    mesos_api,
    rebuilds,
    servers,
    user_data,
)
from magnum_lite_sandbox.cluster_sim import Node
from magnum_lite_sandbox.heat_objects import attr, is_not_found

LOG = logging.getLogger("magnum_lite_sandbox.cluster_apis")

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


def certificate_names(coe: str, boot: user_data.BootInfo,
                      outputs: dict[str, Any]) -> tuple[str, ...]:
    """What master 0's API certificate names on a real cloud: what its boot configuration
    lists (``BootInfo.certificate_names``) and what the node adds itself: its private
    address (kubeadm's advertise address, the swarm and Mesos scripts' own address), its
    host name (kubeadm, mesos-master.sh) and, on a Mesos master, its floating IP (which
    mesos-master.sh reads from the metadata service). Empty when the boot configuration lists
    nothing (older user data): the API then names the addresses it serves."""
    if not boot.certificate_names:
        return ()
    own = [outputs.get("master_private_addresses")]
    if coe != user_data.SWARM_MODE:
        own.append(outputs.get("master_names"))
    if coe == user_data.MESOS:
        own.append(outputs.get("master_floating_addresses"))
    firsts = [next(iter(_ordered(values)), None) for values in own]
    return tuple(dict.fromkeys(str(n) for n in [*boot.certificate_names, *firsts] if n))


@dataclasses.dataclass
class _StackRead:
    key: tuple
    outputs: dict[str, Any]
    parameters: dict[str, Any]
    servers_read: bool = False  # the user data of its servers, read since


@dataclasses.dataclass
class _ServerRead:
    """A server's boot configuration: its nested stack's user data and image parameters,
    and what the server last booted (``booted``)."""

    owner: str                # the top-level stack whose outputs list it
    updated: str | None       # the server stack's updated_time when read
    boot: user_data.BootInfo  # of the user data it holds now (master 0's: the CA, the COE)
    booted: tuple[str, str]   # (user data, image) it booted with
    booted_boot: user_data.BootInfo  # of that user data: the version it runs
    digest: str               # of `booted`: a change is a rebuild
    flavor: str = ""          # its flavor parameter, for Nova's listing
    props: tuple[str, str] = ("", "")  # (user data, image) of Heat's properties
    rebuilt: int = 0          # the last rebuild through Nova booted (rebuilds' seq)


def _digest(booted: tuple[str, str], rebuilt: int = 0) -> str:
    """What the server booted; every rebuild through Nova is a new boot, even of the same."""
    return hashlib.sha256(f"{booted[1]}\0{booted[0]}\0{rebuilt or ''}".encode()
                          ).hexdigest()[:32]


def _rebuilt(server: _ServerRead, rebuild: dict[str, Any]) -> _ServerRead:
    """The server after a rebuild through Nova: the rebuild's image, its user data or the
    one the server had."""
    data = rebuild.get("user_data")
    booted = (server.booted[0] if data is None else str(data), str(rebuild.get("image") or ""))
    boot = server.booted_boot if data is None else user_data.boot_info(booted[0])
    seq = int(rebuild.get("seq") or 0)
    return dataclasses.replace(server, booted=booted, booted_boot=boot,
                               digest=_digest(booted, seq), rebuilt=seq)


def booted_after(before: tuple[str, str], parameters: dict[str, Any],
                 booted: tuple[str, str] | None = None) -> tuple[str, str]:
    """The (user data, image) a server boots after Heat updated its properties from
    `before` (Heat's (user data, image) until then) to `parameters`, as Heat's
    OS::Nova::Server applies it to what the server runs (`booted`, by default `before`): a
    new user data only under ``user_data_update_policy`` REPLACE (a new server) or REBUILD
    (a rebuild with it), never under IGNORE; a new image rebuilds the server with the user
    data it had (Nova keeps it), unless ``image_update_policy`` is REPLACE (a new server:
    the new user data too); properties that did not change touch nothing."""
    running = before if booted is None else booted
    data = str(parameters.get("user_data") or "")
    image = str(parameters.get("image") or "")
    data_policy = str(parameters.get("user_data_update_policy") or "REPLACE").upper()
    image_policy = str(parameters.get("image_update_policy") or "REBUILD").upper()
    new_data, new_image = data != before[0], image != before[1]
    if new_data and data_policy in ("REPLACE", "REBUILD") or \
            new_image and image_policy == "REPLACE":
        return data, image
    if new_image:
        return running[0], image
    return running


@dataclasses.dataclass
class _Cluster:
    stack_id: str
    signature: tuple = ()
    api: kube_api.ClusterAPI | None = None  # or docker_api's, or mesos_api's
    view: Any = None  # what the API was last given
    hosts: tuple[str, ...] = ()
    retry_at: float = 0.0
    project_id: str = ""  # the stacks' project: whose servers Nova lists them as
    told: set = dataclasses.field(default_factory=set)  # INFO lines already logged


class ClusterServers:
    """Serves the COE API of every cluster in Heat (see the module docstring)."""

    def __init__(self, api_factory: Callable[..., Any] = kube_api.ClusterAPI,
                 clock: Callable[[], float] = time.monotonic,
                 docker_factory: Callable[..., Any] = docker_api.DockerAPI,
                 mesos_factory: Callable[..., Any] = mesos_api.MesosAPI,
                 state_dir: str | None = None) -> None:
        self.api_factory = api_factory
        self.docker_factory = docker_factory
        self.mesos_factory = mesos_factory
        self.clock = clock
        self.state_dir = state_dir  # the timelines' and the faults file's (None: neither)
        self.clusters: dict[str, _Cluster] = {}  # by cluster uuid
        self._reads: dict[str, _StackRead] = {}  # by stack id
        self._servers: dict[str, _ServerRead] = {}  # by server (nested stack) id
        self._boot: dict[str, user_data.BootInfo] = {}  # by cluster stack id, without ids
        self._searched: set[str] = set()  # cluster stacks whose earlier rotations were sought
        self._faults = faults.Faults(state_dir) if state_dir else None
        self._rebuilds = rebuilds.Rebuilds(state_dir) if state_dir else None
        self._active = faults.Active()
        self._listed: list[dict] | None = None  # the servers last written
        self._user_data: dict[str, str] = {}  # server id -> digest of the user data written
        self._credentials: dict[str, x509.KeyPair] = {}  # applied rotations, by cluster uuid
        self._deployments: list | None = None  # one listing per sweep, when needed

    def sweep(self, heat: Any) -> None:
        """One tagged stack listing; more calls only for clusters whose stacks changed. Then
        every API's simulated cluster moves on in time (no calls), Heat up or down."""
        self._active = self._faults.active() if self._faults else faults.Active()
        try:
            self._apply_rebuilds()
            self._sweep(heat)
        finally:
            self._tick()
            self._write_servers()

    def _sweep(self, heat: Any) -> None:
        listing = list(heat.stacks.list(tags=names.STACK_TAG))
        groups: dict[str, tuple[Any, list]] = {}
        by_name = {}
        for stack in listing:
            match = _CLUSTER_STACK.match(attr(stack, "stack_name", ""))
            if match and not _WORKER_STACK.match(attr(stack, "stack_name", "")):
                groups[match.group("uuid")] = (stack, [])
                by_name[attr(stack, "stack_name")] = match.group("uuid")
        for stack in listing:
            match = _WORKER_STACK.match(attr(stack, "stack_name", ""))
            if match and match.group("cluster") in by_name:
                groups[by_name[match.group("cluster")]][1].append((match, stack))
        self._deployments = None
        for uuid, (cluster, workers) in groups.items():
            try:
                self._sweep_cluster(heat, uuid, cluster, workers)
            except Exception as exc:  # noqa: BLE001 - one cluster must not stop the others
                level = logging.DEBUG if is_not_found(exc) else logging.WARNING
                LOG.log(level, "cluster %s: %s", uuid, exc)
        for uuid in [u for u in self.clusters if u not in groups]:
            self._stop(uuid, "its stacks are gone")
        for uuid in [u for u in self._credentials if u not in groups]:
            del self._credentials[uuid]
        live = {attr(s, "id") for s in listing}
        for stack_id in [i for i in self._reads if i not in live]:
            del self._reads[stack_id]
        for stack_id in [i for i in self._boot if i not in live]:
            del self._boot[stack_id]
        self._searched &= live
        for server_id in [i for i, r in self._servers.items() if r.owner not in live]:
            del self._servers[server_id]

    def _tick(self) -> None:
        """Faults changed are shown; time acts on every simulated cluster (boots come up,
        replicas start), so the timeline does not wait for a client's request."""
        for uuid, cluster in list(self.clusters.items()):
            if cluster.api is None or cluster.view is None:
                continue
            try:
                active = self._active
                if (cluster.view.never_ready, cluster.view.stopped) != (active.never_ready,
                                                                        active.stopped):
                    cluster.view = dataclasses.replace(cluster.view,
                                                       never_ready=active.never_ready,
                                                       stopped=active.stopped)
                    cluster.api.set_view(cluster.view)
                cluster.api.set_reachable(uuid not in active.unreachable)
                cluster.api.tick()
            except Exception:  # noqa: BLE001 - one cluster must not stop the others
                LOG.exception("cluster %s: the simulation failed", uuid)

    def _write_servers(self) -> None:
        """The servers of every cluster served, to the state dir, when they changed."""
        if not self.state_dir:
            return
        listed = []
        for uuid, cluster in self.clusters.items():
            for node in cluster.view.nodes if cluster.view is not None else ():
                if not node.server_id:
                    continue
                known = self._servers.get(node.server_id)
                listed.append({"id": node.server_id, "name": node.name, "cluster_uuid": uuid,
                               "project_id": cluster.project_id, "role": node.role,
                               "internal_ip": node.internal_ip, "created": node.created,
                               "image": known.booted[1] if known else "",
                               "flavor": known.flavor if known else "",
                               "rebuilt": known.rebuilt if known else 0})
        if listed != self._listed:
            try:
                servers.write(listed, self.state_dir)
                self._write_user_data(listed)
            except OSError as exc:
                LOG.warning("cannot write the servers file: %s", exc)
                return
            self._listed = listed

    def _write_user_data(self, listed: list[dict]) -> None:
        """Each listed server's user data as it booted, when that changed."""
        for entry in listed:
            known = self._servers.get(entry["id"])
            if known is not None and self._user_data.get(entry["id"]) != known.digest:
                servers.write_user_data(entry["id"], known.booted[0], self.state_dir)
                self._user_data[entry["id"]] = known.digest
        gone = set(self._user_data) - {e["id"] for e in listed}
        for server_id in gone:
            del self._user_data[server_id]

    def apply_credentials(self, cluster_uuid: str, credentials: Any) -> None:
        """What the credentials script does on a master when the CA changed: install it and
        restart the API with it (a worker's files change nothing served here). Raises
        ValueError (naming no secret) when the credentials are unusable."""
        ca = user_data.credentials_ca(credentials)
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
        status = str(attr(stack, "stack_status", ""))
        cluster = self.clusters.get(uuid)
        if cluster is not None and cluster.stack_id != attr(stack, "id"):
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
                if not str(attr(w, "stack_status", "")).startswith("DELETE")]
        signature = tuple(_stack_key(s) for s in [stack, *live])
        if cluster is None:
            cluster = self.clusters[uuid] = _Cluster(stack_id=attr(stack, "id"),
                                                     project_id=_project(stack))
        elif cluster.signature == signature:
            self._retry_listen(uuid, cluster)
            return
        read = self._read(heat, stack)
        if read is None:
            return
        nodes = self._read_nodes(heat, stack, read, self._masters(stack, read))
        for worker in live:
            worker_read = self._read(heat, worker)
            if worker_read is not None:
                nodes += self._read_nodes(heat, worker, worker_read, _nodes(
                    worker_read.outputs, "node", "worker", attr(worker, "creation_time")))
        cluster.signature = signature
        boot = self._boot_info(heat, uuid, stack, read)
        ca = self._credentials.get(uuid) or boot.ca
        if ca is None:
            self._tell(uuid, cluster, "no-ca", "cluster %s: no CA in its masters' user data "
                       "(%s): its API is not served", uuid, user_data.CA_CERT_PATH)
            return
        coe = boot.coe
        nodes = [self._with_boot(n, coe) for n in nodes]
        common = {"cluster_uuid": uuid, "nodes": tuple(nodes),
                  "created": attr(stack, "creation_time"),
                  "never_ready": self._active.never_ready, "stopped": self._active.stopped,
                  "state_dir": self.state_dir}
        view: Any
        if coe == user_data.SWARM_MODE:
            view = docker_api.DockerView(
                docker_version=boot.env.get("DOCKER_VERSION")
                or docker_api.DEFAULT_DOCKER_VERSION, **common)
            factory, default_port = self.docker_factory, 2376
        elif coe == user_data.MESOS:
            view = mesos_api.MesosView(
                mesos_version=boot.env.get("MESOS_VERSION") or mesos_api.DEFAULT_MESOS_VERSION,
                credentials=boot.credentials, **common)
            factory, default_port = self.mesos_factory, mesos_api.MESOS_PORT
        else:
            view = kube_api.ClusterView(
                kube_version=user_data.node_version(boot, coe) or kube_api.DEFAULT_KUBE_VERSION,
                **common)
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
        cluster.view = view
        cluster.api.set_certificate_names(certificate_names(coe, boot, read.outputs))
        cluster.hosts = hosts
        cluster.api.set_reachable(uuid not in self._active.unreachable)
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
        stack_id = attr(stack, "id")
        key = _stack_key(stack)
        cached = self._reads.get(stack_id)
        if cached is not None and cached.key == key:
            return cached
        if not _readable(str(attr(stack, "stack_status", ""))):
            return cached
        detail = heat.stacks.get(f"{attr(stack, 'stack_name')}/{stack_id}")
        outputs = {o["output_key"]: o.get("output_value")
                   for o in (attr(detail, "outputs") or [])}
        read = _StackRead(key=key, outputs=outputs,
                          parameters=dict(attr(detail, "parameters") or {}))
        self._reads[stack_id] = read
        return read

    @staticmethod
    def _masters(stack: Any, read: _StackRead) -> list[Node]:
        return _nodes(read.outputs, "master", "master", attr(stack, "creation_time"))

    def _read_nodes(self, heat: Any, stack: Any, read: _StackRead,
                    nodes: list[Node]) -> list[Node]:
        """The stack's nodes; their servers' user data read once per change of the stack
        (so an idle sweep reads none), each parsed again only when its own stack changed."""
        if not read.servers_read:
            for node in nodes:
                if node.server_id:
                    self._read_server(heat, attr(stack, "id"), node.server_id)
            read.servers_read = True
        return nodes

    def _read_server(self, heat: Any, owner: str, server_id: str) -> None:
        """A server's boot configuration: in the sandbox, the parameters of the server's
        nested stack (its id is the server's); gone: forgotten."""
        try:
            detail = heat.stacks.get(server_id, resolve_outputs=False)
        except Exception as exc:
            if not is_not_found(exc):
                raise
            self._servers.pop(server_id, None)
            return
        updated = attr(detail, "updated_time") or attr(detail, "creation_time")
        cached = self._servers.get(server_id)
        if cached is not None and updated is not None and cached.updated == updated:
            cached.owner = owner
            return
        parameters = attr(detail, "parameters") or {}
        data = str(parameters.get("user_data") or "")
        props = (data, str(parameters.get("image") or ""))
        boot = user_data.boot_info(data)
        if cached is None:  # first seen: it booted what it holds
            booted, booted_boot = props, boot
        else:
            booted = booted_after(cached.props, parameters, cached.booted)
            booted_boot = boot if booted[0] == data else cached.booted_boot
        self._servers[server_id] = _ServerRead(
            owner=owner, updated=updated, boot=boot, booted=booted, booted_boot=booted_boot,
            digest=_digest(booted, cached.rebuilt if cached is not None else 0),
            flavor=str(parameters.get("flavor") or ""), props=props,
            rebuilt=cached.rebuilt if cached is not None else 0)
        rebuild = self._rebuilds.all().get(server_id) if self._rebuilds else None
        if cached is None and rebuild is not None:  # rebuilt before this agent started
            self._servers[server_id] = _rebuilt(self._servers[server_id], rebuild)

    def _apply_rebuilds(self) -> None:
        """Servers rebuilt through Nova since the last sweep boot what the rebuild gave and
        are shown again (no Heat calls)."""
        if self._rebuilds is None:
            return
        changed = False
        for server_id, rebuild in self._rebuilds.all().items():
            server = self._servers.get(server_id)
            if server is not None and int(rebuild.get("seq") or 0) > server.rebuilt:
                self._servers[server_id] = _rebuilt(server, rebuild)
                LOG.info("server %s: rebuilt through Nova (%s)", server_id, rebuild.get("at"))
                changed = True
        if changed:
            for cluster in self.clusters.values():
                cluster.signature = ()  # shown again from what was read: no Heat calls

    def _with_boot(self, node: Node, coe: str) -> Node:
        """The node with what its server booted: the version that installs, and the digest
        whose change is a rebuild."""
        server = self._servers.get(node.server_id)
        if server is None:
            return node
        return dataclasses.replace(node, version=user_data.node_version(server.booted_boot, coe),
                                   boot_digest=server.digest)

    def _boot_info(self, heat: Any, uuid: str, stack: Any,
                   read: _StackRead) -> user_data.BootInfo:
        """Master 0's user data as its guest reads it (in the sandbox: the parameter of the
        server's nested stack, read with every server's); for a cluster stack without
        ``master_ids``, found among its resources, once per stack. The first time, also the
        newest credentials deployment already applied (a rotation before this agent
        started)."""
        server = next((s for s in _ordered(read.outputs.get("master_ids")) if s), None)
        if server is not None:
            known = self._servers.get(str(server))
            boot = known.boot if known is not None else user_data.BootInfo(ca=None, env={})
        else:
            boot = self._boot_without_ids(heat, stack)
        stack_id = attr(stack, "id")
        if stack_id not in self._searched and uuid not in self._credentials:
            newest = self._newest_credentials(heat, uuid)
            if newest is not None:
                self._credentials[uuid] = newest
        self._searched.add(stack_id)
        return boot

    def _boot_without_ids(self, heat: Any, stack: Any) -> user_data.BootInfo:
        stack_id = attr(stack, "id")
        boot = self._boot.get(stack_id)
        if boot is not None and boot.ca is not None:
            return boot
        servers = heat.resources.list(stack_id, nested_depth=3,
                                      filters={"type": "OS::Nova::Server"})
        ids = sorted((attr(r, "parent_resource") or "", attr(r, "physical_resource_id"))
                     for r in servers if attr(r, "physical_resource_id"))
        if not ids:
            boot = user_data.BootInfo(ca=None, env={})
        else:
            detail = heat.stacks.get(ids[0][1], resolve_outputs=False)
            parameters = attr(detail, "parameters") or {}
            boot = user_data.boot_info(str(parameters.get("user_data") or ""))
        self._boot[stack_id] = boot
        return boot

    def _newest_credentials(self, heat: Any, uuid: str) -> x509.KeyPair | None:
        if self._deployments is None:
            self._deployments = list(heat.software_deployments.list())
        found = []
        for deployment in self._deployments:
            inputs = attr(deployment, "input_values") or {}
            if attr(deployment, "status") == "COMPLETE" and \
                    inputs.get("cluster_uuid") == uuid and "credentials" in inputs:
                stamp = attr(deployment, "updated_time") or attr(deployment, "creation_time")
                found.append((stamp or "", inputs["credentials"]))
        for _, credentials in sorted(found, key=lambda f: f[0], reverse=True):
            try:
                ca = user_data.credentials_ca(credentials)
            except ValueError:
                continue
            if ca is not None:  # a master's
                return ca
        return None


def _project(stack: Any) -> str:
    """The stack's project: Heat lists it only to a global listing, but every stack's
    self link names it (``.../v1/<project>/stacks/<name>/<id>``)."""
    project = attr(stack, "project")
    if project:
        return str(project)
    for link in attr(stack, "links") or []:
        href = link.get("href", "") if isinstance(link, dict) else ""
        parts = href.split("/stacks/")[0].rstrip("/").split("/")
        if len(parts) > 1 and parts[-2] == "v1":
            return parts[-1]
    return ""


def _stack_key(stack: Any) -> tuple:
    """What changes when Heat touches a stack: a changed key means its outputs may have."""
    return (attr(stack, "id"), attr(stack, "stack_status"), attr(stack, "updated_time"))


def _nodes(outputs: dict[str, Any], prefix: str, role: str,
           created: str | None) -> list[Node]:
    """The servers of a cluster stack (prefix "master") or a worker stack ("node")."""
    names_ = _ordered(outputs.get(f"{prefix}_names"))
    ips = _ordered(outputs.get(f"{prefix}_private_addresses"))
    ids = _ordered(outputs.get(f"{prefix}_ids"))
    nodes = []
    for i, name in enumerate(names_):
        if name:
            nodes.append(Node(name=str(name), role=role,
                                       internal_ip=str(ips[i] or "") if i < len(ips) else "",
                                       server_id=str(ids[i] or "") if i < len(ids) else "",
                                       created=created))
    return nodes
