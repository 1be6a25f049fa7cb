"""POST /v1/clusters/{id}/actions/upgrade (1.8+): Magnum's upgrade action, as
python-magnumclient sends it (`openstack coe cluster upgrade <cluster> <template>
[--max-batch-size N] [--nodegroup NG]`)."""

from __future__ import annotations

from typing import Any

import pytest

from magnum_lite import objects
from magnum_lite.common import context as ctx
from magnum_lite.drivers.k8s_ubuntu_v1 import driver as k8s_driver
from tests.unit.api.conftest import (
    TEMPLATE,
    TEST_TRIPLES,
    CastRecorder,
    db_snapshot,
    error_of,
    record_status,
)
from tests.unit.drivers import fake_plugin

URL = "/v1/clusters"
TEMPLATES = "/v1/clustertemplates"
V1_15 = {"OpenStack-API-Version": "container-infra 1.15"}


def _admin() -> ctx.RequestContext:
    admin = ctx.get_admin_context()
    admin.all_projects = True
    return admin


def _cluster(uuid: str) -> objects.Cluster:
    return objects.Cluster.get_by_uuid(_admin(), uuid)


def _nodegroups(uuid: str) -> dict[str, objects.NodeGroup]:
    return {ng.name: ng for ng in objects.NodeGroup.list_for_clusters(_admin(), [uuid])}


def _upgrade(client: Any, ident: str, body: Any, status: int | str = "*", **kwargs: Any):
    return client.post(f"{URL}/{ident}/actions/upgrade", body, status=status, **kwargs)


def _operation(uuid: str) -> objects.ClusterOperation:
    return objects.ClusterOperation.get(_admin(), _cluster(uuid).operation_uuid)


def _template(client: Any, name: str, **changes: Any) -> dict:
    return client.post(TEMPLATES, {**TEMPLATE, "name": name, **changes}, status=201).json


def _new_driver_version(admin: Any, name: str, flavor: str = "m1.medium") -> dict:
    return admin.patch(f"/v1/drivers/{name}", [{"op": "replace", "path": "/config/flavor",
                                                 "value": flavor}], headers=V1_15,
                       status=200).json


def _disable(admin: Any, name: str) -> dict:
    return admin.patch(f"/v1/drivers/{name}", [{"op": "replace", "path": "/enabled",
                                                 "value": False}], headers=V1_15,
                       status=200).json


@pytest.fixture
def newer(member) -> dict:
    """A template like the cluster's (k8s), one Kubernetes minor version newer."""
    return _template(member, "k8s-new", labels={"kube_tag": "v1.31.0"})


@pytest.fixture
def gpu(cluster) -> objects.NodeGroup:
    """A second worker nodegroup of the cluster (not a default one)."""
    nodegroup = objects.NodeGroup(_admin(), name="gpu", cluster_id=cluster["uuid"],
                                  project_id=cluster["project_id"], role="worker",
                                  node_count=3, min_node_count=1, max_node_count=5,
                                  status="CREATE_COMPLETE")
    nodegroup.create()
    return nodegroup


@pytest.fixture
def pinned(member, admin, casts) -> dict:
    """A cluster `p1` of a template naming driver `prod`, pinned to its version 1."""
    admin.post("/v1/drivers", {"name": "prod", "plugin_name": "every_coe"}, headers=V1_15,
               status=201)
    template = _template(member, "k8s-prod", driver="prod")
    uuid = member.post(URL, {"name": "p1", "cluster_template_id": template["uuid"]},
                       status=202).json["uuid"]
    record_status(uuid, "CREATE_COMPLETE")
    casts.clear()
    return {"uuid": uuid, "template": template}


# -- accepted ----------------------------------------------------------------------------------

def test_an_upgrade_answers_202_records_its_target_and_casts(member, cluster, newer, casts):
    response = _upgrade(member, "c1", {"cluster_template": "k8s-new"}, status=202)
    assert response.json == {"uuid": cluster["uuid"]}
    assert casts == [("cluster_upgrade", {"cluster_uuid": cluster["uuid"]})]
    operation = _operation(cluster["uuid"])
    assert (operation.kind, operation.step, operation.outcome) == ("upgrade", "queued", None)
    assert operation.params == {
        "cluster_template_uuid": newer["uuid"], "driver_id": None, "driver_version": None,
        "max_batch_size": 1, "nodegroup_uuid": None,
        "from_cluster_template_uuid": cluster["cluster_template_id"], "from_driver_id": None,
        "from_driver_version": None}
    after = _cluster(cluster["uuid"])
    assert (after.status, after.version) == ("UPDATE_IN_PROGRESS", cluster["version"] + 1)
    # The cluster keeps its template until the conductor has moved it.
    assert after.cluster_template_id == cluster["cluster_template_id"]
    events = [(e.event_type, e.status) for e in objects.ClusterEvent.list(_admin(),
                                                                          cluster["uuid"])]
    assert events[-1] == ("cluster.upgrade", "UPDATE_IN_PROGRESS")


def test_a_new_driver_version_of_the_same_template_is_an_upgrade(member, admin, pinned,
                                                                  casts):
    v1 = _cluster(pinned["uuid"])
    v2 = _new_driver_version(admin, "prod")
    body = {"cluster_template": pinned["template"]["uuid"], "max_batch_size": 3,
            "nodegroup": "default-worker"}
    _upgrade(member, "p1", body, status=202)
    worker = _nodegroups(pinned["uuid"])["default-worker"]
    assert _operation(pinned["uuid"]).params == {
        "cluster_template_uuid": pinned["template"]["uuid"], "driver_id": v2["uuid"],
        "driver_version": 2, "max_batch_size": 3, "nodegroup_uuid": worker.uuid,
        "from_cluster_template_uuid": pinned["template"]["uuid"],
        "from_driver_id": v1.driver_id, "from_driver_version": 1}
    assert casts == [("cluster_upgrade", {"cluster_uuid": pinned["uuid"]})]


