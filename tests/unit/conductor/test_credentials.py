"""A cluster's credentials in the conductor: its CAs, join token and trustee, made at create,
handed to the driver decrypted, rotated, and released with the cluster."""

from __future__ import annotations

from typing import Any

from cryptography import x509 as crypto_x509
from cryptography.fernet import Fernet
import oslo_messaging as messaging
import pytest
import sqlalchemy as sa

from magnum_lite import objects
from magnum_lite.common import encryption, exception, trustee, x509
from magnum_lite.conductor import credentials, recording
from magnum_lite.db.sqlalchemy import models
from magnum_lite.drivers import base as drivers_base
from magnum_lite.drivers.heat import driver as heat_driver
from magnum_lite.objects import fields
from tests.csr import make_csr
from tests.unit.conductor.helpers import settle, wait_for
from tests.unit.conductor.test_manager import reload

Status = fields.ClusterStatus
KEY = Fernet.generate_key().decode()
TOKEN = "abcdef.0123456789abcdef"


@pytest.fixture
def keys(config) -> str:
    config.set_override("encryption_keys", [KEY], group="credentials")
    return KEY


@pytest.fixture
def trustees(config, monkeypatch) -> dict[str, list]:
    """A trustee domain configured, and Keystone's trustee calls recorded instead of made."""
    for name, value in (("trustee_domain_id", "trustee-domain"),
                        ("trustee_domain_admin_id", "domain-admin"),
                        ("trustee_domain_admin_password", "admin-secret"),
                        ("auth_url", "http://keystone.test:5000/v3")):
        config.set_override(name, value, group="trust")
    made: dict[str, list] = {"users": [], "trusts": [], "deleted": []}

    def create_trustee(cluster_uuid: str, project_id: str) -> trustee.Trustee:
        n = len(made["users"]) + 1
        made["users"].append((cluster_uuid, project_id))
        return trustee.Trustee(user_id=f"trustee-{n}", username=f"cluster-{n}",
                               password=f"password-{n}")

    def create_trust(context: Any, trustee_user_id: str) -> str:
        made["trusts"].append((context.user_id, context.auth_token, trustee_user_id))
        return f"trust-of-{trustee_user_id}"

    monkeypatch.setattr(trustee, "create_trustee", create_trustee)
    monkeypatch.setattr(trustee, "create_trust", create_trust)
    monkeypatch.setattr(trustee, "delete_trustee",
                        lambda context, old: made["deleted"].append(old))
    return made


def keypair_rows(db: Any, cluster_uuid: str) -> list[Any]:
    with db.connect() as connection:
        table = models.X509KeyPair.__table__
        return connection.execute(sa.select(table).where(table.c.cluster_id == cluster_uuid)
                                  .order_by(table.c.id)).all()


def with_cas(context: Any, cluster: Any) -> objects.Cluster:
    return credentials.ensure_cas(context, cluster, "kubernetes")


# -- create ------------------------------------------------------------------------------------

def test_create_makes_three_cas_with_encrypted_keys_before_the_driver_runs(
        manager, context, make_cluster, fake_driver, keys, db):
    cluster = make_cluster()
    manager.cluster_create(context, cluster_uuid=cluster.uuid, create_timeout=60)
    settle()
    after = reload(context, cluster)
    rows = keypair_rows(db, cluster.uuid)
    assert sorted(row.kind for row in rows) == ["ca", "etcd_ca", "front_proxy_ca"]
    assert {row.uuid for row in rows} == {after.ca_cert_ref, after.etcd_ca_cert_ref,
                                          after.front_proxy_ca_cert_ref}
    for row in rows:
        assert row.private_key.startswith("fernet:")
        assert "PRIVATE KEY" not in row.private_key
        assert row.certificate.startswith("-----BEGIN CERTIFICATE-----")
        assert row.project_id == cluster.project_id
    assert fake_driver.calls[0][1]["ca_kinds"] == ["ca", "etcd", "front_proxy"]
    # The loader handed the driver the CAs decrypted, each key matching its certificate.
    [given] = fake_driver.given
    by_uuid = {row.uuid: row for row in rows}
    for kind, ref in (("ca", after.ca_cert_ref), ("etcd", after.etcd_ca_cert_ref),
                      ("front_proxy", after.front_proxy_ca_cert_ref)):
        pair = given.cas[kind]
        assert pair.certificate == by_uuid[ref].certificate
        assert pair.private_key == encryption.decrypt(by_uuid[ref].private_key)
        assert "PRIVATE KEY" in pair.private_key
        signed = x509.sign_csr(pair, make_csr(), common_name="check")
        assert x509.subject_of(signed)["CN"] == ["check"]
    assert given.trustee is None  # no token to delegate from: no trustee
    assert after.status == Status.CREATE_IN_PROGRESS


