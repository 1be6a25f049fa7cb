"""A rolling upgrade as the guest agent sees it in Heat: one server's nested stack gets new
user data in place (the sandbox's rebuild), and only that node reboots into the version its
own user data asks for; what it costs in Heat calls; faults from the state dir; the
timeline under it."""

from __future__ import annotations

from contextlib import closing
import functools
from types import SimpleNamespace

import pytest

from fakes import (
    CLUSTER_STACK,
    CLUSTER_UUID,
    LIST_TAGGED,
    NG_UUID,
    FakeHeat,
    add_cluster,
    change,
    master_user_data,
    set_user_data,
)
from magnum_lite.common import x509
from magnum_lite_sandbox import cluster_apis, faults, kube_api, rebuilds, timeline
from magnum_lite_sandbox import servers as sandbox_servers

WORKER = "demo-0f6c2a-default-worker-0-1"


@pytest.fixture(scope="module")
def ca():
    return x509.generate_ca("kubernetes")


@pytest.fixture
def clock(monkeypatch):
    monkeypatch.setenv("MAGNUM_LITE_SANDBOX_BOOT_SECONDS", "2")
    return SimpleNamespace(now=1_800_000_000.0)


@pytest.fixture
def servers(clock, tmp_path):
    factory = functools.partial(kube_api.ClusterAPI, clock=lambda: clock.now)
    with closing(cluster_apis.ClusterServers(api_factory=factory,
                                             state_dir=str(tmp_path))) as made:
        yield made


def _nodes(servers) -> dict[str, tuple[bool, str]]:
    """Each node's (ready, kubelet version) as the API shows it."""
    sim = servers.clusters[CLUSTER_UUID].api.sim
    with sim.lock:
        sim.advance()
        return {n.name: (sim.ready(n.name), sim.version(n.name)) for n in sim.view.nodes}


def _rebuild(heat, ca, server, kube_version, when="2026-11-21T18:20:00Z", **how):
    """An upgrade batch: the chunk stack updated so that only this server's user data
    changes (its nested stack updated in place), with a policy that rebuilds it."""
    set_user_data(heat, server, master_user_data(ca, role="worker", index=1,
                                                 kube_version=kube_version), when, **how)
    change(heat, "ws-0", "UPDATE_COMPLETE", when=when)


@pytest.fixture
def heat():
    return FakeHeat()


def test_only_the_rebuilt_node_reboots_into_its_new_version(heat, ca, servers, clock,
                                                           tmp_path):
    add_cluster(heat, ca, masters=1, workers=3)
    servers.sweep(heat)
    assert set(_nodes(servers).values()) == {(True, "v1.31.2")}
    heat.calls.clear()
    _rebuild(heat, ca, "srv-w0-1", "1.32.0")
    servers.sweep(heat)
    # The chunk and its servers are read again (nothing else); only the rebuilt one differs.
    assert heat.calls == [LIST_TAGGED,
                          ("stacks.get", f"{CLUSTER_STACK}-ng-{NG_UUID}-0/ws-0"),
                          *[("stacks.get", f"srv-w0-{i}") for i in range(3)]]
    nodes = _nodes(servers)
    assert nodes[WORKER] == (False, "v1.31.2")
    assert [v for n, v in nodes.items() if n != WORKER] == [(True, "v1.31.2")] * 3
    clock.now += 2.0
    heat.calls.clear()
    servers.sweep(heat)
    assert heat.calls == [LIST_TAGGED]  # the boot came up without asking Heat
    assert _nodes(servers)[WORKER] == (True, "v1.32.0")
    downs = [e["node"] for e in timeline.read(CLUSTER_UUID, tmp_path) if e["event"] == "down"]
    assert downs == [WORKER]
    ups = [(e["node"], e["version"], e["reason"]) for e in timeline.read(CLUSTER_UUID,
                                                                        tmp_path)
           if e["event"] == "up"]
    assert ups[-1] == (WORKER, "v1.32.0", "rebuilt") and len(ups) == 5


def test_an_update_that_leaves_the_user_data_alone_reboots_nothing(heat, ca, servers):
    add_cluster(heat, ca, masters=1, workers=2)
    servers.sweep(heat)
    # Heat updates every server's nested stack of an updated chunk, changed or not.
    for i in range(2):
        change(heat, f"srv-w0-{i}", "UPDATE_COMPLETE", when="2026-11-21T18:30:00Z")
    change(heat, "ws-0", "UPDATE_COMPLETE", when="2026-11-21T18:30:00Z")
    servers.sweep(heat)
    assert all(ready for ready, _ in _nodes(servers).values())