def test_the_latest_enabled_version_is_the_target(member, admin, pinned, casts):
    v2 = _new_driver_version(admin, "prod")
    _disable(admin, "prod")  # version 3, disabled
    _upgrade(member, "p1", {"cluster_template": "k8s-prod"}, status=202)
    params = _operation(pinned["uuid"]).params
    assert (params["driver_id"], params["driver_version"]) == (v2["uuid"], 2)


def test_a_non_default_nodegroup_may_take_a_new_driver_version(member, admin, pinned, casts):
    nodegroup = objects.NodeGroup(_admin(), name="gpu", cluster_id=pinned["uuid"],
                                  project_id="project-a", role="worker", node_count=1,
                                  min_node_count=0, status="CREATE_COMPLETE")
    nodegroup.create()
    _new_driver_version(admin, "prod")
    _upgrade(member, "p1", {"cluster_template": "k8s-prod", "nodegroup": nodegroup.uuid},
             status=202)
    assert _operation(pinned["uuid"]).params["nodegroup_uuid"] == nodegroup.uuid


def test_the_default_master_nodegroup_may_be_upgraded_alone(member, cluster, newer, casts):
    master = _nodegroups(cluster["uuid"])["default-master"]
    _upgrade(member, "c1", {"cluster_template": newer["uuid"], "nodegroup": "default-master"},
             status=202)
    assert _operation(cluster["uuid"]).params["nodegroup_uuid"] == master.uuid


@pytest.mark.parametrize("nodegroup", [None, "default-worker"])
def test_python_magnumclient_s_request_works(member, cluster, newer, casts, nodegroup):
    """The client's own code builds the body: {"cluster_template": <name>, "max_batch_size":
    1, "nodegroup": <name>} (without nodegroup when none is given)."""
    from magnumclient.v1 import clusters as client_clusters

    sent = []

    class Api:
        def json_request(self, method, url, body=None, **kwargs):
            sent.append((method, url, body))
            response = member.post(url, body, status="*")
            return response, response.json

    manager = client_clusters.ClusterManager(Api())
    manager.upgrade(cluster["uuid"], "k8s-new", 1, nodegroup)
    expected = {"cluster_template": "k8s-new", "max_batch_size": 1}
    if nodegroup:
        expected["nodegroup"] = nodegroup
    assert sent == [("POST", f"{URL}/{cluster['uuid']}/actions/upgrade", expected)]
    assert casts == [("cluster_upgrade", {"cluster_uuid": cluster["uuid"]})]
    worker = _nodegroups(cluster["uuid"])["default-worker"]
    assert _operation(cluster["uuid"]).params["nodegroup_uuid"] == (
        worker.uuid if nodegroup else None)


def test_max_batch_size_may_be_a_string_of_digits_or_null(member, cluster, newer, casts):
    _upgrade(member, "c1", {"cluster_template": "k8s-new", "max_batch_size": "4",
                            "nodegroup": None}, status=202)
    assert _operation(cluster["uuid"]).params["max_batch_size"] == 4


def test_a_public_template_of_another_project_may_be_the_target(member, admin, cluster,
                                                                casts):
    public = admin.post(TEMPLATES, {**TEMPLATE, "name": "k8s-public", "public": True},
                        status=201).json
    _upgrade(member, "c1", {"cluster_template": "k8s-public"}, status=202)
    assert _operation(cluster["uuid"]).params["cluster_template_uuid"] == public["uuid"]


def test_an_admin_may_upgrade_another_project_s_cluster(admin, cluster, newer, casts):
    _upgrade(admin, cluster["uuid"], {"cluster_template": newer["uuid"]}, status=202)
    assert casts == [("cluster_upgrade", {"cluster_uuid": cluster["uuid"]})]


# -- refused, nothing changed ------------------------------------------------------------------

def _refused(client: Any, db: Any, casts: list, ident: str, body: Any, status: int,
             **kwargs: Any) -> dict:
    before = db_snapshot(db)
    error = error_of(_upgrade(client, ident, body, status=status, **kwargs))
    assert db_snapshot(db) == before
    assert casts == []
    return error


BAD_BODIES = [
    ("missing template", {}, "cluster_template"),
    ("null template", {"cluster_template": None}, "cluster_template"),
    ("empty template", {"cluster_template": ""}, "cluster_template"),
    ("number template", {"cluster_template": 5}, "cluster_template"),
    ("list template", {"cluster_template": ["k8s-new"]}, "cluster_template"),
    ("long template", {"cluster_template": "x" * 256}, "cluster_template"),
    ("zero batch", {"cluster_template": "k8s-new", "max_batch_size": 0}, "max_batch_size"),
    ("negative batch", {"cluster_template": "k8s-new", "max_batch_size": -1},
     "max_batch_size"),
    ("text batch", {"cluster_template": "k8s-new", "max_batch_size": "two"},
     "max_batch_size"),
    ("float batch", {"cluster_template": "k8s-new", "max_batch_size": 1.5},
     "max_batch_size"),
    ("bool batch", {"cluster_template": "k8s-new", "max_batch_size": True},
     "max_batch_size"),
    ("huge batch", {"cluster_template": "k8s-new", "max_batch_size": 10**6},
     "max_batch_size"),
    ("empty nodegroup", {"cluster_template": "k8s-new", "nodegroup": ""}, "nodegroup"),
    ("number nodegroup", {"cluster_template": "k8s-new", "nodegroup": 3}, "nodegroup"),
    ("unknown field", {"cluster_template": "k8s-new", "force": True}, "force"),
]


@pytest.mark.parametrize(("body", "field"), [(b, f) for _, b, f in BAD_BODIES],
                         ids=[name for name, _, _ in BAD_BODIES])
def test_a_bad_body_is_a_400_naming_the_field(member, cluster, newer, casts, db, body, field):
    error = _refused(member, db, casts, "c1", body, 400)
    assert error["detail"].startswith(f"{field}:"), error["detail"]


