"""The dry-run endpoints (RPC 1.5: upgrade_dry_run, cluster_create_dry_run,
cluster_resize_dry_run) on a real database with the fake driver plugin: what they answer,
and that they write nothing, in the database or through the driver."""

from __future__ import annotations

import oslo_messaging as messaging
from oslo_utils import uuidutils
import pytest

from magnum_lite import objects
from magnum_lite.common import exception, rpc
from magnum_lite.conductor import dry_run, hashring, rpcapi
from magnum_lite.conductor import manager as conductor_manager
from magnum_lite.conf import CONF
from magnum_lite.objects import fields
from tests.unit.api.conftest import db_snapshot
from tests.unit.conductor.conftest import NEW_KUBE, OLD_KUBE
from tests.unit.drivers import fake_plugin

OLD, NEW = OLD_KUBE, NEW_KUBE
Status = fields.ClusterStatus


@pytest.fixture
def endpoints() -> conductor_manager.ConductorManager:
    """The manager's endpoints, unstarted: a call is answered in the caller's thread."""
    return conductor_manager.ConductorManager("dry-run-host")


@pytest.fixture
def running(fake_driver, make_cluster, template):
    """A cluster of 1 master and 2 workers running OLD."""
    template.labels = {"kube_tag": OLD}
    template.save()
    return make_cluster(status=Status.CREATE_COMPLETE, labels={"kube_tag": OLD})


def _params(cluster, target, **changes):
    return {"cluster_template_uuid": target.uuid, "driver_id": None, "driver_version": None,
            "max_batch_size": 2, "nodegroup_uuid": None,
            "from_cluster_template_uuid": cluster.cluster_template_id, "from_driver_id": None,
            "from_driver_version": None, **changes}


def _expected(call):
    """The error an endpoint marks expected, as the RPC server hands it to the caller."""
    with pytest.raises(messaging.ExpectedException) as raised:
        call()
    return raised.value.exc_info[1]


# -- upgrade -----------------------------------------------------------------------------------

def test_an_upgrade_s_dry_run_answers_the_plan_and_writes_nothing(endpoints, context, db,
                                                                  running, target):
    groups = {ng.name: ng for ng in objects.NodeGroup.list_for_clusters(context,
                                                                         [running.uuid])}
    before = db_snapshot(db)
    plan = endpoints.upgrade_dry_run(context, running.uuid, _params(running, target))
    assert db_snapshot(db) == before
    master, worker = groups["default-master"], groups["default-worker"]
    assert plan == {
        "from_version": OLD, "to_version": NEW,
        "batches": [
            {"nodegroup": master.uuid, "nodegroup_name": "default-master", "role": "master",
             "nodes": [{"name": "default-master-0", "from": OLD, "to": NEW}]},
            {"nodegroup": worker.uuid, "nodegroup_name": "default-worker", "role": "worker",
             "nodes": [{"name": "default-worker-0", "from": OLD, "to": NEW},
                       {"name": "default-worker-1", "from": OLD, "to": NEW}]}],
        "replaces": [{"stack": "fake-default-master", "servers": ["default-master-0"]},
                     {"stack": "fake-default-worker",
                      "servers": ["default-worker-0", "default-worker-1"]}]}
    # The driver planned and previewed; it moved nothing.
    assert [name for name, _ in fake_plugin.FakeDriver.calls] == ["upgrade_dry_run"]


def test_a_node_s_from_is_the_version_its_nodegroup_was_upgraded_to(endpoints, context,
                                                                    running, target):
    worker = next(ng for ng in objects.NodeGroup.list_for_clusters(context, [running.uuid])
                  if ng.role == "worker")
    worker.version = "v1.30.9"
    worker.save()
    plan = endpoints.upgrade_dry_run(context, running.uuid,
                                     _params(running, target, nodegroup_uuid=worker.uuid,
                                             max_batch_size=5))
    assert [[(n["name"], n["from"], n["to"]) for n in b["nodes"]] for b in plan["batches"]] \
        == [[("default-worker-0", "v1.30.9", NEW), ("default-worker-1", "v1.30.9", NEW)]]


class _PlansOnly(fake_plugin.FakeDriver):
    def upgrade_dry_run(self, context, cluster, nodegroups, batches):
        raise exception.NotSupported(operation="previewing an upgrade")


