"""A cluster's trustee user and trust against the sandbox's real Keystone 30 (and Heat 27).

The trustee domain `magnum` and its admin come from the sandbox's provisioning; everything
here goes through magnum_lite.common.trustee exactly as the conductor calls it, with the
demo user as the cluster's owner. This also proves Keystone's default policy lets a
domain-scoped admin create, update and delete users of its own domain.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
import uuid

from heatclient import client as heat_client
from keystoneclient.v3 import client as ks_client
import pytest

from magnum_lite.common import clients, trustee
from magnum_lite.common import context as ml_context
from magnum_lite.conf import keystone_auth as keystone_auth_conf
from magnum_lite_sandbox import config as sandbox_config
from tests.integration import clusters

pytestmark = [pytest.mark.sandbox, pytest.mark.service]


@pytest.fixture
def trust_config(sandbox: dict[str, Any], config: Any) -> Iterator[Any]:
    """[trust] as the sandbox's magnum-lite.conf sets it."""
    for name, value in (("trustee_domain_name", sandbox_config.TRUSTEE_DOMAIN),
                        ("trustee_domain_admin_name", sandbox_config.TRUSTEE_DOMAIN_ADMIN),
                        ("auth_url", sandbox["keystone_url"])):
        config.set_override(name, value, group="trust")
    state = sandbox_config.load(sandbox_config.default_state_dir())
    config.set_override("trustee_domain_admin_password",
                        state["secrets"]["trustee_domain_admin"], group="trust")
    clients.reset_sessions()
    trustee.reset_auth()
    yield config
    trustee.reset_auth()
    clients.reset_sessions()


@pytest.fixture
def owner(sandbox: dict[str, Any]) -> ml_context.RequestContext:
    """The demo user's request context, as keystonemiddleware hands it to the API."""
    session = clusters.session(sandbox, "demo")
    access = session.auth.get_access(session)
    return ml_context.RequestContext(
        auth_token=access.auth_token, user_id=access.user_id, project_id=access.project_id,
        roles=list(access.role_names), service_catalog=access.service_catalog.catalog,
        overwrite=False)


def _user_exists(sandbox: dict[str, Any], user_id: str) -> bool:
    admin = ks_client.Client(session=clusters.session(sandbox, "admin"), interface="public")
    return any(u.id == user_id for u in admin.users.list(
        domain=admin.domains.list(name=sandbox_config.TRUSTEE_DOMAIN)[0]))


def test_trustee_life_cycle(sandbox, trust_config, owner):
    cluster_uuid = str(uuid.uuid4())
    made = trustee.create_trustee(cluster_uuid, owner.project_id)
    assert made.username == f"{cluster_uuid}_{owner.project_id}"
    assert made.password not in repr(made)
    try:
        # A retried create replaces the user of that name left by the first try.
        again = trustee.create_trustee(cluster_uuid, owner.project_id)
        assert again.username == made.username
        assert again.user_id != made.user_id and again.password != made.password
        assert not _user_exists(sandbox, made.user_id)

        trust_id = trustee.create_trust(owner, again.user_id)
        member = dataclass_replace(again, trust_id=trust_id)
        auth = trustee.trustee_auth(member)
        session = clients.get_session(keystone_auth_conf.GROUP)
        access = auth.get_access(session)
        # Impersonation: the token is the owner's, in the owner's project, through the trust.
        assert access.user_id == owner.user_id
        assert access.project_id == owner.project_id
        assert access.trust_id == trust_id
        heat = heat_client.Client("1", session=session, auth=auth,
                                  service_type="orchestration", interface="public",
                                  region_name=sandbox["region"])
        assert isinstance(list(heat.stacks.list(limit=1)), list)
        assert trustee.check_trust(member) is None

        # The owner deletes the trust behind magnum-lite's back: reported, not raised.
        ks_client.Client(session=clusters.session(sandbox, "demo"),
                         interface="public").trusts.delete(trust_id)
        reason = trustee.check_trust(member)
        assert reason is not None
        assert reason.startswith(f"the cluster's trust {trust_id} no longer works")

        trustee.delete_trustee(None, member)  # the trust is gone already: still deleted
        assert not _user_exists(sandbox, member.user_id)
        trustee.delete_trustee(None, member)  # and again: nothing left, no error
    finally:
        trustee.delete_trustee(None, made)


def test_deleting_the_trustee_deletes_its_trust(sandbox, trust_config, owner):
    made = trustee.create_trustee(str(uuid.uuid4()), owner.project_id)
    member = dataclass_replace(made, trust_id=trustee.create_trust(owner, made.user_id))
    assert trustee.check_trust(member) is None
    trustee.delete_trustee(owner, member)
    assert not _user_exists(sandbox, member.user_id)
    demo = ks_client.Client(session=clusters.session(sandbox, "demo"), interface="public")
    assert member.trust_id not in [t.id for t in demo.trusts.list(trustor_user=owner.user_id)]
    assert trustee.check_trust(member) is not None


def dataclass_replace(value: trustee.Trustee, **changes: Any) -> trustee.Trustee:
    import dataclasses

    return dataclasses.replace(value, **changes)
