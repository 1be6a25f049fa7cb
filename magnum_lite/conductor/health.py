"""The health monitor: every `[health] interval` seconds each conductor checks the COE of the
clusters the hash ring gives it (DESIGN.md §9).

Only clusters in a *_COMPLETE status with no operation in flight are checked (one being
built, resized or upgraded is judged by its operation). A check asks the plugin's monitor
(`Driver.get_monitor`: the cluster's COE API as a client of its CA) for the API's answer
and every node, in a bounded pool: an unreachable cluster holds one worker for at most
`[conductor] coe_api_timeout` per request, and a cluster whose check still runs is not
checked again meanwhile.

What a check finds is `health_status` (HEALTHY, UNHEALTHY, UNKNOWN) and
`health_status_reason` in Magnum's shape (`{"api": "ok", "<node>.Ready": "True", ...}`),
written only when it changed, with an event `cluster.health` in the same transaction and
without a new cluster `version` (a change of health is no operation). An API that cannot be
reached, or answers with a failure, is UNKNOWN with the cause.

The healer (conductor/healing.py) reviews each finding before it is recorded (it may add
why healing holds back) and starts the repairs it decides on.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import threading
from typing import Any

import futurist
from futurist import periodics
from oslo_log import log as logging

from magnum_lite import objects
from magnum_lite.common import context as ml_context
from magnum_lite.common import exception, periodic
from magnum_lite.conductor import credentials, hashring
from magnum_lite.conductor import manager as conductor_manager
from magnum_lite.conf import CONF
from magnum_lite.drivers import base as drivers_base
from magnum_lite.objects import fields

LOG = logging.getLogger(__name__)

Health = fields.ClusterHealthStatus
#: The event of a change of health.
EVENT_TYPE = "cluster.health"
MAX_CAUSE_LENGTH = 300


@dataclasses.dataclass(frozen=True)
class Finding:
    """One check of one cluster: its health, Magnum's reason map, and the nodes the COE
    shows not ready (name -> why), for the healer."""

    status: str
    reason: dict[str, str]
    unhealthy: dict[str, str] = dataclasses.field(default_factory=dict)
    #: Every node the COE shows, and how many masters and workers the cluster should have.
    nodes: tuple[str, ...] = ()
    masters: int = 0
    workers: int = 0

    def summary(self) -> str:
        """One line for the event: the status and what is wrong."""
        if self.status == Health.HEALTHY:
            return f"{Health.HEALTHY}: the API and every node are ready"
        wrong = [f"{key}: {value}" for key, value in sorted(self.reason.items())
                 if value not in ("ok", "True")]
        return f"{self.status}: {'; '.join(wrong)}"[:1000]


def assess(health: drivers_base.CoeHealth | None, cause: str | None, masters: int,
           workers: int) -> Finding:
    """The finding of a check: UNKNOWN with the cause when the API could not be read;
    UNHEALTHY when it is not ready, a node is not ready, or fewer nodes are registered than
    the cluster has; else HEALTHY."""
    if health is None:
        return Finding(Health.UNKNOWN, {"api": (cause or "no answer")[:MAX_CAUSE_LENGTH]},
                       masters=masters, workers=workers)
    reason = {"api": health.api}
    unhealthy = {}
    for name, node in sorted(health.nodes.items()):
        reason[f"{name}.Ready"] = "True" if node.ready else "False"
        if not node.ready:
            unhealthy[name] = node.reason or "not ready"
    expected = workers + (masters if health.lists_masters else 0)
    if len(health.nodes) < expected:
        reason["nodes"] = f"{len(health.nodes)} of {expected} registered"
    healthy = health.api == "ok" and not unhealthy and len(health.nodes) >= expected
    return Finding(Health.HEALTHY if healthy else Health.UNHEALTHY, reason, unhealthy,
                   tuple(sorted(health.nodes)), masters, workers)


def check(driver: drivers_base.Driver, cluster: Any, template: Any,
          loader: drivers_base.CredentialsLoader) -> Finding | None:
    """Check one cluster through its COE (it should have the masters and workers its
    nodegroups count); None when its plugin cannot (no monitor, a cluster without TLS)."""
    masters, workers = cluster.master_count or 0, cluster.node_count or 0
    try:
        monitor = driver.get_monitor(cluster, template, credentials=loader)
    except exception.NotSupported:
        return None
    try:
        return assess(monitor.health(), None, masters, workers)
    except exception.CoeUnreachable as err:
        return assess(None, f"unreachable: {err}", masters, workers)
    except exception.MagnumLiteException as err:
        return assess(None, str(err), masters, workers)


def record(cluster: Any, finding: Finding) -> bool:
    """Write the finding when it changes the cluster's health as read (`cluster`), with an
    event when the status changes; no new version or revision. True when written; nothing
    is written once the cluster is in an operation (its operation judges it) or gone."""
    if (cluster.health_status == finding.status
            and (cluster.health_status_reason or {}) == finding.reason):
        return False
    event = None
    if cluster.health_status != finding.status:
        event = {**cluster.event_values(ml_context.get_admin_context(), EVENT_TYPE),
                 "status_reason": finding.summary(), "request_id": None}
    written = objects.Cluster.set_health(cluster.uuid, finding.status, finding.reason, event)
    if written and event is not None:
        LOG.info("Cluster %s: %s", cluster.uuid, finding.summary())
    return written


def _complete(status: str | None) -> bool:
    return bool(status) and status.endswith("_COMPLETE") and status != \
        fields.ClusterStatus.DELETE_COMPLETE


class HealthMonitor:
    """The health checks of one conductor (`host`), a periodic task of their own; `healer`
    (conductor/healing.py) reviews each finding and acts on it."""

    def __init__(self, host: str, ring: hashring.ConductorRing | None = None,
                 healer: Any = None, workers: int | None = None) -> None:
        self.host = host
        self.ring = ring or hashring.ConductorRing(host)
        self._healer = healer
        self._workers = workers
        self._lock = threading.Lock()
        self._checking: set[str] = set()
        self._futures: set[concurrent.futures.Future] = set()
        self._driver_rows: dict[str, Any] = {}
        self._executor: futurist.ThreadPoolExecutor | None = None
        self._stop = threading.Event()
        self._periodic: periodic.PeriodicThread | None = None
        self._errors = periodic.ErrorReport(LOG, "Health round on %s failed: %s",
                                            "Health rounds on %s work again", host)

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Check at once, then every `[health] interval` seconds after the round ended."""
        if not CONF.health.enabled:
            LOG.info("Health monitoring is off ([health] enabled)")
            return
        self._stop.clear()

        @periodics.periodic(spacing=CONF.health.interval, run_immediately=True)
        def check_health() -> None:
            self._round()

        self._periodic = periodic.PeriodicThread("conductor-health", [check_health])
        self._periodic.start()
        LOG.info("Health monitor of %s started (every %ss)", self.host, CONF.health.interval)

    def signal_stop(self) -> None:
        self._stop.set()
        if self._periodic is not None:
            self._periodic.signal_stop()
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)

    def stop(self, timeout: float = 0.5) -> None:
        self.signal_stop()
        if self._periodic is not None:
            self._periodic.stop(timeout)

    def wait(self, timeout: float = 10) -> None:
        """Wait for the checks under way (tests)."""
        with self._lock:
            futures = list(self._futures)
        concurrent.futures.wait(futures, timeout=timeout)

    def _pool(self) -> futurist.ThreadPoolExecutor | None:
        with self._lock:
            if self._stop.is_set():
                return None
            if self._executor is None:
                self._executor = futurist.ThreadPoolExecutor(
                    max_workers=self._workers or CONF.health.workers)
            return self._executor

    def _round(self) -> None:
        try:
            self.run_once()
        except Exception as err:
            self._errors.failed(err)
            return
        self._errors.worked()

    # -- a round -----------------------------------------------------------------------------

    def run_once(self) -> int:
        """Start a check of every cluster of this conductor that is due; their number."""
        context = ml_context.get_admin_context()
        context.all_projects = True
        ring = self.ring.refresh()
        pool = self._pool()
        if pool is None:
            return 0
        templates: dict[str, Any] = {}
        started = 0
        for cluster in objects.Cluster.list(context):
            if (cluster.operation_uuid or not _complete(cluster.status)
                    or ring.owner(cluster.uuid) != self.host):
                continue
            with self._lock:
                if cluster.uuid in self._checking:
                    continue  # its last check still runs (an API that does not answer)
                self._checking.add(cluster.uuid)
            try:
                future = pool.submit(self._check, context, cluster, templates)
            except RuntimeError:  # the pool was shut down: stopping
                with self._lock:
                    self._checking.discard(cluster.uuid)
                break
            with self._lock:
                self._futures.add(future)
            future.add_done_callback(self._forget_future)
            started += 1
        return started

    def _forget_future(self, future: concurrent.futures.Future) -> None:
        with self._lock:
            self._futures.discard(future)

    def _check(self, context: Any, cluster: Any, templates: dict[str, Any]) -> None:
        try:
            template = templates.get(cluster.cluster_template_id)
            if template is None:
                template = templates[cluster.cluster_template_id] = \
                    objects.ClusterTemplate.get_by_uuid(context, cluster.cluster_template_id)
            plugin, config, _key = conductor_manager.plugin_for(context, cluster, template,
                                                                self._driver_rows)
            if plugin is None:
                return
            driver = plugin(config)
            finding = check(driver, cluster, template,
                            credentials.loader(context, cluster, template.coe))
            if finding is None:
                return
            repair: list[str] = []
            if self._healer is not None:
                finding, repair = self._healer.review(driver, cluster, template, finding)
            record(cluster, finding)
            if repair:
                self._healer.act(cluster, repair, finding)
        except Exception:
            LOG.exception("Cluster %s: its health check failed", cluster.uuid)
        finally:
            with self._lock:
                self._checking.discard(cluster.uuid)
