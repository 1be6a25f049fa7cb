"""What a rolling upgrade does to a Kubernetes cluster in the sandbox, through the official
``kubernetes`` client: cordon, eviction against the PodDisruptionBudget, a node rebuilt into
a new version (and one that never comes back), and the timeline a test reads afterwards.
Time is a fake clock, moved by hand."""

from __future__ import annotations

import dataclasses
import functools
import http.client
import json
import ssl
import tempfile

import kubernetes.client as k8s
from kubernetes.client.exceptions import ApiException
import pytest

from magnum_lite.common import x509
from magnum_lite_sandbox import kube_api, timeline
from magnum_lite_sandbox.cluster_sim import Node

CLUSTER = "3e1c2d4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
MASTER = "k8s-3e1c2d-master-0"
WORKERS = tuple(f"k8s-3e1c2d-default-worker-0-{i}" for i in range(3))


def _nodes(versions: dict[str, str] | None = None, digests: dict[str, str] | None = None
           ) -> tuple[Node, ...]:
    versions, digests = versions or {}, digests or {}
    names = (MASTER, *WORKERS)
    return tuple(Node(name, "master" if name == MASTER else "worker", f"10.0.0.{10 + i}",
                      f"srv-{i}", "2026-11-21T18:00:00Z", versions.get(name, "v1.30.4"),
                      digests.get(name, f"boot-{name}-1")) for i, name in enumerate(names))


@pytest.fixture
def api(serve, tmp_path):
    return serve(kube_api.ClusterAPI, kube_api.ClusterView(
        CLUSTER, _nodes({WORKERS[2]: "v1.31.2"}), "v1.30.4", "2026-11-21T18:00:00Z",
        state_dir=str(tmp_path)))


@functools.cache
def _admin(ca: x509.KeyPair) -> x509.KeyPair:
    return x509.issue_certificate(ca, "admin", organizations=["system:masters"], server=False,
                                  client=True)


@pytest.fixture
def client(api, ca, tmp_path) -> k8s.ApiClient:
    conf = k8s.Configuration()
    conf.host = f"https://127.0.0.1:{api.addresses['127.0.0.1']}"
    conf.retries = 0
    admin = _admin(ca)
    for name, text in (("ca.crt", ca.certificate), ("c.crt", admin.certificate),
                       ("c.key", admin.private_key)):
        (tmp_path / name).write_text(text)
    conf.ssl_ca_cert, conf.cert_file, conf.key_file = (
        str(tmp_path / n) for n in ("ca.crt", "c.crt", "c.key"))
    return k8s.ApiClient(conf)


def _cordon(core: k8s.CoreV1Api, name: str, value: bool = True) -> k8s.V1Node:
    """kubectl cordon's patch (the client sends an object as a strategic merge patch)."""
    return core.patch_node(name, {"spec": {"unschedulable": value}})


def _evict(core: k8s.CoreV1Api, name: str) -> None:
    core.create_namespaced_pod_eviction(name, "default", k8s.V1Eviction(
        metadata=k8s.V1ObjectMeta(name=name, namespace="default")))


def _pods_on(core: k8s.CoreV1Api, node: str) -> list[k8s.V1Pod]:
    return core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items


def _ready(node: k8s.V1Node) -> str:
    return next(c.status for c in node.status.conditions if c.type == "Ready")


def _events(tmp_path, **match) -> list[dict]:
    return [e for e in timeline.read(CLUSTER, tmp_path)
            if all(e.get(k) == v for k, v in match.items())]


def test_each_node_reports_its_own_version_and_the_workload_is_spread(api, client):
    core = k8s.CoreV1Api(client)
    nodes = {n.metadata.name: n for n in core.list_node().items}
    assert nodes[WORKERS[2]].status.node_info.kubelet_version == "v1.31.2"
    assert nodes[WORKERS[0]].status.node_info.kubelet_version == "v1.30.4"
    assert all(_ready(n) == "True" and not n.spec.unschedulable for n in nodes.values())
    pods = core.list_namespaced_pod("default", label_selector="app=demo").items
    assert sorted(p.spec.node_name for p in pods) == sorted(WORKERS)  # none on the master
    assert {p.status.phase for p in pods} == {"Running"}
    assert all(p.metadata.owner_references[0].kind == "ReplicaSet" for p in pods)
    [pdb] = k8s.PolicyV1Api(client).list_namespaced_pod_disruption_budget("default").items
    assert (pdb.spec.min_available, pdb.status.current_healthy, pdb.status.desired_healthy,
            pdb.status.disruptions_allowed, pdb.status.expected_pods) == (2, 3, 2, 1, 3)
    assert pdb.spec.selector.match_labels == {"app": "demo"}


