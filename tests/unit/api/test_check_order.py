"""Issue 12: Magnum's check order on every update and action endpoint — the resource is
looked up (404, also for another project's) and the policy checked (403) before the body is
judged — and the wire values that differ from ours no more (mservices' binary, an unknown cluster
in a signing request; the CA rotation's answer is in test_certificates).

Every refusal leaves the database as it was and casts nothing.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from magnum_lite import objects
from magnum_lite.common import context as ctx
from tests.unit.api.conftest import db_snapshot, error_of

UNKNOWN_UUID = "8d5f4b1e-9c2a-4a55-b8a5-5a7f6d9e0c11"
NOPE = "no-such-thing"
BAD_PATCH = [{"op": "replace", "path": "/name", "value": "renamed"}]


@pytest.fixture
def world(member, member_b, reader, admin, cluster, db, casts) -> dict[str, Any]:
    """A cluster c1 (project A), a quota of project A and a driver, and every caller."""
    admin.post("/v1/quotas", {"project_id": "project-a", "resource": "Cluster",
                              "hard_limit": 5}, status=201)
    admin.post("/v1/drivers", {"name": "drv", "plugin_name": "every_coe"}, status=201)
    return {"member": member, "member_b": member_b, "reader": reader, "admin": admin,
            "cluster": cluster}


@dataclasses.dataclass(frozen=True)
class Call:
    id: str
    method: str
    url: str
    body: Any


def _calls(cluster_ident: str, nodegroup: str = "default-worker",
           template: str = "k8s") -> list[Call]:
    """Every update and action endpoint, each with a body it would refuse (400); keep the
    nodegroup call at index 4."""
    clusters = f"/v1/clusters/{cluster_ident}"
    return [
        Call("cluster-patch", "PATCH", clusters, BAD_PATCH),
        Call("cluster-patch-not-a-list", "PATCH", clusters, {"node_count": 3}),
        Call("cluster-resize", "POST", f"{clusters}/actions/resize", {"colour": "red"}),
        Call("nodegroup-create", "POST", f"{clusters}/nodegroups", {"colour": "red"}),
        Call("nodegroup-patch", "PATCH", f"{clusters}/nodegroups/{nodegroup}", BAD_PATCH),
        Call("template-patch", "PATCH", f"/v1/clustertemplates/{template}",
             {"name": "not a JSON patch"}),
        Call("cluster-upgrade", "POST", f"{clusters}/actions/upgrade", {"max_batch_size": 0}),
    ]


def _send(client: Any, call: Call, status: int) -> Any:
    method = {"PATCH": client.patch, "POST": client.post}[call.method]
    return method(call.url, call.body, status=status)


def _refused(world: dict, db: Any, casts: list, who: str, call: Call, status: int) -> dict:
    before = db_snapshot(db)
    error = error_of(_send(world[who], call, status))
    assert db_snapshot(db) == before
    assert casts == []
    return error


@pytest.mark.parametrize("call", _calls(NOPE, template=NOPE), ids=lambda c: c.id)
def test_an_unknown_resource_with_a_bad_body_is_a_404(world, db, casts, call):
    error = _refused(world, db, casts, "member", call, 404)
    assert NOPE in error["detail"] and "could not be found" in error["detail"]


@pytest.mark.parametrize("call", _calls("c1", nodegroup=NOPE)[4:5], ids=lambda c: c.id)
def test_an_unknown_nodegroup_with_a_bad_body_is_a_404(world, db, casts, call):
    error = _refused(world, db, casts, "member", call, 404)
    assert error["detail"] == f"Nodegroup {NOPE} could not be found."


@pytest.mark.parametrize("call", _calls("c1"), ids=lambda c: c.id)
def test_another_project_s_resource_with_a_bad_body_is_a_404(world, db, casts, call):
    error = _refused(world, db, casts, "member_b", call, 404)
    assert "could not be found" in error["detail"]


@pytest.mark.parametrize("call", _calls("c1"), ids=lambda c: c.id)
def test_a_policy_refusal_comes_before_the_body_s_errors(world, db, casts, call):
    """A reader may not write: 403, whatever the body."""
    error = _refused(world, db, casts, "reader", call, 403)
    assert "Policy doesn't allow" in error["detail"]


def test_quota_update_looks_the_quota_up_after_the_policy_before_the_body(world, db, casts):
    bad = Call("quota-patch", "PATCH", "/v1/quotas/project-nope/Cluster", {"hard_limit": "x"})
    error = _refused(world, db, casts, "admin", bad, 404)
    assert "project-nope" in error["detail"]
    mine = dataclasses.replace(bad, url="/v1/quotas/project-a/Cluster")
    _refused(world, db, casts, "member", mine, 403)
    # The quota exists and the caller may: now the body is judged.
    assert error_of(world["admin"].patch(mine.url, mine.body, status=400))["detail"].startswith(
        "hard_limit:")


def test_quota_delete_checks_the_policy_before_the_url(world, db, casts):
    before = db_snapshot(db)
    error_of(world["member"].delete("/v1/quotas/project-a/Nodes", status=403))
    assert db_snapshot(db) == before


@pytest.mark.parametrize("ident", ["nope", UNKNOWN_UUID])
def test_driver_update_of_an_unknown_driver_is_a_404_whatever_the_body(world, db, casts,
                                                                       ident):
    bad = Call("driver-patch", "PATCH", f"/v1/drivers/{ident}", {"not": "a patch"})
    before = db_snapshot(db)
    error_of(world["admin"].patch(bad.url, bad.body, status=404,
                                  headers={"OpenStack-API-Version": "container-infra 1.15"}))
    error_of(world["member"].patch("/v1/drivers/drv", bad.body, status=403,
                                   headers={"OpenStack-API-Version": "container-infra 1.15"}))
    assert db_snapshot(db) == before


# -- certificates --------------------------------------------------------------------------

def test_signing_for_an_unknown_cluster_is_magnum_s_400_before_the_csr(world, db, casts):
    """The cluster is named in the body: Magnum answers 400 (ClusterNotFound made a 400) and
    looks it up before the CSR is read."""
    before = db_snapshot(db)
    for who in ("member", "member_b"):
        error = error_of(world[who].post("/v1/certificates",
                                         {"cluster_uuid": "c1" if who == "member_b" else NOPE,
                                          "csr": "not a csr"}, status=400))
        name = "c1" if who == "member_b" else NOPE
        assert error["detail"] == f"cluster_uuid: Cluster {name} could not be found."
    error_of(world["reader"].post("/v1/certificates", {"cluster_uuid": "c1", "csr": "x"},
                                  status=403))
    assert db_snapshot(db) == before and casts == []


# -- mservices ----------------------------------------------------------------------------

def test_mservices_shows_magnum_s_binary_names(admin):
    context = ctx.get_admin_context()
    objects.MagnumService.heartbeat(context, "node-1", "magnum-lite-conductor")
    services = admin.get("/v1/mservices", status=200).json["mservices"]
    assert [s["binary"] for s in services] == ["magnum-conductor"]
    assert set(services[0]) == {"id", "binary", "host", "state", "report_count", "disabled",
                                "disabled_reason", "created_at", "updated_at"}
    # The row keeps the process's own name (the hash ring looks conductors up by it).
    assert objects.MagnumService.get_by_host_and_binary(
        context, "node-1", "magnum-lite-conductor") is not None
