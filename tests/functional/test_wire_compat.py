"""Issue 12 over HTTP against real processes: where magnum-lite answered unlike Magnum.

magnum-lite-api and magnum-lite-conductor run over RabbitMQ (noauth: the identity comes from the
X-* headers, and cloud resources are not checked; the sandbox tier checks keypairs against its
Nova, tests/integration/test_wire_compat.py). Every refusal leaves what the API lists as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.functional import deployment as dep
from tests.functional.test_processes import _split_deployment

pytestmark = pytest.mark.service

LATEST = {"OpenStack-API-Version": "container-infra latest"}
MEMBER = {"X-Project-Id": "project-a", "X-User-Id": "user-a", "X-Roles": "member,reader"}
OTHER = {"X-Project-Id": "project-b", "X-User-Id": "user-b", "X-Roles": "member,reader"}
READER = {"X-Project-Id": "project-a", "X-User-Id": "user-r", "X-Roles": "reader"}
ADMIN = {"X-Project-Id": "admin", "X-User-Id": "admin", "X-Roles": "admin,member,reader"}
TEMPLATE = {"name": "k8s", "coe": "kubernetes", "image_id": "ubuntu-22.04",
            "flavor_id": "m1.small", "master_flavor_id": "m1.medium",
            "external_network_id": "public", "keypair_id": "mykey",
            "cluster_distro": "ubuntu", "labels": {"kube_tag": "v1.30.1"}}
NOPE = "no-such-thing"


class Api:
    """requests against the deployment, as one caller."""

    def __init__(self, endpoint: str, headers: dict) -> None:
        self.endpoint = endpoint
        self.headers = {**LATEST, **headers}

    def __call__(self, method: str, path: str, body: Any = None,
                 headers: dict | None = None) -> requests.Response:
        return requests.request(method, self.endpoint + path, json=body, timeout=30,
                                headers={**self.headers, **(headers or {})})


@pytest.fixture(scope="module")
def cloud(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """API and conductor, a template and a cluster of project A (its create fails: no
    Heat here), and a caller of each kind."""
    with _split_deployment(tmp_path_factory.mktemp("wire")) as deployment:
        deployment.start("magnum-lite-conductor")
        deployment.start("magnum-lite-api")
        deployment.wait_until_serving()
        member = Api(deployment.endpoint, MEMBER)
        created = member("POST", "/v1/clustertemplates", TEMPLATE)
        assert created.status_code == 201, created.text
        answer = member("POST", "/v1/clusters", {"name": "c1", "cluster_template_id": "k8s",
                                                 "node_count": 2})
        assert answer.status_code == 202, answer.text
        yield {"deployment": deployment, "member": member, "template": created.json(),
               "cluster": answer.json()["uuid"],
               "other": Api(deployment.endpoint, OTHER),
               "reader": Api(deployment.endpoint, READER),
               "admin": Api(deployment.endpoint, ADMIN)}


def _state(cloud: dict) -> dict:
    """What the API shows of everything (admin, all projects), to compare before and after."""
    admin = cloud["admin"]
    cluster = cloud["cluster"]
    shown = {path: admin("GET", path).json() for path in (
        "/v1/clustertemplates/detail", f"/v1/clusters/{cluster}",
        f"/v1/clusters/{cluster}/nodegroups", "/v1/quotas?all_tenants=True")}
    # The conductor may still be failing the create: its status and reason are its own.
    for volatile in ("status", "status_reason", "updated_at", "faults", "health_status",
                     "health_status_reason", "version"):
        shown[f"/v1/clusters/{cluster}"].pop(volatile, None)
    for nodegroup in shown[f"/v1/clusters/{cluster}/nodegroups"]["nodegroups"]:
        nodegroup.pop("status", None)
    return shown


def _refused(cloud: dict, who: str, method: str, path: str, body: Any, status: int) -> dict:
    before = _state(cloud)
    answer = cloud[who](method, path, body)
    assert answer.status_code == status, answer.text
    error = answer.json()["errors"][0]
    assert error["status"] == status and error["code"] == "client"
    assert _state(cloud) == before
    return error


# -- 3. existence and policy before the body ------------------------------------------------

BAD_PATCH = [{"op": "replace", "path": "/name", "value": "renamed"}]


def _endpoints(cluster: str, template: str = "k8s") -> list[tuple[str, str, Any]]:
    """Every update and action endpoint, each with a body it refuses (400) when it gets to
    read it."""
    return [("PATCH", f"/v1/clusters/{cluster}", BAD_PATCH),
            ("POST", f"/v1/clusters/{cluster}/actions/resize", {"colour": "red"}),
            ("POST", f"/v1/clusters/{cluster}/nodegroups", {"colour": "red"}),
            ("PATCH", f"/v1/clusters/{cluster}/nodegroups/default-worker", BAD_PATCH),
            ("PATCH", f"/v1/clustertemplates/{template}", {"name": "not a JSON patch"})]


def test_patch_of_a_cluster_that_does_not_exist_is_a_404(cloud):
    """The issue's case: a patch that names a field no cluster may change."""
    error = _refused(cloud, "member", "PATCH", f"/v1/clusters/{NOPE}", BAD_PATCH, 404)
    assert error["detail"] == f"Cluster {NOPE} could not be found."


