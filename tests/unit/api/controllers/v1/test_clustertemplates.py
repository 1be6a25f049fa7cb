"""/v1/clustertemplates: create, list, show, patch and delete, with their validation."""

import pytest

from magnum_lite import objects
from magnum_lite.common import context as ctx
from tests.unit.api.conftest import TEMPLATE, db_snapshot, error_of

URL = "/v1/clustertemplates"


def test_create_answers_201_with_the_whole_template(member):
    response = member.post(URL, TEMPLATE, status=201)
    template = response.json
    assert template["name"] == "k8s"
    assert template["coe"] == "kubernetes"
    assert template["project_id"] == "project-a" and template["user_id"] == "user-1"
    assert template["labels"] == {"kube_tag": "v1.30.1"}
    # Defaults like Magnum's.
    assert template["server_type"] == "vm"
    assert template["network_driver"] == "flannel"
    assert template["floating_ip_enabled"] is True
    assert template["public"] is False and template["hidden"] is False
    assert template["tls_disabled"] is False and template["registry_enabled"] is False
    # The image's os_distro becomes the cluster distro.
    assert template["cluster_distro"] == "fedora-coreos"
    assert template["links"] == [
        {"href": f"http://localhost/v1/clustertemplates/{template['uuid']}", "rel": "self"},
        {"href": f"http://localhost/clustertemplates/{template['uuid']}", "rel": "bookmark"},
    ]
    assert response.headers["Location"].endswith(f"/v1/clustertemplates/{template['uuid']}")
    assert template["created_at"].endswith("+00:00")


def test_create_accepts_the_nulls_python_magnumclient_sends(member):
    body = {**TEMPLATE, "volume_driver": None, "fixed_network": None, "dns_nameserver": None,
            "driver": None, "http_proxy": None, "tls_disabled": False, "public": False,
            "registry_enabled": False, "master_lb_enabled": False}
    assert member.post(URL, body, status=201).json["volume_driver"] is None


def test_a_template_without_a_name_gets_one(member):
    body = {"coe": "swarm-mode", "image_id": "plain-image", "cluster_distro": "ubuntu"}
    template = member.post(URL, body, status=201).json
    assert template["name"].startswith("swarm-mode-template-")
    assert template["network_driver"] == "docker"
    assert template["cluster_distro"] == "ubuntu"


def test_a_template_no_installed_driver_builds_is_refused(member, db):
    """Magnum accepts it and fails every cluster later; here the template is refused."""
    before = db_snapshot(db)
    no_os = error_of(member.post(URL, {"coe": "kubernetes", "image_id": "plain-image"},
                                 status=400))["detail"]
    assert no_os.startswith("image_id:") and "os_distro" in no_os
    unknown_os = error_of(member.post(URL, {"coe": "kubernetes", "image_id": "plain-image",
                                            "cluster_distro": "plan9"}, status=400))["detail"]
    assert unknown_os.startswith("cluster_distro:") and "plan9" in unknown_os
    assert "(vm, ubuntu, kubernetes)" in unknown_os
    assert db_snapshot(db) == before


def test_a_patch_to_an_os_no_driver_builds_is_refused(member):
    template = member.post(URL, {"coe": "kubernetes", "image_id": "plain-image",
                                 "cluster_distro": "ubuntu"}, status=201).json
    response = member.patch(f"{URL}/{template['uuid']}", [
        {"op": "replace", "path": "/cluster_distro", "value": "plan9"}], status=400)
    assert error_of(response)["detail"].startswith("cluster_distro:")
    assert member.get(f"{URL}/{template['uuid']}").json["cluster_distro"] == "ubuntu"


@pytest.mark.parametrize("coe, network, volume", [
    ("kubernetes", "calico", "cinder"), ("kubernetes", "flannel", None),
    ("swarm-mode", "flannel", "rexray"), ("swarm-mode", "docker", None),
    ("mesos", "docker", "rexray"),
])
def test_drivers_each_coe_supports_are_accepted(member, coe, network, volume):
    body = {"coe": coe, "image_id": "plain-image", "cluster_distro": "ubuntu",
            "network_driver": network, "volume_driver": volume}
    template = member.post(URL, body, status=201).json
    assert (template["network_driver"], template["volume_driver"]) == (network, volume)


