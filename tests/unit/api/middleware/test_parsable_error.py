"""Every error, whoever raises it, is Magnum's error document with the request id."""

import json
import logging

import pytest
import webob

from magnum_lite import objects
from magnum_lite.api import hooks
from magnum_lite.api.middleware import parsable_error, request_guard
from tests.unit.api.conftest import error_of


def test_unknown_urls_are_404s_in_magnum_form(member):
    for path in ("/v1/nowhere", "/v1/clustertemplates/a/b/c", "/v2/clusters", "/v1/x/y"):
        error = error_of(member.get(path, status=404))
        assert error["title"] == "The resource could not be found"


def test_a_method_a_resource_lacks_is_a_405_with_allow(member, template):
    response = member.app.put_json(f"/v1/clustertemplates/{template['uuid']}", {},
                                   status=405)
    error = error_of(response)
    assert "PUT" in error["detail"] or error["title"]
    assert set(response.headers["Allow"].split(", ")) == {"GET", "PATCH", "DELETE"}
    error_of(member.patch("/v1/clustertemplates", [], status=405))
    error_of(member.app.post_json("/v1/", {}, status=405))


def test_a_body_over_the_size_limit_is_a_413(member, config):
    config.set_override("max_request_body_size", 1000, group="oslo_middleware")
    response = member.post("/v1/clustertemplates", {"name": "x" * 2000}, status=413)
    error = error_of(response)
    assert "large" in error["detail"].lower()
    assert response.headers["OpenStack-API-Version"].startswith("container-infra")


def test_a_body_that_is_not_json_is_a_415(member):
    response = member.app.post("/v1/clustertemplates", "name=x",
                               headers={"Content-Type": "text/plain"}, status=415)
    assert error_of(response)["detail"].startswith("Content-Type:")


def test_a_body_without_a_content_type_is_read_as_json(member):
    body = json.dumps({"coe": "kubernetes", "image_id": "plain-image",
                       "cluster_distro": "ubuntu"})
    response = member.app.request("/v1/clustertemplates", method="POST", body=body.encode(),
                                  headers={"Content-Type": ""}, status=201)
    assert response.json["coe"] == "kubernetes"


def test_html_is_not_offered_only_json(member):
    response = member.get("/v1/clustertemplates", headers={"Accept": "text/plain"}, status=406)
    error_of(response)
    member.get("/v1/clustertemplates", headers={"Accept": "text/html,*/*;q=0.8"}, status=200)


def test_head_is_get_without_a_body(member, template):
    response = member.app.head("/v1/clustertemplates/k8s", status=200)
    assert response.body == b""


def test_a_500_says_internal_error_and_logs_the_traceback(member, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("the secret database password is hunter2")

    monkeypatch.setattr(objects.ClusterTemplate, "list", broken)
    with caplog.at_level(logging.ERROR):
        response = member.get("/v1/clustertemplates", status=500)
    error = error_of(response)
    assert error["title"] == "Internal error"
    assert error["request_id"] in error["detail"]
    assert "hunter2" not in response.text and "RuntimeError" not in response.text
    logged = "\n".join(r.getMessage() + str(r.exc_info) for r in caplog.records)
    assert error["request_id"] in logged and "hunter2" in logged


def test_a_failure_around_the_controllers_is_a_bare_500(member, monkeypatch, caplog):
    def broken(self, state):
        raise KeyError("boom-in-hook")

    monkeypatch.setattr(hooks.RPCHook, "before", broken)
    with caplog.at_level(logging.ERROR):
        response = member.get("/v1/clustertemplates", status=500)
    assert error_of(response)["title"] == "Internal error"
    assert "boom-in-hook" not in response.text


def test_a_failure_outside_pecan_is_a_bare_500(member, monkeypatch):
    def broken(environ):
        raise ValueError("boom-in-middleware")

    monkeypatch.setattr(request_guard, "check", broken)
    response = member.get("/v1/clustertemplates", status=500)
    assert error_of(response)["title"] == "Internal error"
    assert "boom" not in response.text


def test_a_database_that_is_down_is_a_503(member, monkeypatch):
    from oslo_db import exception as db_exc

    def down(*args, **kwargs):
        raise db_exc.DBConnectionError("connection refused")

    monkeypatch.setattr(objects.ClusterTemplate, "list", down)
    error = error_of(member.get("/v1/clustertemplates", status=503))
    assert "database" in error["detail"]


@pytest.mark.parametrize("body, detail", [
    (b'{"faultcode": "Client", "faultstring": "Invalid input for field/attribute node_count. '
     b'Value: \'x\'.", "debuginfo": "Traceback..."}',
     "Invalid input for field/attribute node_count. Value: 'x'."),
    (b'{"code": 404, "title": "Not Found", "description": "No such thing."}', "No such thing."),
    (b'{"error": {"code": 401, "title": "Unauthorized", "message": "Authenticate."}}',
     "Authenticate."),
    (b"413 Request Entity Too Large\n\nThe body is too large.\n\n", "The body is too large."),
    (b"<html><body><h1>400 Bad Request</h1>Broken <b>thing</b>.</body></html>",
     "400 Bad Request Broken thing ."),
    (b"", "Bad Request"),
])
def test_foreign_error_bodies_are_rewritten(body, detail):
    document = json.loads(parsable_error.error_document(400, "Bad Request", body,
                                                        {"openstack.request_id": "req-1"}))
    entry = document["errors"][0]
    assert entry["detail"] == detail
    assert entry["request_id"] == "req-1" and entry["code"] == "client"
    assert "Traceback" not in json.dumps(document)


def test_the_title_is_the_first_sentence_so_the_cli_shows_it():
    document = json.loads(parsable_error.error_document(
        400, "Bad Request", b'{"faultstring": "Template k8s.v1 is bad. Really."}', {}))
    assert document["errors"][0]["title"] == "Template k8s.v1 is bad"


def test_a_500_from_elsewhere_never_shows_its_body():
    document = json.loads(parsable_error.error_document(
        500, "Internal Server Error", b"Traceback (most recent call last): secret",
        {"openstack.request_id": "req-9"}))
    assert "secret" not in json.dumps(document)
    assert document["errors"][0]["title"] == "Internal error"


def test_the_middleware_keeps_success_responses_untouched():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"fine"]

    response = webob.Request.blank("/").get_response(parsable_error.ParsableErrorMiddleware(app))
    assert response.body == b"fine" and response.content_type == "text/plain"