@pytest.mark.parametrize("raw", [b"", b"[1]", b"not json", b'"k8s-new"'])
def test_a_body_that_is_no_object_is_a_400(member, cluster, casts, db, raw):
    before = db_snapshot(db)
    error_of(member.app.post(f"{URL}/c1/actions/upgrade", raw,
                             headers={**member._headers(None),
                                      "Content-Type": "application/json"}, status=400))
    assert casts == [] and db_snapshot(db) == before


@pytest.mark.parametrize("ident", ["nope", "8d5f4b1e-9c2a-4a55-b8a5-5a7f6d9e0c11"])
def test_an_unknown_template_is_a_404_as_in_magnum(member, cluster, casts, db, ident):
    error = _refused(member, db, casts, "c1", {"cluster_template": ident}, 404)
    assert error["detail"] == f"cluster_template: ClusterTemplate {ident} could not be found."


def test_another_project_s_private_template_is_unknown(member, member_b, cluster, casts, db):
    foreign = _template(member_b, "k8s-b")
    for ident in ("k8s-b", foreign["uuid"]):
        error = _refused(member, db, casts, "c1", {"cluster_template": ident}, 404)
        assert error["detail"].startswith("cluster_template: ClusterTemplate")


def test_an_admin_cannot_give_a_cluster_a_template_its_project_cannot_see(admin, cluster,
                                                                           casts, db):
    private = admin.post(TEMPLATES, {**TEMPLATE, "name": "k8s-admin"}, status=201).json
    error = _refused(admin, db, casts, cluster["uuid"], {"cluster_template": private["uuid"]},
                     404)
    assert error["detail"].startswith("cluster_template:")


OTHER_KIND = [
    ("coe", {"coe": "swarm-mode", "labels": {}}),
    ("server_type", {"server_type": "bm", "fixed_network": "private",
                     "floating_ip_enabled": False}),
    ("network_driver", {"network_driver": "calico"}),
    ("cluster_distro", {"image_id": "ubuntu-22.04"}),
]


@pytest.mark.parametrize(("field", "changes"), OTHER_KIND, ids=[f for f, _ in OTHER_KIND])
def test_a_template_of_another_kind_is_a_400_naming_the_field(member, cluster, casts, db,
                                                              field, changes):
    _template(member, "other", **changes)
    error = _refused(member, db, casts, "c1", {"cluster_template": "other"}, 400)
    assert error["detail"].startswith(f"{field}:"), error["detail"]


def test_the_same_template_and_driver_version_is_nothing_to_do(member, cluster, pinned,
                                                               casts, db):
    for ident, body in (("c1", {"cluster_template": "k8s"}),
                        ("p1", {"cluster_template": "k8s-prod", "max_batch_size": 2})):
        error = _refused(member, db, casts, ident, body, 400)
        assert error["detail"].startswith("cluster_template:")
        assert "nothing to upgrade" in error["detail"]


def test_a_driver_without_an_enabled_version_is_a_400(member, admin, pinned, casts, db):
    admin.post("/v1/drivers", {"name": "gone", "plugin_name": "every_coe"}, headers=V1_15,
               status=201)
    _template(member, "k8s-gone", driver="gone")
    _only_disabled("gone")
    error = _refused(member, db, casts, "p1", {"cluster_template": "k8s-gone"}, 400)
    assert error["detail"].startswith("cluster_template:") and "gone" in error["detail"]


def _only_disabled(name: str) -> None:
    """Every version of `name` disabled (the API disables by adding a version; the test
    reaches the rows for the older ones)."""
    from magnum_lite.db.sqlalchemy import api as db_api
    from magnum_lite.db.sqlalchemy import models

    with db_api._writer() as session:
        session.query(models.Driver).filter(models.Driver.name == name).update(
            {"enabled": False})


def test_a_disabled_default_driver_is_a_400(member, casts, db):
    from magnum_lite.objects import driver as driver_object

    driver_object.seed_default_drivers()  # every_coe, version 1
    template = _template(member, "k8s-default")
    uuid = member.post(URL, {"name": "d1", "cluster_template_id": template["uuid"]},
                       status=202).json["uuid"]
    record_status(uuid, "CREATE_COMPLETE")
    casts.clear()
    _template(member, "k8s-default-new", labels={"kube_tag": "v1.30.2"})
    _only_disabled("every_coe")
    error = _refused(member, db, casts, "d1", {"cluster_template": "k8s-default-new"}, 400)
    assert error["detail"].startswith("cluster_template:")
    assert "every_coe" in error["detail"] and "disabled" in error["detail"]


@pytest.mark.parametrize("nodegroup", ["nope", "8d5f4b1e-9c2a-4a55-b8a5-5a7f6d9e0c11"])
def test_an_unknown_nodegroup_is_a_404_as_in_magnum(member, cluster, newer, casts, db,
                                                     nodegroup):
    error = _refused(member, db, casts, "c1",
                     {"cluster_template": "k8s-new", "nodegroup": nodegroup}, 404)
    assert error["detail"].startswith(f"nodegroup: Nodegroup {nodegroup} could not be found")


def test_a_non_default_nodegroup_keeps_the_cluster_s_template(member, cluster, gpu, newer,
                                                              casts, db):
    error = _refused(member, db, casts, "c1",
                     {"cluster_template": "k8s-new", "nodegroup": "gpu"}, 400)
    assert error["detail"].startswith("nodegroup: nodegroup gpu can be upgraded only")


def test_a_cluster_busy_with_another_operation_is_a_409(member, cluster, newer, casts, db):
    member.patch(f"{URL}/c1", [{"op": "replace", "path": "/node_count", "value": 3}],
                 status=202)
    casts.clear()
    error = _refused(member, db, casts, "c1", {"cluster_template": "k8s-new"}, 409)
    assert cluster["uuid"] in error["detail"]


