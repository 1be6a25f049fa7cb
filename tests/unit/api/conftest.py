"""Fixtures of the API tests: the whole WSGI pipeline (noauth) over an empty SQLite database.

The conductor's RPC client is replaced by a recorder of casts and the cloud resource validator
by a fake that knows a few images, flavors, keypairs and networks.
"""

from __future__ import annotations

import dataclasses
import sys
import types as pytypes
from typing import Any

import pytest
import sqlalchemy as sa
import webtest

from magnum_lite.common import exception, policy

# The identities the tests act as (noauth mode reads them from the X-* headers).
PROJECT_A = "project-a"
PROJECT_B = "project-b"
LATEST = {"OpenStack-API-Version": "container-infra latest"}


def identity(project: str = PROJECT_A, roles: str = "member,reader",
             user: str = "user-1") -> dict:
    return {"X-Project-Id": project, "X-User-Id": user, "X-Roles": roles}


MEMBER = identity()
READER = identity(roles="reader")
ADMIN = identity(project="admin-project", roles="admin,member,reader", user="admin")
MEMBER_B = identity(project=PROJECT_B, user="user-b")


class CastRecorder:
    """Stands in for rpcapi.ConductorAPI: records every cast (and call), in order."""

    calls: list[tuple[str, dict]] = []
    fail = False

    def _record(self, method: str, context: Any, **kwargs: Any) -> None:
        if CastRecorder.fail:
            raise RuntimeError("message bus down")
        CastRecorder.calls.append((method, kwargs))

    def cluster_create(self, context: Any, cluster_uuid: str, create_timeout: int) -> None:
        self._record("cluster_create", context, cluster_uuid=cluster_uuid,
                     create_timeout=create_timeout)

    def cluster_update(self, context: Any, cluster_uuid: str, node_count: int,
                       rollback: bool = False) -> None:
        self._record("cluster_update", context, cluster_uuid=cluster_uuid,
                     node_count=node_count, rollback=rollback)

    def cluster_delete(self, context: Any, cluster_uuid: str) -> None:
        self._record("cluster_delete", context, cluster_uuid=cluster_uuid)

    # RPC 1.2: the certificate and credentials calls.
    #: Conductors pinned below 1.2 ([upgrade_levels] conductor = 1.1).
    pinned_to_1_1 = False

    def check_credentials_api(self, what: str) -> None:
        if CastRecorder.pinned_to_1_1:
            from magnum_lite.conductor import rpcapi

            raise rpcapi.ConductorTooOld(what=what, version="1.2", cap="1.1")

    def sign_certificate(self, context: Any, cluster_uuid: str, csr: str) -> str:
        """Recorded, then signed as the conductor signs (the same database, in process)."""
        from magnum_lite import objects
        from magnum_lite.common import context as ml_context
        from magnum_lite.conductor import credentials

        self.check_credentials_api("Signing a certificate")
        self._record("sign_certificate", context, cluster_uuid=cluster_uuid, csr=csr)
        admin = ml_context.get_admin_context()
        admin.all_projects = True
        cluster = objects.Cluster.get_by_uuid(admin, cluster_uuid)
        signer = ml_context.RequestContext(user_id=context.user_id, roles=context.roles,
                                           project_id=context.project_id, is_admin=True,
                                           all_projects=True)
        return credentials.sign(signer, cluster, csr)

    def rotate_ca_certificate(self, context: Any, cluster_uuid: str) -> None:
        self._record("rotate_ca_certificate", context, cluster_uuid=cluster_uuid)

    def rotate_credentials(self, context: Any, cluster_uuid: str, push: bool = True) -> None:
        self._record("rotate_credentials", context, cluster_uuid=cluster_uuid, push=push)

    # RPC 1.4: the upgrade cast.
    #: Conductors pinned below 1.4 ([upgrade_levels] conductor = 1.3).
    pinned_to_1_3 = False

    def check_upgrade_api(self) -> None:
        if CastRecorder.pinned_to_1_3:
            from magnum_lite.conductor import rpcapi

            raise rpcapi.ConductorTooOld(what="Upgrading a cluster", version="1.4", cap="1.3")

    def cluster_upgrade(self, context: Any, cluster_uuid: str) -> None:
        self._record("cluster_upgrade", context, cluster_uuid=cluster_uuid)

    # RPC 1.5: the dry runs (calls).
    #: Conductors pinned below 1.5 ([upgrade_levels] conductor = 1.4).
    pinned_to_1_4 = False

    def check_dry_run_api(self) -> None:
        if CastRecorder.pinned_to_1_4:
            from magnum_lite.conductor import rpcapi

            raise rpcapi.ConductorTooOld(what="A dry run", version="1.5", cap="1.4")

    def _answer(self, method: str, context: Any, **kwargs: Any) -> Any:
        """Recorded, then answered as a conductor answers (its endpoint, in process, on the
        same database and the installed plugins; an error it expects reaches the caller as
        itself, as the RPC server hands it back)."""
        import oslo_messaging as messaging

        from magnum_lite.conductor import manager

        self._record(method, context, **kwargs)
        try:
            return getattr(manager.ConductorManager("api-tests"), method)(context, **kwargs)
        except messaging.ExpectedException as err:
            raise err.exc_info[1] from None

    def upgrade_dry_run(self, context: Any, cluster_uuid: str, params: dict) -> dict:
        self.check_dry_run_api()
        return self._answer("upgrade_dry_run", context, cluster_uuid=cluster_uuid,
                            params=params)

    def cluster_create_dry_run(self, context: Any, cluster_fields: dict,
                               nodegroups: list[dict]) -> dict:
        self.check_dry_run_api()
        return self._answer("cluster_create_dry_run", context,
                            cluster_fields=cluster_fields, nodegroups=nodegroups)

    def cluster_resize_dry_run(self, context: Any, cluster_uuid: str,
                               nodegroup_uuid: str | None, node_count: int,
                               nodes_to_remove: list[str] | None = None) -> dict:
        self.check_dry_run_api()
        return self._answer("cluster_resize_dry_run", context, cluster_uuid=cluster_uuid,
                            nodegroup_uuid=nodegroup_uuid, node_count=node_count,
                            nodes_to_remove=nodes_to_remove)


    # RPC 1.6: the repair's plan (a call) and its cast.
    #: Conductors pinned below 1.6 ([upgrade_levels] conductor = 1.5).
    pinned_to_1_5 = False

    def check_repair_api(self) -> None:
        if CastRecorder.pinned_to_1_5:
            from magnum_lite.conductor import rpcapi

            raise rpcapi.ConductorTooOld(what="Repairing a cluster", version="1.6", cap="1.5")

    def repair_plan(self, context: Any, cluster_uuid: str, nodes: list[str]) -> list[dict]:
        self.check_repair_api()
        return self._answer("repair_plan", context, cluster_uuid=cluster_uuid, nodes=nodes)

    def cluster_repair(self, context: Any, cluster_uuid: str) -> None:
        self._record("cluster_repair", context, cluster_uuid=cluster_uuid)


