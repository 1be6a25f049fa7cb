"""keystoneauth sessions and adapters for the OpenStack services magnum-lite talks to.

Every service has its own option group (`[nova]`, `[glance]`, `[neutron]`, `[heat]`, see
`magnum_lite.conf.cloud`) with keystoneauth's session options (TLS, timeout) and adapter options
(service type, interfaces, region, endpoint_override). A session holds the connection pool, so it
is built once per group and shared by all threads; an adapter binds a session to one request's
credentials, so it is built per request and never shared.

Requests made on behalf of an API user carry that user's token. The endpoint comes from
`[<group>] endpoint_override` when set, otherwise from the service catalog of the user's token:
keystonemiddleware hands the API both (`keystone.token_auth` in the WSGI environ, a ready
keystoneauth plugin, and the `X-Service-Catalog` header); the API stores them on the request
context as `user_auth_plugin` or `service_catalog`.
"""

import json
import threading
from typing import Any

from keystoneauth1 import adapter as ks_adapter
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import identity as ks_identity
from keystoneauth1 import loading as ks_loading
from keystoneauth1 import plugin as ks_plugin
from keystoneauth1 import session as ks_session
from keystoneauth1.access import service_catalog as ks_catalog
from keystoneclient.v3 import client as ks_client

from magnum_lite.conf import CONF
from magnum_lite.conf import cloud as cloud_conf
from magnum_lite.conf import keystone_auth as keystone_auth_conf
from magnum_lite.conf import trust as trust_conf

# Seconds a request to another service may wait for a connection or a response when the
# service's group leaves `timeout` unset: an API request must never hang on a dead cloud.
DEFAULT_TIMEOUT = 10.0

# The valid_interfaces default of magnum_lite.conf.cloud, for when that default has been wiped.
_DEFAULT_INTERFACES = ("internal", "public")

# Trust-scoped auth plugins kept for reuse (each holds its token until it expires).
MAX_CACHED_TRUSTS = 1000

_sessions: dict[tuple, ks_session.Session] = {}
_sessions_lock = threading.Lock()
_auth_lock = threading.Lock()
_service_auth: ks_plugin.BaseAuthPlugin | None = None
_trust_auths: dict[str, ks_plugin.BaseAuthPlugin] = {}


def _session_key(group: str) -> tuple:
    """The group and its session option values: a changed (reloaded) config gets a new session."""
    values = CONF[group]
    return (group,) + tuple(
        (opt.dest, str(values[opt.dest])) for opt in ks_loading.get_session_conf_options()
    )


def get_session(group: str) -> ks_session.Session:
    """The shared keystoneauth session of a service group, without auth of its own.

    Auth is given per request by the adapter, so one session (one connection pool) serves every
    user.
    """
    key = _session_key(group)
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            timeout = CONF[group].timeout or DEFAULT_TIMEOUT
            session = ks_loading.load_session_from_conf_options(
                CONF, group, timeout=timeout, app_name="magnum-lite")
            _sessions[key] = session
        return session


def reset_sessions() -> None:
    """Forget the cached sessions (tests, and after a configuration reload)."""
    with _sessions_lock:
        _sessions.clear()


def _load_catalog(catalog: Any) -> ks_catalog.ServiceCatalog | None:
    """A keystoneauth catalog from what the context carries: a list, or the raw header JSON.

    keystonemiddleware's X-Service-Catalog is in the v2 layout (publicURL, internalURL, ...);
    a v3 catalog (endpoints with `interface` and `url`) is accepted too.
    """
    if not catalog:
        return None
    if isinstance(catalog, (str, bytes)):
        catalog = json.loads(catalog)
    is_v3 = any("interface" in endpoint
                for service in catalog for endpoint in service.get("endpoints", []))
    if is_v3:
        return ks_catalog.ServiceCatalogV3(catalog)
    return ks_catalog.ServiceCatalogV2(catalog)