def test_a_cluster_being_created_is_a_409(member, template, newer, casts, db):
    uuid = member.post(URL, {"cluster_template_id": "k8s"}, status=202).json["uuid"]
    casts.clear()
    error = _refused(member, db, casts, uuid, {"cluster_template": "k8s-new"}, 409)
    assert "CREATE_IN_PROGRESS" in error["detail"]


def test_conductors_pinned_below_rpc_1_4_refuse_it(member, cluster, newer, casts, db,
                                                   monkeypatch):
    monkeypatch.setattr(CastRecorder, "pinned_to_1_3", True)
    error = _refused(member, db, casts, "c1", {"cluster_template": "k8s-new"}, 400)
    assert "[upgrade_levels] conductor" in error["detail"]


def test_a_failed_cast_fails_the_upgrade_with_503(member, cluster, newer, casts,
                                                   monkeypatch):
    monkeypatch.setattr(CastRecorder, "fail", True)
    error_of(_upgrade(member, "c1", {"cluster_template": "k8s-new"}, status=503))
    after = _cluster(cluster["uuid"])
    assert after.status == "UPDATE_FAILED" and "conductor" in after.status_reason
    assert after.operation_uuid is None
    [operation] = [op for op in objects.ClusterOperation.list(_admin(), cluster["uuid"])
                   if op.kind == "upgrade"]
    assert (operation.outcome, operation.fault) == ("failed", "conductor_unreachable")
    events = [e.event_type for e in objects.ClusterEvent.list(_admin(), cluster["uuid"])]
    assert events[-1] == "cluster.upgrade.failed"


# -- check order, policy, microversion ---------------------------------------------------------

@pytest.mark.parametrize("who", ["member", "reader", "member_b"])
def test_an_unknown_cluster_is_a_404_before_the_policy_and_the_body(
        member, reader, member_b, cluster, casts, db, who):
    client = {"member": member, "reader": reader, "member_b": member_b}[who]
    error = _refused(client, db, casts, "nope", {"max_batch_size": 0}, 404)
    assert error["detail"] == "Cluster nope could not be found."


def test_another_project_s_cluster_is_a_404(member_b, cluster, newer, casts, db):
    _refused(member_b, db, casts, cluster["uuid"], {"cluster_template": "k8s-new"}, 404)


def test_the_policy_comes_before_the_body(reader, cluster, newer, casts, db):
    for body in ({"cluster_template": "k8s-new"}, {"max_batch_size": 0}, [1]):
        error = _refused(reader, db, casts, "c1", body, 403)
        assert "cluster:upgrade" in error["detail"]


def test_the_policy_rule_is_cluster_upgrade(member, cluster, newer, casts, db, config,
                                            tmp_path):
    from magnum_lite.common import policy

    rules = tmp_path / "policy.yaml"
    rules.write_text('"cluster:upgrade": "!"\n')
    config.set_override("policy_file", str(rules), group="oslo_policy")
    policy.reset()
    error = _refused(member, db, casts, "c1", {"cluster_template": "k8s-new"}, 403)
    assert "cluster:upgrade" in error["detail"]
    # Resizing is another rule, still allowed.
    member.post(f"{URL}/c1/actions/resize", {"node_count": 3}, status=202)


def test_the_template_is_looked_up_before_the_nodegroup_and_its_kind(member, cluster, casts,
                                                                     db):
    _template(member, "swarm", coe="swarm-mode", labels={})
    error = _refused(member, db, casts, "c1", {"cluster_template": "nope",
                                               "nodegroup": "nope"}, 404)
    assert error["detail"].startswith("cluster_template:")
    error = _refused(member, db, casts, "c1", {"cluster_template": "swarm",
                                               "nodegroup": "nope"}, 404)
    assert error["detail"].startswith("nodegroup:")


@pytest.mark.parametrize("version", ["1.1", "1.7"])
def test_before_1_8_there_is_no_upgrade(member, cluster, newer, casts, db, version):
    headers = {"OpenStack-API-Version": f"container-infra {version}"}
    error = _refused(member, db, casts, "c1", {"cluster_template": "k8s-new"}, 406,
                     headers=headers)
    assert "1.8" in error["detail"]


def test_at_1_8_the_upgrade_is_there(member, cluster, newer, casts):
    _upgrade(member, "c1", {"cluster_template": "k8s-new"}, status=202,
             headers={"OpenStack-API-Version": "container-infra 1.8"})


def test_get_on_the_action_is_not_allowed(member, cluster):
    response = member.get(f"{URL}/c1/actions/upgrade", status=405)
    assert "POST" in response.headers["Allow"]


# -- the COE's version rule (Kubernetes: kubeadm's) ---------------------------------------------

UBUNTU = {"image_id": "ubuntu-22.04", "driver": "kube"}


class EveryCoeDriver(fake_plugin.FakeDriver):
    provides = TEST_TRIPLES


@pytest.fixture
def kube(member, admin, casts) -> dict:
    """A cluster `k1` of the real Kubernetes plugin (driver `kube`), template v1.30.1."""
    fake_plugin.install(every_coe=EveryCoeDriver, k8s_ubuntu_v1=k8s_driver.K8sUbuntuV1)
    admin.post("/v1/drivers", {"name": "kube", "plugin_name": "k8s_ubuntu_v1"},
               headers=V1_15, status=201)
    template = _template(member, "kube-1.30", **UBUNTU, labels={"kube_tag": "v1.30.1"})
    uuid = member.post(URL, {"name": "k1", "cluster_template_id": template["uuid"]},
                       status=202).json["uuid"]
    record_status(uuid, "CREATE_COMPLETE")
    casts.clear()
    return {"uuid": uuid, "template": template}


@pytest.mark.parametrize("kube_tag", ["v1.31.0", "v1.30.4", "v1.31.7"])
def test_kubernetes_goes_up_one_minor_version_at_most(member, kube, casts, kube_tag):
    target = _template(member, "kube-next", **UBUNTU, labels={"kube_tag": kube_tag})
    _upgrade(member, "k1", {"cluster_template": "kube-next"}, status=202)
    assert _operation(kube["uuid"]).params["cluster_template_uuid"] == target["uuid"]