@dataclasses.dataclass(frozen=True)
class FakeImage:
    id: str
    os_distro: str | None


class FakeValidator:
    """Knows the images, flavors, keypairs and networks below; refuses anything else with the
    exceptions the real validator raises (Magnum's)."""

    images = {"fedora-coreos-40": "fedora-coreos", "ubuntu-22.04": "ubuntu",
              "plain-image": None}
    flavors = {"m1.small", "m1.medium", "m1.large"}
    keypairs = {"mykey", "otherkey"}
    networks = {"public", "private"}
    subnets = {"private-subnet"}

    @staticmethod
    def _refuse(error: type[exception.MagnumLiteException], field: str,
                **kwargs: Any) -> exception.MagnumLiteException:
        from magnum_lite.common import cloud_validation

        return cloud_validation.not_found(error, field, **kwargs)

    def image(self, context: Any, image_ident: str) -> FakeImage:
        if image_ident not in self.images:
            raise self._refuse(exception.ImageNotFound, "image_id", image_id=image_ident)
        return FakeImage(id=image_ident, os_distro=self.images[image_ident])

    def flavor(self, context: Any, flavor_ident: str, field: str) -> None:
        if flavor_ident not in self.flavors:
            raise self._refuse(exception.FlavorNotFound, field, flavor=flavor_ident)

    def keypair(self, context: Any, name: str, field: str) -> None:
        if name not in self.keypairs:
            raise self._refuse(exception.KeyPairNotFound, field, keypair=name)

    def network(self, context: Any, ident: str, field: str, *, external: bool = False) -> None:
        if ident not in self.networks:
            error = exception.ExternalNetworkNotFound if external else \
                exception.FixedNetworkNotFound
            raise self._refuse(error, field, network=ident)

    def subnet(self, context: Any, ident: str, field: str) -> None:
        if ident not in self.subnets:
            raise self._refuse(exception.FixedSubnetNotFound, field, subnet=ident)