class ContextAuthPlugin(ks_plugin.BaseAuthPlugin):
    """Auth from a request context: the user's token, and endpoints from its service catalog."""

    def __init__(self, auth_token: str | None, service_catalog: Any = None,
                 project_id: str | None = None) -> None:
        super().__init__()
        self._auth_token = auth_token
        self._catalog = _load_catalog(service_catalog)
        self._project_id = project_id

    def get_token(self, session: ks_session.Session) -> str | None:
        return self._auth_token

    def get_project_id(self, session: ks_session.Session) -> str | None:
        return self._project_id

    def get_endpoint(self, session: ks_session.Session, service_type: str | None = None,
                     interface: Any = None, region_name: str | None = None,
                     service_name: str | None = None, **kwargs: Any) -> str | None:
        if self._catalog is None:
            raise ks_exceptions.EndpointNotFound(
                f"no endpoint_override is configured for service type {service_type} and the "
                "request carries no service catalog")
        url = self._catalog.url_for(service_type=service_type, interface=interface or "public",
                                    region_name=region_name, service_name=service_name)
        if service_type == "identity" and url:
            # Catalogs often list Keystone without its version (devstack's is
            # http://<host>/identity) and this plugin does no version discovery: magnum-lite
            # speaks Keystone v3 only, so it asks there.
            return identity_v3_url(url)
        return url


def get_user_auth(context: Any) -> ks_plugin.BaseAuthPlugin:
    """The auth plugin acting as the context's user.

    keystonemiddleware's own plugin (`context.user_auth_plugin`) is preferred: it knows the
    token's full catalog. Otherwise the token and `context.service_catalog`.
    """
    plugin = getattr(context, "user_auth_plugin", None)
    if plugin is not None:
        return plugin
    if not context.auth_token:
        raise ks_exceptions.AuthorizationFailure(
            "the request context carries no token to act for its user")
    catalog = getattr(context, "service_catalog", None)
    if not catalog:
        url = keystone_url()
        if url:
            # A token without its catalog (a create taken over from its record): Keystone
            # gives a token of the same user and project, with the catalog.
            return ks_identity.v3.Token(auth_url=url, token=context.auth_token,
                                        project_id=context.project_id)
    return ContextAuthPlugin(context.auth_token, catalog, context.project_id)


def get_acting_auth(context: Any) -> ks_plugin.BaseAuthPlugin:
    """Who the conductor acts as for `context`: the user while a request's token is at hand,
    then the cluster's trustee through its trust (`context.trustee`), then a trust to the
    service user (`context.trust_id`, clusters made before trustees), else the service
    credentials."""
    if getattr(context, "user_auth_plugin", None) is not None or context.auth_token:
        return get_user_auth(context)
    cluster_trustee = getattr(context, "trustee", None)
    if cluster_trustee is not None and cluster_trustee.trust_id:
        return cluster_trustee.auth()  # common.trustee.Trustee: that module builds on this one
    if getattr(context, "trust_id", None):
        return get_trust_auth(context.trust_id)
    return get_service_auth()


def keystone_url() -> str | None:
    """Keystone's v3 URL as magnum-lite is configured to reach it: [trust] auth_url, else
    [keystone_auth] auth_url; None without either."""
    url = CONF[trust_conf.GROUP].auth_url
    if not url:
        group = CONF[keystone_auth_conf.GROUP]
        if group.auth_type:
            try:
                get_service_auth()  # loading it registers the plugin's auth_url
            except ks_exceptions.ClientException:
                return None
        url = getattr(group, "auth_url", None)
    return identity_v3_url(url) if url else None


def identity_v3_url(url: str) -> str:
    """Keystone's v3 URL from an auth_url given with or without its `/v3`: the v3 plugins
    post to `<auth_url>/auth/tokens` and do no version discovery (the generic ones loaded
    from [keystone_auth] do, so a root URL is common there)."""
    url = url.rstrip("/")
    return url if url.endswith("/v3") else url + "/v3"


def get_service_auth() -> ks_plugin.BaseAuthPlugin:
    """magnum-lite's own credentials, from `[keystone_auth]`."""
    global _service_auth
    with _auth_lock:
        if _service_auth is None:
            auth = ks_loading.load_auth_from_conf_options(CONF, keystone_auth_conf.GROUP)
            if auth is None:
                raise ks_exceptions.AuthorizationFailure(
                    "[keystone_auth] configures no credentials for magnum-lite")
            _service_auth = auth
        return _service_auth