def test_a_fault_in_the_state_dir_holds_the_rebuilt_node(heat, ca, servers, clock, tmp_path):
    add_cluster(heat, ca, masters=1, workers=2)
    servers.sweep(heat)
    faults.never_ready(WORKER, tmp_path)
    _rebuild(heat, ca, "srv-w0-1", "1.32.0")
    servers.sweep(heat)
    clock.now += 10.0
    servers.sweep(heat)
    assert _nodes(servers)[WORKER] == (False, "v1.31.2")
    faults.clear(WORKER, tmp_path)
    servers.sweep(heat)
    clock.now += 2.0
    servers.sweep(heat)
    assert _nodes(servers)[WORKER] == (True, "v1.32.0")


@pytest.mark.parametrize(("how", "rebuilt", "version"), [
    # What a rotation does: new user data that servers ignore (the drivers' node template).
    ({"policy": "IGNORE"}, False, "v1.31.2"),
    # A new image rebuilds the server, with the user data Nova kept: the old version.
    ({"policy": "IGNORE", "image": "ubuntu-24.04"}, True, "v1.31.2"),
    ({"policy": "REPLACE"}, True, "v1.32.0"),
    ({"policy": "REBUILD", "image": "ubuntu-24.04"}, True, "v1.32.0"),
])
def test_what_heat_does_with_new_user_data_follows_the_servers_policy(heat, ca, servers, clock,
                                                                     how, rebuilt, version):
    add_cluster(heat, ca, masters=1, workers=2)
    servers.sweep(heat)
    _rebuild(heat, ca, "srv-w0-1", "1.32.0", **how)
    servers.sweep(heat)
    assert _nodes(servers)[WORKER] == (not rebuilt, "v1.31.2")
    clock.now += 2.0
    servers.sweep(heat)
    assert _nodes(servers)[WORKER] == (True, version)
    # Heat touches the nested stack again without changing it: nothing more happens.
    change(heat, "srv-w0-1", "UPDATE_COMPLETE", when="2026-11-21T19:00:00Z")
    change(heat, "ws-0", "UPDATE_COMPLETE", when="2026-11-21T19:00:00Z")
    servers.sweep(heat)
    assert _nodes(servers)[WORKER] == (True, version)


def test_a_rebuild_through_nova_reboots_the_node_with_what_it_gave(heat, ca, servers, clock,
                                                                  tmp_path):
    """Nova's rebuild (the stand-in records it) reboots the node without Heat knowing: with
    new user data its version moves, and a later Heat update that leaves the server's
    properties alone does not take it back."""
    add_cluster(heat, ca, masters=1, workers=2)
    servers.sweep(heat)
    new = master_user_data(ca, role="worker", index=1, kube_version="1.32.0")
    rebuilds.record("srv-w0-1", "image-id", new, {"role": "worker"}, "2026-11-21T18:40:00Z",
                    tmp_path)
    heat.calls.clear()
    servers.sweep(heat)
    assert heat.calls == [LIST_TAGGED]  # Heat is not asked
    assert _nodes(servers)[WORKER] == (False, "v1.31.2")
    assert next(s for s in sandbox_servers.read(tmp_path)
                if s["id"] == "srv-w0-1")["rebuilt"] == 1  # Nova shows it ACTIVE again
    clock.now += 2.0
    servers.sweep(heat)
    assert _nodes(servers)[WORKER] == (True, "v1.32.0")
    change(heat, "srv-w0-1", "UPDATE_COMPLETE", when="2026-11-21T19:00:00Z")
    change(heat, "ws-0", "UPDATE_COMPLETE", when="2026-11-21T19:00:00Z")
    servers.sweep(heat)
    assert _nodes(servers)[WORKER] == (True, "v1.32.0")
    # Rebuilt again with the image alone: Nova keeps the user data it has.
    rebuilds.record("srv-w0-1", "image-id", None, {}, "2026-11-21T19:10:00Z", tmp_path)
    servers.sweep(heat)
    clock.now += 2.0
    servers.sweep(heat)
    downs = [e["node"] for e in timeline.read(CLUSTER_UUID, tmp_path) if e["event"] == "down"]
    assert downs == [WORKER, WORKER]
    assert _nodes(servers)[WORKER] == (True, "v1.32.0")
