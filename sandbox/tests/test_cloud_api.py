"""The sandbox's stand-in Glance, Nova, Neutron and Octavia, in process through webtest.

Identity comes from the X-Project-Id/X-User-Id/X-Roles headers, as keystonemiddleware would set
them; the shapes checked are those of the real services' APIs.
"""

import pytest
import webtest

from magnum_lite_sandbox.cloud_api import base, glance, neutron, nova, octavia, store

DEMO = "1a1a1a1a1a1a4a1a8a1a1a1a1a1a1a1a"
ALT = "2b2b2b2b2b2b4b2b8b2b2b2b2b2b2b2b"
DEMO_USER = "d0d0d0d0d0d04d0d8d0d0d0d0d0d0d0d"
ALT_USER = "e0e0e0e0e0e04e0e8e0e0e0e0e0e0e0e"
ADMIN_PROJECT = "a0a0a0a0a0a04a0a8a0a0a0a0a0a0a0a"
ADMIN_USER = "f0f0f0f0f0f04f0f8f0f0f0f0f0f0f0f"
PUBLIC_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl "
              "demo@sandbox")
UBUNTU = store.SEED_IMAGES[0][0]
QUEUED = store.SEED_IMAGES[3][0]


def who(project: str = DEMO, user: str = DEMO_USER, roles: str = "member") -> dict:
    return {"X-Project-Id": project, "X-User-Id": user, "X-Roles": roles}


DEMO_H = who()
ALT_H = who(ALT, ALT_USER)
ADMIN_H = who(ADMIN_PROJECT, ADMIN_USER, "admin,member")
NOVA_LATEST = {**DEMO_H, "OpenStack-API-Version": "compute latest"}


@pytest.fixture
def cloud() -> store.Store:
    return store.Store(lb_delay=0)


@pytest.fixture
def image_api(cloud) -> webtest.TestApp:
    return webtest.TestApp(glance.GlanceApp(cloud))


@pytest.fixture
def compute_api(cloud) -> webtest.TestApp:
    return webtest.TestApp(nova.NovaApp(cloud))


@pytest.fixture
def network_api(cloud) -> webtest.TestApp:
    return webtest.TestApp(neutron.NeutronApp(cloud))


@pytest.fixture
def lb_api(cloud) -> webtest.TestApp:
    return webtest.TestApp(octavia.OctaviaApp(cloud))


def private_network(api: webtest.TestApp, headers: dict) -> dict:
    return api.get("/v2.0/networks", {"name": "private"}, headers=headers).json["networks"][0]


# Common behaviour


@pytest.mark.parametrize("app_class", [glance.GlanceApp, nova.NovaApp, neutron.NeutronApp,
                                       octavia.OctaviaApp])
def test_every_answer_carries_a_request_id(cloud, app_class):
    api = webtest.TestApp(app_class(cloud))
    for response in (api.get("/", headers=DEMO_H, status="*"),
                     api.get("/no/such/path", headers=DEMO_H, status=404)):
        assert response.headers["X-Openstack-Request-Id"].startswith("req-")


def test_identity_defaults_without_headers():
    identity = base.identity_from_environ({})
    assert identity == base.Identity(base.DEFAULT_PROJECT_ID, base.DEFAULT_USER_ID, ("member",))
    assert not identity.is_admin


def test_unsupported_method_is_405(network_api):
    response = network_api.put_json("/v2.0/networks", {}, headers=DEMO_H, status=405)
    assert response.json["NeutronError"]["type"] == "HTTPMethodNotAllowed"


# Glance


def test_glance_root_lists_versions_with_300(image_api):
    response = image_api.get("/", status=300)
    versions = response.json["versions"]
    assert versions[0]["status"] == "CURRENT"
    assert versions[0]["links"][0]["href"] == "http://localhost/v2/"
    assert image_api.get("/versions").json == response.json


def test_glance_lists_the_seeded_catalog_newest_first(image_api):
    body = image_api.get("/v2/images", headers=DEMO_H).json
    names = [image["name"] for image in body["images"]]
    assert names == ["ubuntu-24.04-uploading", "fedora-40", "fedora-coreos-40", "ubuntu-22.04"]
    assert body["schema"] == "/v2/schemas/images"
    assert body["first"] == "/v2/images"
    assert "next" not in body
    distros = {image["name"]: image["os_distro"] for image in body["images"]}
    assert distros["fedora-coreos-40"] == "fedora-coreos"
    assert distros["ubuntu-22.04"] == "ubuntu"


