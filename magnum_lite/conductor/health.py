"""The health monitor: every `[health] interval` seconds each conductor checks the COE of the
clusters the hash ring gives it (DESIGN.md §9).

Only clusters in a *_COMPLETE status with no operation in flight are checked (one being
built, resized or upgraded is judged by its operation), and those whose last operation, a
repair, failed (UPDATE_FAILED): healing goes on there until a node failed twice. A check
asks the plugin's monitor (`Driver.get_monitor`: the cluster's COE API as a client of its
CA) for the API's answer and every node, in a bounded pool, within `[health]
check_timeout` in all (coe_http's deadline: each request waits at most what is left of
it), and a cluster whose check still runs is not checked again meanwhile.

What a check finds is `health_status` (HEALTHY, UNHEALTHY, UNKNOWN) and
`health_status_reason` in Magnum's shape (`{"api": "ok", "<node>.Ready": "True", ...}`),
written only when it changed, with an event `cluster.health` in the same transaction and
without a new cluster `version` (a change of health is no operation).

- A server the cloud holds that the COE does not list (Mesos forgets a stopped agent,
  Kubernetes and Swarm can drop a node object) is `"<node>.Ready": "NotRegistered"`: an
  unhealthy node like any other, for the grace and the repair. The cloud's servers
  (`Driver.expected_nodes`: name, Nova id, role, from Heat's stack outputs) are read only
  when needed (fewer nodes listed than the cluster has, an unreachable API, a repair to
  plan) and kept per cluster until its `version` or `revision` changes (an operation, a
  user's write), so a steady cluster's rounds never read Heat.
- An API that cannot be reached, or answers with a failure, is UNKNOWN with the cause;
  unreachable with every master's server down in Nova (SHUTOFF, ERROR, gone, ...:
  `Driver.server_states`, within what is left of the check's time) it is UNHEALTHY, naming
  them (`"<master>.server": "SHUTOFF"`).

The healer (conductor/healing.py) reviews each finding before it is recorded (it may add
why healing holds back, and keeps when each node was first seen unhealthy in
`health_since`, written with the health) and starts the repairs it decides on.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import functools
import math
import time
from typing import Any

from oslo_log import log as logging

from magnum_lite import objects
from magnum_lite.common import context as ml_context
from magnum_lite.common import exception, periodic, states
from magnum_lite.conductor import credentials, hashring, reconciler
from magnum_lite.conductor import manager as conductor_manager
from magnum_lite.conf import CONF
from magnum_lite.drivers import base as drivers_base
from magnum_lite.drivers import coe_http
from magnum_lite.objects import fields

LOG = logging.getLogger(__name__)

Health = fields.ClusterHealthStatus
#: The event of a change of health.
EVENT_TYPE = "cluster.health"
MAX_CAUSE_LENGTH = 300
#: health_status_reason's "<node>.Ready" of a server the COE does not list.
NOT_REGISTERED = "NotRegistered"
#: Nova statuses of a server that does not run (and a server Nova does not have).
SERVER_DOWN = frozenset({"SHUTOFF", "ERROR", "SUSPENDED", "PAUSED", "SHELVED",
                         "SHELVED_OFFLOADED", "SOFT_DELETED", "DELETED",
                         drivers_base.SERVER_GONE})
#: Seconds before a failed read of a cluster's servers is tried again (same cluster).
EXPECTED_RETRY = 60.0

#: What gives a cluster's servers when a check needs them (None: the cloud cannot say).
ExpectedNodes = Callable[[], "list[drivers_base.ExpectedNode] | None"]


@dataclasses.dataclass(frozen=True)
class Finding:
    """One check of one cluster: its health, Magnum's reason map, and the nodes the COE
    shows not ready or does not list (name -> why), for the healer."""

    status: str
    reason: dict[str, str]
    unhealthy: dict[str, str] = dataclasses.field(default_factory=dict)
    #: Every node the COE shows, and how many masters and workers the cluster should have.
    nodes: tuple[str, ...] = ()
    masters: int = 0
    workers: int = 0
    #: The servers the cloud holds for the cluster, when the check read them.
    expected: tuple[drivers_base.ExpectedNode, ...] | None = None
    #: Node -> when it was first seen unhealthy (ISO 8601 UTC; the healer sets it).
    since: dict[str, str] | None = None

    def summary(self) -> str:
        """One line for the event: the status and what is wrong."""
        if self.status == Health.HEALTHY:
            return f"{Health.HEALTHY}: the API and every node are ready"
        wrong = [f"{key}: {value}" for key, value in sorted(self.reason.items())
                 if value not in ("ok", "True")]
        return f"{self.status}: {'; '.join(wrong)}"[:1000]


def check_timeout() -> float:
    """Seconds one check may take in all: [health] check_timeout, else twice
    [conductor] coe_api_timeout (one request that gets no answer, then Nova)."""
    return CONF.health.check_timeout or 2 * CONF.conductor.coe_api_timeout


def _expected_count(health: drivers_base.CoeHealth, masters: int, workers: int) -> int:
    return workers + (masters if health.lists_masters else 0)


def assess(health: drivers_base.CoeHealth | None, cause: str | None, masters: int,
           workers: int, expected: list[drivers_base.ExpectedNode] | None = None,
           server_states: dict[str, str | None] | None = None) -> Finding:
    """The finding of a check.

    With an answer (`health`): UNHEALTHY when the API is not ready, a node is not ready, a
    server of `expected` is not listed (named NotRegistered; masters only where the COE
    lists masters) or fewer nodes are registered than the cluster has; else HEALTHY.
    Without one: UNHEALTHY when `server_states` (Nova status by server id) shows every
    master of `expected` down, naming them; else UNKNOWN with the cause.
    """
    known = tuple(expected) if expected is not None else None
    if health is None:
        return _unanswered(cause, masters, workers, known, server_states)
    reason = {"api": health.api}
    unhealthy = {}
    for name, node in sorted(health.nodes.items()):
        reason[f"{name}.Ready"] = "True" if node.ready else "False"
        if not node.ready:
            unhealthy[name] = node.reason or "not ready"
    for node in known or ():
        if node.name in health.nodes or (node.role == "master" and not health.lists_masters):
            continue
        reason[f"{node.name}.Ready"] = NOT_REGISTERED
        unhealthy[node.name] = "not registered in the COE"
    count = _expected_count(health, masters, workers)
    if len(health.nodes) < count:
        reason["nodes"] = f"{len(health.nodes)} of {count} registered"
    healthy = health.api == "ok" and not unhealthy and len(health.nodes) >= count
    return Finding(Health.HEALTHY if healthy else Health.UNHEALTHY, reason, unhealthy,
                   tuple(sorted(health.nodes)), masters, workers, known)


def _unanswered(cause: str | None, masters: int, workers: int,
                expected: tuple[drivers_base.ExpectedNode, ...] | None,
                server_states: dict[str, str | None] | None) -> Finding:
    reason = {"api": (cause or "no answer")[:MAX_CAUSE_LENGTH]}
    master_nodes = [n for n in expected or () if n.role == "master"]
    if master_nodes and server_states is not None:
        states = {n.name: (server_states.get(n.server_id) if n.server_id
                           else drivers_base.SERVER_GONE) for n in master_nodes}
        if all(state in SERVER_DOWN for state in states.values()):
            for name, state in sorted(states.items()):
                reason[f"{name}.server"] = str(state)
            return Finding(Health.UNHEALTHY, reason,
                           {name: f"server {state}" for name, state in states.items()},
                           masters=masters, workers=workers, expected=expected)
    return Finding(Health.UNKNOWN, reason, masters=masters, workers=workers,
                   expected=expected)


def _master_states(driver: drivers_base.Driver, cloud_context: Callable[[], Any] | None,
                   expected: list[drivers_base.ExpectedNode] | None, left: float
                   ) -> dict[str, str | None] | None:
    """Nova's status of the masters' servers, within `left` seconds; None when there is
    nothing to ask or the plugin cannot say."""
    ids = [n.server_id for n in expected or () if n.role == "master" and n.server_id]
    if not ids or left <= 0:
        return None
    try:
        return driver.server_states(cloud_context() if cloud_context else None, ids,
                                    timeout=left)
    except exception.MagnumLiteException as err:  # NotSupported too
        LOG.info("The masters' servers cannot be read: %s", err)
        return None


def check(driver: drivers_base.Driver, cluster: Any, template: Any,
          loader: drivers_base.CredentialsLoader, *,
          cloud_context: Callable[[], Any] | None = None,
          expected: ExpectedNodes | None = None) -> Finding | None:
    """Check one cluster through its COE (it should have the masters and workers its
    nodegroups count) within check_timeout(); None when its plugin cannot (no monitor, a
    cluster without TLS). `expected` gives the cloud's servers, asked only when the COE
    lists fewer nodes than the cluster has or cannot be reached (then Nova is asked for
    the masters' servers, as `cloud_context()` acts: made only then, as it decrypts the
    trustee's password)."""
    masters, workers = cluster.master_count or 0, cluster.node_count or 0
    try:
        monitor = driver.get_monitor(cluster, template, credentials=loader)
    except exception.NotSupported:
        return None
    timeout = check_timeout()
    started = time.monotonic()
    with coe_http.deadline(timeout):
        try:
            health = monitor.health()
        except exception.CoeUnreachable as err:
            health, cause = None, f"unreachable: {err}"
        except exception.MagnumLiteException as err:
            return assess(None, str(err), masters, workers)
    if health is None:
        nodes = expected() if expected is not None else None
        left = timeout - (time.monotonic() - started)
        return assess(None, cause, masters, workers, nodes,
                      _master_states(driver, cloud_context, nodes, left))
    nodes = None
    if expected is not None and len(health.nodes) < _expected_count(health, masters, workers):
        nodes = expected()
    return assess(health, None, masters, workers, nodes)


def record(cluster: Any, finding: Finding) -> bool:
    """Write the finding when it changes the cluster's health as read (`cluster`: status,
    reason, or when its nodes were first seen unhealthy), with an event when the status
    changes; no new version or revision. True when written; nothing is written once the
    cluster is in an operation (its operation judges it) or gone."""
    since = finding.since or None
    if (cluster.health_status == finding.status
            and (cluster.health_status_reason or {}) == finding.reason
            and (cluster.health_since or None) == since):
        return False
    event = None
    if cluster.health_status != finding.status:
        event = {**cluster.event_values(ml_context.get_admin_context(), EVENT_TYPE),
                 "status_reason": finding.summary(), "request_id": None}
    written = objects.Cluster.set_health(cluster.uuid, finding.status, finding.reason, event,
                                         since)
    if written and event is not None:
        LOG.info("Cluster %s: %s", cluster.uuid, finding.summary())
    return written


def _complete(status: str | None) -> bool:
    return bool(status) and status.endswith("_COMPLETE") and status != \
        fields.ClusterStatus.DELETE_COMPLETE


def _last_was_repair(context: Any, cluster_uuid: str) -> bool:
    """Whether the cluster's last operation was a repair (its last failed: the cluster is
    UPDATE_FAILED, yet healing must go on, up to the failed-twice rule)."""
    done = objects.ClusterOperation.list(context, cluster_uuid, in_flight=False)
    return bool(done) and done[-1].kind == states.Kind.REPAIR


class HealthMonitor(periodic.PooledRounds):
    """The health checks of one conductor (`host`), a periodic task of their own; `healer`
    (conductor/healing.py) reviews each finding and acts on it. `clock` (monotonic
    seconds) is injectable for the retry of a failed read of a cluster's servers."""

    def __init__(self, host: str, ring: hashring.ConductorRing | None = None,
                 healer: Any = None, workers: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(host, workers, LOG, "Health round on %s failed: %s",
                         "Health rounds on %s work again")
        self.ring = ring or hashring.ConductorRing(host)
        self._healer = healer
        self._clock = clock
        self._checking: set[str] = set()
        self._driver_rows: dict[str, Any] = {}
        # cluster uuid -> ((version, revision), its servers or None, when to retry None)
        self._expected: dict[str, tuple[tuple[int, int], tuple[Any, ...] | None, float]] = {}
        # cluster uuid -> (version, whether its last operation was a repair)
        self._repaired: dict[str, tuple[int, bool]] = {}

    # -- life cycle (periodic.PooledRounds) --------------------------------------------------

    def _pool_size(self) -> int:
        return CONF.health.workers

    def start(self) -> None:
        """Check at once, then every `[health] interval` seconds after the round ended."""
        if not CONF.health.enabled:
            LOG.info("Health monitoring is off ([health] enabled)")
            return
        self._stop.clear()
        self._run_rounds("conductor-health", "check_health", CONF.health.interval)
        LOG.info("Health monitor of %s started (every %ss)", self.host, CONF.health.interval)

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
        mine = set()
        for cluster in objects.Cluster.list(context):
            if ring.owner(cluster.uuid) != self.host:
                continue
            mine.add(cluster.uuid)
            if cluster.operation_uuid or not self._watched(context, cluster):
                continue
            with self._lock:
                if cluster.uuid in self._checking:
                    continue  # its last check still runs (an API that does not answer)
                self._checking.add(cluster.uuid)
            try:
                self._submit(pool, self._check, context, cluster, templates)
            except RuntimeError:  # the pool was shut down: stopping
                with self._lock:
                    self._checking.discard(cluster.uuid)
                break
            started += 1
        with self._lock:
            for gone in set(self._expected) - mine:
                del self._expected[gone]
            for gone in set(self._repaired) - mine:
                del self._repaired[gone]
        return started

    def _watched(self, context: Any, cluster: Any) -> bool:
        """Clusters in a *_COMPLETE status, and those whose last operation, a repair, failed
        (read once per cluster version: every operation makes a new one)."""
        if _complete(cluster.status):
            return True
        if cluster.status != fields.ClusterStatus.UPDATE_FAILED:
            return False
        known = self._repaired.get(cluster.uuid)
        if known is None or known[0] != cluster.version:
            known = (cluster.version, _last_was_repair(context, cluster.uuid))
            self._repaired[cluster.uuid] = known
        return known[1]

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
            expected = functools.partial(self.expected_nodes, driver, cluster)
            finding = check(driver, cluster, template,
                            credentials.loader(context, cluster, template.coe),
                            cloud_context=functools.partial(reconciler.poll_context, cluster),
                            expected=expected)
            if finding is None:
                return
            repair: list[str] = []
            if self._healer is not None:
                finding, repair = self._healer.review(driver, cluster, template, finding,
                                                      expected=expected)
            record(cluster, finding)
            if repair:
                self._healer.act(cluster, repair, finding)
        except Exception:
            LOG.exception("Cluster %s: its health check failed", cluster.uuid)
        finally:
            with self._lock:
                self._checking.discard(cluster.uuid)

    def expected_nodes(self, driver: drivers_base.Driver, cluster: Any
                       ) -> list[drivers_base.ExpectedNode] | None:
        """The servers the cloud holds for `cluster` (`Driver.expected_nodes`), read once
        for each (version, revision) of the cluster: an operation or a user's write may
        change them, a health write does not. None when the plugin cannot say, or the read
        failed (tried again after EXPECTED_RETRY seconds)."""
        key = (cluster.version, cluster.revision)
        now = self._clock()
        with self._lock:
            cached = self._expected.get(cluster.uuid)
        if cached is not None and cached[0] == key and (cached[1] is not None
                                                         or now < cached[2]):
            return None if cached[1] is None else list(cached[1])
        admin = ml_context.get_admin_context()
        admin.all_projects = True
        nodes: tuple[Any, ...] | None = None
        retry = math.inf
        try:
            nodegroups = objects.NodeGroup.list_for_clusters(admin, [cluster.uuid])
            nodes = tuple(driver.expected_nodes(reconciler.poll_context(cluster), cluster,
                                                nodegroups))
        except exception.NotSupported:
            pass
        except Exception as err:  # the cloud, its credentials: never the check itself
            LOG.info("Cluster %s: its servers cannot be read: %s", cluster.uuid, err)
            retry = now + EXPECTED_RETRY
        with self._lock:
            self._expected[cluster.uuid] = (key, nodes, retry)
        return None if nodes is None else list(nodes)