@pytest.mark.parametrize("coe, field, value", [
    ("kubernetes", "network_driver", "docker"), ("kubernetes", "volume_driver", "rexray"),
    ("swarm-mode", "network_driver", "calico"), ("swarm-mode", "volume_driver", "cinder"),
    ("mesos", "network_driver", "flannel"), ("mesos", "volume_driver", "cinder"),
])
def test_drivers_a_coe_does_not_support_are_refused(member, coe, field, value):
    body = {"coe": coe, "image_id": "plain-image", field: value}
    error = error_of(member.post(URL, body, status=400))
    assert error["detail"].startswith(f"{field}:")
    assert coe in error["detail"]


def test_unknown_cloud_resources_are_refused_naming_the_field(member):
    """Magnum's 400s (ImageNotFound, FlavorNotFound, ExternalNetworkNotFound,
    FixedNetworkNotFound, FixedSubnetNotFound), each message after the field."""
    for field, value, message in (
            ("image_id", "no-such-image", "Image no-such-image could not be found."),
            ("flavor_id", "m9.huge", "Unable to find flavor m9.huge."),
            ("master_flavor_id", "m9.huge", "Unable to find flavor m9.huge."),
            ("external_network_id", "nonet", "Unable to find external network nonet."),
            ("fixed_network", "nonet", "Unable to find fixed network nonet."),
            ("fixed_subnet", "nosubnet", "Unable to find fixed subnet nosubnet.")):
        error = error_of(member.post(URL, {**TEMPLATE, field: value}, status=400))
        assert error["detail"] == f"{field}: {message}", error
    assert member.get(URL, status=200).json["clustertemplates"] == []


def test_the_keypair_is_not_checked_at_template_create_or_update(member, validator):
    """Keypairs are per user: as in Magnum, a template may name one the caller lacks (each
    user of a shared template has their own); the cluster create checks it."""
    assert "nokey" not in validator.keypairs
    created = member.post(URL, {**TEMPLATE, "keypair_id": "nokey"}, status=201).json
    assert created["keypair_id"] == "nokey"
    patched = member.patch(f"{URL}/k8s", [{"op": "replace", "path": "/keypair_id",
                                           "value": "otherkey-of-someone"}], status=200).json
    assert patched["keypair_id"] == "otherkey-of-someone"


def test_a_name_with_dots_is_a_name_not_a_file_extension(member):
    created = member.post(URL, {**TEMPLATE, "name": "k8s.v1"}, status=201).json
    shown = member.get(f"{URL}/k8s.v1", status=200)
    assert shown.json["uuid"] == created["uuid"]
    assert shown.content_type == "application/json"
    member.patch(f"{URL}/k8s.v1", [{"op": "replace", "path": "/docker_volume_size",
                                    "value": 20}], status=200)
    member.delete(f"{URL}/k8s.v1", status=204)


def test_show_by_uuid_or_name(member, template):
    assert member.get(f"{URL}/{template['uuid']}", status=200).json == template
    assert member.get(f"{URL}/k8s", status=200).json == template


def test_a_name_two_templates_share_is_a_conflict(member, template):
    member.post(URL, TEMPLATE, status=201)
    error = error_of(member.get(f"{URL}/k8s", status=409))
    assert "k8s" in error["detail"]


def test_an_unknown_template_is_not_found(member):
    error_of(member.get(f"{URL}/nope", status=404))
    error_of(member.get(f"{URL}/2a9f07c8-5a8f-4b47-9a39-3d1c45b2dbb4", status=404))


@pytest.mark.parametrize("version", ["1.1", "1.9", "1.14", "latest"])
def test_list_and_detail_show_every_field_as_magnum(member, template, version):
    """Magnum's template list has no short form: every field, at every microversion."""
    headers = {"OpenStack-API-Version": f"container-infra {version}"}
    listed = member.get(URL, headers=headers, status=200).json
    assert set(listed) == {"clustertemplates"}
    assert listed["clustertemplates"] == [template]
    assert len(template) > 30 and {"labels", "keypair_id", "hidden", "tags", "driver",
                                   "links", "fixed_subnet"} <= set(template)
    detailed = member.get(f"{URL}/detail", headers=headers, status=200).json
    assert detailed["clustertemplates"] == [template]


def test_pages_follow_next_links(member):
    uuids = [member.post(URL, {**TEMPLATE, "name": f"t{i}"}, status=201).json["uuid"]
             for i in range(5)]
    seen = []
    url = f"{URL}?limit=2"
    pages = 0
    while url:
        page = member.get(url, status=200).json
        seen += [t["uuid"] for t in page["clustertemplates"]]
        url = page.get("next")
        if url:
            assert url.startswith("http://localhost/v1/clustertemplates?")
            assert "limit=2" in url and "marker=" in url
            url = url[len("http://localhost"):]
        pages += 1
    assert seen == uuids
    assert pages == 3


