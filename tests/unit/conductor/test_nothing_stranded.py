"""Nothing stranded in the cloud: the real k8s_ubuntu_v1 driver, Heat faked at the client.

A create whose answer Heat lost (a client-side timeout, the stack made anyway), or whose
conductor stopped between Heat's answer and its record, leaves a stack whose id the cluster
does not hold. It is found by its name: followed when the create goes on, removed by the
cluster's delete, which always asks the driver once the cloud was asked for anything. A
delete asked again drives the delete again.
"""

from __future__ import annotations

import threading

from keystoneauth1 import exceptions as ks_exceptions
from oslo_utils import uuidutils
import pytest

from magnum_lite import objects
from magnum_lite.common import context as ml_context
from magnum_lite.common import driver_factory
from magnum_lite.conductor import manager as conductor_manager
from magnum_lite.drivers.heat import stacks
from magnum_lite.drivers.k8s_ubuntu_v1 import driver as k8s
from magnum_lite.objects import cluster_operation, fields
from tests.fakes import heat as fake_heat
from tests.unit.conductor.helpers import WAIT, operation_of, settle, takeover_round, wait_for
from tests.unit.conductor.test_reconciler import FakeClock
from tests.unit.conductor.test_two_conductors_with_heat import (
    _default_nodegroups,
    _public_k8s_template,
)
from tests.unit.drivers import fake_plugin

Status = fields.ClusterStatus
PROJECT = "project-0"


@pytest.fixture
def heat(db, monkeypatch):
    cloud = fake_heat.FakeHeatCloud().install(monkeypatch)
    fake_plugin.install(k8s_ubuntu_v1=k8s.K8sUbuntuV1)
    monkeypatch.setattr(stacks, "CREATE_RETRY_WAIT", 0)
    yield cloud
    driver_factory.set_extension_manager(None)


@pytest.fixture
def context():
    return ml_context.RequestContext(project_id=PROJECT, user_id="u", roles=["member"],
                                     auth_token="token")


@pytest.fixture
def new_cluster(heat, context):
    """A cluster as the API starts its create: rows, record, event (not cast yet)."""
    admin = ml_context.get_admin_context()
    objects.Driver.ensure_defaults(admin)
    driver_row = objects.Driver.get_latest(admin, "k8s_ubuntu_v1")
    template = _public_k8s_template(admin)

    def make() -> objects.Cluster:
        cluster = objects.Cluster(
            context, uuid=uuidutils.generate_uuid(), project_id=PROJECT, user_id="u",
            name="c1", cluster_template_id=template.uuid, driver_id=driver_row.uuid,
            driver_version=driver_row.version, create_timeout=60, floating_ip_enabled=True,
            master_lb_enabled=False)
        cluster_operation.start_create(context, cluster, _default_nodegroups(PROJECT),
                                       {"create_timeout": 60})
        return cluster

    return make


@pytest.fixture
def manager():
    manager = conductor_manager.ConductorManager("host-a", workers=2)
    manager.start()
    yield manager
    manager.stop(timeout=WAIT)


def _cluster(context, uuid):
    return objects.Cluster.get_by_uuid(context, uuid)


def _delete(manager, context, uuid):
    """DELETE as the API does it: the delete's record, then the cast."""
    cluster_operation.start(context, _cluster(context, uuid), "delete", "cluster.delete")
    manager.cluster_delete(context, cluster_uuid=uuid)
    settle()


def _deletes(heat):
    return [target for method, target, _extra in heat.calls if method == "stacks.delete"]


def test_a_create_whose_answer_heat_lost_follows_the_stack_heat_made(
        heat, context, new_cluster, manager):
    cluster = new_cluster()
    heat.lose_answers("stacks.create")
    manager.cluster_create(context, cluster_uuid=cluster.uuid, create_timeout=60)
    settle()
    [stack] = heat.live_stacks()
    after = _cluster(context, cluster.uuid)
    assert (after.status, after.stack_id) == (Status.CREATE_IN_PROGRESS, stack.id)
    assert operation_of(context, cluster.uuid).step == "following"


def test_a_create_heat_never_answered_fails_and_its_delete_removes_the_stack(
        heat, context, new_cluster, manager):
    cluster = new_cluster()
    heat.lose_answers("stacks.create", stacks.CREATE_ATTEMPTS)
    for _ in range(stacks.CREATE_ATTEMPTS - 1):
        heat.inject("stacks.get", ks_exceptions.ConnectTimeout("read timed out"))
    manager.cluster_create(context, cluster_uuid=cluster.uuid, create_timeout=60)
    settle()
    failed = _cluster(context, cluster.uuid)
    assert failed.status == Status.CREATE_FAILED
    assert failed.stack_id is None and "cannot reach Heat" in failed.status_reason
    [stack] = heat.live_stacks()  # made by Heat all the same: the cluster holds no id of it
    _delete(manager, context, cluster.uuid)
    assert _deletes(heat) == [stack.id]  # found by its name
    assert _cluster(context, cluster.uuid).status == Status.DELETE_IN_PROGRESS


def test_a_create_cut_off_between_heat_s_answer_and_its_record_is_taken_over(
        heat, context, new_cluster, monkeypatch):
    # host-a's create reaches Heat, then the process stops before it records the stack:
    # its work never writes again. Started again, it takes the create over (the grace
    # passed, no work of its own for it) and finds the stack Heat made by its name.
    cluster = new_cluster()
    stopped = threading.Event()
    cut_off = conductor_manager.ConductorManager("host-a", workers=1)
    monkeypatch.setattr(cut_off, "_record", lambda context, work, state: stopped.wait())
    cut_off.start()
    cut_off.cluster_create(context, cluster_uuid=cluster.uuid, create_timeout=60)
    wait_for(lambda: heat.live_stacks(), what="the cluster stack")
    assert operation_of(context, cluster.uuid).step == "cloud_requested"
    try:
        takeover_round("host-a", {"host-a"}, FakeClock(), workers=1)  # started again
    finally:
        stopped.set()
        cut_off.stop(timeout=WAIT)
    [stack] = heat.live_stacks()
    assert _cluster(context, cluster.uuid).stack_id == stack.id
    operation = operation_of(context, cluster.uuid)
    assert (operation.owner, operation.step, operation.outcome) == (
        "host-a", "following", None)


def test_a_delete_asked_again_drives_a_stuck_delete_again(heat, context, new_cluster,
                                                          manager):
    cluster = new_cluster()
    manager.cluster_create(context, cluster_uuid=cluster.uuid, create_timeout=60)
    settle()
    [stack] = heat.live_stacks()
    heat.complete_all()
    _delete(manager, context, cluster.uuid)
    assert heat.stack(stack.id).status == "DELETE_IN_PROGRESS"  # and Heat never ends it
    operation = operation_of(context, cluster.uuid)
    operation.update(owner="host-gone")  # whoever drove it first
    manager.cluster_delete(context, cluster_uuid=cluster.uuid)  # the API's second DELETE
    wait_for(lambda: len(_deletes(heat)) == 2, what="the delete sent again")
    settle()
    assert _deletes(heat) == [stack.id, stack.id]
    again = operation_of(context, cluster.uuid)
    assert (again.uuid, again.owner, again.step) == (operation.uuid, "host-a", "following")