def test_a_driver_that_cannot_say_what_it_replaces_still_shows_the_plan(endpoints, context,
                                                                        running, target):
    fake_plugin.install(fake=_PlansOnly)
    plan = endpoints.upgrade_dry_run(context, running.uuid, _params(running, target))
    assert plan["replaces"] is None and len(plan["batches"]) == 2


def test_an_upgrade_s_dry_run_to_a_template_gone_is_an_expected_404(endpoints, context,
                                                                   running, target):
    err = _expected(lambda: endpoints.upgrade_dry_run(
        context, running.uuid,
        _params(running, target, cluster_template_uuid=uuidutils.generate_uuid())))
    assert isinstance(err, exception.ClusterTemplateNotFound)


def test_a_dry_run_without_an_installed_plugin_is_an_expected_400(endpoints, context, db,
                                                                 make_cluster, target):
    cluster = make_cluster(status=Status.CREATE_COMPLETE)  # no plugin builds its template
    err = _expected(lambda: endpoints.upgrade_dry_run(context, cluster.uuid,
                                                      _params(cluster, target)))
    assert isinstance(err, exception.NoDriverInstalled) and err.code == 400


def test_the_driver_s_cloud_error_is_expected(endpoints, context, running, target):
    fake_plugin.FakeDriver.fail_with = exception.CloudError(service="Heat",
                                                            reason="the stack is gone")
    err = _expected(lambda: endpoints.upgrade_dry_run(context, running.uuid,
                                                      _params(running, target)))
    assert isinstance(err, exception.CloudError) and "the stack is gone" in str(err)


# -- create ------------------------------------------------------------------------------------

def _create_rows(template, **cluster):
    fields_ = {"uuid": uuidutils.generate_uuid(), "name": "new", "project_id": "project-a",
               "user_id": "user-a", "cluster_template_id": template.uuid,
               "status": Status.CREATE_IN_PROGRESS, "version": 1, "labels": {},
               "create_timeout": 60, **cluster}
    common = {"project_id": "project-a", "image_id": template.image_id, "labels": {},
              "is_default": True, "status": Status.CREATE_IN_PROGRESS}
    nodegroups = [{**common, "name": "default-master", "role": "master", "node_count": 3,
                   "min_node_count": 1, "flavor_id": "m1.medium"},
                  {**common, "name": "default-worker", "role": "worker", "node_count": 5,
                   "min_node_count": 0, "flavor_id": "m1.small"}]
    return fields_, nodegroups


def test_a_create_s_dry_run_asks_the_driver_and_stores_nothing(endpoints, context, db,
                                                              fake_driver, template):
    cluster_fields, nodegroups = _create_rows(template)
    fake_plugin.FakeDriver.preview = {"new-stack": {"stack_name": "new-stack",
                                                    "parameters": {"user_data": "x"}}}
    before = db_snapshot(db)
    answer = endpoints.cluster_create_dry_run(context, cluster_fields, nodegroups)
    assert db_snapshot(db) == before  # no cluster, nodegroup, CA or trustee row
    assert answer == {"preview": {"new-stack": {"stack_name": "new-stack"}}}
    [(name, asked)] = fake_plugin.FakeDriver.calls
    assert name == "create_dry_run" and asked["cluster"] == cluster_fields["uuid"]
    assert asked["nodegroups"] == [("default-master", 3), ("default-worker", 5)]
    assert asked["ca_kinds"] == ["ca", "etcd", "front_proxy"]


def test_the_unsaved_cluster_reads_like_a_stored_one(context, db, template):
    cluster_fields, nodegroups = _create_rows(template)
    cluster, groups = dry_run.unsaved_cluster(context, cluster_fields, nodegroups)
    assert (cluster.master_count, cluster.node_count) == (3, 5)
    assert (cluster.stack_id, cluster.ca_cert_ref, cluster.join_token) == (None, None, None)
    assert (cluster.floating_ip_enabled, cluster.master_lb_enabled) == (True, False)
    assert all(ng.cluster_id == cluster.uuid and uuidutils.is_uuid_like(ng.uuid)
               for ng in groups)
    assert [(ng.stack_id, ng.node_addresses, ng.max_node_count) for ng in groups] == [
        (None, None, None)] * 2
    assert objects.Cluster.list(context) == []


def test_a_cluster_without_tls_is_previewed_without_cas(endpoints, context, fake_driver,
                                                        template):
    template.tls_disabled = True
    template.save()
    endpoints.cluster_create_dry_run(context, *_create_rows(template))
    assert fake_plugin.FakeDriver.calls[0][1]["ca_kinds"] is None


