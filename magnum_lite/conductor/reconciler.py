"""The status reconciler: follows every cluster operation the cloud has accepted.

A futurist periodic task of the conductor (common/periodic.py) runs a round at start, then
`[conductor] reconcile_interval` seconds after the previous round ended; tests run rounds by
hand with `run_once`:

- one query reads every cluster with an operation in flight (or in an *_IN_PROGRESS status)
  with its nodegroups and its ClusterOperation record; the conductor keeps those the hash
  ring gives it (conductor/hashring.py);
- it dispatches on the operation's kind and step (common/states.py), never on status
  prefixes, events or status_reason text: an operation at step `following` (the conductor
  that started it recorded that the cloud accepted it) is checked in the cloud; one still
  `queued` or `cloud_requested` is its owner's to drive (before the handover the cloud may
  still show the previous operation's outcome: a resized cluster's stack says
  UPDATE_COMPLETE from the last resize until Heat takes the new one). A cluster in progress
  with no record (from before records were kept) gets one, at step `following`;
- a cluster is checked when due: at once when its operation is new to us, then after
  `reconcile_backoff_base` seconds, the delay growing by half after each check that found no
  change, up to `reconcile_backoff_max`; a change starts over from the base;
- due clusters are grouped by project and driver (plugin and config): `status_snapshot` is
  called once per group per round (one stack listing serves the whole project), then
  `get_status` per cluster (with its operation), in a bounded thread pool so a slow project
  does not hold up the others (a cluster still being checked is skipped by the next rounds);
- a project is listed at most `max_listings_per_project_per_second` times a second (two
  listings begin at least the inverse apart) and not again before its listing answered: its
  due clusters wait for a later round, the group waiting longest going first;
- what the driver reports is written by `manager.record_state` through the transition table
  only when it changes something and belongs to the operation's kind: terminal statuses end
  the operation with an event, DELETE_COMPLETE removes the rows;
- an operation still in flight after its deadline (plus `timeout_grace`) ends in its failed
  status with the fault `timeout`, whatever its step;
- an error of a round (the database down) is logged once per cause and the rounds go on;
- a driver error while checking (Heat unreachable, authentication refused) keeps the status,
  says so in status_reason, records a fault code on the operation (`trust_broken` when the
  cluster's trust stopped working: the API then lets its owner replace it), and the checks go
  on: the cluster recovers when Heat is back.

Polls use an admin context with the cluster's project, user and trust, and no token: the
driver decides how to authenticate (the trust, or the service credentials without Keystone).
"""

from __future__ import annotations

from collections.abc import Callable
import concurrent.futures
import dataclasses
import datetime
import threading
import time
from typing import Any

import futurist
from futurist import periodics
from oslo_log import log as logging
from oslo_utils import strutils, timeutils

from magnum_lite import objects
from magnum_lite.common import context as ml_context
from magnum_lite.common import exception, periodic, states, trustee
from magnum_lite.conductor import credentials, hashring, repair, upgrade
from magnum_lite.conductor import manager as conductor_manager
from magnum_lite.conf import CONF
from magnum_lite.drivers import base as drivers_base
from magnum_lite.objects import cluster_operation as operations
from magnum_lite.objects import fields

LOG = logging.getLogger(__name__)

Status = fields.ClusterStatus
Step = states.Step
Fault = states.Fault

# Each check without a change multiplies the delay to the next by this, up to the maximum.
BACKOFF_FACTOR = 1.5
# Seconds an operation may stay queued with no owner (its cast on the way, or released by a
# stopping conductor) before the cluster's owner on the ring takes it over.
UNCLAIMED_GRACE = 5.0
# The start of the status_reason the reconciler writes while it cannot read the cloud.
POLL_ERROR_PREFIX = "cannot check the cluster in the cloud: "
MAX_ERROR_LENGTH = 300


@dataclasses.dataclass
class _Schedule:
    """When a cluster is next checked, and the delay after that."""

    key: tuple[str, int, str | None]  # (status, version, operation): a new one starts anew
    due: float
    delay: float
    started: float = 0.0   # when the latest check began
    finished: float = -1.0  # when the latest check ended (its outcome then in the database)


@dataclasses.dataclass
class _Item:
    cluster: Any
    nodegroups: list[Any]
    operation: operations.ClusterOperation
    template: Any = None


