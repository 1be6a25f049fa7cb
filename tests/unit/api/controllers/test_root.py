"""The public documents `/` and `/v1/`, Magnum's field for field."""

import pytest

from magnum_lite.api import versions


def test_root_lists_v1_with_its_microversion_range(app):
    response = app.get("/", status=200)
    assert response.json == {
        "name": "OpenStack Magnum API",
        "description": "Magnum is an OpenStack project which aims to provide container "
                       "cluster management.",
        "versions": [{
            "id": "v1",
            "links": [{"href": "http://localhost/v1/", "rel": "self"}],
            "status": "CURRENT",
            "max_version": str(versions.MAX_VERSION),
            "min_version": "1.1",
        }],
    }
    assert response.content_type == "application/json"


@pytest.mark.parametrize("path", ["/v1", "/v1/"])
def test_v1_document_links_every_resource(app, path):
    document = app.get(path, status=200).json
    assert document["id"] == "v1"
    assert document["media_types"] == [{"base": "application/json",
                                        "type": "application/vnd.openstack.magnum.v1+json"}]
    assert document["links"][0] == {"href": "http://localhost/v1/", "rel": "self"}
    assert document["links"][1]["rel"] == "describedby"
    for resource in ("clustertemplates", "clusters", "quotas", "certificates", "mservices",
                     "stats"):
        assert document[resource] == [
            {"href": f"http://localhost/v1/{resource}/", "rel": "self"},
            {"href": f"http://localhost/{resource}/", "rel": "bookmark"},
        ]
    assert document["nodegroups"][0]["href"] == (
        "http://localhost/v1/clusters/{cluster_id}/nodegroups")


def test_links_follow_the_host_and_the_prefix_the_api_is_mounted_under(app):
    response = app.get("/", extra_environ={"HTTP_HOST": "api.example.com:9511",
                                           "SCRIPT_NAME": "/container-infra"}, status=200)
    assert response.json["versions"][0]["links"][0]["href"] == (
        "http://api.example.com:9511/container-infra/v1/")


def test_paths_without_a_version_are_v1_paths_like_magnum(member):
    assert member.get("/clustertemplates", status=200).json == {"clustertemplates": []}


def test_root_documents_need_no_authentication_with_keystone(db, config, casts, validator):
    import webtest

    from magnum_lite.api import app as api_app
    from magnum_lite.api.middleware import auth_token  # noqa: F401  (registers its options)
    from magnum_lite.common import policy

    config.set_override("auth_strategy", "keystone", group="api")
    config.set_override("www_authenticate_uri", "http://keystone.example:5000/v3",
                        group="keystone_authtoken")
    policy.reset()
    keystone_app = webtest.TestApp(api_app.load_app(config))
    assert keystone_app.get("/", status=200).json["name"] == "OpenStack Magnum API"
    assert keystone_app.get("/v1", status=200).json["id"] == "v1"
    assert keystone_app.get("/v1/", status=200).json["id"] == "v1"
    denied = keystone_app.get("/v1/clusters", status=401)
    error = denied.json["errors"][0]
    assert error["status"] == 401 and error["code"] == "client"
    assert error["request_id"] == denied.headers["x-openstack-request-id"]
    assert denied.headers["OpenStack-API-Version"] == "container-infra 1.1"
    # The health check needs no token either.
    assert keystone_app.get("/healthcheck", status=200).body == b"OK"
    policy.reset()


def test_healthcheck_answers_without_identity(app):
    assert app.get("/healthcheck", status=200).body == b"OK"
