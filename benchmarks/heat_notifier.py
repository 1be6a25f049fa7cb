"""Heat's stack notifications for the benchmarks' fake Heat, sent as Heat 27's engine sends
them, so that conductors listening to them (`[heat_notifications] enabled`) learn of a
stack's change as they would in a deployment, not at their next poll.

When a stack's action ends, Heat (engine/notification/stack.py) notifies
`orchestration.stack.<action>.end`, or `.error` at the error priority when it failed, with
oslo.messaging's Notifier (driver messagingv2, publisher `orchestration.<host>`) on its
control exchange `heat`, topic `notifications`; the payload is engine/api.py's
format_notification_body. The fake Heat ends actions while it holds its lock, inside a
conductor's call: `StackNotifier.send` only takes the payload and queues it, and a thread of
its own publishes, so a slow bus never holds up the fake.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from typing import Any

from oslo_config import cfg
import oslo_messaging as messaging
from oslo_messaging import opts as messaging_opts

#: Heat's control exchange, topic and publisher (its host is the benchmark's fake).
EXCHANGE = "heat"
TOPIC = "notifications"
PUBLISHER = "orchestration.bench-heat"
#: The fake knows no user: every stack's is this one.
USER = "bench-user"


def payload(stack: Any) -> dict[str, Any]:
    """What Heat 27 sends for a FakeStack (tests/fakes/heat.py) in its present state."""
    return {"tenant_id": stack.project_id, "user_id": USER, "user_identity": USER,
            "username": USER, "stack_identity": stack.id, "stack_name": stack.name,
            "state": stack.status, "state_reason": stack.reason,
            "create_at": stack.creation_time, "tags": list(stack.tags),
            "updated_at": stack.updated_time,
            "description": stack.template.get("description", "")}


def event_type(stack: Any) -> str:
    """`orchestration.stack.<action>.end`, or `.error` for a stack whose action failed."""
    suffix = "error" if stack.state == "FAILED" else "end"
    return f"orchestration.stack.{stack.action.lower()}.{suffix}"


def _heat_conf() -> cfg.ConfigOpts:
    """A configuration of Heat's own, whose control exchange is `heat` (the benchmark's
    process keeps magnum-lite's)."""
    conf = cfg.ConfigOpts()
    conf([], project="heat", default_config_files=[], default_config_dirs=[])
    # oslo.messaging's own option, registered before the transport is made so that it can
    # be overridden (the transport reads it once, when made).
    conf.register_opts([opt for group, opts in messaging_opts.list_opts() if group is None
                        for opt in opts if opt.name == "control_exchange"])
    conf.set_override("control_exchange", EXCHANGE)
    return conf


class StackNotifier:
    """Publishes queued stack notifications on `transport_url` from a thread of its own;
    counts what it sent by event type, and keeps how long each waited to be published
    (`delays`: whether one sender keeps up)."""

    def __init__(self, transport_url: str) -> None:
        self._transport = messaging.get_notification_transport(_heat_conf(), url=transport_url)
        self._notifier = messaging.Notifier(self._transport, publisher_id=PUBLISHER,
                                            driver="messagingv2", topics=[TOPIC])
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self.sent: collections.Counter[str] = collections.Counter()
        self.delays: list[float] = []  # seconds from send() to published
        self._thread = threading.Thread(target=self._run, name="bench-heat-notifier",
                                        daemon=True)
        self._thread.start()

    def send(self, stack: Any) -> None:
        """Queue the notification of `stack`'s action that just ended (safe under the fake's
        lock: the payload is taken now, published later)."""
        self._queue.put((time.monotonic(), event_type(stack), payload(stack)))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            queued, kind, body = item
            context = {"project_id": body["tenant_id"], "user_id": USER}
            publish = self._notifier.error if kind.endswith(".error") else self._notifier.info
            publish(context, kind, body)  # the messagingv2 driver logs its failures itself
            self.sent[kind] += 1
            self.delays.append(time.monotonic() - queued)

    def close(self, timeout: float = 60) -> None:
        """Publish what is queued (for up to `timeout` seconds), then release the bus."""
        self._queue.put(None)
        self._thread.join(timeout)
        self._transport.cleanup()
