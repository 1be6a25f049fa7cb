"""The simulated Kubernetes cluster behind the sandbox's Kubernetes API (``kube_api``).

What a drain needs a cluster to be, with the shapes and answers of kube-apiserver:

- nodes: one per server (``cluster_sim``), Ready at the version its own boot runs
  (``status.nodeInfo.kubeletVersion``). A node being rebuilt is NotReady the way a node
  whose kubelet stopped posting is (conditions ``Unknown``, reason ``NodeStatusUnknown``,
  the ``node.kubernetes.io/unreachable`` taints); once its new boot is up it is a new Node
  object (new uid, creationTimestamp, bootID), schedulable, as a replacement registers. A
  cordon (``spec.unschedulable``, with the ``node.kubernetes.io/unschedulable`` taint) is
  set and cleared by a PATCH (merge, strategic merge or JSON patch), and lasts as long as the
  node's boot. A node whose server is stopped (``faults``) is NotReady the same way, with
  the ``node.cloudprovider.kubernetes.io/shutdown`` taint the cloud provider's node
  lifecycle controller adds for a shut-off instance; started again, it is the same Node
  object (uid, cordon kept) with a new bootID;
- a workload: a Deployment-like set of ``replica_count`` (3) pods ``demo-<hash>-<id>`` in
  namespace ``default``, label ``app=demo``, placed on Ready, schedulable workers (the
  masters carry the control-plane taint), and a PodDisruptionBudget ``demo`` (policy/v1,
  minAvailable 2). An eviction (POST .../pods/{name}/eviction, a policy/v1 Eviction) deletes
  the pod (201) unless the budget would be broken: then 429 TooManyRequests with the
  DisruptionBudget cause, as the API server answers. A pod not yet running is deleted
  without the budget's say, as Kubernetes does for a Pending pod. The ReplicaSet replaces a
  deleted or lost pod at once: Pending until a node takes it, then ContainerCreating for
  ``workload.START_SECONDS`` before Running and Ready. Pods of a node that goes NotReady are
  lost and replaced the same way (without the real five-minute toleration);
- the timeline: cordoned, uncordoned, drained (a cordoned node left without workload pods),
  pod evicted / lost / scheduled / started, and the nodes' up and down, each with the
  workload's ready replica count.

No DaemonSet or mirror pods run.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import datetime
import hashlib
import json
import time
from typing import Any
import uuid

from magnum_lite_sandbox import boots, cluster_sim, workload
from magnum_lite_sandbox.cluster_sim import Node

IDENTITIES = uuid.UUID("0b3c5a4e-7d7f-4f0e-9a55-3c1d2e8b6f90")  # uuid5 of node identities
#: The characters Kubernetes draws generated name suffixes from.
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"
WORKLOAD = "demo"
WORKLOAD_NAMESPACE = "default"
WORKLOAD_LABELS = {"app": WORKLOAD}
IMAGE = "registry.k8s.io/pause:3.10"
IMAGE_ID = ("registry.k8s.io/pause@sha256:"
            "ee6521f290b2168b6e0935a181d4cff9be1ac3f505666ef0e3c98fae8199917a")
MIN_AVAILABLE = 2
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
SHUTDOWN_TAINT = "node.cloudprovider.kubernetes.io/shutdown"
CONTROL_PLANE_TAINT = "node-role.kubernetes.io/control-plane"
#: Media types a PATCH may use (kube-apiserver's list, in its order).
PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
               "application/apply-patch+yaml", "application/strategic-merge-patch+json")


def heat_time(value: str | None) -> str:
    """Heat's timestamps ("2026-11-21T18:00:00Z" or with microseconds) as Kubernetes writes
    them: seconds, UTC, "Z"."""
    if not value:
        return "1970-01-01T00:00:00Z"
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return "1970-01-01T00:00:00Z"
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    """A metav1.Status failure, the body of every error a kube-apiserver returns."""
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                            "status": "Failure", "message": message, "reason": reason,
                            "code": code}
    if details is not None:
        body["details"] = details
    return body


def _suffix(seed: str, length: int) -> str:
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    chars = []
    for _ in range(length):
        number, digit = divmod(number, len(_NAME_CHARS))
        chars.append(_NAME_CHARS[digit])
    return "".join(chars)


def _ip(seed: str, prefix: str) -> str:
    digest = hashlib.sha256(seed.encode()).digest()
    return f"{prefix}.{digest[0]}.{digest[1] % 254 + 1}"


# -- nodes ----------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class NodeLook:
    """A node's state now, as its object shows it (the defaults: Ready, as Heat built it)."""

    ready: bool = True
    version: str | None = None
    unschedulable: bool = False
    cordoned_at: str | None = None
    generation: int = 0
    registered: str | None = None     # this generation's creationTimestamp (None: Heat's)
    down_since: str | None = None
    resource_version: str = "1"
    shutdown: bool = False            # its server is shut off
    restarts: int = 0                 # restarts of this Node object (each a new bootID)


