"""A cluster's credentials: its certificate authorities and its trustee user with the trust.

Made by the conductor at create, before the driver builds anything, so the nodes boot with
them; kept in the database with every secret encrypted (common/encryption.py); released when
the cluster is deleted. Only the conductor decrypts: the API reads the CA certificates (public)
and asks the conductor to sign.
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses
from typing import Any

from oslo_log import log as logging

from magnum_lite import objects
from magnum_lite.common import clients, encryption, exception, trustee, x509
from magnum_lite.conf import CONF
from magnum_lite.drivers import base as drivers_base

LOG = logging.getLogger(__name__)

#: The kinds of CA a cluster has, by COE, and the cluster field holding each one's key pair.
CA_KINDS = objects.Cluster.CA_REF_FIELDS
CA_KINDS_BY_COE = {"kubernetes": ("ca", "etcd", "front_proxy")}
DEFAULT_CA_KINDS = ("ca",)

#: The groups a signed client certificate carries: Kubernetes' cluster-admin group for the
#: project's members, what python-magnumclient's `cluster config` asks for.
MEMBER_ROLES = frozenset({"member", "admin"})
ADMIN_GROUP = "system:masters"
READER_GROUP = "magnum-lite:readers"


def ca_kinds(coe: str | None) -> tuple[str, ...]:
    return CA_KINDS_BY_COE.get(coe or "", DEFAULT_CA_KINDS)


def _ca_row(context: Any, cluster: Any, kind: str) -> Any:
    ref = getattr(cluster, CA_KINDS[kind])
    if not ref:
        raise exception.X509KeyPairNotFound(x509keypair=f"{kind} CA of cluster {cluster.uuid}")
    return objects.X509KeyPair.get_by_uuid(context, ref)


def _store_ca(context: Any, cluster: Any, kind: str) -> str:
    pair = x509.generate_ca(f"{kind} CA {cluster.uuid}")  # a CN holds at most 64 characters
    row = objects.X509KeyPair(context, name=f"{cluster.uuid}-{kind}", cluster_id=cluster.uuid,
                              kind="ca" if kind == "ca" else f"{kind}_ca",
                              certificate=pair.certificate,
                              private_key=encryption.encrypt(pair.private_key),
                              project_id=cluster.project_id, user_id=cluster.user_id)
    row.create()
    LOG.info("Cluster %s: %s CA %s made (sha256 %s)", cluster.uuid, kind, row.uuid,
             x509.fingerprint(pair.certificate))
    return row.uuid


def ensure_cas(context: Any, cluster: Any, coe: str | None) -> Any:
    """Make the cluster's missing CAs (all of them at create; none again on a retry)."""
    made = {CA_KINDS[kind]: _store_ca(context, cluster, kind) for kind in ca_kinds(coe)
            if not getattr(cluster, CA_KINDS[kind])}
    if not made:
        return cluster

    def mutate(c: Any) -> None:
        for name, ref in made.items():
            setattr(c, name, ref)

    return objects.Cluster.update_with_retry(context, cluster.uuid, mutate)


def ca_certificate(context: Any, cluster: Any, kind: str = "ca") -> str:
    """The PEM certificate of one of the cluster's CAs (public: no decryption)."""
    return _ca_row(context, cluster, kind).certificate


def load_ca(context: Any, cluster: Any, kind: str = "ca") -> x509.KeyPair:
    """One of the cluster's CAs with its private key, decrypted (conductor only)."""
    row = _ca_row(context, cluster, kind)
    return x509.KeyPair(certificate=row.certificate,
                        private_key=encryption.decrypt(row.private_key))


def load_cas(context: Any, cluster: Any, coe: str | None) -> dict[str, x509.KeyPair]:
    return {kind: load_ca(context, cluster, kind) for kind in ca_kinds(coe)}


def client_identity(user_id: str, roles: Sequence[str]) -> tuple[str, list[str]]:
    """(CN, O) of a certificate for the caller: whatever the CSR asks, its subject names the
    caller, so nobody mints another user's identity (or a group their roles do not give)."""
    groups = [ADMIN_GROUP] if MEMBER_ROLES & set(roles or ()) else [READER_GROUP]
    return user_id, groups


def sign(context: Any, cluster: Any, csr: str) -> str:
    """A client certificate for the context's user from their CSR, signed by the cluster CA."""
    common_name, groups = client_identity(context.user_id, context.roles)
    pem = x509.sign_csr(load_ca(context, cluster), csr, common_name=common_name,
                        organizations=groups)
    LOG.info("Cluster %s: signed a client certificate for user %s (groups %s, sha256 %s)",
             cluster.uuid, common_name, ",".join(groups), x509.fingerprint(pem))
    return pem


def replace_ca(context: Any, cluster: Any) -> Any:
    """A new cluster CA in place of the old one, which is removed: certificates it signed stop
    working once the nodes have the new one (the driver pushes it)."""
    old = cluster.ca_cert_ref
    new = _store_ca(context, cluster, "ca")

    def mutate(c: Any) -> None:
        c.ca_cert_ref = new

    cluster = objects.Cluster.update_with_retry(context, cluster.uuid, mutate)
    if old:
        try:
            objects.X509KeyPair.get_by_uuid(context, old).destroy()
        except exception.X509KeyPairNotFound:
            pass
    return cluster


# -- the trustee --------------------------------------------------------------------------

