"""A trustee user and a trust per cluster, in Keystone (DESIGN §10, Magnum's model).

At cluster create a user of its own is made for the cluster in the trustee domain of `[trust]`
(with that domain's admin), and the cluster's owner delegates their roles in the cluster's
project to it with a trust. Work the conductor starts on its own acts through that trust as the
owner (impersonation), and the cluster's nodes get the trustee's credentials for the in-cluster
cloud provider. Unlike a trust to magnum-lite's service user, these credentials are worth
nothing outside the one cluster, and deleting the cluster revokes them.

The trustee's password is a secret: `Trustee` keeps it out of its repr, and nothing here logs it.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import dataclasses
import re
import secrets
import threading
from typing import Any

from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import identity as ks_identity
from keystoneauth1 import plugin as ks_plugin
from keystoneclient.v3 import client as ks_client
from oslo_log import log as logging

from magnum_lite.common import clients, exception
from magnum_lite.conf import CONF
from magnum_lite.conf import keystone_auth as keystone_auth_conf
from magnum_lite.conf import trust as trust_conf

LOG = logging.getLogger(__name__)

# Trust-scoped plugins of trustees kept for reuse (each holds its token until it expires).
MAX_CACHED_AUTHS = 1000

# Longest Keystone message kept in an error or a reason.
MAX_MESSAGE = 300

_lock = threading.Lock()
_auths: dict[tuple[str, str | None], ks_plugin.BaseAuthPlugin] = {}
_admin_auth: tuple[tuple, ks_plugin.BaseAuthPlugin] | None = None

_REQUEST_ID = re.compile(r"\s*\(Request-ID: [^)]*\)")

# Keystone failed to answer at all: the work may be retried once it is back.
_UNREACHABLE = (ks_exceptions.ConnectFailure, ks_exceptions.ConnectTimeout,
                ks_exceptions.DiscoveryFailure, ks_exceptions.ServiceUnavailable,
                ks_exceptions.GatewayTimeout, ks_exceptions.BadGateway)


#: How a status_reason says in prose that a cluster's trust stopped working (the code the
#: API acts on is the fault `trust_broken` on the cluster's operation, common/states.py).
BROKEN_TRUST = "the cluster's trust"
BROKEN_TRUST_WHY = "no longer works"

@dataclasses.dataclass(frozen=True)
class Trustee:
    """A cluster's trustee user, its password, and the trust its owner gave it."""

    user_id: str
    username: str
    password: str = dataclasses.field(repr=False)  # never logged
    trust_id: str | None = None

    def auth(self) -> ks_plugin.BaseAuthPlugin:
        """This trustee acting through its trust (`trustee_auth`): how `clients` acts as a
        context's trustee without importing this module, which builds on it."""
        return trustee_auth(self)


class TrusteeNotConfigured(exception.MagnumLiteException):
    """[trust] lacks what making trustee users needs: an operator's fix, not a retry."""

    message = ("[trust] does not configure the trustee domain: %(missing)s (set "
               "trustee_domain_id or trustee_domain_name, trustee_domain_admin_id or "
               "trustee_domain_admin_name, trustee_domain_admin_password, and auth_url here "
               "or in [keystone_auth])")


def _message(err: Exception) -> str:
    """The first line of a Keystone error, bounded, without its request id: enough to say
    what went wrong, and the same each time (a cluster's status reason does not churn)."""
    lines = str(err).strip().splitlines()
    text = _REQUEST_ID.sub("", lines[0] if lines else "").strip()
    return (text or type(err).__name__)[:MAX_MESSAGE]


@contextlib.contextmanager
def _keystone_errors(what: str) -> Iterator[None]:
    """keystoneauth errors raised while doing `what` as ours: unreachable, or refused."""
    try:
        yield
    except _UNREACHABLE as err:
        raise exception.CloudUnreachable(service="Keystone",
                                         reason=f"{what}: {_message(err)}") from err
    except ks_exceptions.ClientException as err:
        raise exception.CloudError(service="Keystone",
                                   reason=f"{what}: {_message(err)}") from err


def _missing() -> list[str]:
    values = CONF[trust_conf.GROUP]
    missing = []
    if not (values.trustee_domain_id or values.trustee_domain_name):
        missing.append("no trustee domain")
    if not (values.trustee_domain_admin_id or values.trustee_domain_admin_name):
        missing.append("no trustee domain admin")
    if not values.trustee_domain_admin_password:
        missing.append("no password for the trustee domain admin")
    return missing