def test_glance_image_document_shape(image_api):
    image = image_api.get(f"/v2/images/{UBUNTU}", headers=DEMO_H).json
    assert image["status"] == "active"
    assert image["visibility"] == "public"
    assert image["self"] == f"/v2/images/{UBUNTU}"
    assert image["os_distro"] == "ubuntu"
    for field in ("owner", "checksum", "size", "disk_format", "container_format", "created_at",
                  "protected", "os_hidden", "tags", "min_ram", "min_disk", "file", "schema"):
        assert field in image
    queued = image_api.get(f"/v2/images/{QUEUED}", headers=DEMO_H).json
    assert queued["status"] == "queued"
    assert queued["size"] is None


def test_glance_filters_by_name_and_property(image_api):
    by_name = image_api.get("/v2/images", {"name": "fedora-40"}, headers=DEMO_H).json
    assert [i["name"] for i in by_name["images"]] == ["fedora-40"]
    assert by_name["first"] == "/v2/images?name=fedora-40"
    by_distro = image_api.get("/v2/images", {"os_distro": "ubuntu", "status": "active"},
                              headers=DEMO_H).json
    assert [i["id"] for i in by_distro["images"]] == [UBUNTU]
    assert image_api.get("/v2/images", {"name": "nope"}, headers=DEMO_H).json["images"] == []


def test_glance_pages_with_next_links(image_api):
    first = image_api.get("/v2/images", {"limit": 3, "sort_key": "name", "sort_dir": "asc"},
                          headers=DEMO_H).json
    assert [i["name"] for i in first["images"]] == [
        "fedora-40", "fedora-coreos-40", "ubuntu-22.04"]
    assert first["next"].startswith("/v2/images?")
    follow = image_api.get(first["next"], headers=DEMO_H).json
    assert [i["name"] for i in follow["images"]] == ["ubuntu-24.04-uploading"]
    assert "next" not in follow


def test_glance_bad_list_parameters_are_400(image_api):
    image_api.get("/v2/images", {"limit": "x"}, headers=DEMO_H, status=400)
    image_api.get("/v2/images", {"marker": "nope"}, headers=DEMO_H, status=400)
    image_api.get("/v2/images", {"sort_key": "owner_secret"}, headers=DEMO_H, status=400)
    image_api.get("/v2/images", {"visibility": "everyone"}, headers=DEMO_H, status=400)


def test_glance_404_is_webob_json_when_accepted(image_api):
    missing = "00000000-0000-4000-8000-000000000000"
    response = image_api.get(f"/v2/images/{missing}",
                             headers={**DEMO_H, "Accept": "application/json"}, status=404)
    assert response.json["code"] == "404 Not Found"
    assert f"No image found with ID {missing}" in response.json["message"]
    html = image_api.get(f"/v2/images/{missing}", headers={**DEMO_H, "Accept": "text/html"},
                         status=404)
    assert "<h1>404 Not Found</h1>" in html.text


def test_glance_private_images_are_the_owners_only(cloud, image_api):
    image_id = "3c3c3c3c-3c3c-43c3-83c3-3c3c3c3c3c3c"
    cloud.images[image_id] = store.new_image(image_id, "demo-private", owner=DEMO,
                                             visibility="private",
                                             properties={"os_distro": "ubuntu"})
    assert image_api.get(f"/v2/images/{image_id}", headers=DEMO_H).json["name"] == "demo-private"
    image_api.get(f"/v2/images/{image_id}", headers=ALT_H, status=404)
    alt_names = [i["name"] for i in image_api.get("/v2/images", headers=ALT_H).json["images"]]
    assert "demo-private" not in alt_names
    admin_names = [i["name"] for i in
                   image_api.get("/v2/images", headers=ADMIN_H).json["images"]]
    assert "demo-private" in admin_names


# Nova