def trustee_of(cluster: Any) -> trustee.Trustee | None:
    """The cluster's trustee with its password decrypted, or None (an older cluster, or no
    trustee domain configured)."""
    if not (cluster.trustee_user_id and cluster.trustee_password):
        return None
    return trustee.Trustee(user_id=cluster.trustee_user_id,
                           username=cluster.trustee_username or "",
                           password=encryption.decrypt(cluster.trustee_password),
                           trust_id=cluster.trust_id)


def ensure_trustee(context: Any, cluster: Any, replace: bool = False) -> Any:
    """Give the cluster a trustee user and a trust from the context's user (whose token the
    request carries), unless it has them (or even then, with `replace`). Without a trustee
    domain configured the trust goes to magnum-lite's service user, as before trustees
    existed; without Keystone (no token, no [keystone_auth]) there is no trust."""
    if cluster.trust_id and not replace:
        return cluster
    if not context.auth_token:
        return cluster
    if trustee.configured():
        made = trustee.create_trustee(cluster.uuid, cluster.project_id)
        try:
            trust_id = trustee.create_trust(context, made.user_id)
        except Exception:
            _forget(made)
            raise
        changes = {"trustee_user_id": made.user_id, "trustee_username": made.username,
                   "trustee_password": encryption.encrypt(made.password), "trust_id": trust_id}
    elif CONF.keystone_auth.auth_type:
        try:
            changes = {"trust_id": clients.create_trust(context)}
        except Exception as err:
            raise exception.CloudError(service="Keystone",
                                       reason=f"cannot create the cluster's trust: {err}"
                                       ) from err
    else:
        return cluster

    def mutate(c: Any) -> None:
        for name, value in changes.items():
            setattr(c, name, value)

    cluster = objects.Cluster.update_with_retry(context, cluster.uuid, mutate)
    LOG.info("Cluster %s: trust %s to %s", cluster.uuid, cluster.trust_id,
             cluster.trustee_user_id or "magnum-lite's service user")
    return cluster


def keystone_in_use() -> bool:
    """Whether clusters get trusts (a trustee domain, or magnum-lite's own Keystone user)."""
    return trustee.configured() or bool(CONF.keystone_auth.auth_type)


def acting_for(context: Any, cluster: Any) -> bool:
    """Make `context` act for the cluster's owner without the request's token: through the
    cluster's trust (a create taken over after its trust was made). False when it cannot:
    Keystone is in use and there is neither token nor trust (the service user would build in
    its own project, where the owner never sees it)."""
    if context.auth_token:
        return True
    if cluster.trust_id:
        context.trust_id = cluster.trust_id
        context.trustee = trustee_of(cluster)
        return True
    return not keystone_in_use()


def _forget(old: trustee.Trustee) -> None:
    try:
        trustee.delete_trustee(None, old)
    except Exception as err:  # noqa: BLE001 - a leftover user is logged, not fatal
        LOG.warning("Trustee user %s could not be deleted: %s", old.user_id, err)


def replace_trustee(context: Any, cluster: Any) -> Any:
    """A new trustee and trust from the context's user in place of the cluster's (the old
    ones are deleted): PATCH /v1/credentials/{cluster}."""
    old = trustee_of(cluster)
    old_trust = cluster.trust_id
    cluster = ensure_trustee(context, cluster, replace=True)
    if cluster.trust_id == old_trust:
        return cluster  # no Keystone to make a new one with
    if old is not None:
        _forget(old)
    elif old_trust:
        _delete_service_trust(context, old_trust)
    return cluster


def _delete_service_trust(context: Any, trust_id: str) -> None:
    try:
        clients.delete_trust(context, trust_id)
    except Exception as err:  # noqa: BLE001 - the cluster is gone either way
        LOG.warning("Trust %s could not be deleted: %s", trust_id, err)


def release(context: Any, cluster: Any) -> None:
    """Delete the cluster's trustee user and trust (the key pairs go with its rows).

    :raises exception.CloudUnreachable: Keystone did not answer; the caller tries again.
    """
    old = trustee_of(cluster)
    if old is not None:
        trustee.delete_trustee(context, old)
        LOG.info("Cluster %s: trustee user %s deleted", cluster.uuid, old.user_id)
    elif cluster.trust_id:
        _delete_service_trust(context, cluster.trust_id)


def loader(context: Any, cluster: Any, coe: str | None) -> drivers_base.CredentialsLoader:
    """What the driver calls when it renders the nodes' boot configuration: the cluster's
    CAs and trustee, decrypted then and not before."""
    def load() -> drivers_base.ClusterCredentials:
        cas = {kind: load_ca(context, cluster, kind) for kind in ca_kinds(coe)
               if getattr(cluster, CA_KINDS[kind])}
        given = trustee_of(cluster)
        if given is not None and not CONF.trust.cluster_user_trust:
            given = dataclasses.replace(given, trust_id=None)
        return drivers_base.ClusterCredentials(
            cas=cas, trustee=given, auth_url=trustee.auth_url() if given else None,
            region_name=CONF.heat.region_name,
            join_token=encryption.decrypt(cluster.join_token) if cluster.join_token
            else None)

    return load


def throwaway(cluster: Any, coe: str | None) -> drivers_base.CredentialsLoader:
    """What a create's dry run renders the nodes' boot configuration with: CAs made for it
    and dropped (the user data as large as a real create's), never stored; no trustee (none
    is made for a cluster that is not)."""
    def load() -> drivers_base.ClusterCredentials:
        return drivers_base.ClusterCredentials(
            cas={kind: x509.generate_ca(f"{kind} CA {cluster.uuid}") for kind in ca_kinds(coe)},
            region_name=CONF.heat.region_name)

    return load
