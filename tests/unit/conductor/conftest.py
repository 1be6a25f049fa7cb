"""Fixtures of the conductor tests: the in-process RPC transport and a cluster to work on."""

from collections.abc import Callable, Iterator
from typing import Any

from oslo_utils import uuidutils
import pytest

from magnum_lite import objects
from magnum_lite.common import context as ml_context
from magnum_lite.common import driver_factory, rpc
from magnum_lite.conductor import manager as conductor_manager
from magnum_lite.objects import fields
from tests.unit.conductor import helpers
from tests.unit.drivers import fake_plugin

PROJECT = "project-a"
USER = "user-a"


@pytest.fixture(autouse=True)
def fake_transport(config) -> Iterator[None]:
    """Every test starts with no transport (the fake one is made on demand) and no plugins."""
    rpc.cleanup()
    driver_factory.set_extension_manager(None)
    yield
    rpc.cleanup()
    driver_factory.set_extension_manager(None)


@pytest.fixture
def context() -> ml_context.RequestContext:
    return ml_context.RequestContext(project_id=PROJECT, user_id=USER, roles=["member"],
                                     request_id="req-" + uuidutils.generate_uuid())


@pytest.fixture
def template(db, context) -> objects.ClusterTemplate:
    """A Kubernetes-on-VM template with no distro: no plugin provides it."""
    template = objects.ClusterTemplate(
        context, project_id=PROJECT, user_id=USER, name="k8s", image_id="ubuntu-image",
        coe="kubernetes", server_type="vm", cluster_distro=None)
    template.create()
    return template


#: The Kubernetes versions of `template` (labelled by the upgrade tests) and of `target`.
OLD_KUBE, NEW_KUBE = "v1.30.4", "v1.31.1"


@pytest.fixture
def target(db, context, template) -> objects.ClusterTemplate:
    """The template an upgrade moves to: the next Kubernetes minor, another image."""
    new = objects.ClusterTemplate(
        context, project_id=template.project_id, user_id=template.user_id, name="k8s-new",
        image_id="ubuntu-image-2", coe="kubernetes", server_type="vm", cluster_distro="ubuntu",
        labels={"kube_tag": NEW_KUBE})
    new.create()
    return new


@pytest.fixture
def make_cluster(db, context, template) -> Callable[..., objects.Cluster]:
    """Make a cluster of `template` (CREATE_IN_PROGRESS unless told) with its nodegroups."""

    def make(status: str = fields.ClusterStatus.CREATE_IN_PROGRESS, kind: str | None = None,
             operation: bool = True, **values: Any) -> objects.Cluster:
        """With the operation record the API starts (of `kind`, or the status's) when
        `status` is one in progress, unless `operation` is False."""
        cluster = objects.Cluster(
            context, uuid=uuidutils.generate_uuid(), project_id=PROJECT, user_id=USER,
            name="c1", cluster_template_id=template.uuid, status=status, status_reason=None,
            version=1, **values)
        cluster.create_with_nodegroups([
            {"name": "default-master", "project_id": PROJECT, "role": "master",
             "node_count": 1, "is_default": True},
            {"name": "default-worker", "project_id": PROJECT, "role": "worker",
             "node_count": 2, "is_default": True},
        ], context)
        if operation and status in fields.ClusterStatus.IN_PROGRESS:
            helpers.in_flight(context, cluster, kind)
        return cluster

    return make


@pytest.fixture
def manager() -> Iterator[conductor_manager.ConductorManager]:
    """A started conductor manager (its pool runs the work the endpoints queue)."""
    manager = conductor_manager.ConductorManager("test-host", workers=4)
    manager.start()
    yield manager
    manager.stop(timeout=10)


@pytest.fixture
def fake_driver(template) -> Iterator[type[fake_plugin.FakeDriver]]:
    """The fake driver plugin installed, building the (ubuntu) template of `template`."""
    template.cluster_distro = "ubuntu"
    template.save()
    fake_plugin.FakeDriver.reset()
    fake_plugin.install(fake=fake_plugin.FakeDriver)
    yield fake_plugin.FakeDriver
    fake_plugin.FakeDriver.reset()