def get_trust_auth(trust_id: str) -> ks_plugin.BaseAuthPlugin:
    """The service user acting through `trust_id` (scoped to the trustor's project).

    One plugin per trust is kept (a bounded number), so its token is reused across polls
    instead of fetched again each time.
    """
    get_service_auth()  # loading it registers the auth plugin's options read below
    with _auth_lock:
        auth = _trust_auths.pop(trust_id, None)
        if auth is None:
            values = CONF[keystone_auth_conf.GROUP]
            if not getattr(values, "auth_url", None) or not getattr(values, "password", None):
                raise ks_exceptions.AuthorizationFailure(
                    "acting through a trust needs password credentials in [keystone_auth]")
            auth = ks_identity.v3.Password(
                auth_url=identity_v3_url(values.auth_url), username=values.username,
                user_id=values.user_id, password=values.password,
                user_domain_name=values.user_domain_name, user_domain_id=values.user_domain_id,
                trust_id=trust_id)
        _trust_auths[trust_id] = auth  # most recently used last
        while len(_trust_auths) > MAX_CACHED_TRUSTS:
            _trust_auths.pop(next(iter(_trust_auths)))
        return auth


def reset_auth() -> None:
    """Forget the service and trust auth plugins (tests, and after a configuration reload)."""
    global _service_auth
    with _auth_lock:
        _service_auth = None
        _trust_auths.clear()


def create_trust(context: Any) -> str:
    """A trust from the context's user to magnum-lite's service user, for the user's project
    and roles, with impersonation: the conductor's later work on a cluster acts as its owner.

    Redelegation is allowed because Heat, asked to create a stack with a trust-scoped token,
    makes a trust of its own from it (for its deferred work); Keystone refuses that otherwise.
    """
    service_auth = get_service_auth()
    session = get_session(keystone_auth_conf.GROUP)
    trustee_id = session.get_user_id(auth=service_auth)
    keystone = ks_client.Client(session=session, auth=get_user_auth(context),
                                interface=list(_DEFAULT_INTERFACES))
    trust = keystone.trusts.create(trustor_user=context.user_id, trustee_user=trustee_id,
                                   project=context.project_id, role_names=list(context.roles),
                                   impersonation=True, allow_redelegation=True)
    return trust.id


def delete_trust(context: Any, trust_id: str) -> None:
    """Delete a trust (acting as the context's user or through the trust itself); a trust
    that is already gone counts as deleted."""
    session = get_session(keystone_auth_conf.GROUP)
    keystone = ks_client.Client(session=session, auth=get_acting_auth(context),
                                interface=list(_DEFAULT_INTERFACES))
    try:
        keystone.trusts.delete(trust_id)
    except ks_exceptions.NotFound:
        pass
    with _auth_lock:
        _trust_auths.pop(trust_id, None)


def get_adapter(context: Any, group: str,
                auth: ks_plugin.BaseAuthPlugin | None = None) -> ks_adapter.Adapter:
    """An adapter for one request to the service of `group`, acting as the context's user
    (or as `auth`).

    Relative URLs are joined to the endpoint (`endpoint_override` or the catalog's, filtered by
    the group's service_type, valid_interfaces and region_name). The request id travels on as
    X-OpenStack-Request-ID so the services' logs can be matched with ours.
    """
    kwargs: dict[str, Any] = {}
    # The group's defaults (conf/cloud.py) are set with set_default, which CONF.reset() wipes:
    # fall back to them rather than to no service type at all.
    values = CONF[group]
    if not values.service_type:
        kwargs["service_type"] = cloud_conf.CLIENT_SERVICES[group]
    if not values.valid_interfaces and not getattr(values, "interface", None):
        kwargs["interface"] = list(_DEFAULT_INTERFACES)
    return ks_loading.load_adapter_from_conf_options(
        CONF, group,
        session=get_session(group),
        auth=auth or get_user_auth(context),
        global_request_id=getattr(context, "global_id", None),
        **kwargs,
    )


def get_heat_client(context: Any) -> Any:
    """A python-heatclient v1 client acting as `get_acting_auth(context)` says.

    It rides on the shared `[heat]` session and the group's adapter options, like every other
    client here.
    """
    from heatclient import client as heat_client  # imported late: only the conductor needs it

    adapter = get_adapter(context, "heat", auth=get_acting_auth(context))
    return heat_client.Client(
        "1", session=adapter.session, auth=adapter.auth, service_type=adapter.service_type,
        interface=adapter.interface, region_name=adapter.region_name,
        endpoint_override=adapter.endpoint_override,
        global_request_id=getattr(context, "global_id", None))