# Every (server_type, os, coe) the API tests build templates for. The API tests are about the
# API; which plugins exist is the fixture's choice (issue 6 brings the real Swarm and Mesos).
TEST_TRIPLES = [(server_type, distro, coe) for server_type in ("vm", "bm")
                for distro in ("fedora-coreos", "ubuntu")
                for coe in ("kubernetes", "swarm-mode", "mesos")]


@pytest.fixture(autouse=True)
def plugins():
    """A driver plugin for every triple the tests use (a test module may install others)."""
    from magnum_lite.common import driver_factory
    from tests.unit.drivers import fake_plugin

    class EveryCoeDriver(fake_plugin.FakeDriver):
        provides = TEST_TRIPLES

    fake_plugin.install(every_coe=EveryCoeDriver)
    yield
    driver_factory.set_extension_manager(None)


@pytest.fixture
def casts(monkeypatch):
    """The casts to the conductor, recorded instead of sent."""
    try:
        from magnum_lite.conductor import rpcapi
    except ImportError:  # the RPC client is not there yet: a stand-in module for the tests
        rpcapi = pytypes.ModuleType("magnum_lite.conductor.rpcapi")
        rpcapi.ConductorAPI = CastRecorder
        monkeypatch.setitem(sys.modules, "magnum_lite.conductor.rpcapi", rpcapi)
        import magnum_lite.conductor

        monkeypatch.setattr(magnum_lite.conductor, "rpcapi", rpcapi, raising=False)
    monkeypatch.setattr(rpcapi, "ConductorAPI", CastRecorder)
    monkeypatch.setattr(CastRecorder, "calls", [])
    monkeypatch.setattr(CastRecorder, "fail", False)
    monkeypatch.setattr(CastRecorder, "pinned_to_1_1", False)
    monkeypatch.setattr(CastRecorder, "pinned_to_1_3", False)
    monkeypatch.setattr(CastRecorder, "pinned_to_1_4", False)
    return CastRecorder.calls


@pytest.fixture
def validator(monkeypatch):
    from magnum_lite.common import cloud_validation

    fake = FakeValidator()
    monkeypatch.setattr(cloud_validation, "get_validator", lambda: fake)
    return fake


class Client:
    """webtest with the identity and microversion headers of one caller."""

    def __init__(self, app: webtest.TestApp, headers: dict) -> None:
        self.app = app
        self.headers = headers

    def _headers(self, headers: dict | None) -> dict:
        return {**LATEST, **self.headers, **(headers or {})}

    def get(self, url: str, status: int | str = "*", headers: dict | None = None):
        return self.app.get(url, headers=self._headers(headers), status=status)

    def post(self, url: str, body: Any, status: int | str = "*", headers: dict | None = None):
        return self.app.post_json(url, body, headers=self._headers(headers), status=status)

    def patch(self, url: str, body: Any, status: int | str = "*",
              headers: dict | None = None):
        return self.app.patch_json(url, body, headers=self._headers(headers), status=status)

    def delete(self, url: str, status: int | str = "*", headers: dict | None = None):
        return self.app.delete(url, headers=self._headers(headers), status=status)