def test_cordon_and_evict_within_the_budget(api, client, clock, tmp_path):
    core = k8s.CoreV1Api(client)
    node = _cordon(core, WORKERS[0])
    assert node.spec.unschedulable is True
    assert {t.key for t in node.spec.taints} == {"node.kubernetes.io/unschedulable"}
    [pod] = _pods_on(core, WORKERS[0])
    _evict(core, pod.metadata.name)
    # The ReplicaSet's replacement goes to the least loaded schedulable worker and is
    # still creating its container: the budget has no disruption left.
    assert _pods_on(core, WORKERS[0]) == []
    [new] = [p for p in core.list_namespaced_pod("default").items
             if p.status.phase == "Pending"]
    assert new.spec.node_name == WORKERS[1]
    assert new.status.container_statuses[0].state.waiting.reason == "ContainerCreating"
    victim = _pods_on(core, WORKERS[2])[0].metadata.name
    with pytest.raises(ApiException) as caught:
        _evict(core, victim)
    assert caught.value.status == 429
    body = json.loads(caught.value.body)
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "TooManyRequests", 429)
    assert body["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert body["details"]["causes"] == [{"reason": "DisruptionBudget", "message":
                                          "The disruption budget demo needs 2 healthy pods "
                                          "and has 2 currently"}]
    clock.now += 1.0  # the replacement starts
    assert {p.status.phase for p in core.list_namespaced_pod("default").items} == {"Running"}
    _evict(core, victim)
    # The timeline: cordoned, evicted, drained (nothing left on it), the replacement's
    # scheduling and start, each with the ready replicas after it.
    events = [(e["node"], e["event"], e["ready_replicas"])
              for e in timeline.read(CLUSTER, tmp_path) if e["event"] != "up"]
    assert events[:6] == [
        *[(w, "pod started", 3) for w in WORKERS], (WORKERS[0], "cordoned", 3),
        (WORKERS[0], "pod evicted", 2), (WORKERS[1], "pod scheduled", 2)]
    assert (WORKERS[0], "drained", 2) in events
    assert [e["ready"] for e in _events(tmp_path, event="cordoned")] == [True]
    assert [e["schedulable"] for e in _events(tmp_path, event="cordoned")] == [False]
    # Uncordon with a JSON patch, as other clients send it.
    node = core.patch_node(WORKERS[0], [{"op": "replace", "path": "/spec/unschedulable",
                                         "value": False}])
    assert not node.spec.unschedulable and not node.spec.taints
    assert _events(tmp_path, event="uncordoned")[0]["node"] == WORKERS[0]


def test_a_pending_pod_is_evicted_without_the_budget(api, client):
    core = k8s.CoreV1Api(client)
    for worker in WORKERS:
        _cordon(core, worker)
    first = _pods_on(core, WORKERS[0])[0].metadata.name
    _evict(core, first)
    [pending] = [p for p in core.list_namespaced_pod("default").items
                 if p.status.phase == "Pending"]
    assert pending.spec.node_name is None  # no schedulable worker
    assert pending.status.conditions[0].reason == "Unschedulable"
    assert "3 node(s) were unschedulable" in pending.status.conditions[0].message
    _evict(core, pending.metadata.name)  # not running: no budget to ask
    with pytest.raises(ApiException) as caught:  # two running of three: the budget holds
        _evict(core, _pods_on(core, WORKERS[1])[0].metadata.name)
    assert caught.value.status == 429


