"""The listener of Heat's stack notifications: a cluster is checked as soon as one of its
stacks ends a step, not at its next poll.

Heat sends `orchestration.stack.<action>.start|end|error` (with
`[oslo_messaging_notifications] driver` set), its payload naming the stack
(`stack_name`, `stack_identity`, `state`, `state_reason`, `tenant_id`, `tags`, ...). An
`.end` or `.error` of a magnum-lite cluster stack or nodegroup chunk stack (named as
drivers/heat/names.py says) makes the reconciler check that cluster at once
(`Reconciler.sync_now`), the end of a create being taken as Heat's state before Heat
stores it (drivers/heat/announced.py); anything else is acknowledged and dropped. The
conductors listen in one pool (`[heat_notifications] pool`): each notification reaches one
of them. A notification that cannot be handled is logged at debug level and acknowledged, never
requeued: polling is still the safety net.
"""

from __future__ import annotations

from collections.abc import Callable
import threading
from typing import Any

from oslo_log import log as logging
import oslo_messaging as messaging

from magnum_lite.common import rpc
from magnum_lite.conf import CONF
from magnum_lite.drivers.heat import announced, names

LOG = logging.getLogger(__name__)

#: The event types the listener acts on: a stack's step ended, well or not.
EVENT_TYPES = r"^orchestration\.stack\.[a-z_]+\.(end|error)$"


class StackEndpoint:
    """Heat's stack notifications in, a check of the named cluster out (`sync`: a cluster
    uuid; it returns whether a check started)."""

    filter_rule = messaging.NotificationFilter(event_type=EVENT_TYPES)

    def __init__(self, sync: Callable[[str], bool]) -> None:
        self._sync = sync
        self._lock = threading.Lock()
        self.handled = 0  # notifications a check serves (tests read it)

    def info(self, ctxt: Any, publisher_id: str, event_type: str, payload: Any,
             metadata: Any) -> None:
        self._handle(event_type, payload)

    def error(self, ctxt: Any, publisher_id: str, event_type: str, payload: Any,
              metadata: Any) -> None:
        self._handle(event_type, payload)

    def _handle(self, event_type: str, payload: Any) -> None:
        """Never raises: the message is acknowledged whatever happens."""
        try:
            cluster_uuid = cluster_of(payload)
            if cluster_uuid is None:
                LOG.debug("Heat notification %s of a stack that is not a cluster's: ignored",
                          event_type)
                return
            # Heat stores the state after it sends this: the check must not wait for that.
            announced.record(payload)
            started = self._sync(cluster_uuid)
        except Exception as err:  # noqa: BLE001 - a bad message must not stop the listener
            LOG.debug("Heat notification %s not handled: %s: %s", event_type,
                      type(err).__name__, err)
            return
        if started:
            with self._lock:
                self.handled += 1
            LOG.info("Heat notification %s (%s, %s): checking cluster %s now", event_type,
                     payload.get("stack_name"), payload.get("state"), cluster_uuid)
        else:
            LOG.debug("Heat notification %s: cluster %s has nothing to check", event_type,
                      cluster_uuid)


def cluster_of(payload: Any) -> str | None:
    """The uuid of the magnum-lite cluster whose stack the payload names, or None."""
    if not isinstance(payload, dict):
        return None
    tags = payload.get("tags")
    if isinstance(tags, list) and names.STACK_TAG not in tags:
        return None  # a stack of another service, whatever its name
    return names.cluster_uuid_of(payload.get("stack_name"))


class HeatEventListener:
    """An oslo.messaging notification listener (threading executor) on the bus, exchange and
    topics of `[heat_notifications]`, in its listener pool."""

    def __init__(self, sync: Callable[[str], bool]) -> None:
        self.endpoint = StackEndpoint(sync)
        self._transport: messaging.Transport | None = None
        self._listener: messaging.MessageHandlingServer | None = None

    def start(self) -> None:
        """Listen; a pool named as the conductors' RPC topic is refused (on RabbitMQ both
        would be one queue).

        :raises ValueError: the pool is the RPC topic.
        """
        conf = CONF.heat_notifications
        if conf.pool == CONF.conductor.topic:
            raise ValueError(f"[heat_notifications] pool {conf.pool} is [conductor] topic")
        url = conf.transport_url or rpc.configured_transport_url() or rpc.EMBEDDED_TRANSPORT_URL
        self._transport = messaging.get_notification_transport(CONF, url=url)
        targets = [messaging.Target(topic=topic, exchange=conf.exchange)
                   for topic in conf.topics]
        self._listener = messaging.get_notification_listener(
            self._transport, targets, [self.endpoint], executor="threading",
            allow_requeue=False, pool=conf.pool or None)
        self._listener.start(override_pool_size=conf.workers)
        LOG.info("Listening to Heat's stack notifications on exchange %s, topics %s, pool %s",
                 conf.exchange, ", ".join(conf.topics), conf.pool)

    def stop(self) -> None:
        """Take no more notifications and release the connection."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()
            listener.wait()
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.cleanup()
