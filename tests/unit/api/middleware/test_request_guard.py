"""Requests the application cannot decode get a 400 that says why, never a 500."""

import pytest

from tests.unit.api.conftest import error_of


@pytest.mark.parametrize("path", ["/v1/clustertemplates/%FF", "/v1/clusters/%C3%28",
                                  "/v1/clusters/a%00b", "/v1/clusters/%0A"])
def test_undecodable_or_control_characters_in_the_url_are_refused(member, path):
    error = error_of(member.get(path, status=400))
    assert "URL" in error["detail"]


@pytest.mark.parametrize("query", ["limit=%FF", "marker=%C3%28", "sort_key=a%00"])
def test_undecodable_query_strings_are_refused(member, query):
    error_of(member.get(f"/v1/clustertemplates?{query}", status=400))


def test_method_override_is_refused(member, template):
    error = error_of(member.app.post(f"/v1/clustertemplates/{template['uuid']}?_method=delete",
                                     status=400))
    assert error["detail"].startswith("_method:")
    member.get(f"/v1/clustertemplates/{template['uuid']}", status=200)


def test_a_chunked_body_over_the_size_limit_is_a_413(app, config):
    import io
    import json

    import webob

    config.set_override("max_request_body_size", 1000, group="oslo_middleware")
    request = webob.Request.blank("/v1/clustertemplates", method="POST",
                                  headers={"Content-Type": "application/json",
                                           "Transfer-Encoding": "chunked",
                                           "X-Roles": "member,reader"})
    request.environ.pop("CONTENT_LENGTH", None)
    request.environ["wsgi.input_terminated"] = True  # what gunicorn says of chunked bodies
    request.environ["wsgi.input"] = io.BytesIO(json.dumps({"name": "x" * 5000}).encode())
    response = request.get_response(app.app)
    assert response.status_int == 413
    error = json.loads(response.body)["errors"][0]
    assert "1000" in error["detail"]