def node_object(view: Any, node: Node, heartbeat: str, look: NodeLook | None = None) -> dict:
    """A v1 Node as kubelet registers it and keeps it posted (or stopped posting)."""
    look = look or NodeLook()
    seed = f"{view.cluster_uuid}/{node.name}/uid"
    uid = str(uuid.uuid5(IDENTITIES, seed if not look.generation
                         else f"{seed}/{look.generation}"))
    labels = {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
              "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": node.name,
              "kubernetes.io/os": "linux", "magnum.openstack.org/role": node.role}
    spec: dict[str, Any] = {}
    taints = []
    if node.role == "master":
        labels[CONTROL_PLANE_TAINT] = ""
        labels["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
        taints.append({"key": CONTROL_PLANE_TAINT, "effect": "NoSchedule"})
    if node.server_id:
        spec["providerID"] = f"openstack:///{node.server_id}"
    if look.unschedulable:
        spec["unschedulable"] = True
        taints.append({"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule",
                       "timeAdded": look.cordoned_at})
    if not look.ready:
        taints += [{"key": UNREACHABLE_TAINT, "effect": effect, "timeAdded": look.down_since}
                   for effect in ("NoSchedule", "NoExecute")]
    if look.shutdown:
        taints.append({"key": SHUTDOWN_TAINT, "effect": "NoSchedule"})
    if taints:
        spec["taints"] = taints
    created = look.registered or heat_time(node.created or view.created)
    version = look.version or view.kube_version

    def condition(kind: str, value: str, reason: str, message: str) -> dict:
        if not look.ready:
            return {"type": kind, "status": "Unknown", "lastHeartbeatTime": look.down_since,
                    "lastTransitionTime": look.down_since, "reason": "NodeStatusUnknown",
                    "message": "Kubelet stopped posting node status."}
        return {"type": kind, "status": value, "lastHeartbeatTime": heartbeat,
                "lastTransitionTime": created, "reason": reason, "message": message}

    resources = {"cpu": "2", "ephemeral-storage": "41186748Ki", "hugepages-2Mi": "0",
                 "memory": "4005960Ki", "pods": "110"}
    addresses = ([{"type": "InternalIP", "address": node.internal_ip}]
                 if node.internal_ip else []) + [{"type": "Hostname", "address": node.name}]
    system_uuid = node.server_id or str(uuid.uuid5(IDENTITIES, f"{uid}/system"))
    return {
        "kind": "Node", "apiVersion": "v1",
        "metadata": {"name": node.name, "uid": uid, "resourceVersion": look.resource_version,
                     "creationTimestamp": created, "labels": labels,
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                     "volumes.kubernetes.io/controller-managed-attach-detach":
                                     "true"}},
        "spec": spec,
        "status": {
            "capacity": resources, "allocatable": resources,
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory",
                          "kubelet has sufficient memory available"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure",
                          "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID",
                          "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": addresses,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": uuid.uuid5(IDENTITIES, f"{uid}/machine").hex,
                "systemUUID": system_uuid,
                "bootID": str(uuid.uuid5(IDENTITIES, f"{uid}/boot" if not look.restarts
                                         else f"{uid}/boot/{look.restarts}")),
                "kernelVersion": "5.15.0-125-generic",
                "osImage": "Ubuntu 22.04.5 LTS",
                "containerRuntimeVersion": "containerd://1.7.22",
                "kubeletVersion": version,
                "kubeProxyVersion": version,
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }


# -- the simulation -------------------------------------------------------------------------

class KubeSim(cluster_sim.ClusterSim):
    """Cordons, the demo workload and its budget (see the module docstring)."""

    replica_word = "pod"

    def __init__(self, view: Any, clock: Callable[[], float] = time.time) -> None:
        self.cordoned: dict[str, float] = {}   # node: when
        self.drained: set[str] = set()          # cordoned nodes already told drained
        self.template_hash = _suffix(f"{view.cluster_uuid}/template", 10)
        super().__init__(view, clock)

    # -- ClusterSim --------------------------------------------------------------------------
    def default_version(self) -> str:
        return self.view.kube_version

    def replica_name(self, serial: int) -> str:
        return f"{WORKLOAD}-{self.template_hash}-" + \
            _suffix(f"{self.view.cluster_uuid}/pod/{serial}", 5)

    def schedulable(self, name: str) -> bool:
        return name not in self.cordoned

    def on_change(self, change: boots.Change) -> str | None:
        if change.event != "down" and change.reason != "started":
            # A new Node object, or none: no cordon (a restarted one keeps its own).
            self.cordoned.pop(change.name, None)
            self.drained.discard(change.name)
        return change.event

    def settle(self) -> None:
        for name in self.cordoned:
            if name not in self.drained and not self.workload.on(name):
                self.drained.add(name)
                self.record(name, "drained")

    # -- nodes -------------------------------------------------------------------------------
    def look(self, name: str) -> NodeLook:
        boot = self.boots.get(name)
        cordoned = self.cordoned.get(name)
        return NodeLook(
            ready=self.ready(name), version=self.version(name),
            unschedulable=cordoned is not None,
            cordoned_at=cluster_sim.stamp(cordoned) if cordoned is not None else None,
            generation=boot.generation if boot else 0,
            registered=cluster_sim.stamp(boot.up_since) if boot and boot.generation else None,
            down_since=cluster_sim.stamp(boot.down_since)
            if boot and boot.down_since is not None else None,
            resource_version=str(self.touched.get(name, 1)),
            shutdown=bool(boot and boot.stopped), restarts=boot.restarts if boot else 0)

    def nodes(self, heartbeat: str) -> list[dict]:
        """Every Node object, as of now."""
        with self.lock:
            self._advance(self.clock())
            return [node_object(self.view, n, heartbeat, self.look(n.name))
                    for n in self.view.nodes]

    def cordon(self, name: str, unschedulable: bool) -> None:
        """Sets or clears the node's cordon (a PATCH of spec.unschedulable)."""
        with self.lock:
            self._advance(self.clock())
            if unschedulable and name not in self.cordoned:
                self.cordoned[name] = self.now
                self.record(name, "cordoned")
            elif not unschedulable and name in self.cordoned:
                del self.cordoned[name]
                self.drained.discard(name)
                self.record(name, "uncordoned")
            self._advance(self.now)

    def patch_node(self, name: str, content_type: str, body: bytes,
                   heartbeat: str) -> tuple[int, dict]:
        """PATCH /api/v1/nodes/{name}: the cordon, as kubectl cordon and drain set it."""
        with self.lock:
            return self._patch_node(name, content_type, body, heartbeat)

    def _patch_node(self, name: str, content_type: str, body: bytes,
                    heartbeat: str) -> tuple[int, dict]:
        if self.node(name) is None:
            return 404, status(404, "NotFound", f'nodes "{name}" not found',
                               {"name": name, "kind": "nodes"})
        media = content_type.split(";")[0].strip().lower()
        if media not in PATCH_TYPES:
            return 415, status(415, "UnsupportedMediaType", "the body of the request was in an "
                               "unknown format - accepted media types include: "
                               + ", ".join(PATCH_TYPES))
        if media == "application/apply-patch+yaml":
            return 415, status(415, "UnsupportedMediaType",
                               "server-side apply is not supported by the sandbox")
        try:
            patch = json.loads(body or b"{}")
        except ValueError as exc:
            return 400, status(400, "BadRequest", f"error decoding patch: {exc}")
        try:
            wanted = (_json_patch(patch) if media == "application/json-patch+json"
                      else _merge_patch(patch))
        except _Invalid as exc:
            return 422, status(422, "Invalid", f'Node "{name}" is invalid: {exc}',
                               {"name": name, "kind": "Node"})
        except ValueError as exc:
            return 400, status(400, "BadRequest", str(exc))
        self._advance(self.clock())
        if wanted is not None:
            self.cordon(name, wanted)
        node = self.node(name)
        assert node is not None
        return 200, node_object(self.view, node, heartbeat, self.look(name))

    # -- the workload ----------------------------------------------------------------------
    def pods(self) -> list[dict]:
        """Every pod (all in the workload's namespace), as of now."""
        with self.lock:
            self._advance(self.clock())
            return [self._pod_object(r) for r in self.workload.replicas]

    def replica(self, namespace: str, name: str) -> workload.Replica | None:
        if namespace != WORKLOAD_NAMESPACE:
            return None
        return next((r for r in self.workload.replicas if r.name == name), None)

    def healthy(self) -> int:
        return len(self.workload.ready(self.now))

    def budget(self) -> dict:
        """The PodDisruptionBudget as the disruption controller keeps its status."""
        with self.lock:
            self._advance(self.clock())
            return self._budget()

    def _budget(self) -> dict:
        healthy = self.healthy()
        allowed = max(0, healthy - MIN_AVAILABLE)
        created = heat_time(self.view.created)
        return {
            "kind": "PodDisruptionBudget", "apiVersion": "policy/v1",
            "metadata": {"name": WORKLOAD, "namespace": WORKLOAD_NAMESPACE,
                         "uid": str(uuid.uuid5(IDENTITIES, f"{self.view.cluster_uuid}/pdb")),
                         "resourceVersion": str(self.revision), "generation": 1,
                         "creationTimestamp": created, "labels": dict(WORKLOAD_LABELS)},
            "spec": {"minAvailable": MIN_AVAILABLE,
                     "selector": {"matchLabels": dict(WORKLOAD_LABELS)}},
            "status": {"observedGeneration": 1, "disruptionsAllowed": allowed,
                       "currentHealthy": healthy, "desiredHealthy": MIN_AVAILABLE,
                       "expectedPods": self.replica_count,
                       "conditions": [{
                           "type": "DisruptionAllowed",
                           "status": "True" if allowed else "False",
                           "reason": "SufficientPods" if allowed else "InsufficientPods",
                           "message": "", "observedGeneration": 1,
                           "lastTransitionTime": created}]},
        }

    def evict(self, namespace: str, name: str, body: bytes, dry_run: bool) -> tuple[int, dict]:
        """POST .../pods/{name}/eviction: delete the pod if its budget allows."""
        with self.lock:
            return self._evict(namespace, name, body, dry_run)

    def _evict(self, namespace: str, name: str, body: bytes, dry_run: bool
               ) -> tuple[int, dict]:
        self._advance(self.clock())
        replica = self.replica(namespace, name)
        if replica is None:
            return 404, status(404, "NotFound", f'pods "{name}" not found',
                               {"name": name, "kind": "pods"})
        try:
            eviction = json.loads(body or b"{}")
        except ValueError as exc:
            return 400, status(400, "BadRequest", f"error decoding the Eviction: {exc}")
        if not isinstance(eviction, dict):
            return 400, status(400, "BadRequest", "the body is not an Eviction object")
        meta = eviction.get("metadata") if isinstance(eviction.get("metadata"), dict) else {}
        if meta.get("name") != name:
            return 400, status(400, "BadRequest",
                               "name in URL does not match name in Eviction object")
        options = eviction.get("deleteOptions")
        if isinstance(options, dict) and options.get("dryRun") == ["All"]:
            dry_run = True
        if replica.running(self.now):
            healthy = self.healthy()
            if healthy <= MIN_AVAILABLE:
                return 429, status(
                    429, "TooManyRequests",
                    "Cannot evict pod as it would violate the pod's disruption budget.",
                    {"causes": [{"reason": "DisruptionBudget", "message": (
                        f"The disruption budget {WORKLOAD} needs {MIN_AVAILABLE} healthy "
                        f"pods and has {healthy} currently")}]})
        if not dry_run:
            node = replica.node
            self.workload.remove(replica, self.now, "evicted")
            self.record(node or "", "pod evicted", pod=name)
            self._advance(self.now)
        return 201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                     "code": 201}

    def _pod_object(self, replica: workload.Replica) -> dict:
        uuid_seed = f"{self.view.cluster_uuid}/pod/{replica.serial}"
        created = cluster_sim.stamp(replica.created)
        node = self.node(replica.node) if replica.node else None
        running = replica.running(self.now)
        spec: dict[str, Any] = {
            "containers": [{"name": WORKLOAD, "image": IMAGE, "resources": {},
                            "imagePullPolicy": "IfNotPresent",
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File"}],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst", "serviceAccountName": "default",
            "schedulerName": "default-scheduler", "priority": 0,
            "enableServiceLinks": True, "preemptionPolicy": "PreemptLowerPriority",
            "tolerations": [{"key": key, "operator": "Exists", "effect": "NoExecute",
                             "tolerationSeconds": 300}
                            for key in ("node.kubernetes.io/not-ready", UNREACHABLE_TAINT)]}
        status_: dict[str, Any] = {"phase": "Running" if running else "Pending",
                                   "qosClass": "BestEffort"}
        if replica.node is None:
            status_["conditions"] = [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "lastTransitionTime": created, "message": self._unschedulable_message()}]
        else:
            spec["nodeName"] = replica.node
            scheduled = cluster_sim.stamp(replica.scheduled_at or replica.created)
            since = cluster_sim.stamp(replica.running_at) if running and replica.running_at \
                else scheduled
            ready = "True" if running else "False"

            def condition(kind: str, value: str) -> dict:
                cond = {"type": kind, "status": value, "lastTransitionTime":
                        since if kind in ("Ready", "ContainersReady") else scheduled}
                if value == "False":
                    cond.update(reason="ContainersNotReady",
                                message=f"containers with unready status: [{WORKLOAD}]")
                return cond

            container: dict[str, Any] = {"name": WORKLOAD, "image": IMAGE, "ready": running,
                                         "restartCount": 0, "started": running}
            if running:
                container.update(imageID=IMAGE_ID, containerID="containerd://" + hashlib.sha256(
                    uuid_seed.encode()).hexdigest(), state={"running": {"startedAt": since}})
            else:
                container.update(imageID="", state={"waiting": {"reason": "ContainerCreating"}})
            status_.update(
                conditions=[condition("PodReadyToStartContainers", ready),
                            condition("Initialized", "True"), condition("Ready", ready),
                            condition("ContainersReady", ready),
                            condition("PodScheduled", "True")],
                hostIP=node.internal_ip if node else "", startTime=scheduled,
                containerStatuses=[container])
            if node is not None and node.internal_ip:
                status_["hostIPs"] = [{"ip": node.internal_ip}]
            if running:
                status_["podIP"] = _ip(uuid_seed, "10.100")
                status_["podIPs"] = [{"ip": status_["podIP"]}]
        return {
            "kind": "Pod", "apiVersion": "v1",
            "metadata": {
                "name": replica.name, "generateName": f"{WORKLOAD}-{self.template_hash}-",
                "namespace": WORKLOAD_NAMESPACE,
                "uid": str(uuid.uuid5(IDENTITIES, uuid_seed)),
                "resourceVersion": str(self.touched.get(replica.name, self.revision)),
                "creationTimestamp": created,
                "labels": {**WORKLOAD_LABELS, "pod-template-hash": self.template_hash},
                "ownerReferences": [{
                    "apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "name": f"{WORKLOAD}-{self.template_hash}",
                    "uid": str(uuid.uuid5(IDENTITIES, f"{self.view.cluster_uuid}/rs")),
                    "controller": True, "blockOwnerDeletion": True}]},
            "spec": spec, "status": status_,
        }

    def _unschedulable_message(self) -> str:
        """The scheduler's summary of why no node fits (kube-scheduler's wording)."""
        nodes = self.view.nodes
        reasons = []
        masters = sum(1 for n in nodes if n.role == "master" and self.ready(n.name))
        down = sum(1 for n in nodes if not self.ready(n.name))
        cordoned = sum(1 for n in nodes if n.role != "master" and self.ready(n.name)
                       and n.name in self.cordoned)
        if masters:
            reasons.append(f"{masters} node(s) had untolerated taint "
                           f"{{{CONTROL_PLANE_TAINT}: }}")
        if down:
            reasons.append(f"{down} node(s) had untolerated taint {{{UNREACHABLE_TAINT}: }}")
        if cordoned:
            reasons.append(f"{cordoned} node(s) were unschedulable")
        return (f"0/{len(nodes)} nodes are available: {', '.join(reasons)}. preemption: "
                f"0/{len(nodes)} nodes are available: {len(nodes)} Preemption is not helpful "
                "for scheduling.")


class _Invalid(Exception):
    """A patch the sandbox does not apply (422 Invalid)."""


def _unschedulable(value: Any) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValueError("json: cannot unmarshal value into Go struct field "
                         "NodeSpec.spec.unschedulable of type bool")
    return value


def _merge_patch(patch: Any) -> bool | None:
    """The cordon a merge (or strategic merge) patch sets: True, False, or None (untouched);
    anything but ``spec.unschedulable`` is refused."""
    if not isinstance(patch, dict):
        raise ValueError("a merge patch must be a JSON object")
    wanted = None
    for key, value in patch.items():
        if key == "spec" and isinstance(value, dict) and set(value) <= {"unschedulable"}:
            if "unschedulable" in value:
                wanted = _unschedulable(value["unschedulable"])
        elif key not in ("apiVersion", "kind"):
            raise _Invalid("the sandbox patches spec.unschedulable only")
    return wanted


def _json_patch(patch: Any) -> bool | None:
    """The cordon a JSON patch (RFC 6902) sets, from its operations on /spec/unschedulable."""
    if not isinstance(patch, list):
        raise ValueError("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    wanted = None
    for op in patch:
        if not isinstance(op, dict) or op.get("path") != "/spec/unschedulable":
            raise _Invalid("the sandbox patches spec.unschedulable only")
        if op.get("op") in ("add", "replace"):
            wanted = _unschedulable(op.get("value"))
        elif op.get("op") == "remove":
            wanted = False
        elif op.get("op") != "test":
            raise _Invalid(f"unsupported operation {op.get('op')!r}")
    return wanted