@pytest.fixture
def app(db, config, casts, validator):
    """The WSGI application in noauth mode, as webtest.TestApp."""
    from magnum_lite.api import app as api_app

    config.set_override("auth_strategy", "noauth", group="api")
    policy.reset()
    test_app = webtest.TestApp(api_app.load_app(config))
    yield test_app
    policy.reset()


@pytest.fixture
def member(app):
    return Client(app, MEMBER)


@pytest.fixture
def reader(app):
    return Client(app, READER)


@pytest.fixture
def admin(app):
    return Client(app, ADMIN)


@pytest.fixture
def member_b(app):
    return Client(app, MEMBER_B)


TEMPLATE = {"name": "k8s", "coe": "kubernetes", "image_id": "fedora-coreos-40",
            "flavor_id": "m1.small", "master_flavor_id": "m1.medium",
            "external_network_id": "public", "keypair_id": "mykey",
            "labels": {"kube_tag": "v1.30.1"}}


@pytest.fixture
def template(member):
    """A kubernetes template of project A."""
    return member.post("/v1/clustertemplates", TEMPLATE, status=201).json


def record_status(uuid: str, status: str, reason: str | None = None) -> None:
    """Set the cluster's status as the conductor would: through its operation in flight when
    the status is one of that operation's (a terminal one ends it); written directly
    otherwise (a cluster the tests put in a state by hand)."""
    from magnum_lite import objects
    from magnum_lite.common import context as ctx
    from magnum_lite.common import states
    from magnum_lite.objects import cluster_operation

    admin = ctx.get_admin_context()
    admin.all_projects = True
    operation = objects.ClusterOperation.current(admin, objects.Cluster.get_by_uuid(admin,
                                                                                     uuid))
    if operation is not None and states.may_record(operation.kind, status):
        cluster_operation.finish(admin, uuid, operation.kind, status, reason)
        return

    def mutate(c):
        c.status, c.status_reason = status, reason

    objects.Cluster.update_with_retry(admin, uuid, mutate)


@pytest.fixture
def cluster(member, template, casts):
    """A cluster of project A whose creation finished (CREATE_COMPLETE)."""

    uuid = member.post("/v1/clusters", {"name": "c1", "cluster_template_id": template["uuid"],
                                        "node_count": 2}, status=202).json["uuid"]
    record_status(uuid, "CREATE_COMPLETE")
    casts.clear()
    return member.get(f"/v1/clusters/{uuid}", status=200).json


def db_snapshot(engine) -> dict:
    """Every row of every table, to compare before and after a request."""
    from magnum_lite.db.sqlalchemy import models

    snapshot = {}
    with engine.connect() as connection:
        for table in models.Base.metadata.sorted_tables:
            rows = connection.execute(sa.select(table).order_by(*table.primary_key)).all()
            snapshot[table.name] = [tuple(row) for row in rows]
    return snapshot


def error_of(response) -> dict:
    """The single error entry of a Magnum error document."""
    body = response.json
    assert set(body) == {"errors"}, body
    assert len(body["errors"]) == 1, body
    entry = body["errors"][0]
    assert set(entry) >= {"request_id", "code", "status", "title", "detail", "links"}, entry
    assert entry["status"] == response.status_int
    assert entry["code"] == ("client" if response.status_int < 500 else "server")
    assert entry["request_id"] == response.headers["x-openstack-request-id"]
    assert entry["links"] == []
    assert "Traceback" not in entry["detail"]
    return entry