def poll_context(cluster: Any) -> ml_context.RequestContext:
    """An admin context acting for the cluster's project and user through its trust (with
    the cluster's trustee user when it has one)."""
    return ml_context.RequestContext(project_id=cluster.project_id, user_id=cluster.user_id,
                                     trust_id=cluster.trust_id,
                                     trustee=credentials.trustee_of(cluster), is_admin=True,
                                     all_projects=True, auth_token=None)


def _trust_reason(cluster: Any, operation: Any, err: Exception) -> str | None:
    """Why the cluster's trust no longer works, when that is why Heat refused the check."""
    refused = isinstance(err, exception.CloudError) and "not authorized" in str(err)
    given = credentials.trustee_of(cluster) if refused else None
    if given is None or not given.trust_id:
        return None
    if operation.fault == Fault.TRUST_BROKEN:
        return cluster.status_reason  # checked already: a check is a login to Keystone
    reason = trustee.check_trust(given)
    if reason is None:
        return None
    return (f"{POLL_ERROR_PREFIX}{reason}; renew it with PATCH /v1/credentials/{cluster.uuid}"
            "; still checking")


def _error_reason(err: Exception) -> str:
    text = (str(err).strip().splitlines() or [""])[0]
    text = strutils.mask_password(text.split("[SQL:")[0].strip())
    detail = f"{type(err).__name__}: {text}" if text else type(err).__name__
    return f"{POLL_ERROR_PREFIX}{detail[:MAX_ERROR_LENGTH]}; still checking"