@pytest.mark.parametrize(("method", "path", "body"), _endpoints(NOPE, NOPE))
def test_an_unknown_resource_is_a_404_before_its_body_is_read(cloud, method, path, body):
    assert NOPE in _refused(cloud, "member", method, path, body, 404)["detail"]


@pytest.mark.parametrize("index", range(5))
def test_another_project_s_resource_is_a_404_and_a_policy_refusal_a_403(cloud, index):
    method, path, body = _endpoints(cloud["cluster"])[index]
    assert "could not be found" in _refused(cloud, "other", method, path, body,
                                            404)["detail"]
    assert "Policy doesn't allow" in _refused(cloud, "reader", method, path, body,
                                              403)["detail"]


def test_a_signing_request_looks_the_cluster_up_before_the_csr(cloud):
    """Magnum: 400 for a cluster named in the body that cannot be found."""
    for who, ident in (("member", NOPE), ("other", cloud["cluster"])):
        error = _refused(cloud, who, "POST", "/v1/certificates",
                         {"cluster_uuid": ident, "csr": "not a CSR"}, 400)
        assert error["detail"] == f"cluster_uuid: Cluster {ident} could not be found."
    _refused(cloud, "reader", "POST", "/v1/certificates",
             {"cluster_uuid": cloud["cluster"], "csr": "not a CSR"}, 403)


def test_quota_update_looks_the_quota_up_before_the_body(cloud):
    _refused(cloud, "admin", "PATCH", "/v1/quotas/project-nope/Cluster", {"hard_limit": "x"},
             404)
    _refused(cloud, "member", "PATCH", "/v1/quotas/project-a/Cluster", {"hard_limit": "x"},
             403)


# -- 4. mservices --------------------------------------------------------------------------

def test_mservices_reports_magnum_s_binary(cloud):
    def listed():
        services = cloud["admin"]("GET", "/v1/mservices").json()["mservices"]
        return services if any(s["state"] == "up" for s in services) else None

    services = cloud["deployment"].wait_for(listed, timeout=dep.START_TIMEOUT)
    assert {s["binary"] for s in services} == {"magnum-conductor"}
    assert set(services[0]) == {"id", "binary", "host", "state", "report_count", "disabled",
                                "disabled_reason", "created_at", "updated_at"}


# -- 5. the template list ------------------------------------------------------------------

@pytest.mark.parametrize("version", ["1.1", "1.10", "latest"])
def test_the_template_list_shows_every_field(cloud, version):
    headers = {"OpenStack-API-Version": f"container-infra {version}"}
    listed = cloud["member"]("GET", "/v1/clustertemplates", headers=headers).json()
    detailed = cloud["member"]("GET", "/v1/clustertemplates/detail", headers=headers).json()
    assert listed["clustertemplates"] == detailed["clustertemplates"] == [cloud["template"]]
    assert {"labels", "keypair_id", "fixed_network", "hidden", "tags", "driver",
            "docker_volume_size", "links"} <= set(listed["clustertemplates"][0])


# -- 7. more of the same kind ---------------------------------------------------------------

def test_nodegroup_counts_out_of_bounds_are_a_409(cloud):
    """Magnum's NodeGroupInvalidInput is a Conflict."""
    error = _refused(cloud, "member", "POST", f"/v1/clusters/{cloud['cluster']}/nodegroups",
                     {"name": "ng", "node_count": 6, "max_node_count": 5}, 409)
    assert error["detail"] == ("max_node_count for ng is invalid (node_count (6) should be "
                               "less or equal to max_node_count (5)).")


def test_resizing_a_nodegroup_the_cluster_does_not_have_is_a_404(cloud):
    error = _refused(cloud, "member", "POST", f"/v1/clusters/{cloud['cluster']}/actions/resize",
                     {"node_count": 1, "nodegroup": NOPE}, 404)
    assert error["detail"].startswith(f"nodegroup: Nodegroup {NOPE} could not be found")