@pytest.mark.parametrize(("kube_tag", "says"), [("v1.32.0", "more than one minor"),
                                                ("v1.33.1", "more than one minor"),
                                                ("v1.29.9", "older")])
def test_kubernetes_refuses_a_skip_or_a_downgrade(member, kube, casts, db, kube_tag, says):
    _template(member, "kube-far", **UBUNTU, labels={"kube_tag": kube_tag})
    error = _refused(member, db, casts, "k1", {"cluster_template": "kube-far"}, 400)
    assert error["detail"].startswith("cluster_template:") and says in error["detail"]
    assert kube_tag in error["detail"]


def test_the_version_the_cluster_runs_is_the_one_recorded(member, kube, casts, db):
    """The conductor recorded v1.29.3 (a cluster made before its template moved on): v1.31
    is two minors ahead of it."""
    def runs_1_29(c: objects.Cluster) -> None:
        c.coe_version = "v1.29.3"

    objects.Cluster.update_with_retry(_admin(), kube["uuid"], runs_1_29)
    _template(member, "kube-1.31", **UBUNTU, labels={"kube_tag": "v1.31.0"})
    error = _refused(member, db, casts, "k1", {"cluster_template": "kube-1.31"}, 400)
    assert "v1.29.3" in error["detail"]
    _template(member, "kube-1.30.9", **UBUNTU, labels={"kube_tag": "v1.30.9"})
    _upgrade(member, "k1", {"cluster_template": "kube-1.30.9"}, status=202)


def test_the_target_template_s_version_wins_over_the_cluster_s_label(member, kube, casts,
                                                                      db):
    """The cluster was made with the template's kube_tag label (v1.30.1); the target's
    labels decide the version it goes to."""
    assert _cluster(kube["uuid"]).labels["kube_tag"] == "v1.30.1"
    _template(member, "kube-1.32", **UBUNTU, labels={"kube_tag": "v1.32.0"})
    _refused(member, db, casts, "k1", {"cluster_template": "kube-1.32"}, 400)


# -- 1.17: driver_version, rollback, dry_run --------------------------------------------------

V1_16 = {"OpenStack-API-Version": "container-infra 1.16"}


def _succeed(uuid: str) -> None:
    """End the cluster's upgrade as the conductor does when its last batch is done: the
    cluster on the target's template and driver version."""
    from magnum_lite.objects import cluster_operation

    params = _operation(uuid).params
    cluster_operation.finish(_admin(), uuid, "upgrade", "UPDATE_COMPLETE", "upgraded",
                             operation_uuid=_cluster(uuid).operation_uuid,
                             cluster_template_id=params["cluster_template_uuid"],
                             driver_id=params["driver_id"],
                             driver_version=params["driver_version"])


def test_a_driver_version_of_the_cluster_s_driver_is_a_target(member, admin, pinned, casts):
    v1 = _cluster(pinned["uuid"])
    v2 = _new_driver_version(admin, "prod")
    _new_driver_version(admin, "prod", flavor="m1.large")  # version 3
    _upgrade(member, "p1", {"driver_version": 2, "max_batch_size": 2}, status=202)
    assert _operation(pinned["uuid"]).params == {
        "cluster_template_uuid": pinned["template"]["uuid"], "driver_id": v2["uuid"],
        "driver_version": 2, "max_batch_size": 2, "nodegroup_uuid": None,
        "from_cluster_template_uuid": pinned["template"]["uuid"],
        "from_driver_id": v1.driver_id, "from_driver_version": 1}
    assert casts == [("cluster_upgrade", {"cluster_uuid": pinned["uuid"]})]


@pytest.mark.parametrize("latest", ["latest", "LATEST"])
def test_latest_is_the_latest_enabled_version(member, admin, pinned, casts, latest):
    v2 = _new_driver_version(admin, "prod")
    _disable(admin, "prod")  # version 3, disabled
    _upgrade(member, "p1", {"driver_version": latest}, status=202)
    params = _operation(pinned["uuid"]).params
    assert (params["driver_id"], params["driver_version"]) == (v2["uuid"], 2)
    assert params["cluster_template_uuid"] == pinned["template"]["uuid"]


def test_a_driver_version_with_a_template_of_the_same_driver(member, admin, pinned, casts):
    v2 = _new_driver_version(admin, "prod")
    _new_driver_version(admin, "prod", flavor="m1.large")  # version 3
    other = _template(member, "k8s-prod-new", driver="prod", labels={"kube_tag": "v1.30.2"})
    _upgrade(member, "p1", {"cluster_template": "k8s-prod-new", "driver_version": "2"},
             status=202)
    params = _operation(pinned["uuid"]).params
    assert (params["cluster_template_uuid"], params["driver_id"], params["driver_version"]) \
        == (other["uuid"], v2["uuid"], 2)


def test_a_template_of_another_driver_with_a_driver_version_is_a_400(member, admin, pinned,
                                                                     casts, db):
    admin.post("/v1/drivers", {"name": "other", "plugin_name": "every_coe"}, headers=V1_15,
               status=201)
    _new_driver_version(admin, "other")
    _template(member, "k8s-other", driver="other")
    error = _refused(member, db, casts, "p1", {"cluster_template": "k8s-other",
                                               "driver_version": 2}, 400)
    assert error["detail"].startswith("driver_version:")
    assert "'prod'" in error["detail"] and "'other'" in error["detail"]


@pytest.mark.parametrize(("version", "says"), [(7, "has no version 7 (its versions: 1, 2, 3)"),
                                               (3, "version 3 of driver 'prod' is disabled")])