class Reconciler:
    """The reconciler of one conductor (`host`). `clock` (monotonic seconds) and `utcnow`
    (aware UTC datetimes) are injectable so tests drive the schedule without sleeping."""

    def __init__(self, host: str, manager: Any = None,
                 ring: hashring.ConductorRing | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 utcnow: Callable[[], datetime.datetime] | None = None,
                 workers: int | None = None) -> None:
        self.host = host
        self.manager = manager
        self.ring = ring or hashring.ConductorRing(host)
        self._clock = clock
        self._utcnow = utcnow or (lambda: timeutils.utcnow(with_timezone=True))
        self._workers = workers
        self._lock = threading.Lock()
        self._schedules: dict[str, _Schedule] = {}
        self._polling: set[str] = set()
        # The listing bound: when each project's latest listing began (clock seconds), and
        # the projects whose listing is under way.
        self._listed: dict[str, float] = {}
        self._listing: set[str] = set()
        self._futures: set[concurrent.futures.Future] = set()
        self._driver_rows: dict[str, Any] = {}
        self._executor: futurist.ThreadPoolExecutor | None = None
        self._stop = threading.Event()
        self._periodic: periodic.PeriodicThread | None = None
        self._errors = periodic.ErrorReport(LOG, "Reconciler round on %s failed: %s",
                                            "Reconciler rounds on %s work again", host)

    # -- life cycle --------------------------------------------------------------------------

    def _pool(self) -> futurist.ThreadPoolExecutor | None:
        """The pool of checks (made on first use); None once stopping."""
        with self._lock:
            if self._stop.is_set():
                return None
            if self._executor is None:
                self._executor = futurist.ThreadPoolExecutor(
                    max_workers=self._workers or CONF.conductor.reconcile_workers)
            return self._executor

    def start(self) -> None:
        """Run a round at once, then every `[conductor] reconcile_interval` seconds after the
        previous one ended (a futurist periodic task in a thread of its own)."""
        self._stop.clear()
        with self._lock:
            self._listing.clear()  # of checks a previous stop left queued, never run
        self._pool()
        interval = CONF.conductor.reconcile_interval

        @periodics.periodic(spacing=interval, run_immediately=True)
        def reconcile() -> None:
            self._round()

        self._periodic = periodic.PeriodicThread("conductor-reconciler", [reconcile])
        self._periodic.start()
        LOG.info("Reconciler of %s started (every %ss)", self.host, interval)

    def signal_stop(self) -> None:
        """Start no new round and no new check (checks under way finish on their own)."""
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

    def is_alive(self) -> bool:
        return self._periodic is not None and self._periodic.is_alive()

    def _round(self) -> None:
        """The periodic task: a round whose error is logged, never raised, so the rounds go
        on (the database may be down for a while); a cause is said once, when it changes."""
        try:
            self.run_once()
        except Exception as err:
            self._errors.failed(err)
            return
        self._errors.worked()

    def wait(self, timeout: float = 10) -> None:
        """Wait for the checks under way (tests)."""
        with self._lock:
            futures = list(self._futures)
        concurrent.futures.wait(futures, timeout=timeout)

    # -- a round -----------------------------------------------------------------------------

    def run_once(self) -> int:
        """One round; returns the number of clusters whose check was started."""
        context = ml_context.get_admin_context()
        context.all_projects = True
        read_at = self._clock()
        found = objects.Cluster.list_in_flight(context, Status.IN_PROGRESS)
        ring = self.ring.refresh()
        now = self._clock()
        wall = self._utcnow()
        base = CONF.conductor.reconcile_backoff_base
        groups: dict[tuple[str, str], tuple[Any, list[_Item]]] = {}
        earliest: dict[tuple[str, str], float] = {}  # the first due time in each group
        templates: dict[str, Any] = {}
        seen = set()
        for cluster, nodegroups, op_row in found:
            if ring.owner(cluster.uuid) != self.host:
                continue
            operation = self._operation(context, cluster, op_row)
            if operation is None:
                continue
            seen.add(cluster.uuid)
            key = (cluster.status, cluster.version, operation.uuid)
            with self._lock:
                if cluster.uuid in self._polling:
                    continue
                schedule = self._schedules.get(cluster.uuid)
                if schedule is None or schedule.key != key:
                    schedule = self._schedules[cluster.uuid] = _Schedule(key, now, base)
                elif schedule.finished >= read_at:
                    continue  # checked since this row was read: the row is stale
            if self._timed_out(cluster, operation, wall):
                continue
            if operation.step != Step.FOLLOWING:
                # Its owner drives it until the cloud accepted it; the deadline holds. An
                # owner gone from the ring (dead, stopped) leaves it to this conductor.
                if self._left_behind(operation, ring, wall):
                    self.manager.take_over(operation)
                continue
            if now < schedule.due:
                continue
            plugin, config, driver_key = self._plugin(context, cluster, templates)
            if plugin is None:
                continue  # nothing can read it; the timeout still applies
            group_key = (cluster.project_id, driver_key)
            group = groups.setdefault(group_key, (plugin(config), []))
            group[1].append(_Item(cluster, nodegroups, operation,
                                  self._template(context, cluster, templates)))
            earliest[group_key] = min(earliest.get(group_key, schedule.due), schedule.due)
        with self._lock:
            for uuid in list(self._schedules):
                if uuid not in seen:
                    del self._schedules[uuid]
        started = 0
        pool = self._pool()
        if pool is None:
            return 0
        gap = 1.0 / CONF.conductor.max_listings_per_project_per_second
        with self._lock:
            for project_id, listed in list(self._listed.items()):
                if now - listed >= gap:
                    del self._listed[project_id]
        # The longest waiting first: a project listed for one driver's clusters in a round
        # may have to wait with its other driver's clusters for a later round.
        for group_key in sorted(groups, key=earliest.__getitem__):
            project_id = group_key[0]
            driver, items = groups[group_key]
            with self._lock:
                listed = self._listed.get(project_id)
                if project_id in self._listing or (listed is not None and now - listed < gap):
                    continue  # listed too recently: its due clusters wait for a later round
                self._listing.add(project_id)
                self._polling.update(item.cluster.uuid for item in items)
                for item in items:
                    self._schedules[item.cluster.uuid].started = now
            try:
                future = pool.submit(self._check_group, driver, project_id, items)
            except RuntimeError:  # the pool was shut down: stopping
                with self._lock:
                    self._polling.difference_update(item.cluster.uuid for item in items)
                    self._listing.discard(project_id)
                break
            with self._lock:
                self._futures.add(future)
            future.add_done_callback(self._forget_future)
            started += len(items)
        return started

    @staticmethod
    def _operation(context: Any, cluster: Any, op_row: Any) -> Any:
        """The cluster's operation in flight; a cluster in progress without a record (from
        before records were kept) gets one, followed in the cloud. None: nothing to follow."""
        if op_row is not None:
            return operations.ClusterOperation.from_row(context, op_row)
        kind = states.kind_for_status(cluster.status)
        if kind is None:
            return None
        try:
            return operations.adopt(context, cluster.uuid, kind, None, Step.FOLLOWING)
        except exception.ClusterNotFound:
            return None

    def _left_behind(self, operation: Any, ring: hashring.HashRing,
                     wall: datetime.datetime) -> bool:
        """Whether an operation at a step its owner drives has no live owner (this conductor,
        the cluster's owner on the ring, then takes it over): its owner left the ring, or
        nobody claimed it within UNCLAIMED_GRACE (a cast lost with a dead conductor, work a
        stopping one released), or it names this conductor, which has no work for it (it
        restarted)."""
        if self.manager is None or self.manager.working_on(operation.cluster_uuid):
            return False
        owner = operation.owner
        if owner is not None and owner != self.host:
            return owner not in ring.hosts
        since = operation.updated_at or operation.started_at
        if since.tzinfo is None:
            since = since.replace(tzinfo=datetime.UTC)
        return (wall - since).total_seconds() > UNCLAIMED_GRACE

    def _forget_future(self, future: concurrent.futures.Future) -> None:
        with self._lock:
            self._futures.discard(future)

    def _plugin(self, context: Any, cluster: Any, templates: dict[str, Any]
                ) -> tuple[type[drivers_base.Driver] | None, dict | None, str]:
        """The cluster's plugin, config and grouping key. Driver rows are cached: a version's
        plugin and config never change (a change makes a new version)."""
        template = None
        if not cluster.driver_id:
            template = self._template(context, cluster, templates)
            if template is None:
                return None, None, "none"
        return conductor_manager.plugin_for(context, cluster, template, self._driver_rows)

    @staticmethod
    def _template(context: Any, cluster: Any, templates: dict[str, Any]) -> Any:
        """The cluster's template, read once per round (a driver's next step may need it)."""
        template_id = cluster.cluster_template_id
        if template_id not in templates:
            try:
                templates[template_id] = objects.ClusterTemplate.get_by_uuid(context,
                                                                             template_id)
            except Exception:
                templates[template_id] = None
        return templates[template_id]

    def _timed_out(self, cluster: Any, operation: Any, wall: datetime.datetime) -> bool:
        """Fail the operation when it outlived its deadline (plus the grace); True then."""
        if not operation.overdue(wall, CONF.conductor.timeout_grace):
            return False
        started = operation.started_at
        if started.tzinfo is None:
            started = started.replace(tzinfo=datetime.UTC)
        minutes = round((operation.deadline.replace(tzinfo=started.tzinfo) - started)
                        .total_seconds() / 60)
        unit = "minute" if minutes == 1 else "minutes"
        table = operation.rules
        name = table.event_type.split(".", 1)[1]
        reason = f"the cluster's {name} did not finish within {minutes} {unit}"
        if operation.kind == states.Kind.DELETE:
            reason += ("; the cloud may still hold some of its resources: delete it again to "
                       "retry")
        LOG.warning("Cluster %s: %s", cluster.uuid, reason)
        try:
            operations.finish(poll_context(cluster), cluster.uuid, operation.kind,
                              table.failed_status, reason, fault=Fault.TIMEOUT,
                              operation_uuid=operation.uuid,
                              expect=(cluster.status, cluster.version))
        except Exception as err:
            LOG.warning("Cluster %s: cannot record its timeout: %s: %s", cluster.uuid,
                        type(err).__name__, err)
        return True

    # -- checks (in the pool) ----------------------------------------------------------------

    def _check_group(self, driver: drivers_base.Driver, project_id: str,
                     items: list[_Item]) -> None:
        try:
            try:
                with self._lock:
                    self._listed[project_id] = self._clock()
                try:
                    snapshot = driver.status_snapshot(poll_context(items[0].cluster),
                                                      project_id)
                finally:
                    with self._lock:
                        self._listing.discard(project_id)
            except Exception as err:
                LOG.debug("Project %s: cannot read its stacks: %s: %s", project_id,
                          type(err).__name__, err)
                for item in items:
                    self._checked(item, self._record_error(item, err))
                return
            for item in items:
                if self._stop.is_set():
                    self._checked(item, False)
                    continue
                if item.operation.kind == states.Kind.UPGRADE:
                    self._checked(item, self._run_upgrade(driver, item))
                    continue
                if item.operation.kind == states.Kind.REPAIR:
                    self._checked(item, self._run_repair(driver, item))
                    continue
                try:
                    context = poll_context(item.cluster)
                    state = driver.get_status(
                        context, item.cluster, item.nodegroups, snapshot,
                        cluster_template=item.template, operation=item.operation,
                        credentials=credentials.loader(
                            context, item.cluster,
                            item.template.coe if item.template is not None else None))
                except Exception as err:
                    LOG.debug("Cluster %s: cannot read its status: %s: %s",
                              item.cluster.uuid, type(err).__name__, err)
                    self._checked(item, self._record_error(item, err))
                    continue
                try:
                    changed = self._record(item, state)
                except exception.ClusterNotFound:
                    changed = False  # deleted meanwhile (its delete finished): nothing to do
                except Exception:
                    LOG.exception("Cluster %s: cannot record its state", item.cluster.uuid)
                    changed = False
                self._checked(item, changed)
        finally:
            with self._lock:
                self._polling.difference_update(item.cluster.uuid for item in items)

    def _run_upgrade(self, driver: drivers_base.Driver, item: _Item) -> bool:
        """One round of a rolling upgrade (conductor/upgrade.py records its own progress);
        True when it moved."""
        context = poll_context(item.cluster)
        try:
            return upgrade.Run(context, driver, item.cluster, item.nodegroups, item.template,
                               item.operation,
                               credentials.loader(context, item.cluster,
                                                  item.template.coe)).advance()
        except exception.ClusterNotFound:
            return False
        except Exception as err:
            LOG.debug("Cluster %s: cannot go on with its upgrade: %s: %s",
                      item.cluster.uuid, type(err).__name__, err)
            return self._record_error(item, err)

    def _run_repair(self, driver: drivers_base.Driver, item: _Item) -> bool:
        """One round of a repair (conductor/repair.py records its own progress); True when
        it moved."""
        context = poll_context(item.cluster)
        try:
            return repair.Run(context, driver, item.cluster, item.template, item.operation,
                              credentials.loader(context, item.cluster,
                                                 item.template.coe)).advance()
        except exception.ClusterNotFound:
            return False
        except Exception as err:
            LOG.debug("Cluster %s: cannot go on with its repair: %s: %s",
                      item.cluster.uuid, type(err).__name__, err)
            return self._record_error(item, err)

    def _record(self, item: _Item, state: drivers_base.ClusterState) -> bool:
        """Write `state` when it changes something; True then."""
        cluster, operation = item.cluster, item.operation
        if state.status is not None and not states.owns_status(operation.kind, state.status):
            # The stack still shows the previous operation: no outcome of this one yet.
            state = dataclasses.replace(state, status=None, status_reason=None)
        clear_reason = state.status_reason is None and operation.fault is not None
        if not clear_reason and not conductor_manager.state_differs(cluster, item.nodegroups,
                                                                    state):
            return False
        conductor_manager.record_state(poll_context(cluster), operation.kind, cluster.uuid,
                                       state, expect=(cluster.status, cluster.version),
                                       clear_reason=clear_reason,
                                       operation_uuid=operation.uuid)
        return True

    def _record_error(self, item: _Item, err: Exception) -> bool:
        """Keep the status, say why the cluster cannot be checked and record the fault code
        on its operation; False (no change in the cloud, so the checks back off)."""
        cluster, operation = item.cluster, item.operation
        try:
            trust = _trust_reason(cluster, operation, err)
        except Exception as check_err:  # noqa: BLE001 - Keystone down too: the first error
            LOG.debug("Cluster %s: cannot check its trust: %s", cluster.uuid, check_err)
            trust = None
        reason = trust or _error_reason(err)
        fault = Fault.TRUST_BROKEN if trust else Fault.CLOUD_ERROR
        if reason != cluster.status_reason or fault != operation.fault:
            # Said once per cluster and cause (the reason is kept until it changes).
            LOG.warning("Cluster %s: %s", cluster.uuid, reason)
            try:
                operations.finish(poll_context(cluster), cluster.uuid, operation.kind,
                                  cluster.status, reason, fault=fault,
                                  operation_uuid=operation.uuid,
                                  expect=(cluster.status, cluster.version))
            except Exception as db_err:
                LOG.warning("Cluster %s: cannot record that it cannot be checked: %s",
                            cluster.uuid, db_err)
        return False

    def _checked(self, item: _Item, changed: bool) -> None:
        """Set the next check of the cluster: soon after a change, later and later without."""
        now = self._clock()
        with self._lock:
            schedule = self._schedules.get(item.cluster.uuid)
            if schedule is None:
                return
            if changed:
                schedule.delay = CONF.conductor.reconcile_backoff_base
            # Counted from the check's start: a slow cloud does not stretch the period.
            schedule.due = schedule.started + schedule.delay
            schedule.finished = now
            if not changed:
                schedule.delay = min(schedule.delay * BACKOFF_FACTOR,
                                     max(CONF.conductor.reconcile_backoff_max,
                                         CONF.conductor.reconcile_backoff_base))

    def next_check(self, cluster_uuid: str) -> float | None:
        """When the cluster is next due (clock seconds), or None if not followed (tests)."""
        with self._lock:
            schedule = self._schedules.get(cluster_uuid)
            return None if schedule is None else schedule.due
