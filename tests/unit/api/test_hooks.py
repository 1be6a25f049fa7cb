"""The request context: from keystonemiddleware's headers, or the noauth defaults."""

import types

from magnum_lite.api import hooks
from magnum_lite.common import policy


def _state(environ):
    return types.SimpleNamespace(request=types.SimpleNamespace(environ=environ))


def _context(conf, environ):
    policy.reset()
    state = _state(environ)
    hooks.ContextHook(conf).before(state)
    return state.request.context


KEYSTONE_HEADERS = {
    "HTTP_X_PROJECT_ID": "p1", "HTTP_X_USER_ID": "u1", "HTTP_X_ROLES": "member,reader",
    "HTTP_X_USER_NAME": "alice", "HTTP_X_PROJECT_NAME": "demo", "HTTP_X_AUTH_TOKEN": "tok",
    "HTTP_X_SERVICE_CATALOG": '[{"type": "compute", "endpoints": []}]',
    "openstack.request_id": "req-123", "keystone.token_auth": "plugin",
}


def test_keystone_mode_takes_the_identity_from_keystonemiddleware(config):
    config.set_override("auth_strategy", "keystone", group="api")
    context = _context(config, dict(KEYSTONE_HEADERS))
    assert (context.project_id, context.user_id) == ("p1", "u1")
    assert context.roles == ["member", "reader"]
    assert (context.user_name, context.project_name) == ("alice", "demo")
    assert context.auth_token == "tok"
    assert context.request_id == "req-123"
    assert context.is_admin is False
    assert context.user_auth_plugin == "plugin"
    assert "compute" in context.service_catalog


def test_keystone_mode_has_no_default_identity(config):
    config.set_override("auth_strategy", "keystone", group="api")
    context = _context(config, {})
    assert context.project_id is None and context.roles == []


def test_noauth_mode_fills_in_the_configured_identity(config):
    config.set_override("auth_strategy", "noauth", group="api")
    config.set_override("noauth_project_id", "dev-project", group="api")
    config.set_override("noauth_roles", ["admin", "member", "reader"], group="api")
    context = _context(config, {"openstack.request_id": "req-9"})
    assert context.project_id == "dev-project"
    assert context.user_id == config.api.noauth_user_id
    assert context.is_admin is True
    assert context.request_id == "req-9"


def test_noauth_mode_prefers_the_headers(config):
    config.set_override("auth_strategy", "noauth", group="api")
    context = _context(config, {"HTTP_X_PROJECT_ID": "p2", "HTTP_X_ROLES": "reader"})
    assert context.project_id == "p2" and context.roles == ["reader"]
    assert context.user_id == config.api.noauth_user_id
    assert context.is_admin is False


def test_admins_are_who_the_policy_says(config):
    config.set_override("auth_strategy", "keystone", group="api")
    context = _context(config, {**KEYSTONE_HEADERS, "HTTP_X_ROLES": "admin"})
    assert context.is_admin is True