def test_nova_root_and_version_documents(compute_api):
    versions = compute_api.get("/").json["versions"]
    assert [v["id"] for v in versions] == ["v2.0", "v2.1"]
    current = compute_api.get("/v2.1/").json["version"]
    assert current["min_version"] == "2.1"
    assert current["version"] == nova._fmt(nova.MAX_VERSION)


def test_nova_flavor_list_and_detail_shapes(compute_api):
    index = compute_api.get("/v2.1/flavors", headers=DEMO_H).json["flavors"]
    assert [f["name"] for f in index] == ["m1.small", "m1.medium", "m1.large", "bm.small",
                                          "bm.large", "sandbox.fail", "sandbox.hang"]
    assert set(index[0]) == {"id", "name", "links"}
    detail = compute_api.get("/v2.1/flavors/detail", headers=DEMO_H).json["flavors"]
    small = detail[0]
    assert small["ram"] == 2048 and small["vcpus"] == 1 and small["disk"] == 20
    assert small["swap"] == ""  # 2.1 shows no swap as an empty string
    assert small["os-flavor-access:is_public"] is True
    assert small["links"][0] == {"rel": "self",
                                 "href": "http://localhost/v2.1/flavors/2"}
    assert "extra_specs" not in small


def test_nova_flavor_microversion_fields(compute_api):
    response = compute_api.get("/v2.1/flavors/bm1", headers=NOVA_LATEST)
    flavor = response.json["flavor"]
    assert flavor["swap"] == 0
    assert flavor["description"] is None
    assert flavor["extra_specs"]["resources:CUSTOM_BAREMETAL"] == "1"
    assert flavor["extra_specs"]["resources:VCPU"] == "0"
    assert response.headers["OpenStack-API-Version"] == "compute 2.96"
    assert response.headers["X-OpenStack-Nova-API-Version"] == "2.96"


def test_nova_baremetal_extra_specs_api(compute_api):
    specs = compute_api.get("/v2.1/flavors/bm1/os-extra_specs", headers=DEMO_H).json
    assert specs["extra_specs"]["resources:CUSTOM_BAREMETAL"] == "1"
    one = compute_api.get("/v2.1/flavors/bm1/os-extra_specs/resources:CUSTOM_BAREMETAL",
                          headers=DEMO_H).json
    assert one == {"resources:CUSTOM_BAREMETAL": "1"}
    assert compute_api.get("/v2.1/flavors/2/os-extra_specs", headers=DEMO_H).json == {
        "extra_specs": {}}


def test_nova_flavor_filters_and_pages(compute_api):
    big = compute_api.get("/v2.1/flavors/detail", {"minRam": 8192}, headers=DEMO_H).json
    assert [f["name"] for f in big["flavors"]] == ["m1.large", "bm.small", "bm.large"]
    page = compute_api.get("/v2.1/flavors", {"limit": 2}, headers=DEMO_H).json
    assert [f["id"] for f in page["flavors"]] == ["2", "3"]
    next_href = page["flavors_links"][0]["href"]
    assert page["flavors_links"][0]["rel"] == "next" and "marker=3" in next_href
    rest = compute_api.get("/v2.1/flavors", {"marker": "3"}, headers=DEMO_H).json
    assert [f["id"] for f in rest["flavors"]] == ["4", "bm1", "bm2", "f1", "h1"]
    assert "flavors_links" not in rest
    compute_api.get("/v2.1/flavors", {"is_public": "None"}, headers=DEMO_H)


def test_nova_errors_use_nova_fault_documents(compute_api):
    missing = compute_api.get("/v2.1/flavors/99", headers=DEMO_H, status=404).json
    assert missing == {"itemNotFound": {"code": 404,
                                        "message": "Flavor 99 could not be found."}}
    bad = compute_api.get("/v2.1/flavors", {"marker": "nope"}, headers=DEMO_H, status=400)
    assert bad.json["badRequest"]["message"] == "marker [nope] not found"
    compute_api.get("/v2.1/flavors", {"minRam": "lots"}, headers=DEMO_H, status=400)
    compute_api.get("/v2.1/flavors", {"is_public": "maybe"}, headers=DEMO_H, status=400)
    too_new = compute_api.get("/v2.1/flavors", headers={**DEMO_H,
                                                        "OpenStack-API-Version": "compute 3.0"},
                              status=406)
    assert "maximum is 2.96" in too_new.json["computeFault"]["message"]