# -- resize ------------------------------------------------------------------------------------

def test_a_resize_s_dry_run_asks_the_driver_for_the_default_workers(endpoints, context, db,
                                                                   running):
    worker = next(ng for ng in objects.NodeGroup.list_for_clusters(context, [running.uuid])
                  if ng.role == "worker")
    fake_plugin.FakeDriver.preview = {"chunks_before": [2], "chunks_after": [4]}
    before = db_snapshot(db)
    answer = endpoints.cluster_resize_dry_run(context, running.uuid, None, 4, None)
    assert db_snapshot(db) == before
    assert answer == {"preview": {"chunks_before": [2], "chunks_after": [4]}}
    [(name, asked)] = fake_plugin.FakeDriver.calls
    assert (name, asked["nodegroup"], asked["node_count"], asked["nodes_to_remove"]) == (
        "update_dry_run", worker.uuid, 4, None)


def test_a_resize_s_dry_run_of_a_nodegroup_gone_is_an_expected_404(endpoints, context,
                                                                   running):
    err = _expected(lambda: endpoints.cluster_resize_dry_run(
        context, running.uuid, uuidutils.generate_uuid(), 4, ["n-1"]))
    assert isinstance(err, exception.NodeGroupNotFound)


# -- what a preview shows ----------------------------------------------------------------------

def test_a_preview_shows_names_types_numbers_and_never_what_renders_secrets():
    preview = {
        "c1": {"stack_name": "c1", "id": "None", "disable_rollback": True,
               "timeout_mins": 60, "parameters": {"user_data": "******"},
               "template": {"resources": {}}, "outputs": [{"output_value": "token"}],
               "resources": [
                   {"resource_name": "server", "resource_type": "OS::Nova::Server",
                    "properties": {"user_data": "#cloud-config\nca_key: PRIVATE"},
                    "metadata": {"k": "v"}, "physical_resource_id": ""},
                   [{"resource_name": "nodes", "resource_type": "OS::Heat::ResourceGroup"},
                    [{"resource_name": "0", "resource_type": "Magnum::Node"}]]]},
        "chunks_before": [1, 2], "user_data": "PRIVATE"}
    assert dry_run.public_view(preview) == {
        "c1": {"stack_name": "c1", "disable_rollback": True, "timeout_mins": 60,
               "resources": [
                   {"resource_name": "server", "resource_type": "OS::Nova::Server",
                    "physical_resource_id": ""},
                   [{"resource_name": "nodes", "resource_type": "OS::Heat::ResourceGroup"},
                    [{"resource_name": "0", "resource_type": "Magnum::Node"}]]]},
        "chunks_before": [1, 2]}


# -- over RPC ----------------------------------------------------------------------------------

def test_a_dry_run_is_a_call_answered_by_the_cluster_s_owner(context, template, running,
                                                              target):
    """The client's call reaches the owner on the ring over the in-process transport and
    waits for its answer; an expected refusal comes back as itself."""
    server = messaging.get_rpc_server(
        rpc.get_transport(), messaging.Target(topic=CONF.conductor.topic, server="owner"),
        [conductor_manager.ConductorManager("owner")], executor="threading",
        serializer=rpcapi.serializer())
    server.start()
    try:
        api = rpcapi.ConductorAPI()
        api._ring = hashring.ConductorRing(rpcapi.NO_OWNER, refresh_interval=0,
                                           list_hosts=lambda: {"owner"})
        plan = api.upgrade_dry_run(context, running.uuid, _params(running, target))
        assert (plan["from_version"], plan["to_version"]) == (OLD, NEW)
        with pytest.raises(exception.NodeGroupNotFound):
            api.cluster_resize_dry_run(context, running.uuid, uuidutils.generate_uuid(), 2)
        assert api.cluster_create_dry_run(context, *_create_rows(template)) == {
            "preview": {}}
    finally:
        server.stop()
        server.wait()


def test_conductors_pinned_below_1_5_refuse_a_dry_run(context):
    CONF.set_override("conductor", "1.4", group="upgrade_levels")
    try:
        api = rpcapi.ConductorAPI()
        with pytest.raises(rpcapi.ConductorTooOld) as raised:
            api.upgrade_dry_run(context, uuidutils.generate_uuid(), {})
        assert "1.5" in str(raised.value) and raised.value.code == 400
    finally:
        CONF.clear_override("conductor", group="upgrade_levels")