def test_an_unknown_or_disabled_driver_version_is_a_400(member, admin, pinned, casts, db,
                                                        version, says):
    _new_driver_version(admin, "prod")
    _disable(admin, "prod")  # version 3
    error = _refused(member, db, casts, "p1", {"driver_version": version}, 400)
    assert error["detail"].startswith("driver_version:") and says in error["detail"]


def test_a_driver_with_no_enabled_version_has_no_latest(member, admin, pinned, casts, db):
    _only_disabled("prod")
    error = _refused(member, db, casts, "p1", {"driver_version": "latest"}, 400)
    assert error["detail"] == "driver_version: driver 'prod' has no enabled version."


def test_the_driver_version_the_cluster_runs_is_nothing_to_do(member, pinned, casts, db):
    for body in ({"driver_version": 1}, {"driver_version": "latest"}):
        error = _refused(member, db, casts, "p1", body, 400)
        assert error["detail"].startswith("driver_version:")
        assert "nothing to upgrade" in error["detail"]


@pytest.mark.parametrize("value", [0, -1, "two", 1.5, True, [2], {"v": 2}, ""])
def test_a_bad_driver_version_is_a_400(member, pinned, casts, db, value):
    error = _refused(member, db, casts, "p1", {"driver_version": value}, 400)
    assert error["detail"].startswith("driver_version:"), error["detail"]


def test_without_a_template_a_driver_version_or_a_rollback_the_template_is_required(
        member, cluster, casts, db):
    for body in ({}, {"max_batch_size": 2}, {"rollback": False}, {"dry_run": True}):
        error = _refused(member, db, casts, "c1", body, 400)
        assert error["detail"] == ("cluster_template: this field is required unless "
                                   "driver_version or rollback is given.")


@pytest.mark.parametrize("version", ["1.8", "1.16"])
@pytest.mark.parametrize(("field", "value"), [("driver_version", 2), ("rollback", True),
                                              ("dry_run", True), ("dry_run", False)])
def test_the_1_17_fields_below_1_17_are_a_400_naming_them(member, cluster, newer, casts, db,
                                                          version, field, value):
    headers = {"OpenStack-API-Version": f"container-infra {version}"}
    error = _refused(member, db, casts, "c1", {"cluster_template": "k8s-new", field: value},
                     400, headers=headers)
    assert error["detail"] == f"{field}: needs API version 1.17 or newer."


def test_below_1_17_the_new_fields_may_be_null(member, cluster, newer, casts):
    _upgrade(member, "c1", {"cluster_template": "k8s-new", "driver_version": None,
                            "rollback": None, "dry_run": None}, status=202, headers=V1_16)
    assert casts == [("cluster_upgrade", {"cluster_uuid": cluster["uuid"]})]


# rollback


def test_a_rollback_goes_back_to_the_template_and_driver_before_the_last_upgrade(
        member, admin, pinned, casts):
    v1 = _cluster(pinned["uuid"])
    v2 = _new_driver_version(admin, "prod")
    newer = _template(member, "k8s-prod-new", driver="prod", labels={"kube_tag": "v1.30.2"})
    _upgrade(member, "p1", {"cluster_template": "k8s-prod-new", "max_batch_size": 3},
             status=202)
    _succeed(pinned["uuid"])
    casts.clear()
    _upgrade(member, "p1", {"rollback": True}, status=202)
    assert _operation(pinned["uuid"]).params == {
        "cluster_template_uuid": pinned["template"]["uuid"], "driver_id": v1.driver_id,
        "driver_version": 1, "max_batch_size": 3, "nodegroup_uuid": None,
        "from_cluster_template_uuid": newer["uuid"], "from_driver_id": v2["uuid"],
        "from_driver_version": 2, "rollback": True}
    assert casts == [("cluster_upgrade", {"cluster_uuid": pinned["uuid"]})]
    # Rolling back the rollback goes forward again, batches as the body says.
    _succeed(pinned["uuid"])
    _upgrade(member, "p1", {"rollback": "true", "max_batch_size": 5}, status=202)
    params = _operation(pinned["uuid"]).params
    assert (params["cluster_template_uuid"], params["driver_version"],
            params["max_batch_size"]) == (newer["uuid"], 2, 5)


def test_a_rollback_of_a_nodegroup_s_upgrade_is_of_that_nodegroup(member, admin, pinned,
                                                                  casts):
    _new_driver_version(admin, "prod")
    _upgrade(member, "p1", {"driver_version": 2, "nodegroup": "default-worker"}, status=202)
    _succeed(pinned["uuid"])
    _upgrade(member, "p1", {"rollback": True}, status=202)
    worker = _nodegroups(pinned["uuid"])["default-worker"]
    params = _operation(pinned["uuid"]).params
    assert (params["nodegroup_uuid"], params["driver_version"]) == (worker.uuid, 1)


def test_a_rollback_may_go_back_to_a_driver_version_disabled_since(member, admin, pinned,
                                                                   casts):
    """The escape hatch: version 1 is disabled after the upgrade, the rollback still goes
    there (a new cluster could not be pinned to it)."""
    v1 = _cluster(pinned["uuid"]).driver_id
    _new_driver_version(admin, "prod")
    _upgrade(member, "p1", {"driver_version": 2}, status=202)
    _succeed(pinned["uuid"])
    from magnum_lite.db.sqlalchemy import api as db_api
    from magnum_lite.db.sqlalchemy import models

    with db_api._writer() as session:
        session.query(models.Driver).filter(models.Driver.uuid == v1).update(
            {"enabled": False})
    _upgrade(member, "p1", {"rollback": True}, status=202)
    assert _operation(pinned["uuid"]).params["driver_id"] == v1


def test_a_rollback_skips_the_coe_s_version_rule(member, kube, casts):
    """kubeadm goes up only; a rollback returns to what the cluster ran."""
    _template(member, "kube-1.31", **UBUNTU, labels={"kube_tag": "v1.31.0"})
    _upgrade(member, "k1", {"cluster_template": "kube-1.31"}, status=202)
    _succeed(kube["uuid"])
    _upgrade(member, "k1", {"rollback": True}, status=202)
    assert _operation(kube["uuid"]).params["cluster_template_uuid"] == kube["template"]["uuid"]


