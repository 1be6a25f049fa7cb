"""The CLI plugin's requests (magnum_lite_osc.api) against HTTP answers a live magnum-lite
never gives: a server older than a command (Magnum itself, an older magnum-lite) and lists
longer than one page are what the functional tests cannot show with one deployment."""

from __future__ import annotations

import json
from types import SimpleNamespace

from magnumclient import exceptions as magnum_exceptions
from osc_lib import exceptions
import pytest
import requests

from magnum_lite_osc import api


def _error(status: int, maximum: str) -> magnum_exceptions.HttpError:
    """python-magnumclient's exception for an answer, as its HTTP client raises it."""
    response = requests.Response()
    response.status_code = status
    response.headers["Content-Type"] = "application/json"
    response.headers[api.MAX_VERSION_HEADER] = f"container-infra {maximum}"
    response._content = json.dumps({"errors": [{"detail": "The resource could not be found."}]
                                    }).encode()
    return magnum_exceptions.from_response(response, "The resource could not be found.",
                                           method="GET", url="/v1/drivers")


class _HTTP:
    """python-magnumclient's HTTP client as the plugin uses it: its api_version and
    json_request, answering from a script."""

    def __init__(self, answers: list, api_version: str = "latest") -> None:
        self.api_version = api_version
        self.answers = answers
        self.paths: list[str] = []

    def json_request(self, method: str, path: str, **kwargs):
        self.paths.append(path)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return SimpleNamespace(status_code=200), answer


def _client(http: _HTTP) -> api.Client:
    app = SimpleNamespace(client_manager=SimpleNamespace(
        container_infra=SimpleNamespace(http_client=http)))
    return api.Client(app)


def test_a_server_older_than_the_command_is_named():
    client = _client(_HTTP([_error(404, "1.11")]))
    with pytest.raises(exceptions.CommandError) as raised:
        client.request("GET", "/v1/drivers", api.DRIVERS, "`openstack coe driver`")
    assert str(raised.value) == ("`openstack coe driver` needs container-infra API version "
                                 "1.15 or newer; the server speaks up to 1.11 (is it "
                                 "magnum-lite?).")


def test_a_404_of_a_new_enough_server_is_its_own():
    client = _client(_HTTP([_error(404, "1.17")]))
    with pytest.raises(magnum_exceptions.NotFound):
        client.request("GET", "/v1/drivers/x", api.DRIVERS, "`openstack coe driver`")


def test_an_explicit_older_version_asks_nothing():
    http = _HTTP([], api_version="1.12")
    with pytest.raises(exceptions.CommandError, match="asks for 1.12"):
        _client(http).request("GET", "/v1/drivers", api.DRIVERS, "drivers")
    assert http.paths == []


def test_a_list_follows_its_pages_by_marker_and_keeps_the_query():
    http = _HTTP([
        {"events": [{"uuid": "a"}], "next": "http://elsewhere/v1/clusters/c/events?limit=1"
                                            "&sort_dir=asc&marker=a"},
        {"events": [{"uuid": "b"}], "next": "http://elsewhere/v1/clusters/c/events?marker=b"},
        {"events": []},
    ])
    items = _client(http).list_all("/v1/clusters/c/events", "events", api.EVENTS, "events",
                                   query={"sort_dir": "asc", "marker": None})
    assert [item["uuid"] for item in items] == ["a", "b"]
    assert http.paths == ["/v1/clusters/c/events?sort_dir=asc",
                          "/v1/clusters/c/events?sort_dir=asc&marker=a",
                          "/v1/clusters/c/events?sort_dir=asc&marker=b"]
