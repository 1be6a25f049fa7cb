"""Fixtures of the Heat driver tests: the fake Heat, a context, a cluster and its groups."""

from __future__ import annotations

import types
from typing import Any
import uuid

import pytest

from magnum_lite.common import clients
from magnum_lite.common import context as ml_context
from magnum_lite.objects import cluster as cluster_obj
from magnum_lite.objects import cluster_template as template_obj
from magnum_lite.objects import nodegroup as nodegroup_obj
from magnum_lite_sandbox.cloud_api import server
from magnum_lite_sandbox.cloud_api.store import Store
from tests.fakes.heat import FakeHeatCloud
from tests.unit.drivers.heat import stand_in

PROJECT = "5e6f7a8b9c0d4e1f8a2b3c4d5e6f7a8b"


def _blank(obj_class: Any, **values: Any) -> types.SimpleNamespace:
    """A plain object with every field of the versioned object (None unless given)."""
    fields = {name: None for name in obj_class.fields}
    unknown = set(values) - set(fields)
    assert not unknown, f"not fields of {obj_class.__name__}: {unknown}"
    return types.SimpleNamespace(**{**fields, **values})


def make_template(**values: Any) -> types.SimpleNamespace:
    defaults = dict(uuid=str(uuid.uuid4()), name="k8s", project_id=PROJECT,
                    image_id="ubuntu-22.04", flavor_id="m1.medium",
                    master_flavor_id="m1.large", keypair_id="default",
                    external_network_id="public", dns_nameserver="8.8.8.8",
                    network_driver="flannel", docker_volume_size=None,
                    cluster_distro="ubuntu", coe="kubernetes", server_type="vm",
                    labels={}, floating_ip_enabled=True, master_lb_enabled=False)
    return _blank(template_obj.ClusterTemplate, **{**defaults, **values})


def make_cluster(**values: Any) -> types.SimpleNamespace:
    defaults = dict(uuid=str(uuid.uuid4()), name="demo", project_id=PROJECT,
                    user_id="u1", keypair="default", labels={}, create_timeout=60,
                    master_count=1, node_count=2, floating_ip_enabled=True,
                    master_lb_enabled=False, status="CREATE_IN_PROGRESS", version=0)
    return _blank(cluster_obj.Cluster, **{**defaults, **values})


def make_nodegroup(cluster: Any, name: str, role: str, node_count: int,
                   **values: Any) -> types.SimpleNamespace:
    defaults = dict(uuid=str(uuid.uuid4()), name=name, cluster_id=cluster.uuid,
                    project_id=cluster.project_id, role=role, node_count=node_count,
                    labels={}, node_labels={}, node_taints=[], status="CREATE_IN_PROGRESS")
    return _blank(nodegroup_obj.NodeGroup, **{**defaults, **values})


@pytest.fixture
def heat(monkeypatch) -> FakeHeatCloud:
    return FakeHeatCloud().install(monkeypatch)


@pytest.fixture
def context() -> ml_context.RequestContext:
    return ml_context.RequestContext(project_id=PROJECT, user_id="u1", roles=["member"],
                                     overwrite=False)


@pytest.fixture(scope="module")
def served_stand_ins():
    """The sandbox's Nova and Glance stand-ins, one server each for the module."""
    apps = {stype: stand_in.Swappable() for stype in stand_in.SERVICES}
    srv = server.CloudApiServer(apps, {stype: "http://127.0.0.1:0"
                                       for stype in stand_in.SERVICES})
    srv.start()
    yield srv, apps
    srv.stop()


@pytest.fixture
def nova(config, served_stand_ins, tmp_path, monkeypatch) -> stand_in.Nova:
    """Fresh stand-ins the driver reaches: as the cluster's member (acting auth), or as an
    admin (the service credentials)."""
    srv, apps = served_stand_ins
    built = server.build_apps(Store(state_dir=str(tmp_path)), None)
    for stype, app in apps.items():
        app.app = built[stype]
    found = stand_in.Nova(srv, tmp_path)
    config.set_override("endpoint_override", found.url, group="nova")
    config.set_override("endpoint_override", found.glance, group="glance")
    monkeypatch.setattr(clients, "get_acting_auth", lambda context: stand_in.As("member"))
    monkeypatch.setattr(clients, "get_service_auth", lambda: stand_in.As("admin,service"))
    clients.reset_sessions()
    yield found
    clients.reset_sessions()