def test_a_rollback_without_an_upgrade_that_moved_a_node_is_a_400(member, cluster, newer,
                                                                   casts, db):
    error = _refused(member, db, casts, "c1", {"rollback": True}, 400)
    assert error["detail"].startswith("rollback:") and "no upgrade" in error["detail"]
    _upgrade(member, "c1", {"cluster_template": "k8s-new"}, status=202)
    record_status(cluster["uuid"], "UPDATE_FAILED", "a batch failed")  # before its plan
    casts.clear()
    error = _refused(member, db, casts, "c1", {"rollback": True}, 400)
    assert error["detail"].startswith("rollback:") and "before it moved any node" in \
        error["detail"]


def _planned(uuid: str, phase: str = "drain") -> objects.ClusterOperation:
    """The running upgrade of cluster `uuid` with a plan, as its conductor writes it."""
    operation = _operation(uuid)
    return operation.update(plan={"target_key": "k-new", "to_version": "v1.31.0",
                                  "from_version": "v1.30.1", "batches": [], "batch": 0,
                                  "phase": phase})


def test_a_rollback_of_a_failed_upgrade_takes_back_what_it_moved(member, cluster, newer,
                                                                  casts):
    _upgrade(member, "c1", {"cluster_template": "k8s-new", "max_batch_size": 2}, status=202)
    _planned(cluster["uuid"])
    record_status(cluster["uuid"], "UPDATE_FAILED", "node w2 is not back healthy")
    casts.clear()
    _upgrade(member, "c1", {"rollback": True}, status=202)
    assert [name for name, _ in casts] == ["cluster_upgrade"]
    params = _operation(cluster["uuid"]).params
    assert params == {
        "cluster_template_uuid": cluster["cluster_template_id"], "driver_id": None,
        "driver_version": None, "max_batch_size": 2, "nodegroup_uuid": None,
        "from_cluster_template_uuid": newer["uuid"], "from_driver_id": None,
        "from_driver_version": None, "rollback": True, "undo_key": "k-new",
        "undo_version": "v1.31.0"}


def test_a_rollback_of_a_failed_upgrade_takes_no_nodegroup(member, cluster, newer, casts,
                                                           db):
    _upgrade(member, "c1", {"cluster_template": "k8s-new"}, status=202)
    _planned(cluster["uuid"])
    record_status(cluster["uuid"], "UPDATE_FAILED", "a batch failed")
    casts.clear()
    error = _refused(member, db, casts, "c1", {"rollback": True, "nodegroup": "default-worker"},
                     400)
    assert error["detail"].startswith("nodegroup:")


def test_a_rollback_asked_while_an_upgrade_runs_is_recorded_on_it(member, cluster, newer,
                                                                   casts):
    """The cancel: the running upgrade stops after its batch in progress and takes back
    what it moved (the conductor's part is in tests/unit/conductor/test_upgrade.py)."""
    _upgrade(member, "c1", {"cluster_template": "k8s-new"}, status=202)
    running = _planned(cluster["uuid"])
    version = _cluster(cluster["uuid"]).version
    casts.clear()
    assert _upgrade(member, "c1", {"rollback": True, "max_batch_size": 3},
                    status=202).json == {"uuid": cluster["uuid"]}
    assert casts == []  # the upgrade's own conductor follows it
    after = _cluster(cluster["uuid"])
    assert (after.operation_uuid, after.version, after.status) == (
        running.uuid, version, "UPDATE_IN_PROGRESS")
    asked = _operation(cluster["uuid"]).params["cancel"]
    assert asked["max_batch_size"] == 3 and asked["user_id"]
    events = objects.ClusterEvent.list(_admin(), cluster["uuid"])
    assert events[-1].event_type == "cluster.upgrade.rollback"
    assert "stops after the batch in progress" in events[-1].status_reason
    # Asked again: the same answer, nothing more recorded.
    revision = _operation(cluster["uuid"]).revision
    _upgrade(member, "c1", {"rollback": True}, status=202)
    assert _operation(cluster["uuid"]).revision == revision


def test_a_rollback_of_a_running_upgrade_takes_no_nodegroup(member, cluster, newer, casts,
                                                            db):
    _upgrade(member, "c1", {"cluster_template": "k8s-new"}, status=202)
    _planned(cluster["uuid"])
    casts.clear()
    error = _refused(member, db, casts, "c1", {"rollback": True, "nodegroup": "default-worker"},
                     400)
    assert error["detail"].startswith("nodegroup:")


def test_a_rollback_of_a_settling_upgrade_is_a_409(member, cluster, newer, casts, db):
    _upgrade(member, "c1", {"cluster_template": "k8s-new"}, status=202)
    _planned(cluster["uuid"], phase="settle")
    casts.clear()
    error = _refused(member, db, casts, "c1", {"rollback": True}, 409)
    assert "roll back once it completes" in error["detail"]


@pytest.mark.parametrize(("field", "value"), [("cluster_template", "k8s-new"),
                                              ("driver_version", 2)])
def test_a_rollback_takes_no_target(member, cluster, newer, casts, db, field, value):
    error = _refused(member, db, casts, "c1", {"rollback": True, field: value}, 400)
    assert error["detail"].startswith(f"{field}: a rollback goes back")


def test_a_rollback_to_a_deleted_template_is_a_400(member, cluster, newer, casts, db):
    _upgrade(member, "c1", {"cluster_template": "k8s-new"}, status=202)
    _succeed(cluster["uuid"])
    casts.clear()
    member.delete(f"{TEMPLATES}/k8s", status=204)  # no cluster uses it now
    error = _refused(member, db, casts, "c1", {"rollback": True}, 400)
    assert error["detail"].startswith("rollback:") and "is gone" in error["detail"]