def test_a_template_with_tls_disabled_gives_the_cluster_no_ca(
        manager, context, template, make_cluster, fake_driver, keys, db):
    template.tls_disabled = True
    template.save()
    cluster = make_cluster()
    manager.cluster_create(context, cluster_uuid=cluster.uuid, create_timeout=60)
    settle()
    after = reload(context, cluster)
    assert keypair_rows(db, cluster.uuid) == []
    assert (after.ca_cert_ref, after.etcd_ca_cert_ref, after.front_proxy_ca_cert_ref) == (
        None, None, None)
    assert fake_driver.calls[0][1]["ca_kinds"] == []
    assert after.status == Status.CREATE_IN_PROGRESS


def test_a_retried_create_keeps_the_cas_it_made(context, make_cluster, keys, db):
    cluster = with_cas(context, make_cluster())
    refs = (cluster.ca_cert_ref, cluster.etcd_ca_cert_ref, cluster.front_proxy_ca_cert_ref)
    again = with_cas(context, cluster)
    assert (again.ca_cert_ref, again.etcd_ca_cert_ref, again.front_proxy_ca_cert_ref) == refs
    assert len(keypair_rows(db, cluster.uuid)) == 3


def test_the_join_token_is_stored_encrypted_and_the_driver_decrypts_it(
        manager, context, make_cluster, fake_driver, keys):
    cluster = make_cluster()
    fake_driver.create_state = drivers_base.ClusterState(
        status=Status.CREATE_IN_PROGRESS, stack_id="stack-1", join_token=TOKEN)
    manager.cluster_create(context, cluster_uuid=cluster.uuid, create_timeout=60)
    settle()
    after = reload(context, cluster)
    assert after.join_token.startswith("fernet:") and TOKEN not in after.join_token
    assert heat_driver.HeatDriver.join_token(after) == TOKEN
    # Recorded again by a status check: no spurious change for the same token.
    assert not recording.state_differs(
        after, objects.NodeGroup.list_for_clusters(context, [cluster.uuid]),
        drivers_base.ClusterState(join_token=TOKEN))


def test_create_with_a_token_makes_a_trustee_and_hands_it_to_the_driver(
        manager, context, make_cluster, fake_driver, keys, trustees):
    context.auth_token = "user-token"
    cluster = make_cluster()
    manager.cluster_create(context, cluster_uuid=cluster.uuid, create_timeout=60)
    settle()
    after = reload(context, cluster)
    assert trustees["users"] == [(cluster.uuid, cluster.project_id)]
    assert trustees["trusts"] == [(context.user_id, "user-token", "trustee-1")]
    assert (after.trustee_user_id, after.trustee_username, after.trust_id) == (
        "trustee-1", "cluster-1", "trust-of-trustee-1")
    assert after.trustee_password.startswith("fernet:")
    assert encryption.decrypt(after.trustee_password) == "password-1"
    [given] = fake_driver.given
    assert (given.trustee.user_id, given.trustee.password, given.trustee.trust_id) == (
        "trustee-1", "password-1", "trust-of-trustee-1")
    assert given.auth_url == "http://keystone.test:5000/v3"


# -- signing -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("roles", "group"), [(["member", "reader"], "system:masters"),
                                              (["reader"], "magnum-lite:readers")])
def test_sign_names_the_caller_whatever_the_csr_asks(manager, context, make_cluster, keys,
                                                     roles, group):
    cluster = with_cas(context, make_cluster(status=Status.CREATE_COMPLETE))
    context.roles = roles
    pem = manager.sign_certificate(context, cluster_uuid=cluster.uuid,
                                   csr=make_csr("admin", ("system:masters", "other")))
    subject = x509.subject_of(pem)
    assert (subject["CN"], subject["O"]) == ([context.user_id], [group])
    cert = crypto_x509.load_pem_x509_certificate(pem.encode())
    ca = crypto_x509.load_pem_x509_certificate(
        credentials.ca_certificate(context, cluster).encode())
    cert.verify_directly_issued_by(ca)  # raises unless the cluster CA signed it
    assert "PRIVATE KEY" not in pem


