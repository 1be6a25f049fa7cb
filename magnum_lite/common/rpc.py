"""RPC plumbing: one messaging transport per process, created on first use, and serializers.

The transport is made lazily, and again in a forked child, so that a WSGI server that forks its
workers never hands an AMQP connection (or its threads) to a child. Without a configured
`transport_url` the in-process `fake://` transport is used: it only carries messages inside one
process, which is what `magnum-lite-all` (API and conductor in one process) and the unit tests
need. The API and conductor entry points refuse to start without a real transport.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from oslo_config import cfg
from oslo_log import log as logging
import oslo_messaging as messaging
from oslo_messaging import opts as messaging_opts

from magnum_lite.common import context as ml_context
from magnum_lite.conf import CONF

LOG = logging.getLogger(__name__)

# Topics are scoped under this exchange unless the transport URL names another one.
CONTROL_EXCHANGE = "magnum_lite"
# The in-process transport of the single-process deployment.
EMBEDDED_TRANSPORT_URL = "fake://"
# Exceptions a conductor may send back from an RPC `call` and the client re-raises as is.
ALLOWED_REMOTE_EXMODS = ["magnum_lite.common.exception"]
# oslo.messaging's option group of the notifier.
NOTIFICATIONS_GROUP = "oslo_messaging_notifications"

messaging.set_transport_defaults(control_exchange=CONTROL_EXCHANGE)

_LOCK = threading.Lock()
# kind ("rpc", "notification") -> (pid, transport): a forked child finds its parent's entry
# stale and makes its own.
_TRANSPORTS: dict[str, tuple[int, Any]] = {}


def _register_transport_opts(conf: cfg.ConfigOpts) -> cfg.Opt:
    """Register oslo.messaging's transport options before reading them (it does so late).

    Returns the `transport_url` option.
    """
    for group, opts in messaging_opts.list_opts():
        if group in (None, "DEFAULT"):
            wanted = [opt for opt in opts if opt.name in ("transport_url", "control_exchange")]
            conf.register_opts(wanted)
            return next(opt for opt in wanted if opt.name == "transport_url")
    raise RuntimeError("oslo.messaging lists no transport_url option")


#: How often a notification is retried while the broker does not take it.
NOTIFICATION_RETRIES = 3


def register_notification_opts(conf: cfg.ConfigOpts) -> None:
    """Register oslo.messaging's `[oslo_messaging_notifications]` options (driver,
    transport_url, topics, retry) from its own list, before reading them (it registers them
    only when it makes a notifier; the config generator lists them under its namespace)."""
    for group, opts in messaging_opts.list_opts():
        if getattr(group, "name", group) == NOTIFICATIONS_GROUP:
            conf.register_opts(opts, group=NOTIFICATIONS_GROUP)
            return
    raise RuntimeError(f"oslo.messaging lists no [{NOTIFICATIONS_GROUP}] options")


def configured_transport_url(conf: cfg.ConfigOpts = CONF) -> str | None:
    """The `[DEFAULT] transport_url` an operator set, or None when it is left at its default."""
    opt = _register_transport_opts(conf)
    location = conf.get_location("transport_url")
    if location is None or location.location == cfg.Locations.opt_default:
        return None
    value = conf.transport_url
    # oslo.config keeps the location of a cleared override: the value tells the truth.
    if location.location in (cfg.Locations.set_override, cfg.Locations.set_default) and (
            value == opt.default):
        return None
    return value or None


def is_embedded(conf: cfg.ConfigOpts = CONF) -> bool:
    """True when messages travel only inside this process (no transport_url configured)."""
    return configured_transport_url(conf) is None


def _get(kind: str, factory: Any, url: str | None = None) -> Any:
    pid = os.getpid()
    with _LOCK:
        cached = _TRANSPORTS.get(kind)
        if cached is not None and cached[0] == pid:
            return cached[1]
        # A transport inherited through fork() is left alone: its connections are the parent's.
        url = url or configured_transport_url() or EMBEDDED_TRANSPORT_URL
        transport = factory(CONF, url=url, allowed_remote_exmods=ALLOWED_REMOTE_EXMODS)
        _TRANSPORTS[kind] = (pid, transport)
        LOG.debug("Created the %s transport (%s) in process %d", kind,
                  messaging.TransportURL.parse(CONF, url).transport, pid)
        return transport


def get_transport() -> messaging.Transport:
    """This process's RPC transport, created on first use (after any fork)."""
    return _get("rpc", messaging.get_rpc_transport)


def get_notification_transport() -> messaging.Transport:
    """This process's notification transport: `[oslo_messaging_notifications]
    transport_url`, or the RPC transport's URL when that is not set."""
    register_notification_opts(CONF)
    return _get("notification", messaging.get_notification_transport,
                CONF[NOTIFICATIONS_GROUP].transport_url)


def cleanup() -> None:
    """Close this process's transports (at shutdown, and between tests)."""
    with _LOCK:
        for kind, (pid, transport) in list(_TRANSPORTS.items()):
            if pid == os.getpid():
                transport.cleanup()
            del _TRANSPORTS[kind]


class RequestContextSerializer(messaging.Serializer):
    """Carries the RequestContext as a dict over RPC; entities go through `base`."""

    def __init__(self, base: messaging.Serializer | None = None) -> None:
        self._base = base

    def serialize_entity(self, context: Any, entity: Any) -> Any:
        return entity if self._base is None else self._base.serialize_entity(context, entity)

    def deserialize_entity(self, context: Any, entity: Any) -> Any:
        return entity if self._base is None else self._base.deserialize_entity(context, entity)

    def serialize_context(self, context: ml_context.RequestContext | dict | None) -> dict:
        # A notifier hands over {} for a context it could not redact (or None).
        return context.to_dict() if hasattr(context, "to_dict") else dict(context or {})

    def deserialize_context(self, context: dict) -> ml_context.RequestContext:
        # overwrite=False: the dispatcher thread must not keep a stale context in its store.
        return ml_context.RequestContext.from_dict(context, overwrite=False)


def get_serializer(entities: messaging.Serializer) -> RequestContextSerializer:
    """Contexts as dicts, entities through `entities`: the versioned objects' serializer
    (objects.base.MagnumLiteObjectSerializer), given by the caller because the objects layer
    sits above this one."""
    return RequestContextSerializer(entities)


def get_notifier(publisher: str, entities: messaging.Serializer,
                 host: str | None = None) -> messaging.Notifier:
    """A notifier publishing as `<publisher>.<host>` (a no-op unless a driver is configured);
    `entities` as for get_serializer.

    `[oslo_messaging_notifications] retry` below 0 (oslo's default: for ever) counts as
    NOTIFICATION_RETRIES: a broker that is down must not hold a request or a conductor
    thread; a notification it never takes is logged."""
    register_notification_opts(CONF)
    retry = CONF[NOTIFICATIONS_GROUP].retry
    return messaging.Notifier(get_notification_transport(),
                              publisher_id=f"{publisher}.{host or CONF.host}",
                              serializer=get_serializer(entities),
                              retry=retry if retry is not None and retry >= 0
                              else NOTIFICATION_RETRIES)