def test_nova_accepts_the_legacy_project_id_path(compute_api):
    flavors = compute_api.get(f"/v2.1/{DEMO}/flavors", headers=DEMO_H).json["flavors"]
    assert len(flavors) == len(store.SEED_FLAVORS)


def test_nova_servers_are_empty(compute_api):
    assert compute_api.get("/v2.1/servers", headers=DEMO_H).json == {"servers": []}
    assert compute_api.get("/v2.1/servers/detail", headers=DEMO_H).json == {"servers": []}
    compute_api.get("/v2.1/servers/abc", headers=DEMO_H, status=404)


def test_nova_keypair_lifecycle_at_2_1(compute_api):
    created = compute_api.post_json("/v2.1/os-keypairs",
                                    {"keypair": {"name": "demo", "public_key": PUBLIC_KEY}},
                                    headers=DEMO_H, status=200).json["keypair"]
    assert created["user_id"] == DEMO_USER
    assert created["fingerprint"].count(":") == 15
    assert "type" not in created and "private_key" not in created
    listed = compute_api.get("/v2.1/os-keypairs", headers=DEMO_H).json
    assert listed == {"keypairs": [{"keypair": {"name": "demo", "public_key": PUBLIC_KEY,
                                                "fingerprint": created["fingerprint"]}}]}
    shown = compute_api.get("/v2.1/os-keypairs/demo", headers=DEMO_H).json["keypair"]
    assert shown["user_id"] == DEMO_USER and shown["deleted"] is False
    assert isinstance(shown["id"], int)
    compute_api.delete("/v2.1/os-keypairs/demo", headers=DEMO_H, status=202)
    missing = compute_api.get("/v2.1/os-keypairs/demo", headers=DEMO_H, status=404).json
    assert missing["itemNotFound"]["message"] == f"Keypair demo not found for user {DEMO_USER}"


