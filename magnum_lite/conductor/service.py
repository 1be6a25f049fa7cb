"""The conductor as a service: the RPC server, its endpoints, the heartbeat, the status
reconciler and the health monitor (each a futurist periodic task in a thread of its own:
common/periodic.py), and, when `[heat_notifications] enabled`, the listener of Heat's stack
notifications that has the reconciler check a cluster at once (conductor/heat_events.py)."""

from __future__ import annotations

import threading
import time

from futurist import periodics
from oslo_log import log as logging
import oslo_messaging as messaging

from magnum_lite import objects
from magnum_lite.common import context as ml_context
from magnum_lite.common import periodic, rpc
from magnum_lite.conductor import healing, health, heat_events, membership, rpcapi
from magnum_lite.conductor import manager as conductor_manager
from magnum_lite.conductor import reconciler as conductor_reconciler
from magnum_lite.conf import CONF

LOG = logging.getLogger(__name__)

BINARY = membership.CONDUCTOR_BINARY
# Seconds the RPC server gets, from the start of a stop, to join its dispatch threads (idle
# ones notice within a second) and release its connection; and the heartbeat thread gets to
# end (it may be stuck in a database call: it is a daemon thread, left behind then).
RPC_SERVER_WAIT = 1.5
HEARTBEAT_JOIN = 0.5


class ConductorService:
    """Serves the conductor topic on the threading executor and heartbeats to the database.

    Stopping takes at most `[conductor] graceful_shutdown_timeout` plus a couple of seconds:
    no new messages are taken, work in flight gets the graceful timeout, then heartbeats stop.
    """

    name = BINARY

    def __init__(self, host: str | None = None,
                 manager: conductor_manager.ConductorManager | None = None,
                 reconciler: conductor_reconciler.Reconciler | None = None,
                 monitor: health.HealthMonitor | None = None) -> None:
        self.host = host or CONF.host
        self.manager = manager or conductor_manager.ConductorManager(
            self.host, workers=CONF.conductor.rpc_workers)
        self.reconciler = reconciler or conductor_reconciler.Reconciler(
            self.host, manager=self.manager)
        self.monitor = monitor or health.HealthMonitor(
            self.host, ring=self.reconciler.ring,
            healer=healing.Healer(self.manager.cluster_repair))
        self._rpcserver: messaging.MessageHandlingServer | None = None
        self._heartbeats: periodic.PeriodicThread | None = None
        self._heartbeat_errors = periodic.ErrorReport(
            LOG, "Heartbeat of %s on %s failed: %s", "Heartbeats of %s on %s work again",
            BINARY, self.host)
        self.membership = membership.for_host(self.host)
        self.heat_events: heat_events.HeatEventListener | None = None

    def start(self) -> None:
        self.manager.start()
        self.membership.start()
        target = messaging.Target(topic=CONF.conductor.topic, server=self.host)
        server = messaging.get_rpc_server(
            rpc.get_transport(), target, [self.manager], executor="threading",
            serializer=rpcapi.serializer())
        try:
            server.start(override_pool_size=CONF.conductor.rpc_workers)
        finally:
            # Only a server whose start() ran may be stopped: oslo.messaging's stop() waits
            # for start() to have happened.
            self._rpcserver = server

        @periodics.periodic(spacing=CONF.conductor.heartbeat_interval, run_immediately=True)
        def heartbeat() -> None:
            self._heartbeat()

        self._heartbeats = periodic.PeriodicThread("conductor-heartbeat", [heartbeat])
        self._heartbeats.start()
        self.reconciler.start()
        self.monitor.start()
        if CONF.heat_notifications.enabled:
            self._listen_to_heat()
        LOG.info("Conductor %s serving topic %s (RPC API %s)", self.host, CONF.conductor.topic,
                 self.manager.RPC_API_VERSION)

    def _listen_to_heat(self) -> None:
        """Start the listener of Heat's notifications; without it (the bus refused) the
        reconciler keeps its quick polls."""
        listener = heat_events.HeatEventListener(self.reconciler.sync_now)
        try:
            listener.start()
        except Exception as err:
            LOG.error("Cannot listen to Heat's notifications (%s: %s): the clusters in "
                      "progress are polled at [conductor] reconcile_backoff_max",
                      type(err).__name__, err)
            listener.stop()
            return
        self.heat_events = listener
        self.reconciler.notified = True

    def _heartbeat(self) -> None:
        """The periodic task: one heartbeat, every `[conductor] heartbeat_interval` seconds.
        The database may be down for a while: it keeps trying, and the service shows down."""
        try:
            objects.MagnumService.heartbeat(ml_context.get_admin_context(), self.host, BINARY)
        except Exception as err:
            self._heartbeat_errors.failed(err)
        else:
            self._heartbeat_errors.worked()

    @property
    def stop_timeout(self) -> float:
        """The longest `stop()` takes."""
        return (max(CONF.conductor.graceful_shutdown_timeout, RPC_SERVER_WAIT)
                + HEARTBEAT_JOIN + self.membership.stop_timeout)

    def is_alive(self) -> bool:
        return self._heartbeats is not None and self._heartbeats.is_alive()

    def stop(self) -> bool:
        began = time.monotonic()
        self.membership.stop()  # out of the tooz group first: the others take over at once
        self.reconciler.signal_stop()  # no new rounds; it is joined with the heartbeat
        listener, self.heat_events = self.heat_events, None
        if listener is not None:
            # No more notifications; a hung broker must not hold the process.
            threading.Thread(target=listener.stop, name="heat-events-stop",
                             daemon=True).start()
        self.monitor.signal_stop()
        waiter = None
        if self._rpcserver is not None:
            self._rpcserver.stop()  # no new messages from here on
            # wait() joins the dispatch threads (they only queue work) and closes the
            # connection, meanwhile the work in flight gets its graceful period; a hung broker
            # must not hold the process.
            waiter = threading.Thread(target=self._rpcserver.wait, name="rpc-server-wait",
                                      daemon=True)
            waiter.start()
        # Down at once (no more heartbeats), so the other conductors take its clusters and
        # the operations it leaves queued.
        if self._heartbeats is not None:
            self._heartbeats.stop(HEARTBEAT_JOIN)
        try:
            objects.MagnumService.mark_stopped(self.host, BINARY)
        except Exception as err:  # noqa: BLE001 - the database may be down: it ages out
            LOG.warning("Cannot show %s on %s stopped: %s", BINARY, self.host, err)
        left = self.manager.stop(timeout=CONF.conductor.graceful_shutdown_timeout)
        if waiter is not None:
            waiter.join(max(0.0, began + RPC_SERVER_WAIT - time.monotonic()))
            if waiter.is_alive():
                LOG.warning("The RPC server did not release its connection within %ss",
                            RPC_SERVER_WAIT)
        end = time.monotonic() + HEARTBEAT_JOIN
        if self._heartbeats is not None:
            self._heartbeats.stop(HEARTBEAT_JOIN)
        self.reconciler.stop(max(0.0, end - time.monotonic()))
        self.monitor.stop(max(0.0, end - time.monotonic()))
        return not left