def configured() -> bool:
    """True when [trust] names a domain and its admin with a password: clusters then get
    trustee users; otherwise the caller keeps the older trust to the service user."""
    return not _missing()


def auth_url() -> str:
    """Where trustees log in: [trust] auth_url, else [keystone_auth] auth_url."""
    url = CONF[trust_conf.GROUP].auth_url
    if not url:
        group = CONF[keystone_auth_conf.GROUP]
        if group.auth_type:
            with contextlib.suppress(ks_exceptions.ClientException):
                clients.get_service_auth()  # loading it registers the plugin's auth_url
        url = getattr(group, "auth_url", None)
    if not url:
        raise TrusteeNotConfigured(missing="no auth_url")
    return clients.identity_v3_url(url)


def _check_configured() -> None:
    missing = _missing()
    if missing:
        raise TrusteeNotConfigured(missing=", ".join(missing))


def _domain_admin_auth() -> ks_plugin.BaseAuthPlugin:
    """The trustee domain admin, scoped to that domain (one plugin, its token reused)."""
    global _admin_auth
    _check_configured()
    values = CONF[trust_conf.GROUP]
    url = auth_url()
    key = (url, values.trustee_domain_id, values.trustee_domain_name,
           values.trustee_domain_admin_id, values.trustee_domain_admin_name,
           values.trustee_domain_admin_password)
    with _lock:
        if _admin_auth is not None and _admin_auth[0] == key:
            return _admin_auth[1]
        kwargs: dict[str, Any] = {"auth_url": url,
                                  "password": values.trustee_domain_admin_password}
        if values.trustee_domain_id:
            kwargs["domain_id"] = values.trustee_domain_id
        else:
            kwargs["domain_name"] = values.trustee_domain_name
        if values.trustee_domain_admin_id:
            kwargs["user_id"] = values.trustee_domain_admin_id
        else:
            # A name is unique only within its domain: the admin is a user of the trustee domain.
            kwargs["username"] = values.trustee_domain_admin_name
            if values.trustee_domain_id:
                kwargs["user_domain_id"] = values.trustee_domain_id
            else:
                kwargs["user_domain_name"] = values.trustee_domain_name
        auth = ks_identity.v3.Password(**kwargs)
        _admin_auth = (key, auth)
        return auth


def _keystone(auth: ks_plugin.BaseAuthPlugin) -> Any:
    return ks_client.Client(session=clients.get_session(keystone_auth_conf.GROUP), auth=auth,
                            interface=list(clients._DEFAULT_INTERFACES))


def trustee_name(cluster_uuid: str, project_id: str) -> str:
    """Magnum's name for a cluster's trustee user: unique per cluster, and it says whose."""
    return f"{cluster_uuid}_{project_id}"


def create_trustee(cluster_uuid: str, project_id: str) -> Trustee:
    """A new user in the trustee domain for one cluster, with a random password.

    A user of that name left by an earlier, interrupted try (its password never stored) is
    replaced by a new one, so a retried cluster create does not fail on the name. Replaced
    rather than given a new password: Keystone revokes a user's tokens when its password
    changes, by the second, so a token the trustee got in that same second would be issued
    and then refused (seen with Keystone 30); a new user has a new id and no such history.
    """
    admin = _domain_admin_auth()
    name = trustee_name(cluster_uuid, project_id)
    password = secrets.token_urlsafe(24)
    session = clients.get_session(keystone_auth_conf.GROUP)
    with _keystone_errors(f"cannot create the trustee user {name}"):
        domain_id = admin.get_access(session).domain_id
        keystone = _keystone(admin)
        description = f"Trustee of magnum-lite cluster {cluster_uuid}"
        try:
            user = keystone.users.create(name=name, domain=domain_id, password=password,
                                         description=description)
        except ks_exceptions.Conflict:
            for old in keystone.users.list(domain=domain_id, name=name):
                LOG.info("Trustee user %s of cluster %s left by an earlier try: replacing it",
                         old.id, cluster_uuid)
                with contextlib.suppress(ks_exceptions.NotFound):
                    keystone.users.delete(old.id)
            user = keystone.users.create(name=name, domain=domain_id, password=password,
                                         description=description)
    return Trustee(user_id=user.id, username=name, password=password)