def test_sign_of_a_bad_csr_is_an_expected_invalid_parameter(manager, context, make_cluster,
                                                            keys):
    cluster = with_cas(context, make_cluster(status=Status.CREATE_COMPLETE))
    csr = make_csr().replace("-----BEGIN CERTIFICATE REQUEST-----\nMI",
                             "-----BEGIN CERTIFICATE REQUEST-----\nXX")
    with pytest.raises(messaging.ExpectedException) as raised:
        manager.sign_certificate(context, cluster_uuid=cluster.uuid, csr=csr)
    err = raised.value.exc_info[1]
    assert isinstance(err, exception.InvalidParameterValue)
    assert str(err).startswith("csr: ")


def test_sign_without_a_ca_is_an_expected_not_found(manager, context, make_cluster):
    cluster = make_cluster(status=Status.CREATE_COMPLETE)
    with pytest.raises(messaging.ExpectedException) as raised:
        manager.sign_certificate(context, cluster_uuid=cluster.uuid, csr=make_csr())
    assert isinstance(raised.value.exc_info[1], exception.X509KeyPairNotFound)


# -- rotation ----------------------------------------------------------------------------------

def test_rotate_ca_replaces_the_cluster_ca_and_has_the_driver_push_it(
        manager, context, make_cluster, fake_driver, keys, db):
    cluster = with_cas(context, make_cluster(status=Status.UPDATE_IN_PROGRESS,
                                             kind="ca_rotation"))
    old_ref, old_etcd = cluster.ca_cert_ref, cluster.etcd_ca_cert_ref
    old_certificate = credentials.ca_certificate(context, cluster)
    manager.rotate_ca_certificate(context, cluster_uuid=cluster.uuid)
    settle()
    after = reload(context, cluster)
    assert after.ca_cert_ref not in (None, old_ref)
    assert after.etcd_ca_cert_ref == old_etcd  # only the cluster CA is rotated
    with pytest.raises(exception.X509KeyPairNotFound):
        objects.X509KeyPair.get_by_uuid(context, old_ref)
    new_row = objects.X509KeyPair.get_by_uuid(context, after.ca_cert_ref)
    assert new_row.certificate != old_certificate
    assert new_row.private_key.startswith("fernet:")
    assert len(keypair_rows(db, cluster.uuid)) == 3
    [(name, call)] = fake_driver.calls
    assert (name, call["cluster"], call["ca"]) == ("rotate_ca_certificate", cluster.uuid,
                                                   new_row.certificate)
    assert fake_driver.given[0].cas["ca"].private_key == encryption.decrypt(
        new_row.private_key)
    assert after.status == Status.UPDATE_IN_PROGRESS


def test_a_driver_error_in_a_rotation_ends_in_update_failed(
        manager, context, make_cluster, fake_driver, keys):
    cluster = with_cas(context, make_cluster(status=Status.UPDATE_IN_PROGRESS,
                                             kind="ca_rotation"))
    fake_driver.fail_with = exception.CloudError(service="Heat", reason="stack is gone")
    manager.rotate_ca_certificate(context, cluster_uuid=cluster.uuid)
    settle()
    after = reload(context, cluster)
    assert (after.status, after.status_reason) == (Status.UPDATE_FAILED,
                                                   "Heat: stack is gone")


def test_rotate_credentials_replaces_the_trustee_and_deletes_the_old_one(
        manager, context, make_cluster, fake_driver, keys, trustees):
    cluster = make_cluster(status=Status.UPDATE_IN_PROGRESS, kind="credentials_rotation",
                           trustee_user_id="old-user",
                           trustee_username="old-name",
                           trustee_password=encryption.encrypt("old-password"),
                           trust_id="old-trust")
    context.auth_token = "new-owner-token"
    manager.rotate_credentials(context, cluster_uuid=cluster.uuid)
    settle()
    after = reload(context, cluster)
    assert (after.trustee_user_id, after.trustee_username, after.trust_id) == (
        "trustee-1", "cluster-1", "trust-of-trustee-1")
    assert after.trustee_password.startswith("fernet:")
    assert encryption.decrypt(after.trustee_password) == "password-1"
    assert trustees["trusts"] == [(context.user_id, "new-owner-token", "trustee-1")]
    [old] = trustees["deleted"]
    assert (old.user_id, old.password, old.trust_id) == ("old-user", "old-password",
                                                         "old-trust")
    [(name, call)] = fake_driver.calls
    assert (name, call["trust_id"]) == ("rotate_ca_certificate", "trust-of-trustee-1")
    assert fake_driver.given[0].trustee.password == "password-1"
    assert after.status == Status.UPDATE_IN_PROGRESS