def test_a_rollback_while_another_operation_or_a_rollback_runs_is_a_409(member, cluster,
                                                                         newer, casts, db):
    _upgrade(member, "c1", {"cluster_template": "k8s-new"}, status=202)
    _succeed(cluster["uuid"])
    member.post(f"{URL}/c1/actions/resize", {"node_count": 3}, status=202)
    casts.clear()
    _refused(member, db, casts, "c1", {"rollback": True}, 409)
    record_status(cluster["uuid"], "UPDATE_COMPLETE")
    _upgrade(member, "c1", {"rollback": True}, status=202)  # a rollback running
    casts.clear()
    error = _refused(member, db, casts, "c1", {"rollback": True}, 409)
    assert "already rolling back" in error["detail"]


# dry_run


def test_an_upgrade_s_dry_run_answers_200_with_the_plan_and_changes_nothing(
        member, cluster, newer, casts, db):
    before = db_snapshot(db)
    response = _upgrade(member, "c1", {"cluster_template": "k8s-new", "max_batch_size": 2,
                                       "dry_run": True}, status=200)
    assert db_snapshot(db) == before
    params = {
        "cluster_template_uuid": newer["uuid"], "driver_id": None, "driver_version": None,
        "max_batch_size": 2, "nodegroup_uuid": None,
        "from_cluster_template_uuid": cluster["cluster_template_id"], "from_driver_id": None,
        "from_driver_version": None}
    assert casts == [("upgrade_dry_run", {"cluster_uuid": cluster["uuid"], "params": params})]
    groups = _nodegroups(cluster["uuid"])
    master, worker = groups["default-master"], groups["default-worker"]

    def node(name):
        return {"name": name, "from": "v1.30.1", "to": "v1.31.0"}

    assert response.json == {
        "uuid": cluster["uuid"], "dry_run": True, "rollback": False,
        "from": {"cluster_template_id": cluster["cluster_template_id"], "driver_id": None,
                 "driver_version": None},
        "to": {"cluster_template_id": newer["uuid"], "driver_id": None,
               "driver_version": None},
        "max_batch_size": 2, "nodegroup_uuid": None,
        "from_version": "v1.30.1", "to_version": "v1.31.0",
        "batches": [
            {"nodegroup": master.uuid, "nodegroup_name": "default-master", "role": "master",
             "nodes": [node("default-master-0")]},
            {"nodegroup": worker.uuid, "nodegroup_name": "default-worker", "role": "worker",
             "nodes": [node("default-worker-0"), node("default-worker-1")]}],
        "replaces": [{"stack": "fake-default-master", "servers": ["default-master-0"]},
                     {"stack": "fake-default-worker",
                      "servers": ["default-worker-0", "default-worker-1"]}]}


def test_a_rollback_s_dry_run(member, admin, pinned, casts, db):
    _new_driver_version(admin, "prod")
    _upgrade(member, "p1", {"driver_version": 2}, status=202)
    _succeed(pinned["uuid"])
    casts.clear()
    before = db_snapshot(db)
    plan = _upgrade(member, "p1", {"rollback": True, "dry_run": True}, status=200).json
    assert db_snapshot(db) == before
    assert (plan["rollback"], plan["from"]["driver_version"], plan["to"]["driver_version"]) \
        == (True, 2, 1)
    assert [name for name, _ in casts] == ["upgrade_dry_run"]


def test_a_dry_run_makes_every_refusal_of_the_upgrade(member, cluster, newer, casts, db):
    _template(member, "swarm", coe="swarm-mode", labels={})
    for body, status in (({"cluster_template": "nope"}, 404),
                         ({"cluster_template": "swarm"}, 400),
                         ({"cluster_template": "k8s"}, 400),
                         ({"rollback": True}, 400),
                         ({"cluster_template": "k8s-new", "dry_run": "maybe"}, 400)):
        _refused(member, db, casts, "c1", {"dry_run": True, **body}, status)


def test_a_dry_run_while_an_operation_runs_is_the_upgrade_s_409(member, cluster, newer,
                                                                casts, db):
    member.post(f"{URL}/c1/actions/resize", {"node_count": 3}, status=202)
    casts.clear()
    error = _refused(member, db, casts, "c1", {"cluster_template": "k8s-new",
                                               "dry_run": True}, 409)
    assert "UPDATE_IN_PROGRESS" in error["detail"]


def test_a_dry_run_needs_conductors_of_rpc_1_5(member, cluster, newer, casts, db,
                                              monkeypatch):
    monkeypatch.setattr(CastRecorder, "pinned_to_1_4", True)
    error = _refused(member, db, casts, "c1", {"cluster_template": "k8s-new",
                                               "dry_run": True}, 400)
    assert "1.5" in error["detail"] and "[upgrade_levels] conductor" in error["detail"]


@pytest.mark.parametrize(("raised", "status"), [
    ("cloud", 502), ("refused", 400), ("timeout", 503), ("down", 503)])
def test_a_dry_run_answers_the_conductor_s_errors(member, cluster, newer, casts, db,
                                                  monkeypatch, raised, status):
    import oslo_messaging as messaging

    from magnum_lite.common import exception

    error = {"cloud": exception.CloudError(service="Heat", reason="the stack is gone"),
             "refused": exception.NotSupported(operation="upgrading with this plugin"),
             "timeout": messaging.MessagingTimeout("no answer"),
             "down": RuntimeError("message bus down")}[raised]

    def fail(self, context, **kwargs):
        raise error

    monkeypatch.setattr(CastRecorder, "upgrade_dry_run", fail)
    before = db_snapshot(db)
    entry = error_of(_upgrade(member, "c1", {"cluster_template": "k8s-new", "dry_run": True},
                              status=status))
    assert db_snapshot(db) == before
    if raised == "cloud":
        assert "the stack is gone" in entry["detail"]
    after = _cluster(cluster["uuid"])
    assert after.status == "CREATE_COMPLETE"  # a dry run fails nothing
