"""Trustee users and trusts of clusters, against a fake Keystone v3 at the HTTP boundary.

The fake answers with Keystone's v3 shapes (tokens with X-Subject-Token, users, OS-TRUST
trusts) and enforces what Keystone's default policy does for these calls: users of a domain
are managed by a token scoped to that domain with the admin role, a trust is created and
deleted by its trustor, a trust-scoped token impersonates the trustor.
"""

from __future__ import annotations

from collections.abc import Iterator
import dataclasses
import http.server
import json
import subprocess
import sys
import textwrap
import threading
from typing import Any
import urllib.parse
import uuid

import pytest

from magnum_lite.common import clients, exception, trustee
from magnum_lite.common import context as ml_context
from tests import local_http

DOMAIN_ID = "d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0"
DOMAIN_NAME = "magnum"
ADMIN_ID = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
ADMIN_PASSWORD = "domain-admin-secret"
OWNER_ID = "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a"
OWNER_TOKEN = "gAAAAABowner-token"
PROJECT_ID = "5e2b7c1d0f5a4c6b9a1f2e3d4c5b6a79"
CLUSTER = "8c5f7b0e-4a57-4f6a-9d1e-2b3c4d5e6f70"


class FakeKeystone:
    """Keystone v3's identity API for users, trusts and password tokens, in memory."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users: dict[str, dict[str, Any]] = {
            ADMIN_ID: {"id": ADMIN_ID, "name": "magnum_domain_admin", "domain_id": DOMAIN_ID,
                       "password": ADMIN_PASSWORD},
            OWNER_ID: {"id": OWNER_ID, "name": "demo", "domain_id": "default",
                       "password": "x"},
        }
        self.trusts: dict[str, dict[str, Any]] = {}
        # token -> what it stands for (user, scope, roles, trust)
        self.tokens: dict[str, dict[str, Any]] = {
            OWNER_TOKEN: {"user_id": OWNER_ID, "project_id": PROJECT_ID,
                          "roles": ["member", "reader"]}}
        self.requests: list[tuple[str, str, dict | None, str | None]] = []
        self.refuse: dict[tuple[str, str], int] = {}  # (method, path prefix) -> status
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                url = urllib.parse.urlsplit(self.path)
                token = self.headers.get("X-Auth-Token")
                with fake.lock:
                    fake.requests.append((self.command, url.path, body, token))
                    status, headers, answer = fake.answer(
                        self.command, url.path, dict(urllib.parse.parse_qsl(url.query)),
                        body, token)
                data = json.dumps(answer).encode() if answer is not None else b""
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _handle  # noqa: N815

        self._http = local_http.LocalHTTPServer(Handler)
        self.base = self._http.base
        self.url = self.base + "/v3"

    def __enter__(self) -> FakeKeystone:
        self._http.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.__exit__(*exc)

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def error(status: int, title: str, message: str) -> tuple[int, dict, dict]:
        return status, {}, {"error": {"code": status, "title": title, "message": message}}

    def catalog(self) -> list[dict]:
        return [{"type": "identity", "name": "keystone", "id": "k1",
                 "endpoints": [{"id": f"e-{i}", "interface": i, "region": "RegionOne",
                                "region_id": "RegionOne", "url": self.url}
                               for i in ("public", "internal")]}]

    def whose(self, token: str | None) -> dict[str, Any] | None:
        return self.tokens.get(token or "")

    def is_domain_admin(self, who: dict | None, domain_id: str) -> bool:
        return bool(who and who.get("domain_id") == domain_id and "admin" in who["roles"])

    # ------------------------------------------------------------------ routes

    def answer(self, method: str, path: str, query: dict, body: Any,
               token: str | None) -> tuple[int, dict, Any]:
        for (m, prefix), status in self.refuse.items():
            if m == method and path.startswith(prefix):
                return self.error(status, "Refused", f"refused by the test ({status})")
        if method == "GET" and path in ("/v3", "/v3/"):
            return 200, {}, {"version": {"id": "v3.14", "status": "stable",
                                         "links": [{"rel": "self", "href": self.url + "/"}],
                                         "media-types": []}}
        if method == "POST" and path == "/v3/auth/tokens":
            return self.issue(body)
        who = self.whose(token)
        if who is None:
            return self.error(401, "Unauthorized", "The request you have made requires "
                                                   "authentication.")
        if path == "/v3/users" and method == "POST":
            user = body["user"]
            if not self.is_domain_admin(who, user.get("domain_id")):
                return self.error(403, "Forbidden", "You are not authorized to perform the "
                                                    "requested action: identity:create_user.")
            if any(u["name"] == user["name"] and u["domain_id"] == user["domain_id"]
                   for u in self.users.values()):
                return self.error(409, "Conflict", "Conflict occurred attempting to store "
                                                   f"user - Duplicate entry {user['name']}.")
            new = dict(user, id=uuid.uuid4().hex, enabled=True)
            self.users[new["id"]] = new
            return 201, {}, {"user": self.public(new)}
        if path == "/v3/users" and method == "GET":
            found = [self.public(u) for u in self.users.values()
                     if u["domain_id"] == query.get("domain_id")
                     and u["name"] == query.get("name", u["name"])]
            return 200, {}, {"users": found, "links": {}}
        if path.startswith("/v3/users/") and method == "DELETE":
            user = self.users.get(path.rsplit("/", 1)[1])
            if user is None:
                return self.error(404, "Not Found", "Could not find user.")
            if not self.is_domain_admin(who, user["domain_id"]):
                return self.error(403, "Forbidden", "identity:delete_user")
            del self.users[user["id"]]
            # Keystone drops the trusts of a deleted user (as trustor or trustee).
            for trust_id in [t for t, v in self.trusts.items()
                             if user["id"] in (v["trustee_user_id"], v["trustor_user_id"])]:
                del self.trusts[trust_id]
            return 204, {}, None
        if path == "/v3/OS-TRUST/trusts" and method == "POST":
            trust = body["trust"]
            if trust["trustor_user_id"] != who["user_id"]:
                return self.error(403, "Forbidden", "identity:create_trust")
            new = dict(trust, id=uuid.uuid4().hex)
            self.trusts[new["id"]] = new
            return 201, {}, {"trust": new}
        if path.startswith("/v3/OS-TRUST/trusts/") and method == "DELETE":
            trust = self.trusts.get(path.rsplit("/", 1)[1])
            if trust is None:
                return self.error(404, "Not Found", "Could not find trust.")
            if trust["trustor_user_id"] != who["user_id"]:
                return self.error(403, "Forbidden", "identity:delete_trust")
            del self.trusts[trust["id"]]
            return 204, {}, None
        return self.error(404, "Not Found", f"no route {method} {path}")

    @staticmethod
    def public(user: dict) -> dict:
        return {k: v for k, v in user.items() if k != "password"}

    def issue(self, body: dict) -> tuple[int, dict, Any]:
        auth = body["auth"]
        ident = auth["identity"]["password"]["user"]
        if "id" in ident:
            user = self.users.get(ident["id"])
        else:
            domain = ident.get("domain", {})
            domain_id = domain.get("id") or ("default" if domain.get("name") == "Default"
                                             else DOMAIN_ID if domain.get("name") == DOMAIN_NAME
                                             else None)
            user = next((u for u in self.users.values()
                         if u["name"] == ident["name"] and u["domain_id"] == domain_id), None)
        if user is None or user["password"] != ident["password"]:
            return self.error(401, "Unauthorized", "The request you have made requires "
                                                   "authentication.")
        scope = auth.get("scope", {})
        token_value = f"tok-{uuid.uuid4().hex}"
        token: dict[str, Any] = {
            "methods": ["password"], "expires_at": "2099-01-01T00:00:00.000000Z",
            "issued_at": "2026-01-01T00:00:00.000000Z", "catalog": self.catalog(),
            "user": {"id": user["id"], "name": user["name"],
                     "domain": {"id": user["domain_id"], "name": "?"}},
        }
        who: dict[str, Any] = {"user_id": user["id"], "roles": []}
        if "domain" in scope:
            wanted = scope["domain"]
            if wanted.get("id", DOMAIN_ID) != DOMAIN_ID or wanted.get(
                    "name", DOMAIN_NAME) != DOMAIN_NAME or user["id"] != ADMIN_ID:
                return self.error(401, "Unauthorized", "no role on that domain")
            token["domain"] = {"id": DOMAIN_ID, "name": DOMAIN_NAME}
            token["roles"] = [{"id": "r-admin", "name": "admin"}]
            who.update(domain_id=DOMAIN_ID, roles=["admin"])
        elif "OS-TRUST:trust" in scope:
            trust = self.trusts.get(scope["OS-TRUST:trust"]["id"])
            if trust is None or trust["trustee_user_id"] != user["id"]:
                return self.error(401, "Unauthorized", "The request you have made requires "
                                                       "authentication.")
            acting = trust["trustor_user_id"] if trust["impersonation"] else user["id"]
            token["user"]["id"] = acting
            token["project"] = {"id": trust["project_id"], "name": "demo",
                                "domain": {"id": "default", "name": "Default"}}
            token["roles"] = [{"id": f"r-{r['name']}", "name": r["name"]}
                              for r in trust["roles"]]
            token["OS-TRUST:trust"] = {"id": trust["id"], "impersonation": True,
                                       "trustee_user": {"id": user["id"]},
                                       "trustor_user": {"id": trust["trustor_user_id"]}}
            who.update(user_id=acting, project_id=trust["project_id"],
                       roles=[r["name"] for r in trust["roles"]], trust_id=trust["id"])
        self.tokens[token_value] = who
        return 201, {"X-Subject-Token": token_value}, {"token": token}


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    clients.reset_sessions()
    trustee.reset_auth()
    yield
    trustee.reset_auth()
    clients.reset_sessions()


@pytest.fixture
def keystone() -> Iterator[FakeKeystone]:
    with FakeKeystone() as fake:
        yield fake


@pytest.fixture
def trust_conf(config: Any, keystone: FakeKeystone) -> Any:
    config.set_override("trustee_domain_name", DOMAIN_NAME, group="trust")
    config.set_override("trustee_domain_admin_name", "magnum_domain_admin", group="trust")
    config.set_override("trustee_domain_admin_password", ADMIN_PASSWORD, group="trust")
    config.set_override("auth_url", keystone.base, group="trust")  # no /v3: it is added
    return config


@pytest.fixture
def owner(keystone: FakeKeystone) -> ml_context.RequestContext:
    """The cluster owner's request context, as keystonemiddleware hands it to the API."""
    return ml_context.RequestContext(
        auth_token=OWNER_TOKEN, user_id=OWNER_ID, project_id=PROJECT_ID,
        roles=["member", "reader"], service_catalog=keystone.catalog(), overwrite=False)