def test_a_trust_replaced_during_another_operation_is_not_pushed_and_the_status_stays(
        manager, context, make_cluster, fake_driver, keys, trustees):
    cluster = make_cluster(status=Status.CREATE_IN_PROGRESS, trustee_user_id="old-user",
                           trustee_password=encryption.encrypt("old-password"),
                           trust_id="old-trust")
    context.auth_token = "token"
    manager.rotate_credentials(context, cluster_uuid=cluster.uuid, push=False)
    # Side work: no operation of its own to wait on; the old trustee's deletion ends it.
    wait_for(lambda: trustees["deleted"])
    after = reload(context, cluster)
    assert (after.trustee_user_id, after.trust_id) == ("trustee-1", "trust-of-trustee-1")
    assert [t.user_id for t in trustees["deleted"]] == ["old-user"]
    assert fake_driver.calls == []  # the create goes on; the nodes get it with a rotation
    assert (after.status, after.version) == (Status.CREATE_IN_PROGRESS, cluster.version)
    create = objects.ClusterOperation.get(context, cluster.operation_uuid)
    assert (create.kind, create.step, create.owner) == ("create", "queued", None)  # untouched


def test_a_failed_trust_leaves_the_old_trustee_and_deletes_the_new_user(
        manager, context, make_cluster, fake_driver, keys, trustees, monkeypatch):
    def refuse(context: Any, trustee_user_id: str) -> str:
        raise exception.CloudError(service="Keystone", reason="403 the caller has no roles")

    monkeypatch.setattr(trustee, "create_trust", refuse)
    cluster = make_cluster(status=Status.UPDATE_IN_PROGRESS, kind="credentials_rotation",
                           trustee_user_id="old-user",
                           trustee_password=encryption.encrypt("old-password"),
                           trust_id="old-trust")
    context.auth_token = "token"
    manager.rotate_credentials(context, cluster_uuid=cluster.uuid)
    settle()
    after = reload(context, cluster)
    assert (after.status, after.trustee_user_id, after.trust_id) == (
        Status.UPDATE_FAILED, "old-user", "old-trust")
    assert "403 the caller has no roles" in after.status_reason
    assert [t.user_id for t in trustees["deleted"]] == ["trustee-1"]
    assert fake_driver.calls == []


# -- release at delete -------------------------------------------------------------------------

def _with_trustee(make_cluster: Any, **values: Any) -> objects.Cluster:
    return make_cluster(trustee_user_id="trustee-9", trustee_username="cluster-9",
                        trustee_password=encryption.encrypt("password-9"),
                        trust_id="trust-9", **values)


def test_delete_complete_releases_the_trustee_then_removes_the_rows(
        manager, context, make_cluster, fake_driver, keys, trustees):
    cluster = _with_trustee(make_cluster, status=Status.DELETE_IN_PROGRESS, stack_id="s-1")
    fake_driver.delete_state = drivers_base.ClusterState(status=Status.DELETE_COMPLETE)
    manager.cluster_delete(context, cluster_uuid=cluster.uuid)
    settle()
    [old] = trustees["deleted"]
    assert (old.user_id, old.password, old.trust_id) == ("trustee-9", "password-9",
                                                         "trust-9")
    with pytest.raises(exception.ClusterNotFound):
        reload(context, cluster)


def test_keystone_unreachable_keeps_the_delete_in_progress_with_the_reason(
        context, make_cluster, keys, trustees, monkeypatch, db):
    cluster = with_cas(context, _with_trustee(make_cluster, status=Status.DELETE_IN_PROGRESS,
                                              stack_id="s-1"))

    def unreachable(context: Any, old: trustee.Trustee) -> None:
        raise exception.CloudUnreachable(service="Keystone", reason="connection refused")

    monkeypatch.setattr(trustee, "delete_trustee", unreachable)
    recording.record_state(context, "delete", cluster.uuid,
                                   drivers_base.ClusterState(status=Status.DELETE_COMPLETE))
    after = reload(context, cluster)
    assert after.status == Status.DELETE_IN_PROGRESS
    assert after.status_reason == (
        "the cluster's stacks are deleted, its trustee user not yet: cannot reach Keystone: "
        "connection refused; still trying")
    assert after.trustee_user_id == "trustee-9"
    assert len(keypair_rows(db, cluster.uuid)) == 3

    # Keystone is back: the next check completes the delete.
    monkeypatch.setattr(trustee, "delete_trustee",
                        lambda context, old: trustees["deleted"].append(old))
    recording.record_state(context, "delete", cluster.uuid,
                                   drivers_base.ClusterState(status=Status.DELETE_COMPLETE))
    assert [t.user_id for t in trustees["deleted"]] == ["trustee-9"]
    with pytest.raises(exception.ClusterNotFound):
        reload(context, cluster)
    assert keypair_rows(db, cluster.uuid) == []
