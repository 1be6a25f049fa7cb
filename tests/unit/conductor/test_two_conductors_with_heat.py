"""Two conductors, 100 clusters, the real k8s_ubuntu_v1 driver, Heat faked at the client.

Every cluster goes through the whole create the way it does in a cloud: the conductor's
manager creates the cluster stack, the reconcilers see it complete, create the worker stacks,
see those complete and record CREATE_COMPLETE. Each cluster must be checked by exactly one
conductor per round; when one conductor stops, the other finishes its clusters.
"""

from __future__ import annotations

import collections
import threading

from oslo_utils import uuidutils

from magnum_lite import objects
from magnum_lite.common import context as ml_context
from magnum_lite.conductor import hashring
from magnum_lite.conductor import manager as conductor_manager
from magnum_lite.conductor import reconciler as conductor_reconciler
from magnum_lite.drivers import loader
from magnum_lite.drivers.k8s_ubuntu_v1 import driver as k8s
from magnum_lite.objects import cluster_operation, fields
from tests.fakes import heat as fake_heat
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
        loader.set_extension_manager(None)


def _run(cloud, monkeypatch) -> None:
    admin = ml_context.get_admin_context()
    for host in ("host-a", "host-b"):
        objects.MagnumService.heartbeat(admin, host, BINARY)
    objects.Driver.ensure_defaults(admin)
    driver_row = objects.Driver.get_latest(admin, "k8s_ubuntu_v1")
    template = objects.ClusterTemplate(
        admin, project_id="p0", user_id="u", name="k8s", image_id="ubuntu-22.04",
        coe="kubernetes", server_type="vm", cluster_distro="ubuntu",
        external_network_id="public", flavor_id="m1.small", master_flavor_id="m1.medium",
        network_driver="flannel", public=True)
    template.create()

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
            cluster_operation.start_create(context, cluster, [
                {"name": "default-master", "project_id": project, "role": "master",
                 "node_count": 1, "is_default": True, "image_id": "ubuntu-22.04",
                 "status": fields.ClusterStatus.CREATE_IN_PROGRESS},
                {"name": "default-worker", "project_id": project, "role": "worker",
                 "node_count": 2, "is_default": True, "image_id": "ubuntu-22.04",
                 "status": fields.ClusterStatus.CREATE_IN_PROGRESS}])
            manager.cluster_create(context, cluster_uuid=cluster.uuid, create_timeout=60)
            uuids.append(cluster.uuid)
        settle(4 * WAIT)  # every create handed to Heat (its record at step following)
    finally:
        manager.stop(timeout=WAIT)
    assert len(cloud.live_stacks()) == CLUSTERS  # one cluster stack each, so far

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