def test_detail_pages_link_to_detail(member):
    for i in range(3):
        member.post(URL, {**TEMPLATE, "name": f"t{i}"}, status=201)
    page = member.get(f"{URL}/detail?limit=2&sort_key=name&sort_dir=desc", status=200).json
    assert [t["name"] for t in page["clustertemplates"]] == ["t2", "t1"]
    assert page["next"].startswith("http://localhost/v1/clustertemplates/detail?")
    assert "sort_key=name" in page["next"] and "sort_dir=desc" in page["next"]


def test_limit_is_capped_by_max_limit_and_zero_means_the_maximum(member, config):
    config.set_override("max_limit", 2, group="api")
    for i in range(3):
        member.post(URL, {**TEMPLATE, "name": f"t{i}"}, status=201)
    assert len(member.get(f"{URL}?limit=100", status=200).json["clustertemplates"]) == 2
    page = member.get(f"{URL}?limit=0", status=200).json
    assert len(page["clustertemplates"]) == 2 and "next" in page
    assert len(member.get(URL, status=200).json["clustertemplates"]) == 2


def test_patch_replaces_adds_and_removes(member, template):
    patch = [
        {"op": "replace", "path": "/docker_volume_size", "value": 20},
        {"op": "add", "path": "/labels/cinder_csi_enabled", "value": "true"},
        {"op": "remove", "path": "/keypair_id"},
        {"op": "add", "path": "/http_proxy", "value": "http://proxy:3128"},
    ]
    patched = member.patch(f"{URL}/{template['uuid']}", patch, status=200).json
    assert patched["docker_volume_size"] == 20
    assert patched["labels"] == {"kube_tag": "v1.30.1", "cinder_csi_enabled": "true"}
    assert patched["keypair_id"] is None
    assert patched["http_proxy"] == "http://proxy:3128"
    assert patched["updated_at"] is not None
    assert member.get(f"{URL}/{template['uuid']}", status=200).json == patched


def test_patch_reads_labels_as_python_magnumclient_sends_them(member, template):
    patch = [{"op": "replace", "path": "/labels", "value": "{'a': 'b', 'c': 'd'}"}]
    patched = member.patch(f"{URL}/k8s", patch, status=200).json
    assert patched["labels"] == {"a": "b", "c": "d"}


def test_patch_of_the_image_refreshes_the_cluster_distro(member, template):
    patch = [{"op": "replace", "path": "/image_id", "value": "ubuntu-22.04"}]
    assert member.patch(f"{URL}/k8s", patch, status=200).json["cluster_distro"] == "ubuntu"


def test_patch_checks_drivers_against_the_coe(member, template):
    patch = [{"op": "replace", "path": "/coe", "value": "mesos"}]
    error = error_of(member.patch(f"{URL}/k8s", patch, status=400))
    assert error["detail"].startswith("network_driver:")
    patch.append({"op": "replace", "path": "/network_driver", "value": "docker"})
    assert member.patch(f"{URL}/k8s", patch, status=200).json["coe"] == "mesos"


def test_removing_a_field_with_a_default_restores_the_default(member, template):
    member.patch(f"{URL}/k8s", [{"op": "replace", "path": "/master_lb_enabled",
                                 "value": True}], status=200)
    patched = member.patch(f"{URL}/k8s", [{"op": "remove", "path": "/master_lb_enabled"},
                                          {"op": "remove", "path": "/floating_ip_enabled"}],
                           status=200).json
    assert patched["master_lb_enabled"] is False and patched["floating_ip_enabled"] is True


@pytest.mark.parametrize("field", ["coe", "image_id", "network_driver", "external_network_id",
                                   "tls_disabled", "public", "server_type",
                                   "registry_enabled", "cluster_distro", "hidden"])
def test_magnum_s_non_removable_fields_cannot_be_removed(member, template, db, field):
    """Magnum's ClusterTemplatePatchType refuses to remove these (400), set or not."""
    before = db_snapshot(db)
    error = error_of(member.patch(f"{URL}/k8s", [{"op": "remove", "path": f"/{field}"}],
                                  status=400))
    assert error["detail"] == f"{field}: is a mandatory attribute and cannot be removed."
    assert db_snapshot(db) == before


@pytest.mark.parametrize("field", ["uuid", "id", "project_id", "user_id", "created_at",
                                   "updated_at", "links"])
def test_patch_of_an_immutable_field_is_refused(member, template, field):
    error = error_of(member.patch(f"{URL}/k8s", [{"op": "replace", "path": f"/{field}",
                                                  "value": "x"}], status=400))
    assert error["detail"].startswith(f"{field}:")


