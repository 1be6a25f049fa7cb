"""Two conductors, 100 clusters, the real k8s_ubuntu_v1 driver, Heat faked at the client.

Every cluster goes through the whole create the way it does in a cloud: the conductor's
manager creates the cluster stack, the reconcilers see it complete, create the worker stacks,
see those complete and record CREATE_COMPLETE. Each cluster must be checked by exactly one
conductor per round; when one conductor stops, the other finishes its clusters.
"""

from __future__ import annotations

import collections
import datetime
import threading

import oslo_messaging as messaging
from oslo_utils import timeutils, uuidutils

from magnum_lite import objects
from magnum_lite.common import context as ml_context
from magnum_lite.common import driver_factory
from magnum_lite.conductor import hashring
from magnum_lite.conductor import manager as conductor_manager
from magnum_lite.conductor import reconciler as conductor_reconciler
from magnum_lite.drivers.k8s_ubuntu_v1 import driver as k8s
from magnum_lite.objects import cluster_operation, fields
from tests.fakes import heat as fake_heat
from tests.unit.conductor import helpers
from tests.unit.conductor.helpers import settle
from tests.unit.drivers import fake_plugin

BINARY = "magnum-lite-conductor"
WAIT = 30
CLUSTERS = 100


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_two_conductors_share_100_creates_and_one_takes_over(db, monkeypatch):
    cloud = fake_heat.FakeHeatCloud().install(monkeypatch)
    fake_plugin.install(k8s_ubuntu_v1=k8s.K8sUbuntuV1)
    try:
        _run(cloud, monkeypatch)
    finally:
        driver_factory.set_extension_manager(None)


def _default_nodegroups(project: str) -> list[dict]:
    """One master and two workers, as the API makes a cluster's default nodegroups."""
    return [{"name": name, "project_id": project, "role": role, "node_count": count,
             "is_default": True, "image_id": "ubuntu-22.04",
             "status": fields.ClusterStatus.CREATE_IN_PROGRESS}
            for name, role, count in (("default-master", "master", 1),
                                      ("default-worker", "worker", 2))]


def _public_k8s_template(admin) -> objects.ClusterTemplate:
    template = objects.ClusterTemplate(
        admin, project_id="p0", user_id="u", name="k8s", image_id="ubuntu-22.04",
        coe="kubernetes", server_type="vm", cluster_distro="ubuntu",
        external_network_id="public", flavor_id="m1.small", master_flavor_id="m1.medium",
        network_driver="flannel", public=True)
    template.create()
    return template


