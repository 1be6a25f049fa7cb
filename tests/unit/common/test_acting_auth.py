"""Who the conductor acts as: the user's token, the cluster's trustee, the cluster's trust to
the service user, or its own credentials.

The [keystone_auth] cases run in a fresh interpreter with a real config file, as a restarted
conductor does: keystoneauth registers the password plugin's (required) options on the global
configuration when the plugin is first loaded, which would leak into every later test here.
"""

from collections.abc import Iterator
import json
import subprocess
import sys
import textwrap

from keystoneauth1 import exceptions as ks_exceptions
import pytest

from magnum_lite.common import clients, trustee
from magnum_lite.common import context as ml_context

SERVICE_CREDENTIALS = """
[keystone_auth]
auth_type = password
auth_url = http://keystone.example/v3
username = magnum
password = secret
user_domain_name = Default
project_name = service
project_domain_name = Default
"""


TRUSTEE = trustee.Trustee(user_id="trustee-user", username="cluster_project",
                          password="trustee-secret", trust_id="trust-2")


@pytest.fixture(autouse=True)
def _fresh_auth() -> Iterator[None]:
    clients.reset_auth()
    trustee.reset_auth()
    yield
    clients.reset_auth()
    trustee.reset_auth()


def _run(tmp_path, conf: str, code: str) -> str:
    path = tmp_path / "magnum-lite.conf"
    path.write_text(conf)
    script = textwrap.dedent("""
        from magnum_lite.conf import CONF
        CONF(["--config-file", %r], project="magnum-lite")
        from magnum_lite.common import clients
        from magnum_lite.common import context as ml_context
    """ % str(path)) + textwrap.dedent(code)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_request_token_acts_as_its_user():
    context = ml_context.RequestContext(auth_token="user-token", project_id="p",
                                        trust_id="trust-1", trustee=TRUSTEE)
    auth = clients.get_acting_auth(context)
    assert isinstance(auth, clients.ContextAuthPlugin)
    assert auth.get_token(None) == "user-token"


def test_without_a_token_the_cluster_trustee_acts_through_its_trust(config):
    config.set_override("auth_url", "http://keystone.example/identity", group="trust")
    context = ml_context.RequestContext(project_id="p", trust_id="trust-1", trustee=TRUSTEE)
    auth = clients.get_acting_auth(context)
    assert type(auth).__name__ == "Password"
    assert (auth.trust_id, auth.auth_methods[0].user_id, auth.auth_methods[0].password,
            auth.auth_url) == ("trust-2", "trustee-user", "trustee-secret",
                               "http://keystone.example/identity/v3")
    assert clients.get_acting_auth(context) is auth  # kept: its token is reused


def test_a_trustee_without_a_trust_is_not_used(config):
    """A trustee whose trust was never made: the older trust_id, else the service, acts."""
    no_trust = trustee.Trustee(user_id="u", username="n", password="p")
    context = ml_context.RequestContext(project_id="p", trustee=no_trust)
    with pytest.raises(ks_exceptions.AuthorizationFailure, match=r"\[keystone_auth\]"):
        clients.get_acting_auth(context)


def test_the_trustee_never_travels_over_rpc():
    """It holds a password: to_dict (what RPC sends) leaves it out."""
    context = ml_context.RequestContext(auth_token="t", project_id="p", trust_id="trust-1",
                                        trustee=TRUSTEE)
    values = context.to_dict()
    assert "trustee" not in values
    assert "trustee-secret" not in json.dumps(values)
    assert values["trust_id"] == "trust-1"
    assert ml_context.RequestContext.from_dict(values).trustee is None


def test_no_service_credentials_is_a_clear_error(config):
    context = ml_context.RequestContext(project_id="p")
    with pytest.raises(ks_exceptions.AuthorizationFailure, match=r"\[keystone_auth\]"):
        clients.get_acting_auth(context)


def test_without_a_token_a_fresh_process_acts_through_the_cluster_trust(tmp_path):
    """The first thing a restarted conductor does is poll a cluster through its trust."""
    out = _run(tmp_path, SERVICE_CREDENTIALS, """
        context = ml_context.RequestContext(project_id="p", trust_id="trust-1")
        auth = clients.get_acting_auth(context)
        print(type(auth).__name__, auth.trust_id, auth.project_name, auth.project_id,
              auth.auth_methods[0].username, auth.auth_url)
        print(clients.get_acting_auth(context) is auth)   # kept: its token is reused
        service = clients.get_acting_auth(ml_context.RequestContext(project_id="p"))
        print(service is clients.get_service_auth(), type(service).__name__)
        # A trustee without its trust (never made) leaves the older trust in charge.
        from magnum_lite.common import trustee
        half = trustee.Trustee(user_id="u", username="n", password="p")
        older = ml_context.RequestContext(project_id="p", trust_id="trust-1", trustee=half)
        print(clients.get_acting_auth(older) is auth)
    """)
    assert out.splitlines() == [
        "Password trust-1 None None magnum http://keystone.example/v3",
        "True",
        "True Password",
        "True"]


def test_a_root_auth_url_gets_its_v3_for_the_trust(tmp_path):
    """[keystone_auth]'s generic password plugin discovers the version from a root URL; the
    v3 plugin of a trust posts to <auth_url>/auth/tokens, so /v3 is added."""
    out = _run(tmp_path, SERVICE_CREDENTIALS.replace("keystone.example/v3",
                                                     "keystone.example:5000/"), """
        print(clients.get_trust_auth("trust-1").auth_url)
    """)
    assert out.strip() == "http://keystone.example:5000/v3"


def test_the_trust_auth_cache_is_bounded(tmp_path):
    out = _run(tmp_path, SERVICE_CREDENTIALS, """
        clients.MAX_CACHED_TRUSTS = 3
        for n in range(5):
            clients.get_trust_auth(f"trust-{n}")
        clients.get_trust_auth("trust-2")  # used again: the most recent now
        print(" ".join(clients._trust_auths))
    """)
    assert out.split() == ["trust-3", "trust-4", "trust-2"]


def test_a_trust_needs_password_credentials(tmp_path):
    out = _run(tmp_path, "[keystone_auth]\nauth_type = token\nauth_url = http://k/v3\n"
                         "token = abc\n", """
        from keystoneauth1 import exceptions
        try:
            clients.get_trust_auth("trust-1")
        except exceptions.AuthorizationFailure as err:
            print("refused:", err)
    """)
    assert out.startswith("refused: acting through a trust needs password credentials")