def test_patch_of_a_template_in_use_is_limited_to_name_public_and_hidden(member, cluster):
    error = error_of(member.patch(f"{URL}/k8s", [{"op": "replace", "path": "/flavor_id",
                                                  "value": "m1.large"}], status=400))
    assert "referenced" in error["detail"]
    renamed = member.patch(f"{URL}/k8s", [{"op": "replace", "path": "/name", "value": "k"}],
                           status=200).json
    assert renamed["name"] == "k"


def test_delete_answers_204_and_the_template_is_gone(member, template):
    response = member.delete(f"{URL}/{template['uuid']}", status=204)
    assert response.body == b""
    member.get(f"{URL}/{template['uuid']}", status=404)


def test_a_template_clusters_use_cannot_be_deleted(member, cluster):
    error = error_of(member.delete(f"{URL}/k8s", status=400))
    assert "referenced" in error["title"]
    member.get(f"{URL}/k8s", status=200)


# Policy and projects


def test_only_admins_publish_or_hide_templates(member, admin):
    for flag in ("public", "hidden"):
        error = error_of(member.post(URL, {**TEMPLATE, flag: True}, status=403))
        assert error["title"] == ("Not authorized to set public or hidden flag for cluster "
                                  "template")
        assert admin.post(URL, {**TEMPLATE, flag: True}, status=201).json[flag] is True


def test_only_admins_change_the_public_flag(member, admin, template):
    patch = [{"op": "replace", "path": "/public", "value": True}]
    error_of(member.patch(f"{URL}/k8s", patch, status=403))
    assert admin.patch(f"{URL}/{template['uuid']}", patch, status=200).json["public"] is True


def test_readers_read_but_do_not_write(reader, template):
    assert reader.get(f"{URL}/k8s", status=200).json["uuid"] == template["uuid"]
    assert len(reader.get(URL, status=200).json["clustertemplates"]) == 1
    error_of(reader.post(URL, {**TEMPLATE, "name": "x"}, status=403))
    error_of(reader.patch(f"{URL}/k8s", [{"op": "replace", "path": "/name", "value": "y"}],
                          status=403))
    error_of(reader.delete(f"{URL}/k8s", status=403))


def test_a_caller_without_a_role_reads_nothing(app, template):
    from tests.unit.api.conftest import Client, identity

    nobody = Client(app, identity(roles=""))
    error_of(nobody.get(URL, status=403))
    error_of(nobody.get(f"{URL}/k8s", status=403))


def test_another_project_sees_neither_the_template_nor_that_it_exists(member_b, template):
    assert member_b.get(URL, status=200).json["clustertemplates"] == []
    error_of(member_b.get(f"{URL}/{template['uuid']}", status=404))
    error_of(member_b.get(f"{URL}/k8s", status=404))
    error_of(member_b.patch(f"{URL}/{template['uuid']}",
                            [{"op": "replace", "path": "/name", "value": "mine"}], status=404))
    error_of(member_b.delete(f"{URL}/{template['uuid']}", status=404))


def test_public_templates_are_visible_to_every_project_but_not_writable(admin, member_b):
    public = admin.post(URL, {**TEMPLATE, "public": True}, status=201).json
    assert member_b.get(f"{URL}/{public['uuid']}", status=200).json["public"] is True
    assert len(member_b.get(URL, status=200).json["clustertemplates"]) == 1
    error_of(member_b.delete(f"{URL}/{public['uuid']}", status=403))


def test_hidden_templates_are_left_out_of_lists_except_for_admins(admin, member):
    hidden = admin.post(URL, {**TEMPLATE, "hidden": True, "public": True}, status=201).json
    assert member.get(URL, status=200).json["clustertemplates"] == []
    assert member.get(f"{URL}/{hidden['uuid']}", status=200).json["hidden"] is True
    assert len(admin.get(URL, status=200).json["clustertemplates"]) == 1


def test_admins_see_and_manage_every_projects_templates(admin, template):
    assert [t["uuid"] for t in admin.get(URL, status=200).json["clustertemplates"]] == [
        template["uuid"]]
    admin.patch(f"{URL}/{template['uuid']}", [{"op": "replace", "path": "/name",
                                               "value": "renamed"}], status=200)
    admin.delete(f"{URL}/{template['uuid']}", status=204)
    assert objects.ClusterTemplate.list(ctx.get_admin_context()) == []


# -- the baremetal variant -------------------------------------------------------------------