def _run(cloud, monkeypatch) -> None:
    admin = ml_context.get_admin_context()
    for host in ("host-a", "host-b"):
        objects.MagnumService.heartbeat(admin, host, BINARY)
    objects.Driver.ensure_defaults(admin)
    driver_row = objects.Driver.get_latest(admin, "k8s_ubuntu_v1")
    template = _public_k8s_template(admin)

    manager = conductor_manager.ConductorManager("host-a", workers=8)
    manager.start()
    uuids = []
    try:
        for i in range(CLUSTERS):
            project = f"project-{i % 5}"
            context = ml_context.RequestContext(project_id=project, user_id="u",
                                                roles=["member"], auth_token="token")
            cluster = objects.Cluster(
                context, uuid=uuidutils.generate_uuid(), project_id=project, user_id="u",
                name=f"c{i}", cluster_template_id=template.uuid,
                status=fields.ClusterStatus.CREATE_IN_PROGRESS, version=1,
                driver_id=driver_row.uuid, driver_version=driver_row.version,
                create_timeout=60, floating_ip_enabled=True, master_lb_enabled=False)
            # As the API starts it: the rows, the create's record and its event.
            cluster_operation.start_create(context, cluster, _default_nodegroups(project))
            manager.cluster_create(context, cluster_uuid=cluster.uuid, create_timeout=60)
            uuids.append(cluster.uuid)
        settle(4 * WAIT)  # every create handed to Heat (its record at step following)
    finally:
        manager.stop(timeout=WAIT)
    assert len(cloud.live_stacks()) == CLUSTERS  # one cluster stack each, so far
    # Both are alive: their heartbeats are fresh however long the creates took (on a loaded
    # machine, longer than service_down_time).
    for host in ("host-a", "host-b"):
        objects.MagnumService.heartbeat(admin, host, BINARY)

    clock = _Clock()
    current = threading.local()
    polled: dict[str, list[str]] = collections.defaultdict(list)
    lock = threading.Lock()
    real_get_status = k8s.K8sUbuntuV1.get_status

    def get_status(self, context, cluster, *args, **kwargs):
        with lock:
            polled[cluster.uuid].append(current.host)
        return real_get_status(self, context, cluster, *args, **kwargs)

    monkeypatch.setattr(k8s.K8sUbuntuV1, "get_status", get_status)
    reconcilers = {}
    for host in ("host-a", "host-b"):
        reconciler = conductor_reconciler.Reconciler(
            host, ring=hashring.ConductorRing(host, clock=clock, refresh_interval=10),
            clock=clock, workers=4)
        check_group = reconciler._check_group

        def tagged(driver, project_id, items, host=host, check_group=check_group):
            current.host = host
            return check_group(driver, project_id, items)

        monkeypatch.setattr(reconciler, "_check_group", tagged)
        reconcilers[host] = reconciler

    def one_round() -> dict[str, list[str]]:
        polled.clear()
        for reconciler in reconcilers.values():
            reconciler.run_once()
        for reconciler in reconcilers.values():
            reconciler.wait(WAIT)
        clock.now += 5  # everything is due again
        return dict(polled)

    def statuses() -> collections.Counter:
        return collections.Counter(objects.Cluster.get_by_uuid(admin, u).status for u in uuids)

    try:
        cloud.complete_all()  # the cluster stacks are done
        first = one_round()   # each conductor starts the worker stacks of its share
        assert sorted(first) == sorted(uuids)
        assert all(len(hosts) == 1 for hosts in first.values())
        shares = collections.Counter(hosts[0] for hosts in first.values())
        assert shares["host-a"] > 10 and shares["host-b"] > 10, shares
        b_had = {uuid for uuid, hosts in first.items() if hosts == ["host-b"]}
        assert len(cloud.live_stacks()) == 2 * CLUSTERS  # + one worker stack each

        # host-b stops before its clusters' worker stacks are done: host-a finishes them.
        reconcilers.pop("host-b").stop()
        objects.MagnumService.remove("host-b", BINARY)
        clock.now += 10
        cloud.complete_all()
        second = one_round()
        assert sorted(second) == sorted(uuids)
        assert all(hosts == ["host-a"] for hosts in second.values())
        assert b_had <= set(second)
        assert statuses() == {fields.ClusterStatus.CREATE_COMPLETE: CLUSTERS}
        done = objects.Cluster.get_by_uuid(admin, next(iter(b_had)))
        assert done.api_address.startswith("https://") and len(done.node_addresses) == 2
    finally:
        for reconciler in reconcilers.values():
            reconciler.stop()


