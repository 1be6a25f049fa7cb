"""A Kubernetes cluster's nodes through its API server, for a rolling upgrade's drain.

What `kubectl drain` does, one short round per call: cordon (spec.unschedulable, a JSON merge
patch), then ask the eviction API (policy/v1 Eviction, a subresource of the pod) to move every
pod of the node that a controller would recreate elsewhere. The API server honours
PodDisruptionBudgets: 429 means "not now", so the drain says not done and the conductor asks
again next round. Pods that a drain leaves alone, as kubectl does: DaemonSet pods (their
controller ignores unschedulable and would start them again), mirror pods of static
manifests (the kubelet owns them) and pods that already finished. The node is drained once
none of the others is left on it, terminating ones included.

The conductor authenticates with a client certificate of the cluster CA in the group
system:masters, which kubeadm's API server (--client-ca-file, the CA the masters boot with)
maps to cluster-admin.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
import urllib.parse

from magnum_lite.common import exception
from magnum_lite.drivers import base, coe_http

COE = "Kubernetes"
API_PORT = 6443
IDENTITY = coe_http.ClientIdentity(coe_http.CONDUCTOR_NAME, ("system:masters",))
#: Items per page of a list (the API server pages with `continue`).
PAGE_SIZE = 500
#: Pages read of one list in one round, so a round stays short.
MAX_PAGES = 40
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
MERGE_PATCH = "application/merge-patch+json"
FINISHED_PHASES = ("Succeeded", "Failed")


def _quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def _ready(node: dict[str, Any]) -> tuple[bool, str | None]:
    """The node's Ready condition: (is it "True", why not)."""
    for condition in (node.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            if condition.get("status") == "True":
                return True, None
            return False, condition.get("message") or condition.get("reason") or \
                f"Ready is {condition.get('status')}"
    return False, "no Ready condition yet"


def _stays(pod: dict[str, Any]) -> bool:
    """Whether a drain leaves the pod where it is: DaemonSet and mirror pods, finished pods."""
    metadata = pod.get("metadata") or {}
    if MIRROR_ANNOTATION in (metadata.get("annotations") or {}):
        return True
    if any(ref.get("kind") == "DaemonSet" and ref.get("controller")
           for ref in metadata.get("ownerReferences") or []):
        return True
    return (pod.get("status") or {}).get("phase") in FINISHED_PHASES


class KubernetesNodes(base.CoeNodes):
    """The nodes of one Kubernetes cluster, through its API server."""

    def __init__(self, api_address: str | None, credentials: base.CredentialsLoader, *,
                 timeout: float | None = None) -> None:
        self._api = coe_http.CoeHttpClient(
            COE, api_address, lambda: coe_http.cluster_ca(credentials, COE),
            identity=IDENTITY, default_port=API_PORT, timeout=timeout)

    def _list(self, path: str, query: dict[str, str] | None = None
              ) -> Iterator[dict[str, Any]]:
        """Every item of a list, page by page."""
        query = {**(query or {}), "limit": str(PAGE_SIZE)}
        for _ in range(MAX_PAGES):
            page = self._api.get_json(path, query)
            if not isinstance(page, dict):
                raise exception.CoeError(coe=COE, reason=f"GET {path}: not a list")
            yield from page.get("items") or []
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return
            query = {**query, "continue": token}
        raise exception.CoeError(coe=COE, reason=f"GET {path}: more than "
                                                 f"{PAGE_SIZE * MAX_PAGES} items")

    def nodes(self) -> dict[str, base.NodeHealth]:
        found = {}
        for node in self._list("/api/v1/nodes"):
            name = (node.get("metadata") or {}).get("name")
            if not name:
                continue
            ready, reason = _ready(node)
            info = (node.get("status") or {}).get("nodeInfo") or {}
            found[name] = base.NodeHealth(
                name=name, ready=ready, version=info.get("kubeletVersion"),
                schedulable=not (node.get("spec") or {}).get("unschedulable", False),
                reason=reason)
        return found

    def _set_unschedulable(self, name: str, value: bool) -> bool:
        """Cordon or uncordon one node; False when the API server does not know it."""
        response = self._api.request("PATCH", f"/api/v1/nodes/{_quote(name)}",
                                     body={"spec": {"unschedulable": value}},
                                     content_type=MERGE_PATCH, allow=(404,))
        return response.status != 404

    def _evict(self, pod: dict[str, Any]) -> None:
        """Ask for one pod's eviction; 429 (a disruption budget) and 404 (gone) are fine,
        as the caller counts the pod as still there until a later list misses it."""
        metadata = pod["metadata"]
        namespace, name = metadata.get("namespace") or "default", metadata["name"]
        self._api.request(
            "POST", f"/api/v1/namespaces/{_quote(namespace)}/pods/{_quote(name)}/eviction",
            body={"apiVersion": "policy/v1", "kind": "Eviction",
                  "metadata": {"name": name, "namespace": namespace}},
            allow=(404, 429))

    def _drain_node(self, name: str) -> bool:
        """One round for one node: cordoned, evictions asked; True once no pod to move is
        left."""
        if not self._set_unschedulable(name, True):
            return True  # a node the API server does not know holds nothing
        left = 0
        for pod in self._list("/api/v1/pods", {"fieldSelector": f"spec.nodeName={name}"}):
            if _stays(pod) or not (pod.get("metadata") or {}).get("name"):
                continue
            left += 1
            if not pod["metadata"].get("deletionTimestamp"):  # else already leaving
                self._evict(pod)
        return left == 0

    def drain(self, names: list[str]) -> bool:
        done = True
        for name in names:
            done = self._drain_node(name) and done
        return done

    def uncordon(self, names: list[str]) -> None:
        for name in names:
            self._set_unschedulable(name, False)

    def health(self) -> base.CoeHealth:
        """The API server's own readiness (`/readyz`: "ok", or the checks that fail), then
        every node's Ready condition."""
        answer = self._api.request("GET", "/readyz", allow=range(400, 600))
        text = answer.body.decode(errors="replace").strip() if answer.body else ""
        api = "ok" if answer.status == 200 else f"{answer.status}: {text[:200] or 'not ready'}"
        return base.CoeHealth(api, self.nodes())