def create_trust(context: Any, trustee_user_id: str) -> str:
    """A trust from the context's user to the trustee, for the context's project and roles.

    Impersonation lets the trustee act as the owner; redelegation is allowed because Heat,
    given a trust-scoped token, makes its own trust from it (Keystone refuses it otherwise).
    """
    with _keystone_errors("cannot create the cluster's trust"):
        keystone = _keystone(clients.get_user_auth(context))
        trust = keystone.trusts.create(
            trustor_user=context.user_id, trustee_user=trustee_user_id,
            project=context.project_id, role_names=list(context.roles),
            impersonation=True, allow_redelegation=True)
    return trust.id


def _trustee_plugin(trustee: Trustee) -> ks_plugin.BaseAuthPlugin:
    return ks_identity.v3.Password(auth_url=auth_url(), user_id=trustee.user_id,
                                   password=trustee.password, trust_id=trustee.trust_id)


def trustee_auth(trustee: Trustee) -> ks_plugin.BaseAuthPlugin:
    """The trustee acting through its trust (as the impersonated owner, in the owner's project).

    One plugin per (user, trust) is kept, a bounded number, so its token is reused across polls.
    """
    key = (trustee.user_id, trustee.trust_id)
    with _lock:
        auth = _auths.pop(key, None)
    if auth is None:
        auth = _trustee_plugin(trustee)
    with _lock:
        _auths[key] = auth  # most recently used last
        while len(_auths) > MAX_CACHED_AUTHS:
            _auths.pop(next(iter(_auths)))
    return auth


def forget(trustee: Trustee) -> None:
    """Drop the cached auth of a trustee (its trust or password changed, or it is gone)."""
    with _lock:
        _auths.pop((trustee.user_id, trustee.trust_id), None)


def reset_auth() -> None:
    """Forget every cached plugin (tests, and after a configuration reload)."""
    global _admin_auth
    with _lock:
        _auths.clear()
        _admin_auth = None


def delete_trustee(context: Any | None, trustee: Trustee) -> None:
    """Delete a cluster's trust, then its trustee user; either already gone counts as deleted.

    The trust is deleted acting through itself (the trustee impersonates the owner, who may
    delete their own trusts), so no user token is needed. When that is refused (the trust is
    gone, or unusable because its owner lost their roles), deleting the user still drops it:
    Keystone deletes the trusts of a deleted user. `context` is the request's, if any; it is
    only used for the log.
    """
    if trustee.trust_id:
        try:
            with _keystone_errors(f"cannot delete the trust {trustee.trust_id}"):
                try:
                    _keystone(_trustee_plugin(trustee)).trusts.delete(trustee.trust_id)
                except (ks_exceptions.NotFound, ks_exceptions.Unauthorized,
                        ks_exceptions.Forbidden) as err:
                    LOG.info("Trust %s not deleted through itself (%s): the delete of its "
                             "trustee %s drops it", trustee.trust_id, _message(err),
                             trustee.user_id)
        finally:
            forget(trustee)
    admin = _domain_admin_auth()
    with _keystone_errors(f"cannot delete the trustee user {trustee.user_id}"):
        try:
            _keystone(admin).users.delete(trustee.user_id)
        except ks_exceptions.NotFound:
            pass
    request_id = getattr(context, "request_id", None)
    LOG.info("Trustee %s and its trust %s deleted%s", trustee.user_id, trustee.trust_id,
             f" (request {request_id})" if request_id else "")


def check_trust(trustee: Trustee) -> str | None:
    """None while the trust still yields a token; otherwise why it does not, for the
    cluster's status reason (a deleted trust, or an owner who lost their roles).

    A fresh login is made (a cached token would hide a trust deleted since).
    """
    if not trustee.trust_id:
        return f"the cluster's trustee {trustee.user_id} has no trust"
    session = clients.get_session(keystone_auth_conf.GROUP)
    with _keystone_errors(f"cannot check the trust {trustee.trust_id}"):
        try:
            session.get_token(auth=_trustee_plugin(trustee))
        except (ks_exceptions.Unauthorized, ks_exceptions.Forbidden,
                ks_exceptions.NotFound) as err:
            forget(trustee)
            return (f"{BROKEN_TRUST} {trustee.trust_id} {BROKEN_TRUST_WHY} (deleted, or "
                    f"its owner lost their roles): {_message(err)}")
    return None