def test_a_rebuilt_node_goes_away_and_comes_back_new(api, client, clock, tmp_path):
    core = k8s.CoreV1Api(client)
    before = core.read_node(WORKERS[0])
    _cordon(core, WORKERS[0])
    api.set_view(dataclasses.replace(api.view, nodes=_nodes(
        {WORKERS[0]: "v1.31.2", WORKERS[2]: "v1.31.2"}, {WORKERS[0]: "boot-new"})))
    down = core.read_node(WORKERS[0])
    assert _ready(down) == "Unknown"
    assert down.status.conditions[-1].reason == "NodeStatusUnknown"
    assert down.status.node_info.kubelet_version == "v1.30.4"  # the old kubelet's object
    assert {(t.key, t.effect) for t in down.spec.taints} >= {
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/unschedulable", "NoSchedule")}
    # Its pod is lost and replaced on another ready worker.
    assert _pods_on(core, WORKERS[0]) == []
    assert len(core.list_namespaced_pod("default").items) == 3
    clock.now += 1.9
    api.tick()
    assert _ready(core.read_node(WORKERS[0])) == "Unknown"
    clock.now += 0.2
    api.tick()
    up = core.read_node(WORKERS[0])
    assert _ready(up) == "True"
    assert up.status.node_info.kubelet_version == "v1.31.2"
    assert up.metadata.uid != before.metadata.uid  # a new Node object ...
    assert up.status.node_info.boot_id != before.status.node_info.boot_id
    assert not up.spec.unschedulable and not up.spec.taints  # ... not cordoned
    [went, came] = [e for e in _events(tmp_path, node=WORKERS[0])
                    if e["event"] in ("down", "up") and e["reason"] != "registered"]
    assert (went["event"], went["version"], went["ready"], went["reason"]) == (
        "down", "v1.30.4", False, "rebuilt")
    assert (came["event"], came["version"], came["ready"]) == ("up", "v1.31.2", True)
    assert came["time"] - went["time"] == pytest.approx(2.0)
    assert _events(tmp_path, node=WORKERS[0], event="pod lost")


def test_a_never_ready_node_stays_down_until_cleared(api, client, clock, tmp_path):
    core = k8s.CoreV1Api(client)
    api.set_view(dataclasses.replace(api.view, never_ready=frozenset({WORKERS[1]}),
                                     nodes=_nodes({WORKERS[2]: "v1.31.2"},
                                                  {WORKERS[1]: "boot-new"})))
    clock.now += 30
    api.tick()
    assert _ready(core.read_node(WORKERS[1])) == "Unknown"
    assert [e["reason"] for e in _events(tmp_path, node=WORKERS[1], event="down")] == [
        "rebuilt", "never-ready"]
    api.set_view(dataclasses.replace(api.view, never_ready=frozenset()))
    clock.now += 2.0
    api.tick()
    assert _ready(core.read_node(WORKERS[1])) == "True"


def test_patch_and_eviction_errors(api, client, ca):
    core = k8s.CoreV1Api(client)
    # An object sent as a JSON patch (a list of operations) is refused, as by the API server.
    code, body = _post(api, ca, f"/api/v1/nodes/{WORKERS[0]}", {"spec": {}}, method="PATCH",
                       content_type="application/json-patch+json")
    assert (code, body["reason"]) == (400, "BadRequest")
    node = core.patch_node(WORKERS[0], {"spec": {"unschedulable": True}},
                           _content_type="application/merge-patch+json")
    assert node.spec.unschedulable
    with pytest.raises(ApiException) as caught:
        core.patch_node(WORKERS[0], {"metadata": {"labels": {"a": "b"}}},
                        _content_type="application/merge-patch+json")
    assert caught.value.status == 422
    with pytest.raises(ApiException) as caught:
        _cordon(core, "no-such-node")
    assert caught.value.status == 404
    with pytest.raises(ApiException) as caught:
        _evict(core, "no-such-pod")
    assert caught.value.status == 404
    pod = _pods_on(core, WORKERS[0])[0].metadata.name
    code, body = _post(api, ca, f"/api/v1/namespaces/default/pods/{pod}/eviction",
                       {"apiVersion": "policy/v1", "kind": "Eviction",
                        "metadata": {"name": "another"}})
    assert code == 400 and body["message"] == \
        "name in URL does not match name in Eviction object"
    code, body = _post(api, ca, f"/api/v1/namespaces/default/pods/{pod}/eviction?dryRun=All",
                       {"apiVersion": "policy/v1", "kind": "Eviction",
                        "metadata": {"name": pod}})
    assert (code, body["status"]) == (201, "Success")
    assert _pods_on(core, WORKERS[0])[0].metadata.name == pod  # a dry run changes nothing
    code, body = _post(api, ca, f"/api/v1/nodes/{WORKERS[0]}", {}, method="PATCH",
                       content_type="application/yaml")
    assert code == 415 and body["reason"] == "UnsupportedMediaType"


def test_discovery_names_the_drain_resources(api, client):
    resources = {r.name: r for r in k8s.CoreV1Api(client).get_api_resources().resources}
    assert "patch" in resources["nodes"].verbs
    assert resources["pods/eviction"].group == "policy"
    groups = {g.name for g in k8s.ApisApi(client).get_api_versions().groups}
    assert {"policy", "authentication.k8s.io"} <= groups
    policy = k8s.PolicyV1Api(client).get_api_resources()
    assert [r.name for r in policy.resources] == ["poddisruptionbudgets"]


def test_without_a_master_up_connections_are_dropped(api, ca, clock):
    api.set_view(dataclasses.replace(api.view, nodes=_nodes(
        {WORKERS[2]: "v1.31.2"}, {MASTER: "boot-new"})))
    with pytest.raises((ConnectionError, ssl.SSLError, http.client.HTTPException, OSError)):
        _post(api, ca, "/version", None, method="GET")
    clock.now += 2.0
    code, body = _post(api, ca, "/version", None, method="GET")
    assert code == 200 and body["gitVersion"] == "v1.30.4"


def _post(api, ca, path: str, body, method: str = "POST",
          content_type: str = "application/json") -> tuple[int, dict]:
    admin = _admin(ca)
    context = ssl.create_default_context(cadata=ca.certificate)
    with tempfile.TemporaryDirectory() as tmp:
        with open(f"{tmp}/c.crt", "w") as f:
            f.write(admin.certificate)
        with open(f"{tmp}/c.key", "w") as f:
            f.write(admin.private_key)
        context.load_cert_chain(f"{tmp}/c.crt", f"{tmp}/c.key")
    conn = http.client.HTTPSConnection("127.0.0.1", api.addresses["127.0.0.1"],
                                       context=context, timeout=10)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data,
                     headers={"Content-Type": content_type} if data is not None else {})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()