def _with_trust(keystone: FakeKeystone, owner: ml_context.RequestContext) -> trustee.Trustee:
    made = trustee.create_trustee(CLUSTER, PROJECT_ID)
    return dataclasses.replace(made, trust_id=trustee.create_trust(owner, made.user_id))


# ---------------------------------------------------------------------- configuration


def test_not_configured_by_default_and_a_clear_error(config):
    assert trustee.configured() is False
    with pytest.raises(trustee.TrusteeNotConfigured, match=r"\[trust\].*no trustee domain, "
                       r"no trustee domain admin, no password"):
        trustee.create_trustee(CLUSTER, PROJECT_ID)


def test_configured_by_names_or_ids(config):
    config.set_override("trustee_domain_id", DOMAIN_ID, group="trust")
    config.set_override("trustee_domain_admin_id", ADMIN_ID, group="trust")
    assert trustee.configured() is False  # no password yet
    config.set_override("trustee_domain_admin_password", "pw", group="trust")
    assert trustee.configured() is True
    with pytest.raises(trustee.TrusteeNotConfigured, match="no auth_url"):
        trustee.auth_url()


def test_auth_url_falls_back_to_keystone_auth(tmp_path):
    """Without [trust] auth_url the service credentials' URL is used, with /v3 added (the v3
    plugins do no discovery). A fresh interpreter: loading [keystone_auth] registers options
    on the global configuration."""
    path = tmp_path / "magnum-lite.conf"
    path.write_text("[keystone_auth]\nauth_type = password\nauth_url = http://ks.example:5000\n"
                    "username = magnum\npassword = s\nuser_domain_name = Default\n")
    script = textwrap.dedent(f"""
        from magnum_lite.conf import CONF
        CONF(["--config-file", {str(path)!r}], project="magnum-lite")
        from magnum_lite.common import trustee
        print(trustee.auth_url())
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "http://ks.example:5000/v3"


def test_the_password_is_not_in_the_repr():
    made = trustee.Trustee(user_id="u", username="n", password="very-secret", trust_id="t")
    assert "very-secret" not in repr(made)
    assert "trust_id='t'" in repr(made)


# ---------------------------------------------------------------------- create


def test_create_trustee_makes_a_user_in_the_trustee_domain(trust_conf, keystone):
    made = trustee.create_trustee(CLUSTER, PROJECT_ID)
    user = keystone.users[made.user_id]
    assert user["name"] == made.username == f"{CLUSTER}_{PROJECT_ID}"
    assert user["domain_id"] == DOMAIN_ID
    assert user["password"] == made.password and len(made.password) >= 32
    assert made.trust_id is None
    # The domain admin logged in scoped to the trustee domain, as a user of that domain.
    login = next(body for method, path, body, _ in keystone.requests
                 if path == "/v3/auth/tokens")
    assert login["auth"]["scope"] == {"domain": {"name": DOMAIN_NAME}}
    assert login["auth"]["identity"]["password"]["user"]["domain"] == {"name": DOMAIN_NAME}
    # Another cluster gets another user and another password.
    other = trustee.create_trustee(str(uuid.uuid4()), PROJECT_ID)
    assert other.user_id != made.user_id and other.password != made.password


def test_a_retried_create_replaces_the_user_left_behind(trust_conf, keystone):
    first = trustee.create_trustee(CLUSTER, PROJECT_ID)
    again = trustee.create_trustee(CLUSTER, PROJECT_ID)
    assert again.username == first.username
    assert first.user_id not in keystone.users
    assert keystone.users[again.user_id]["password"] == again.password


def test_create_trust_delegates_the_owner_roles_in_the_project(trust_conf, keystone, owner):
    made = trustee.create_trustee(CLUSTER, PROJECT_ID)
    trust_id = trustee.create_trust(owner, made.user_id)
    trust = keystone.trusts[trust_id]
    assert trust["trustor_user_id"] == OWNER_ID
    assert trust["trustee_user_id"] == made.user_id
    assert trust["project_id"] == PROJECT_ID
    assert sorted(r["name"] for r in trust["roles"]) == ["member", "reader"]
    assert trust["impersonation"] is True
    assert trust["allow_redelegation"] is True
    # Made with the owner's own token (only the trustor may create the trust).
    post = next(r for r in keystone.requests if r[:2] == ("POST", "/v3/OS-TRUST/trusts"))
    assert post[3] == OWNER_TOKEN


def test_keystone_refusing_is_a_cloud_error(trust_conf, keystone, owner):
    keystone.refuse[("POST", "/v3/users")] = 403
    with pytest.raises(exception.CloudError, match=r"^Keystone: cannot create the trustee "
                                                   r"user .*refused by the test \(403\)"):
        trustee.create_trustee(CLUSTER, PROJECT_ID)
    keystone.refuse.clear()
    made = trustee.create_trustee(CLUSTER, PROJECT_ID)
    stranger = ml_context.RequestContext(auth_token="unknown-token", user_id=OWNER_ID,
                                         project_id=PROJECT_ID, roles=["member"],
                                         service_catalog=keystone.catalog(), overwrite=False)
    with pytest.raises(exception.CloudError, match="cannot create the cluster's trust"):
        trustee.create_trust(stranger, made.user_id)


def test_keystone_unreachable(trust_conf, keystone):
    port = keystone.base.rsplit(":", 1)[1]
    keystone.__exit__(None, None, None)  # nothing listens there any more
    trust_conf.set_override("auth_url", f"http://127.0.0.1:{port}/v3", group="trust")
    with pytest.raises(exception.CloudUnreachable, match="cannot reach Keystone"):
        trustee.create_trustee(CLUSTER, PROJECT_ID)


# ---------------------------------------------------------------------- acting through it


def test_trustee_auth_impersonates_the_owner_through_the_trust(trust_conf, keystone, owner):
    member = _with_trust(keystone, owner)
    auth = trustee.trustee_auth(member)
    access = auth.get_access(clients.get_session("keystone_auth"))
    assert access.user_id == OWNER_ID
    assert access.project_id == PROJECT_ID
    assert access.trust_id == member.trust_id
    assert trustee.trustee_auth(member) is auth  # kept: its token is reused


def test_trustee_auth_cache_is_bounded(monkeypatch, trust_conf):
    monkeypatch.setattr(trustee, "MAX_CACHED_AUTHS", 3)
    made = [trustee.Trustee(user_id=f"u{n}", username=f"n{n}", password="p", trust_id=f"t{n}")
            for n in range(5)]
    for one in made:
        trustee.trustee_auth(one)
    trustee.trustee_auth(made[2])  # used again: the most recent now
    assert list(trustee._auths) == [("u3", "t3"), ("u4", "t4"), ("u2", "t2")]


def test_check_trust(trust_conf, keystone, owner):
    member = _with_trust(keystone, owner)
    assert trustee.check_trust(member) is None
    del keystone.trusts[member.trust_id]  # the owner deleted it
    reason = trustee.check_trust(member)
    assert reason == (f"the cluster's trust {member.trust_id} no longer works (deleted, or its "
                      "owner lost their roles): The request you have made requires "
                      "authentication. (HTTP 401)")
    keystone.refuse[("POST", "/v3/auth/tokens")] = 404
    assert "(HTTP 404)" in trustee.check_trust(member)
    assert trustee.check_trust(dataclasses.replace(member, trust_id=None)) is not None


def test_check_trust_raises_when_keystone_is_unreachable(trust_conf, keystone):
    port = keystone.base.rsplit(":", 1)[1]
    keystone.__exit__(None, None, None)
    trust_conf.set_override("auth_url", f"http://127.0.0.1:{port}", group="trust")
    member = trustee.Trustee(user_id="u", username="n", password="p", trust_id="t")
    with pytest.raises(exception.CloudUnreachable):
        trustee.check_trust(member)


# ---------------------------------------------------------------------- delete


def test_delete_trustee_deletes_the_trust_as_its_trustor_then_the_user(trust_conf, keystone,
                                                                       owner):
    member = _with_trust(keystone, owner)
    auth = trustee.trustee_auth(member)
    trustee.delete_trustee(None, member)
    assert keystone.trusts == {} and member.user_id not in keystone.users
    # The trust went first, with a token of the trust itself (no user token was at hand).
    deletes = [(path, keystone.tokens[token]) for method, path, _, token in keystone.requests
               if method == "DELETE"]
    assert [path for path, _ in deletes] == [f"/v3/OS-TRUST/trusts/{member.trust_id}",
                                             f"/v3/users/{member.user_id}"]
    assert deletes[0][1]["trust_id"] == member.trust_id
    assert deletes[1][1]["domain_id"] == DOMAIN_ID
    assert trustee.trustee_auth(member) is not auth  # forgotten
    trustee.delete_trustee(owner, member)  # all gone already: still fine


def test_delete_trustee_when_the_trust_is_gone_already(trust_conf, keystone, owner):
    member = _with_trust(keystone, owner)
    del keystone.trusts[member.trust_id]
    trustee.delete_trustee(None, member)
    assert member.user_id not in keystone.users


def test_delete_trustee_refused_is_a_cloud_error(trust_conf, keystone, owner):
    member = _with_trust(keystone, owner)
    keystone.refuse[("DELETE", "/v3/users/")] = 500
    with pytest.raises(exception.CloudError, match="cannot delete the trustee user"):
        trustee.delete_trustee(None, member)
    assert member.user_id in keystone.users


# ---------------------------------------------------------------------- the acting auth


def test_get_acting_auth_uses_the_trustee(trust_conf, keystone, owner):
    member = _with_trust(keystone, owner)
    context = ml_context.RequestContext(project_id=PROJECT_ID, trustee=member,
                                        trust_id="old-trust", overwrite=False)
    auth = clients.get_acting_auth(context)
    assert auth is trustee.trustee_auth(member)
    assert auth.get_access(clients.get_session("keystone_auth")).user_id == OWNER_ID

