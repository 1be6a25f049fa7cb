"""Every bad input gets a 4xx whose message names the field at fault, and changes nothing.

Table driven: each case is one request against a database holding a template (`k8s`), a
finished cluster (`c1`) and a quota. After the request every table is compared with its state
before, and no cast reached the conductor.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from oslo_utils import uuidutils
import pytest

from magnum_lite import objects
from magnum_lite.common import context as ctx
from tests.unit.api.conftest import PROJECT_A, TEMPLATE, Client, db_snapshot, error_of

UNSET = object()
TEMPLATES = "/v1/clustertemplates"
CLUSTERS = "/v1/clusters"
QUOTAS = "/v1/quotas"
UNKNOWN_UUID = "8d5f4b1e-9c2a-4a55-b8a5-5a7f6d9e0c11"


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    method: str
    url: str
    field: str
    body: Any = UNSET
    raw: bytes | None = None
    headers: tuple = ()
    status: int = 400
    who: str = "member"


CASES: list[Case] = []


def case(*args: Any, **kwargs: Any) -> None:
    CASES.append(Case(*args, **kwargs))


# --- POST /v1/clustertemplates: every field, with values of the wrong kind ---------------

TEMPLATE_BAD_VALUES = {
    "name": [123, "", "x" * 256, ["a"], {"a": 1}, True, "a\x00b", "\ud800"],
    "coe": ["k8s", 1, "", "KUBERNETES", ["kubernetes"]],
    "image_id": ["", 5, "x" * 256, "no-such-image", ["fedora-coreos-40"]],
    "flavor_id": ["", 1, "x" * 256, "m9.huge"],
    "master_flavor_id": ["", 2, "m9.huge"],
    "keypair_id": ["", 3],  # an unknown keypair is checked at cluster create (Magnum)
    "external_network_id": ["", 1, "nonet"],
    "fixed_network": ["", "nonet"],
    "fixed_subnet": ["", "nosubnet"],
    "network_driver": ["docker", "", 7],
    "volume_driver": ["rexray", 7, ""],
    "apiserver_port": [80, 65536, "abc", 1.5, True, -1, 10**20, "8080.5"],
    "docker_volume_size": [0, -5, "big", 1.5, 2**31, True, []],
    "docker_storage_driver": ["", 3, "x" * 256],
    "cluster_distro": ["", 5],
    "dns_nameserver": ["8.8.8.x", "not-an-ip", 5, "1.1.1.1,,", "x" * 256],
    "http_proxy": ["", 1, "x" * 256],
    "https_proxy": ["x" * 256, 4],
    "no_proxy": ["x" * 256, []],
    "registry_enabled": ["maybe", 2, [], {}],
    "tls_disabled": ["sure", 3],
    "public": ["yes please", 1],
    "hidden": ["nope", []],
    "server_type": ["vmware", 1, "", "VM"],
    "master_lb_enabled": ["x", 0.5],
    "floating_ip_enabled": ["x"],
    "labels": ["a=b", [1], {"k": [1]}, {"k": {"a": 1}}, {"": "v"}, {"k" * 256: "v"},
               {"k": "a\x00"}, 5],
    "insecure_registry": ["x" * 256, 9],
    "tags": ["x" * 256, 5],
    "driver": ["x" * 256, 5],
}
for _field, _values in TEMPLATE_BAD_VALUES.items():
    for _i, _value in enumerate(_values):
        case(f"template-{_field}-{_i}", "POST", TEMPLATES, _field,
             body={**TEMPLATE, _field: _value})

for _field in ("uuid", "project_id", "user_id", "created_at", "updated_at", "links"):
    case(f"template-read-only-{_field}", "POST", TEMPLATES, _field,
         body={**TEMPLATE, _field: "x"})
for _field in ("foo", "bays", "node_count", "id"):
    case(f"template-unknown-{_field}", "POST", TEMPLATES, _field,
         body={**TEMPLATE, _field: 1})
for _field in ("image_id", "coe"):
    case(f"template-missing-{_field}", "POST", TEMPLATES, _field,
         body={k: v for k, v in TEMPLATE.items() if k != _field})
    case(f"template-null-{_field}", "POST", TEMPLATES, _field, body={**TEMPLATE, _field: None})
for _flag in ("public", "hidden"):
    case(f"template-{_flag}-by-member", "POST", TEMPLATES, "public or hidden",
         body={**TEMPLATE, _flag: True}, status=403)

# --- request bodies that are not what JSON endpoints take ---------------------------------

BAD_BODIES = {
    "malformed": b'{"name": ',
    "trailing-garbage": b'{"name": "x"} x',
    "empty": b"",
    "whitespace": b"   ",
    "non-utf8": b'{"name": "\xff\xfe"}',
    "nan": b'{"coe": "kubernetes", "image_id": "x", "docker_volume_size": NaN}',
    "infinity": b'{"docker_volume_size": Infinity}',
    "deep": b"[" * 20000 + b"]" * 20000,
    "huge-int": b'{"docker_volume_size": 1' + b"0" * 5000 + b"}",
    "single-quotes": b"{'name': 'x'}",
}
for _name, _raw in BAD_BODIES.items():
    case(f"template-body-{_name}", "POST", TEMPLATES, "request body", raw=_raw)
    case(f"cluster-body-{_name}", "POST", CLUSTERS, "request body", raw=_raw)
for _name, _body in {"list": [TEMPLATE], "string": "k8s", "number": 5, "null": None,
                     "true": True}.items():
    case(f"template-body-{_name}", "POST", TEMPLATES, "request body", body=_body)
    case(f"cluster-body-{_name}", "POST", CLUSTERS, "request body", body=_body)
case("template-body-text-plain", "POST", TEMPLATES, "Content-Type", raw=b"name=x",
     headers=(("Content-Type", "text/plain"),), status=415)
case("template-body-form", "POST", TEMPLATES, "Content-Type", raw=b"name=x",
     headers=(("Content-Type", "application/x-www-form-urlencoded"),), status=415)
case("cluster-body-xml", "POST", CLUSTERS, "Content-Type", raw=b"<cluster/>",
     headers=(("Content-Type", "application/xml"),), status=415)
case("template-body-too-large", "POST", TEMPLATES, "max_request_body_size",
     body={**TEMPLATE, "labels": {f"k{i}": "v" * 100 for i in range(2000)}}, status=413)

# --- PATCH /v1/clustertemplates/k8s ---------------------------------------------------------

K8S = f"{TEMPLATES}/k8s"
BAD_PATCH_DOCUMENTS = {
    "object": {"op": "replace", "path": "/name", "value": "x"},
    "string": "replace name",
    "number": 5,
    "empty": [],
    "item-not-object": [1],
    "item-string": ["/name"],
    "op-missing": [{"path": "/name", "value": "x"}],
    "op-move": [{"op": "move", "from": "/name", "path": "/tags"}],
    "op-copy": [{"op": "copy", "from": "/name", "path": "/tags"}],
    "op-test": [{"op": "test", "path": "/name", "value": "k8s"}],
    "op-upper": [{"op": "REPLACE", "path": "/name", "value": "x"}],
    "op-number": [{"op": 1, "path": "/name", "value": "x"}],
    "path-missing": [{"op": "replace", "value": "x"}],
    "path-empty": [{"op": "replace", "path": "", "value": "x"}],
    "path-root": [{"op": "replace", "path": "/", "value": "x"}],
    "path-relative": [{"op": "replace", "path": "name", "value": "x"}],
    "path-number": [{"op": "replace", "path": 5, "value": "x"}],
    "path-bad-escape": [{"op": "replace", "path": "/na~2me", "value": "x"}],
    "unknown-member": [{"op": "replace", "path": "/name", "value": "x", "extra": 1}],
    "second-op-bad": [{"op": "replace", "path": "/name", "value": "x"}, {"op": "move"}],
}
for _name, _body in BAD_PATCH_DOCUMENTS.items():
    case(f"template-patch-{_name}", "PATCH", K8S, "patch", body=_body)
    case(f"cluster-patch-{_name}", "PATCH", f"{CLUSTERS}/c1", "patch", body=_body)


def _op(path: str, value: Any = UNSET, op: str = "replace") -> list:
    operation = {"op": op, "path": path}
    if value is not UNSET:
        operation["value"] = value
    return [operation]


TEMPLATE_BAD_PATCHES = [
    ("uuid", _op("/uuid", UNKNOWN_UUID)), ("id", _op("/id", 5)),
    ("project_id", _op("/project_id", "p")), ("user_id", _op("/user_id", "u")),
    ("created_at", _op("/created_at", "2020-01-01")), ("updated_at", _op("/updated_at", "x")),
    ("links", _op("/links", [])), ("nonexistent", _op("/nonexistent", 1)),
    ("nonexistent", _op("/nonexistent", op="remove")),
    ("labels", _op("/labels/a/b", "c")), ("name", _op("/name/x", "c")),
    ("coe", _op("/coe", "k8s")), ("coe", _op("/coe", op="remove")),
    ("image_id", _op("/image_id", "")), ("image_id", _op("/image_id", op="remove")),
    ("image_id", _op("/image_id", "no-such-image")),
    ("apiserver_port", _op("/apiserver_port", 1)),
    ("docker_volume_size", _op("/docker_volume_size", "x")),
    ("docker_volume_size", _op("/docker_volume_size", -1)),
    ("labels", _op("/labels", "not a dict")), ("labels", _op("/labels", "{'a': [1]}")),
    ("labels", _op("/labels", [1, 2])), ("labels", _op("/labels", "__import__('os')")),
    ("labels/missing", _op("/labels/missing", "v")),
    ("labels/missing", _op("/labels/missing", op="remove")),
    ("labels", _op("/labels/kube_tag", ["v"])),
    ("network_driver", _op("/network_driver", "docker")),
    ("volume_driver", _op("/volume_driver", "rexray")),
    ("flavor_id", _op("/flavor_id", "m9.huge")), ("keypair_id", _op("/keypair_id", "")),
    ("dns_nameserver", _op("/dns_nameserver", "x")), ("server_type", _op("/server_type", "x")),
    ("tls_disabled", _op("/tls_disabled", "perhaps")), ("name", _op("/name", "")),
    ("name", _op("/name", "x" * 256)), ("name", _op("/name", op="add")),
    ("name", _op("/name", None)), ("name", [{"op": "remove", "path": "/name", "value": "x"}]),
    ("fixed_subnet", _op("/fixed_subnet", "nosubnet")),
]
for _i, (_field, _body) in enumerate(TEMPLATE_BAD_PATCHES):
    case(f"template-patch-{_field}-{_i}", "PATCH", K8S, _field, body=_body)
case("template-patch-public-by-member", "PATCH", K8S, "public or hidden",
     body=_op("/public", True), status=403)
case("template-patch-hidden-by-member", "PATCH", K8S, "public or hidden",
     body=_op("/hidden", True), status=403)

# --- GET query parameters of lists --------------------------------------------------------

BAD_QUERIES = [
    ("limit", "limit=-1"), ("limit", "limit=abc"), ("limit", "limit=1.5"),
    ("limit", "limit=99999999999"), ("limit", "limit="), ("limit", "limit=1&limit=2"),
    ("marker", "marker=not-a-uuid"), ("marker", f"marker={UNKNOWN_UUID}"), ("marker", "marker="),
    ("sort_key", "sort_key=labels"), ("sort_key", "sort_key=trustee_password"),
    ("sort_key", "sort_key=nope"), ("sort_key", "sort_key=links"),
    ("sort_dir", "sort_dir=up"), ("sort_dir", "sort_dir=ASC"),
    ("sort_dir", "sort_dir=asc&sort_dir=desc"),
]
for _i, (_field, _query) in enumerate(BAD_QUERIES):
    for _name, _url in (("templates", TEMPLATES), ("clusters-detail", f"{CLUSTERS}/detail")):
        case(f"{_name}-query-{_field}-{_i}", "GET", f"{_url}?{_query}", _field)

# --- POST /v1/clusters -------------------------------------------------------------------

CLUSTER = {"name": "c2", "cluster_template_id": "k8s"}
CLUSTER_BAD_VALUES = {
    "name": ["1abc", "-x", "a b", "x" * 243, "", 5, "é", "a/b", "a\x00"],
    "cluster_template_id": ["", 5, "nope", UNKNOWN_UUID, "x" * 256, ["k8s"]],
    "node_count": [-1, 1001, "abc", 1.5, True, [], 2**40, "1e3"],
    "master_count": [0, -1, 101, "x", 2, 1.0],
    "create_timeout": [-1, 10081, "soon", 1.5, False],
    "docker_volume_size": [0, "x", -3],
    "keypair": ["", 5],
    "flavor_id": ["", "m9.huge", 3],
    "master_flavor_id": ["m9.huge", ""],
    "labels": ["x", {"a": [1]}, {"": "v"}, [["a", "b"]]],
    "discovery_url": [5, "x" * 256, ""],
    "fixed_network": ["", 8],
    "fixed_subnet": [7, ""],
    "floating_ip_enabled": ["sometimes", 3],
    "master_lb_enabled": [3, "x"],
    "merge_labels": ["x", 2],
}
for _field, _values in CLUSTER_BAD_VALUES.items():
    for _i, _value in enumerate(_values):
        case(f"cluster-{_field}-{_i}", "POST", CLUSTERS, _field, body={**CLUSTER, _field: _value})
for _field in ("uuid", "status", "status_reason", "stack_id", "cluster_id", "api_address",
               "project_id", "user_id", "node_addresses", "master_addresses", "version",
               "driver_id", "driver_version", "faults", "labels_added", "health_status",
               "coe_version", "links", "created_at"):
    case(f"cluster-read-only-{_field}", "POST", CLUSTERS, _field, body={**CLUSTER, _field: "x"})
for _field in ("foo", "nodegroups", "image_id", "coe"):
    case(f"cluster-unknown-{_field}", "POST", CLUSTERS, _field, body={**CLUSTER, _field: 1})
# Magnum's KeyPairNotFound is a 404, even to this POST.
case("cluster-keypair-unknown", "POST", CLUSTERS, "keypair",
     body={**CLUSTER, "keypair": "nokey"}, status=404)
case("cluster-missing-template", "POST", CLUSTERS, "cluster_template_id", body={"name": "c2"})
case("cluster-null-template", "POST", CLUSTERS, "cluster_template_id",
     body={"name": "c2", "cluster_template_id": None})
case("cluster-zero-nodes-before-1.10", "POST", CLUSTERS, "node_count",
     body={**CLUSTER, "node_count": 0},
     headers=(("OpenStack-API-Version", "container-infra 1.9"),))

# --- PATCH /v1/clusters/c1 ---------------------------------------------------------------

C1 = f"{CLUSTERS}/c1"
CLUSTER_BAD_PATCHES = [
    ("name", _op("/name", "c9")), ("master_count", _op("/master_count", 3)),
    ("labels", _op("/labels/a", "b", op="add")), ("status", _op("/status", "CREATE_FAILED")),
    ("uuid", _op("/uuid", UNKNOWN_UUID)), ("keypair", _op("/keypair", "mykey")),
    ("stack_id", _op("/stack_id", "s")), ("health_status", _op("/health_status", "HEALTHY")),
    ("node_count", _op("/node_count", -1)), ("node_count", _op("/node_count", "x")),
    ("node_count", _op("/node_count", 1001)), ("node_count", _op("/node_count", 1.5)),
    ("node_count", _op("/node_count", op="remove")), ("node_count", _op("/node_count")),
    ("node_count", _op("/node_count", None)), ("node_count", _op("/node_count", [3])),
    ("node_count", _op("/node_count/x", 3)), ("node_count", _op("/node_count", True)),
]
for _i, (_field, _body) in enumerate(CLUSTER_BAD_PATCHES):
    case(f"cluster-patch-{_field}-{_i}", "PATCH", C1, _field, body=_body)
case("cluster-patch-rollback-not-boolean", "PATCH", f"{C1}?rollback=maybe", "rollback",
     body=_op("/node_count", 3))
case("cluster-patch-rollback-before-1.3", "PATCH", f"{C1}?rollback=true", "rollback",
     body=_op("/node_count", 3), headers=(("OpenStack-API-Version", "container-infra 1.2"),))
case("cluster-patch-zero-before-1.10", "PATCH", C1, "node_count", body=_op("/node_count", 0),
     headers=(("OpenStack-API-Version", "container-infra 1.9"),))

# --- quotas (as an admin) and stats --------------------------------------------------------

QUOTA = {"project_id": "p-new", "resource": "Cluster", "hard_limit": 3}
QUOTA_BAD_VALUES = {
    "project_id": ["", 5, "x" * 256, ["p"]],
    "resource": ["Node", 5, "cluster", ""],
    "hard_limit": [-2, "x", 1.5, 2**31, True, [], "-5"],
}
for _field, _values in QUOTA_BAD_VALUES.items():
    for _i, _value in enumerate(_values):
        case(f"quota-{_field}-{_i}", "POST", QUOTAS, _field, body={**QUOTA, _field: _value},
             who="admin")
case("quota-missing-project", "POST", QUOTAS, "project_id",
     body={"resource": "Cluster", "hard_limit": 3}, who="admin")
case("quota-unknown-field", "POST", QUOTAS, "limit", body={**QUOTA, "limit": 3}, who="admin")
case("quota-read-only-id", "POST", QUOTAS, "id", body={**QUOTA, "id": 3}, who="admin")
case("quota-body-list", "POST", QUOTAS, "request body", body=[QUOTA], who="admin")
PQ = f"{QUOTAS}/p-quota/Cluster"
for _i, (_field, _body) in enumerate([
    ("hard_limit", {}), ("hard_limit", {"hard_limit": -2}), ("hard_limit", {"hard_limit": "x"}),
    ("hard_limit", {"hard_limit": None}), ("project_id", {"project_id": "other",
                                                          "hard_limit": 2}),
    ("resource", {"resource": "Node", "hard_limit": 2}), ("foo", {"foo": 1, "hard_limit": 2}),
    ("request body", [{"op": "replace", "path": "/hard_limit", "value": 2}]),
    ("request body", "x"),
]):
    case(f"quota-patch-{_field}-{_i}", "PATCH", PQ, _field, body=_body, who="admin")
case("quota-patch-bad-resource-in-url", "PATCH", f"{QUOTAS}/p-quota/Nodes", "resource",
     body={"hard_limit": 2}, who="admin")
case("quota-delete-bad-resource-in-url", "DELETE", f"{QUOTAS}/p-quota/Nodes", "resource",
     who="admin")
case("quota-get-bad-resource-in-url", "GET", f"{QUOTAS}/p-quota/Nodes", "resource")
case("quota-get-long-project-in-url", "GET", f"{QUOTAS}/{'x' * 256}/Cluster", "project_id",
     who="admin")
for _i, (_field, _query) in enumerate([
    ("marker", "marker=abc"), ("marker", "marker=0"), ("marker", "marker=999"),
    ("limit", "limit=x"), ("sort_key", "sort_key=bogus"), ("sort_dir", "sort_dir=sideways"),
    ("all_tenants", "all_tenants=maybe"),
]):
    case(f"quota-query-{_field}-{_i}", "GET", f"{QUOTAS}?{_query}", _field, who="admin")
case("stats-type", "GET", "/v1/stats?type=pods", "type")
case("stats-other-project", "GET", "/v1/stats?project_id=project-b", "project_id", status=403)
case("stats-long-project", "GET", f"/v1/stats?project_id={'x' * 256}", "project_id")
case("stats-duplicate-type", "GET", "/v1/stats?type=cluster&type=cluster", "type")

# --- headers and URLs ----------------------------------------------------------------------

for _i, _value in enumerate(["container-infra 1.x", "container-infra", "container-infra 1",
                             "container-infra 1.2.3"]):
    case(f"version-malformed-{_i}", "POST", TEMPLATES, "OpenStack-API-Version", body=TEMPLATE,
         headers=(("OpenStack-API-Version", _value),))
for _i, _value in enumerate(["container-infra 1.0", "container-infra 1.99",
                             "container-infra 2.1"]):
    case(f"version-unsupported-{_i}", "POST", CLUSTERS, "supported version range",
         body=CLUSTER, headers=(("OpenStack-API-Version", _value),), status=406)
for _i, _url in enumerate([f"{TEMPLATES}/%FF", f"{CLUSTERS}/%C3%28", f"{CLUSTERS}/a%00b"]):
    case(f"url-undecodable-{_i}", "DELETE", _url, "URL")
case("query-undecodable", "GET", f"{CLUSTERS}?marker=%FF", "query string")
case("method-override", "POST", f"{CLUSTERS}/c1?_method=DELETE", "_method", body={})


IDS = [c.id for c in CASES]
assert len(IDS) == len(set(IDS)), "case ids must be unique"


def test_there_are_at_least_200_distinct_bad_requests():
    assert len(CASES) >= 200
    assert len({(c.method, c.url, repr(c.body), c.raw, c.headers) for c in CASES}) == len(CASES)


@pytest.fixture
def world(app, member, admin, config, casts):
    """A template, a finished cluster and a quota (written directly: there are many cases)."""
    context = ctx.get_admin_context()
    template = objects.ClusterTemplate(
        context, project_id=PROJECT_A, user_id="user-1", name="k8s", coe="kubernetes",
        image_id="fedora-coreos-40", flavor_id="m1.small", master_flavor_id="m1.medium",
        keypair_id="mykey", network_driver="flannel", server_type="vm",
        labels={"kube_tag": "v1.30.1"})
    template.create()
    cluster = objects.Cluster(
        context, uuid=uuidutils.generate_uuid(), name="c1", project_id=PROJECT_A,
        user_id="user-1", cluster_template_id=template.uuid, status="CREATE_COMPLETE",
        create_timeout=60, version=1, labels={})
    cluster.create_with_nodegroups([
        {"name": "default-master", "role": "master", "node_count": 1, "is_default": True,
         "project_id": PROJECT_A},
        {"name": "default-worker", "role": "worker", "node_count": 2, "is_default": True,
         "project_id": PROJECT_A}], context=context)
    objects.Quota(context, project_id="p-quota", resource="Cluster", hard_limit=5).create()
    config.set_override("max_request_body_size", 64 * 1024, group="oslo_middleware")
    return {"member": member, "admin": admin}


def _send(client: Client, bad: Case):
    headers = client._headers(dict(bad.headers))
    if bad.raw is not None:
        headers.setdefault("Content-Type", "application/json")
        return client.app.request(bad.url, method=bad.method, body=bad.raw, headers=headers,
                                  expect_errors=True)
    if bad.body is UNSET:
        return client.app.request(bad.url, method=bad.method, headers=headers,
                                  expect_errors=True)
    body = json.dumps(bad.body).encode("utf-8")
    headers.setdefault("Content-Type", "application/json")
    return client.app.request(bad.url, method=bad.method, body=body, headers=headers,
                              expect_errors=True)


@pytest.mark.parametrize("bad", CASES, ids=IDS)
def test_bad_input_is_refused_naming_the_field_and_changes_nothing(world, db, casts, bad):
    before = db_snapshot(db)
    response = _send(world[bad.who], bad)
    assert response.status_int == bad.status, response.text
    error = error_of(response)
    assert bad.field in error["detail"], error
    assert db_snapshot(db) == before
    assert casts == []
