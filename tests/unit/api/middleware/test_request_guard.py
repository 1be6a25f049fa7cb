"""Requests the application cannot decode get a 400 that says why, never a 500."""

import json
import logging

import pytest

from tests.unit.api.conftest import TEMPLATE, error_of


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


# The fuzz run's findings (issue 13): pecan decodes the body of every method but GET, webob a
# form body of any method, so the guard checks every method's body, not only POST/PUT/PATCH's.
NESTED = b"[" * 50000 + b"]" * 50000
NOT_UTF8 = b'{"name": "\xff\xfe"}'


def _send(client, method, url, body, content_type="application/json"):
    headers = {**client.headers, "Content-Type": content_type}
    return client.app.request(url, method=method, body=body, headers=headers,
                              expect_errors=True)


def _errors_logged(caplog):
    return [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.parametrize("method", ["DELETE", "GET", "POST", "PATCH", "HEAD"])
@pytest.mark.parametrize(("body", "reason"), [(NESTED, "deeper than 32 levels"),
                                              (NOT_UTF8, "not valid UTF-8")])
def test_an_undecodable_or_too_deep_body_is_a_400_whatever_the_method(
        member, template, caplog, method, body, reason):
    url = (f"/v1/clustertemplates/{template['uuid']}" if method != "POST"
           else "/v1/clustertemplates")
    response = _send(member, method, url, body)
    assert response.status_int == 400, response.body
    if method != "HEAD":
        assert reason in error_of(response)["detail"]
    assert _errors_logged(caplog) == []
    member.get(f"/v1/clustertemplates/{template['uuid']}", status=200)  # nothing deleted


def test_the_fuzzers_hundred_thousand_levels_under_a_raised_size_limit(member, template,
                                                                       config, caplog):
    config.set_override("max_request_body_size", 1 << 20, group="oslo_middleware")
    response = _send(member, "DELETE", f"/v1/clustertemplates/{template['uuid']}",
                     b"[" * 100000 + b"]" * 100000)
    assert response.status_int == 400
    assert "deeper than 32 levels" in error_of(response)["detail"]
    assert _errors_logged(caplog) == []


def test_nesting_up_to_the_limit_and_brackets_inside_strings_are_not_refused(member):
    body = {**TEMPLATE, "name": "x[[[{{{" * 20}
    # 32 levels with the outer object: past the guard, the controller names the attribute.
    extra = json.loads("[" * 31 + "]" * 31)
    response = _send(member, "POST", "/v1/clustertemplates",
                     json.dumps({**body, "extra": extra}).encode())
    assert response.status_int == 400
    assert "extra" in error_of(response)["detail"]
    # One level more is the guard's.
    response = _send(member, "POST", "/v1/clustertemplates",
                     json.dumps({**body, "extra": [extra]}).encode())
    assert "deeper than 32 levels" in error_of(response)["detail"]
    response = _send(member, "POST", "/v1/clustertemplates", json.dumps(body).encode())
    assert response.status_int == 201, response.body


def test_a_valid_body_on_delete_is_ignored(member, template):
    other = member.post("/v1/clustertemplates", {**TEMPLATE, "name": "other"}, status=201).json
    response = _send(member, "DELETE", f"/v1/clustertemplates/{template['uuid']}",
                     json.dumps({"ident": other["uuid"], "uuid": other["uuid"]}).encode())
    assert response.status_int == 204
    member.get(f"/v1/clustertemplates/{template['uuid']}", status=404)
    member.get(f"/v1/clustertemplates/{other['uuid']}", status=200)


def test_a_body_of_another_type_on_delete_is_a_415(member, template, caplog):
    response = _send(member, "DELETE", f"/v1/clustertemplates/{template['uuid']}",
                     b"name=\xff", content_type="application/x-www-form-urlencoded")
    assert response.status_int == 415
    assert error_of(response)["detail"].startswith("Content-Type:")
    assert _errors_logged(caplog) == []
    member.get(f"/v1/clustertemplates/{template['uuid']}", status=200)