def test_nova_keypair_microversions(compute_api):
    generated = compute_api.post_json(
        "/v2.1/os-keypairs", {"keypair": {"name": "gen"}},
        headers={**DEMO_H, "OpenStack-API-Version": "compute 2.2"}, status=201).json["keypair"]
    assert generated["type"] == "ssh"
    assert generated["private_key"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert generated["public_key"].startswith("ssh-rsa ")
    compute_api.post_json("/v2.1/os-keypairs", {"keypair": {"name": "nokey"}},
                          headers=NOVA_LATEST, status=400)
    compute_api.delete("/v2.1/os-keypairs/gen", headers=NOVA_LATEST, status=204)


def test_nova_keypairs_belong_to_users_not_projects(compute_api):
    same_project_other_user = who(DEMO, ALT_USER)
    compute_api.post_json("/v2.1/os-keypairs",
                          {"keypair": {"name": "mine", "public_key": PUBLIC_KEY}},
                          headers=DEMO_H)
    compute_api.get("/v2.1/os-keypairs/mine", headers=same_project_other_user, status=404)
    assert compute_api.get("/v2.1/os-keypairs",
                           headers=same_project_other_user).json["keypairs"] == []
    # The other user may use the same name: names are unique per user.
    compute_api.post_json("/v2.1/os-keypairs",
                          {"keypair": {"name": "mine", "public_key": PUBLIC_KEY}},
                          headers=same_project_other_user)
    # An admin may look at another user's keypairs from 2.10 on; a member may not.
    admin = {**ADMIN_H, "OpenStack-API-Version": "compute 2.10"}
    compute_api.get(f"/v2.1/os-keypairs/mine?user_id={DEMO_USER}", headers=admin)
    member = {**ALT_H, "OpenStack-API-Version": "compute 2.10"}
    denied = compute_api.get(f"/v2.1/os-keypairs?user_id={DEMO_USER}", headers=member,
                             status=403)
    assert "os_compute_api:os-keypairs:index" in denied.json["forbidden"]["message"]


def test_nova_keypair_create_errors(compute_api):
    body = {"keypair": {"name": "dup", "public_key": PUBLIC_KEY}}
    compute_api.post_json("/v2.1/os-keypairs", body, headers=DEMO_H)
    conflict = compute_api.post_json("/v2.1/os-keypairs", body, headers=DEMO_H, status=409)
    assert conflict.json["conflictingRequest"]["message"] == "Key pair 'dup' already exists."
    compute_api.post_json("/v2.1/os-keypairs", {"keypair": {"name": "x", "public_key": "junk"}},
                          headers=DEMO_H, status=400)
    compute_api.post_json("/v2.1/os-keypairs", {"keypair": {"name": "bad/name"}},
                          headers=DEMO_H, status=400)
    compute_api.post("/v2.1/os-keypairs", "{not json", headers=DEMO_H, status=400)


def test_nova_keypair_list_pages_from_2_35(compute_api):
    for name in ("a", "b", "c"):
        compute_api.post_json("/v2.1/os-keypairs",
                              {"keypair": {"name": name, "public_key": PUBLIC_KEY}},
                              headers=DEMO_H)
    headers = {**DEMO_H, "OpenStack-API-Version": "compute 2.35"}
    page = compute_api.get("/v2.1/os-keypairs", {"limit": 2}, headers=headers).json
    assert [k["keypair"]["name"] for k in page["keypairs"]] == ["a", "b"]
    assert "marker=b" in page["keypairs_links"][0]["href"]
    rest = compute_api.get("/v2.1/os-keypairs", {"marker": "b"}, headers=headers).json
    assert [k["keypair"]["name"] for k in rest["keypairs"]] == ["c"]


# Neutron


def test_neutron_root_and_resources(network_api):
    assert network_api.get("/").json["versions"][0]["id"] == "v2.0"
    names = {r["collection"] for r in network_api.get("/v2.0").json["resources"]}
    assert names == {"networks", "subnets", "ports", "floatingips"}
    aliases = {e["alias"] for e in network_api.get("/v2.0/extensions",
                                                   headers=DEMO_H).json["extensions"]}
    assert {"external-net", "project-id", "pagination"} <= aliases
    network_api.get("/v2.0/extensions/external-net", headers=DEMO_H)
    network_api.get("/v2.0/extensions/dvr", headers=DEMO_H, status=404)


def test_neutron_seeded_networks(network_api):
    networks = network_api.get("/v2.0/networks", headers=DEMO_H).json["networks"]
    by_name = {n["name"]: n for n in networks}
    assert set(by_name) == {"public", "private"}
    assert by_name["public"]["router:external"] is True
    assert by_name["private"]["router:external"] is False
    assert by_name["private"]["project_id"] == DEMO == by_name["private"]["tenant_id"]
    assert by_name["private"]["id"] == store.derived_id("private-network", DEMO)
    subnet = network_api.get(f"/v2.0/subnets/{by_name['private']['subnets'][0]}",
                             headers=DEMO_H).json["subnet"]
    assert subnet["cidr"] == "10.0.0.0/24" and subnet["gateway_ip"] == "10.0.0.1"
    assert subnet["allocation_pools"] == [{"start": "10.0.0.2", "end": "10.0.0.254"}]


def test_neutron_filters_fields_and_pages(network_api):
    external = network_api.get("/v2.0/networks", {"router:external": "True"},
                               headers=DEMO_H).json["networks"]
    assert [n["name"] for n in external] == ["public"]
    both = network_api.get("/v2.0/networks?name=public&name=private", headers=DEMO_H).json
    assert len(both["networks"]) == 2
    only = network_api.get("/v2.0/networks?fields=id&fields=name", headers=DEMO_H).json
    assert all(set(n) == {"id", "name"} for n in only["networks"])
    paged = network_api.get("/v2.0/networks", {"limit": 1}, headers=DEMO_H).json
    assert len(paged["networks"]) == 1 and paged["networks_links"][0]["rel"] == "next"
    bad = network_api.get("/v2.0/networks", {"colour": "blue"}, headers=DEMO_H, status=400)
    assert bad.json["NeutronError"]["type"] == "HTTPBadRequest"


def test_neutron_404_body(network_api):
    missing = "00000000-0000-4000-8000-000000000000"
    body = network_api.get(f"/v2.0/networks/{missing}", headers=DEMO_H, status=404).json
    assert body == {"NeutronError": {"type": "NetworkNotFound", "detail": "",
                                     "message": f"Network {missing} could not be found."}}


def test_neutron_port_lifecycle_and_filters(network_api):
    network = private_network(network_api, DEMO_H)
    port = network_api.post_json("/v2.0/ports", {"port": {
        "network_id": network["id"], "name": "node-0", "device_owner": "compute:nova",
        "device_id": "server-1"}}, headers=DEMO_H, status=201).json["port"]
    assert port["fixed_ips"] == [{"subnet_id": network["subnets"][0],
                                  "ip_address": "10.0.0.2"}]
    assert port["mac_address"].startswith("fa:16:3e:")
    assert port["project_id"] == DEMO and port["status"] == "ACTIVE"
    second = network_api.post_json("/v2.0/ports", {"port": {"network_id": network["id"]}},
                                   headers=DEMO_H).json["port"]
    assert second["fixed_ips"][0]["ip_address"] == "10.0.0.3"
    for query in ({"device_owner": "compute:nova"}, {"device_id": "server-1"},
                  {"name": "node-0"}, {"network_id": network["id"], "name": "node-0"}):
        found = network_api.get("/v2.0/ports", query, headers=DEMO_H).json["ports"]
        assert [p["id"] for p in found] == [port["id"]], query
    network_api.delete(f"/v2.0/ports/{port['id']}", headers=DEMO_H, status=204)
    network_api.get(f"/v2.0/ports/{port['id']}", headers=DEMO_H, status=404)


def test_neutron_port_create_errors(network_api):
    missing = network_api.post_json("/v2.0/ports", {"port": {"name": "x"}}, headers=DEMO_H,
                                    status=400).json["NeutronError"]
    assert "network_id" in missing["message"]
    network_api.post_json("/v2.0/ports", {"port": {"network_id": "nope"}}, headers=DEMO_H,
                          status=404)
    unknown = network_api.post_json("/v2.0/ports", {"port": {"network_id": "x", "colour": 1}},
                                    headers=DEMO_H, status=400).json["NeutronError"]
    assert unknown["message"] == "Unrecognized attribute(s) 'colour'"


def test_neutron_tenant_isolation(network_api):
    demo_net = private_network(network_api, DEMO_H)
    alt_net = private_network(network_api, ALT_H)
    assert demo_net["id"] != alt_net["id"]
    network_api.get(f"/v2.0/networks/{demo_net['id']}", headers=ALT_H, status=404)
    network_api.get(f"/v2.0/subnets/{demo_net['subnets'][0]}", headers=ALT_H, status=404)
    network_api.post_json("/v2.0/ports", {"port": {"network_id": demo_net["id"]}},
                          headers=ALT_H, status=404)
    port = network_api.post_json("/v2.0/ports", {"port": {"network_id": demo_net["id"]}},
                                 headers=DEMO_H).json["port"]
    assert network_api.get("/v2.0/ports", headers=ALT_H).json["ports"] == []
    network_api.delete(f"/v2.0/ports/{port['id']}", headers=ALT_H, status=404)
    # The external network is everyone's to see, and admin sees every project's objects.
    assert [n["name"] for n in network_api.get("/v2.0/networks", headers=ALT_H).json[
        "networks"]] == ["public", "private"]
    admin_ports = network_api.get("/v2.0/ports", headers=ADMIN_H).json["ports"]
    assert [p["id"] for p in admin_ports] == [port["id"]]


def test_neutron_network_and_subnet_create_and_delete(network_api):
    net = network_api.post_json("/v2.0/networks", {"network": {"name": "k8s"}},
                                headers=DEMO_H, status=201).json["network"]
    assert net["project_id"] == DEMO and net["router:external"] is False
    subnet = network_api.post_json("/v2.0/subnets", {"subnet": {
        "network_id": net["id"], "cidr": "10.1.0.0/24", "ip_version": 4, "name": "k8s-sub"}},
        headers=DEMO_H, status=201).json["subnet"]
    assert subnet["gateway_ip"] == "10.1.0.1"
    port = network_api.post_json("/v2.0/ports", {"port": {"network_id": net["id"]}},
                                 headers=DEMO_H).json["port"]
    in_use = network_api.delete(f"/v2.0/networks/{net['id']}", headers=DEMO_H, status=409)
    assert in_use.json["NeutronError"]["type"] == "NetworkInUse"
    network_api.delete(f"/v2.0/ports/{port['id']}", headers=DEMO_H, status=204)
    network_api.delete(f"/v2.0/networks/{net['id']}", headers=DEMO_H, status=204)
    network_api.get(f"/v2.0/subnets/{subnet['id']}", headers=DEMO_H, status=404)
    denied = network_api.post_json("/v2.0/networks",
                                   {"network": {"name": "ext", "router:external": True}},
                                   headers=DEMO_H, status=403)
    assert denied.json["NeutronError"]["type"] == "PolicyNotAuthorized"


def test_neutron_filters_on_an_empty_collection(network_api):
    assert network_api.get("/v2.0/floatingips", {"port_id": "x"},
                           headers=DEMO_H).json == {"floatingips": []}
    assert network_api.get("/v2.0/ports", {"device_owner": "Octavia"},
                           headers=ALT_H).json == {"ports": []}


def test_neutron_floating_ip_lifecycle(network_api):
    network = private_network(network_api, DEMO_H)
    port = network_api.post_json("/v2.0/ports", {"port": {"network_id": network["id"]}},
                                 headers=DEMO_H).json["port"]
    fip = network_api.post_json("/v2.0/floatingips", {"floatingip": {
        "floating_network_id": store.PUBLIC_NETWORK_ID, "port_id": port["id"],
        "description": "cluster api"}}, headers=DEMO_H, status=201).json["floatingip"]
    assert fip["floating_ip_address"] == "127.0.0.2"  # first of public-subnet's pool
    assert fip["fixed_ip_address"] == port["fixed_ips"][0]["ip_address"]
    assert fip["status"] == "ACTIVE" and fip["project_id"] == DEMO
    listed = network_api.get("/v2.0/floatingips", {"port_id": port["id"]},
                             headers=DEMO_H).json["floatingips"]
    assert [f["id"] for f in listed] == [fip["id"]]
    assert network_api.get("/v2.0/floatingips", headers=ALT_H).json["floatingips"] == []
    # The address is held by a port of no project, which only the L3 service deletes.
    holder = network_api.get("/v2.0/ports", {"device_owner": "network:floatingip"},
                             headers=ADMIN_H).json["ports"][0]
    assert holder["project_id"] == "" and holder["device_id"] == fip["id"]
    network_api.delete(f"/v2.0/ports/{holder['id']}", headers=ADMIN_H, status=409)
    network_api.delete(f"/v2.0/floatingips/{fip['id']}", headers=DEMO_H, status=204)
    assert network_api.get("/v2.0/ports", {"device_owner": "network:floatingip"},
                           headers=ADMIN_H).json["ports"] == []
    private = network_api.post_json("/v2.0/floatingips", {"floatingip": {
        "floating_network_id": network["id"]}}, headers=DEMO_H, status=400)
    assert "not a valid external network" in private.json["NeutronError"]["message"]


# Octavia


def create_lb(api: webtest.TestApp, network_api: webtest.TestApp, headers: dict,
              name: str = "k8s-api-lb") -> dict:
    subnet_id = private_network(network_api, headers)["subnets"][0]
    return api.post_json("/v2/lbaas/loadbalancers",
                         {"loadbalancer": {"name": name, "vip_subnet_id": subnet_id}},
                         headers=headers, status=201).json["loadbalancer"]


def test_octavia_root_versions(lb_api):
    versions = lb_api.get("/").json["versions"]
    assert {v["id"]: v["status"] for v in versions} == {"v2.0": "SUPPORTED", "v2": "CURRENT"}


def test_octavia_load_balancer_lifecycle(cloud, lb_api, network_api):
    lb = create_lb(lb_api, network_api, DEMO_H)
    assert lb["provisioning_status"] == "PENDING_CREATE"
    assert lb["operating_status"] == "OFFLINE"
    assert lb["project_id"] == DEMO and lb["vip_address"] == "10.0.0.2"
    for field in ("vip_port_id", "vip_network_id", "listeners", "pools", "provider",
                  "admin_state_up", "created_at", "updated_at", "flavor_id", "tags"):
        assert field in lb
    shown = lb_api.get(f"/v2/lbaas/loadbalancers/{lb['id']}", headers=DEMO_H).json
    assert shown["loadbalancer"]["provisioning_status"] == "ACTIVE"
    assert shown["loadbalancer"]["operating_status"] == "ONLINE"
    status = lb_api.get(f"/v2/lbaas/loadbalancers/{lb['id']}/status", headers=DEMO_H).json
    assert status["statuses"]["loadbalancer"]["provisioning_status"] == "ACTIVE"
    # Its VIP port lives in Neutron, owned by Octavia, and goes with it.
    vip = network_api.get(f"/v2.0/ports/{lb['vip_port_id']}", headers=DEMO_H).json["port"]
    assert vip["device_owner"] == "Octavia" and vip["name"] == f"octavia-lb-{lb['id']}"
    lb_api.delete(f"/v2/lbaas/loadbalancers/{lb['id']}?cascade=true", headers=DEMO_H,
                  status=204)
    gone = lb_api.get(f"/v2/lbaas/loadbalancers/{lb['id']}", headers=DEMO_H, status=404).json
    assert gone == {"faultcode": "Client", "debuginfo": None,
                    "faultstring": f"Load Balancer {lb['id']} not found."}
    network_api.get(f"/v2.0/ports/{lb['vip_port_id']}", headers=DEMO_H, status=404)


def test_octavia_pending_load_balancer_cannot_be_deleted(cloud, lb_api, network_api):
    cloud.lb_delay = 3600
    lb = create_lb(lb_api, network_api, DEMO_H)
    conflict = lb_api.delete(f"/v2/lbaas/loadbalancers/{lb['id']}", headers=DEMO_H,
                             status=409).json
    assert conflict["faultstring"] == (f"Invalid state PENDING_CREATE of loadbalancer "
                                       f"resource {lb['id']}")


def test_octavia_list_filters_and_isolation(lb_api, network_api):
    first = create_lb(lb_api, network_api, DEMO_H, "a")
    create_lb(lb_api, network_api, DEMO_H, "b")
    alt = create_lb(lb_api, network_api, ALT_H, "a")
    named = lb_api.get("/v2/lbaas/loadbalancers", {"name": "a"}, headers=DEMO_H).json
    assert [lb["id"] for lb in named["loadbalancers"]] == [first["id"]]
    assert named["loadbalancers_links"] == []
    by_project = lb_api.get("/v2/lbaas/loadbalancers", {"project_id": ALT},
                            headers=ADMIN_H).json["loadbalancers"]
    assert [lb["id"] for lb in by_project] == [alt["id"]]
    assert lb_api.get("/v2/lbaas/loadbalancers", {"project_id": ALT},
                      headers=DEMO_H).json["loadbalancers"] == []
    denied = lb_api.get(f"/v2/lbaas/loadbalancers/{alt['id']}", headers=DEMO_H, status=403)
    assert denied.json["faultcode"] == "Client"
    lb_api.delete(f"/v2/lbaas/loadbalancers/{alt['id']}", headers=DEMO_H, status=403)
    paged = lb_api.get("/v2.0/lbaas/loadbalancers", {"limit": 1}, headers=DEMO_H).json
    assert len(paged["loadbalancers"]) == 1
    assert paged["loadbalancers_links"][0]["rel"] == "next"


def test_octavia_create_validation(lb_api):
    no_vip = lb_api.post_json("/v2/lbaas/loadbalancers", {"loadbalancer": {"name": "x"}},
                              headers=DEMO_H, status=400).json
    assert "VIP must contain one of" in no_vip["faultstring"]
    lb_api.post_json("/v2/lbaas/loadbalancers",
                     {"loadbalancer": {"vip_subnet_id": "nope"}}, headers=DEMO_H, status=400)
    lb_api.post_json("/v2/lbaas/loadbalancers",
                     {"loadbalancer": {"vip_network_id": store.PUBLIC_NETWORK_ID,
                                       "colour": "red"}}, headers=DEMO_H, status=400)