def test_casts_land_on_the_ring_owner_and_a_killed_conductor_s_creates_all_finish(
        db, monkeypatch):
    """100 creates cast through the RPC client over the in-process transport to two
    conductors: each lands on the cluster's owner on the ring. host-b is killed half-way
    (its RPC server gone, its queued work dropped, nothing released; it never reached Heat);
    host-a takes over what host-b owned or was sent, and all 100 reach CREATE_COMPLETE."""
    from magnum_lite.common import rpc
    from magnum_lite.conductor import rpcapi
    from magnum_lite.conf import CONF

    cloud = fake_heat.FakeHeatCloud().install(monkeypatch)
    fake_plugin.install(k8s_ubuntu_v1=k8s.K8sUbuntuV1)
    admin = ml_context.get_admin_context()
    admin.all_projects = True
    objects.Driver.ensure_defaults(admin)
    driver_row = objects.Driver.get_latest(admin, "k8s_ubuntu_v1")
    template = _public_k8s_template(admin)
    hosts = {"host-a", "host-b"}
    landed: dict[str, list[str]] = collections.defaultdict(list)
    managers, servers = {}, {}
    for host in sorted(hosts):
        manager = conductor_manager.ConductorManager(host, workers=4)
        real_create = manager.cluster_create

        def cluster_create(context, cluster_uuid, create_timeout, host=host,
                           real_create=real_create):
            landed[host].append(cluster_uuid)
            real_create(context, cluster_uuid=cluster_uuid, create_timeout=create_timeout)

        manager.cluster_create = cluster_create
        manager.start()
        server = messaging.get_rpc_server(
            rpc.get_transport(), messaging.Target(topic=CONF.conductor.topic, server=host),
            [manager], executor="threading", serializer=rpcapi.serializer())
        server.start()
        managers[host], servers[host] = manager, server
    # host-b never gets as far as Heat: its work hangs until it is killed (and then never
    # writes again, as a dead process).
    killed = threading.Event()
    monkeypatch.setattr(managers["host-b"], "_create",
                        lambda context, work, create_timeout: killed.wait())
    api = rpcapi.ConductorAPI()
    api._ring = hashring.ConductorRing(rpcapi.NO_OWNER, refresh_interval=0,
                                       list_hosts=lambda: set(hosts))
    clock = _Clock()
    wall0 = timeutils.utcnow(with_timezone=True)
    reconciler = conductor_reconciler.Reconciler(
        "host-a", manager=managers["host-a"],
        ring=hashring.ConductorRing("host-a", list_hosts=lambda: set(hosts),
                                    refresh_interval=0),
        clock=clock, utcnow=lambda: wall0 + datetime.timedelta(seconds=clock.now),
        workers=4)
    uuids, cast_to = [], {}
    try:
        for i in range(CLUSTERS):
            if i == CLUSTERS // 2:  # host-b is killed: it takes no message and drops its queue
                servers.pop("host-b").stop()
                monkeypatch.setattr(managers["host-b"], "_release_abandoned",
                                    lambda abandoned, done: done.set_result(None))
                managers["host-b"].stop(timeout=0)
                hosts.discard("host-b")
            project = f"project-{i % 5}"
            context = ml_context.RequestContext(project_id=project, user_id="u",
                                                roles=["member"], auth_token="token")
            cluster = objects.Cluster(
                context, uuid=uuidutils.generate_uuid(), project_id=project, user_id="u",
                name=f"c{i}", cluster_template_id=template.uuid, driver_id=driver_row.uuid,
                driver_version=driver_row.version, create_timeout=60,
                floating_ip_enabled=True, master_lb_enabled=False)
            cluster_operation.start_create(context, cluster, _default_nodegroups(project),
                                           {"create_timeout": 60})
            cast_to[cluster.uuid] = api.owner(cluster.uuid)
            api.cluster_create(context, cluster_uuid=cluster.uuid, create_timeout=60)
            uuids.append(cluster.uuid)

        # Every cast went to the ring's owner at the time, and only there.
        for host, got in landed.items():
            assert all(cast_to[uuid] == host for uuid in got), host
        assert {cast_to[u] for u in uuids[:CLUSTERS // 2]} == {"host-a", "host-b"}
        assert {cast_to[u] for u in uuids[CLUSTERS // 2:]} == {"host-a"}

        # host-a's reconciler takes over whatever host-b left (queued, or cast to it and
        # never taken) once the grace for unclaimed work passed, and then follows Heat.
        clock.now += conductor_reconciler.UNCLAIMED_GRACE + 60
        for _ in range(50):
            reconciler.run_once()
            reconciler.wait(WAIT)
            if not helpers.driven():
                break
            threading.Event().wait(0.2)
        helpers.settle(4 * WAIT)
        for _ in range(4):
            cloud.complete_all()
            clock.now += 5
            reconciler.run_once()
            reconciler.wait(WAIT)
        statuses = collections.Counter(
            objects.Cluster.get_by_uuid(admin, u).status for u in uuids)
        assert statuses == {fields.ClusterStatus.CREATE_COMPLETE: CLUSTERS}
        # Each of host-b's clusters (claimed by it, queued there, or cast and never taken)
        # was taken over by host-a.
        of_b = [u for u in uuids if cast_to[u] == "host-b"]
        assert of_b and all(helpers.operation_of(admin, u).owner == "host-a" for u in of_b)
        assert len(cloud.live_stacks()) == 2 * CLUSTERS  # no cluster was created twice
    finally:
        killed.set()
        reconciler.stop()
        for server in servers.values():
            server.stop()
        for manager in managers.values():
            manager.stop(timeout=WAIT)
        driver_factory.set_extension_manager(None)
