"""The WSGI application: its paste pipeline, built once, without RPC or database connections."""

import types

from oslo_config import cfg
import oslo_messaging
import pytest
import sqlalchemy as sa
import webtest

from magnum_lite.api import app as api_app
from magnum_lite.common import policy
from tests.unit.api.conftest import TEMPLATE


def test_loading_the_app_creates_no_rpc_transport_and_no_client(config, casts, monkeypatch):
    made = []
    monkeypatch.setattr(oslo_messaging, "get_rpc_transport",
                        lambda *a, **k: made.append("transport"))
    monkeypatch.setattr(oslo_messaging, "get_transport", lambda *a, **k: made.append("t"))

    class Spy:
        def __init__(self):
            made.append("client")

    from magnum_lite.conductor import rpcapi

    monkeypatch.setattr(rpcapi, "ConductorAPI", Spy)
    config.set_override("auth_strategy", "noauth", group="api")
    api_app.load_app(config)
    assert made == []


def test_the_rpc_client_is_made_on_first_use_once(member, template, casts, monkeypatch):
    from tests.unit.api.conftest import CastRecorder

    made = []
    original = CastRecorder.__init__

    def counting_init(self):
        made.append(self)
        original(self)

    monkeypatch.setattr(CastRecorder, "__init__", counting_init)
    member.get("/v1/clustertemplates", status=200)
    assert made == []
    member.post("/v1/clusters", {"cluster_template_id": "k8s"}, status=202)
    member.post("/v1/clusters", {"cluster_template_id": "k8s"}, status=202)
    assert len(made) == 1 and len(casts) == 2


def test_no_database_connection_stays_checked_out(member, db):
    counts = {"checkout": 0, "checkin": 0}

    def on(event):
        def count(*args):
            counts[event] += 1
        return count

    listeners = [(event, on(event)) for event in counts]
    for event, listener in listeners:
        sa.event.listen(db, event, listener)
    try:
        member.post("/v1/clustertemplates", TEMPLATE, status=201)
        member.get("/v1/clustertemplates", status=200)
        member.get("/v1/clustertemplates/detail", status=200)
        member.get("/v1/clustertemplates/k8s", status=200)
        member.get("/v1/clustertemplates/nope", status=404)
        member.post("/v1/clusters", {"cluster_template_id": "k8s"}, status=202)
        member.get("/v1/clusters/detail", status=200)
    finally:
        for event, listener in listeners:
            sa.event.remove(db, event, listener)
    assert counts["checkout"] > 0
    assert counts["checkout"] == counts["checkin"]


def test_getting_a_template_is_one_query(member, db):
    member.post("/v1/clustertemplates", TEMPLATE, status=201)
    statements = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    sa.event.listen(db, "before_cursor_execute", count)
    try:
        member.get("/v1/clustertemplates/k8s", status=200)
        assert len(statements) == 1
        member.get("/v1/clustertemplates?limit=50", status=200)
        assert len(statements) == 2
    finally:
        sa.event.remove(db, "before_cursor_execute", count)


def test_the_policy_enforcer_is_made_once(member, monkeypatch):
    first = policy.init()
    member.get("/v1/clustertemplates", status=200)
    member.get("/v1/clustertemplates", status=200)
    assert policy.init() is first


def test_an_absolute_paste_file_that_is_missing_is_an_error(config):
    config.set_override("api_paste_config", "/nonexistent/api-paste.ini", group="api")
    with pytest.raises(cfg.ConfigFilesNotFoundError):
        api_app.find_paste_config(config)


def test_a_relative_paste_file_is_found_next_to_the_config_files(config, tmp_path):
    conf_file = tmp_path / "magnum-lite.conf"
    conf_file.write_text("[api]\napi_paste_config = my-paste.ini\n")
    (tmp_path / "my-paste.ini").write_text("[pipeline:noauth]\npipeline = api_v1\n")
    config(["--config-file", str(conf_file)], project="magnum-lite",
           default_config_files=[], default_config_dirs=[])
    assert api_app.find_paste_config(config) == str(tmp_path / "my-paste.ini")


def test_the_repository_paste_file_is_the_fallback(config):
    path = api_app.find_paste_config(config)
    assert path.endswith("etc/magnum-lite/api-paste.ini")


def test_an_unknown_auth_strategy_has_no_pipeline():
    conf = types.SimpleNamespace(api=types.SimpleNamespace(auth_strategy="kerberos"))
    with pytest.raises(cfg.ConfigFileValueError):
        api_app.load_app(conf)


def test_cors_answers_preflights_for_allowed_origins(db, config, casts, validator):
    config.set_override("auth_strategy", "noauth", group="api")
    from oslo_middleware import cors

    config.register_opts(cors.OPTS, group="cors")
    config.set_override("allowed_origin", ["https://dashboard.example"], group="cors")
    test_app = webtest.TestApp(api_app.load_app(config))
    response = test_app.options("/v1/clusters", headers={
        "Origin": "https://dashboard.example", "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "OpenStack-API-Version"}, status=200)
    assert response.headers["Access-Control-Allow-Origin"] == "https://dashboard.example"
    assert "PATCH" in response.headers["Access-Control-Allow-Methods"]
    plain = test_app.get("/v1/", headers={"Origin": "https://dashboard.example"}, status=200)
    assert "OpenStack-API-Version" in plain.headers["Access-Control-Expose-Headers"]


@pytest.mark.parametrize(("trusted", "link"), [(True, "https://cloud.example/v1/"),
                                                (False, "http://localhost/v1/")])
def test_links_follow_the_proxy_only_when_proxy_headers_are_trusted(
        db, config, casts, validator, trusted, link):
    config.set_override("auth_strategy", "noauth", group="api")
    if trusted:
        config.set_override("enable_proxy_headers_parsing", True, group="oslo_middleware")
    test_app = webtest.TestApp(api_app.load_app(config))
    document = test_app.get("/", headers={"X-Forwarded-Proto": "https",
                                          "X-Forwarded-Host": "cloud.example"},
                            status=200).json
    assert document["versions"][0]["links"][0]["href"] == link


def test_cors_leaves_requests_without_an_origin_alone(db, config, casts, validator):
    config.set_override("auth_strategy", "noauth", group="api")
    from oslo_middleware import cors

    config.register_opts(cors.OPTS, group="cors")
    config.set_override("allowed_origin", ["https://dashboard.example"], group="cors")
    test_app = webtest.TestApp(api_app.load_app(config))
    plain = test_app.get("/v1/", status=200)
    assert not [h for h in plain.headers if h.lower().startswith("access-control-")]
    assert "Origin" not in plain.headers.get("Vary", "")


def test_a_paste_file_found_nowhere_is_an_error(config):
    config.set_override("api_paste_config", "no-such-paste.ini", group="api")
    with pytest.raises(cfg.ConfigFilesNotFoundError):
        api_app.find_paste_config(config)