BAREMETAL = {**TEMPLATE, "name": "k8s-bm", "server_type": "bm", "fixed_network": "private",
             "floating_ip_enabled": False}


def test_a_baremetal_template_on_a_flat_network_is_accepted(member):
    template = member.post(URL, BAREMETAL, status=201).json
    assert (template["server_type"], template["fixed_network"]) == ("bm", "private")
    assert template["floating_ip_enabled"] is False


@pytest.mark.parametrize(("change", "field", "reason"), [
    ({"docker_volume_size": 10}, "docker_volume_size",
     "baremetal nodes use their local disks; Cinder volumes are not attached to them"),
    ({"fixed_network": None}, "fixed_network",
     "baremetal clusters need the existing flat (provisioning) network their nodes boot on"),
    ({"floating_ip_enabled": True}, "floating_ip_enabled", "baremetal nodes sit on a flat"),
])
def test_what_baremetal_cannot_do_is_refused_at_create(member, db, change, field, reason):
    before = db_snapshot(db)
    body = {k: v for k, v in {**BAREMETAL, **change}.items() if v is not None}
    detail = error_of(member.post(URL, body, status=400))["detail"]
    assert detail.startswith(f"{field}: {reason}")
    assert db_snapshot(db) == before


@pytest.mark.parametrize(("operation", "field"), [
    ({"op": "replace", "path": "/docker_volume_size", "value": 10}, "docker_volume_size"),
    ({"op": "remove", "path": "/fixed_network"}, "fixed_network"),
    ({"op": "replace", "path": "/floating_ip_enabled", "value": True}, "floating_ip_enabled"),
])
def test_what_baremetal_cannot_do_is_refused_at_patch(member, db, operation, field):
    member.post(URL, BAREMETAL, status=201)
    before = db_snapshot(db)
    detail = error_of(member.patch(f"{URL}/k8s-bm", [operation], status=400))["detail"]
    assert detail.startswith(f"{field}: ")
    assert db_snapshot(db) == before


def test_switching_a_vm_template_to_baremetal_is_checked_too(member, template, db):
    before = db_snapshot(db)  # the template asks for floating IPs (the default)
    detail = error_of(member.patch(f"{URL}/k8s", [
        {"op": "replace", "path": "/server_type", "value": "bm"}], status=400))["detail"]
    assert detail.startswith("fixed_network: ")
    assert db_snapshot(db) == before


# -- the plugin's own refusals ---------------------------------------------------------------

SWARM = {"name": "swarm", "coe": "swarm-mode", "image_id": "plain-image",
         "cluster_distro": "fedora"}


@pytest.fixture
def swarm_plugin():
    """The real swarm-mode plugin, whose storage drivers are a closed list."""
    from magnum_lite.drivers.swarm_fedora_v2 import driver as swarm
    from tests.unit.drivers import fake_plugin

    fake_plugin.install(swarm_fedora_v2=swarm.SwarmFedoraV2)


def test_a_storage_driver_the_plugin_cannot_install_is_refused_at_create(member, db,
                                                                          swarm_plugin):
    before = db_snapshot(db)
    detail = error_of(member.post(URL, {**SWARM, "docker_storage_driver": "devicemapper"},
                                  status=400))["detail"]
    assert detail.startswith("docker_storage_driver: must be one of overlay2")
    assert "'devicemapper'" in detail
    assert db_snapshot(db) == before
    created = member.post(URL, {**SWARM, "docker_storage_driver": "btrfs"}, status=201).json
    assert created["docker_storage_driver"] == "btrfs"


def test_a_storage_driver_the_plugin_cannot_install_is_refused_at_patch(member, db,
                                                                         swarm_plugin):
    member.post(URL, SWARM, status=201)
    before = db_snapshot(db)
    detail = error_of(member.patch(f"{URL}/swarm", [
        {"op": "add", "path": "/docker_storage_driver", "value": "aufs"}],
        status=400))["detail"]
    assert detail.startswith("docker_storage_driver: ")
    assert db_snapshot(db) == before


def test_a_template_naming_its_driver_is_checked_by_that_plugin(member, admin, db,
                                                                swarm_plugin):
    admin.post("/v1/drivers", {"name": "swarm", "plugin_name": "swarm_fedora_v2"},
               status=201)
    before = db_snapshot(db)
    detail = error_of(member.post(URL, {**SWARM, "driver": "swarm",
                                        "docker_storage_driver": "zfs"}, status=400))["detail"]
    assert detail.startswith("docker_storage_driver: ")
    assert db_snapshot(db) == before
