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
- what the driver reports is written by `recording.record_state` through the transition table
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

from collections.abc import Callable, Iterable
import dataclasses
import datetime
import threading
import time
from typing import Any

from oslo_log import log as logging
from oslo_utils import strutils, timeutils

from magnum_lite import objects
from magnum_lite.common import context as ml_context
from magnum_lite.common import exception, periodic, states, trustee
from magnum_lite.conductor import credentials, hashring, recording, repair, upgrade
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
# Seconds between the checks a notification asked for, while they find no change (Heat
# notifies just before it stores the stack's state): about 1.5 s in all.
ASKED_RECHECKS = (0.05, 0.1, 0.2, 0.4, 0.8)


@dataclasses.dataclass
class _Schedule:
    """When a cluster is next checked, and the delay after that."""

    key: tuple[str, int, str | None]  # (status, version, operation): a new one starts anew
    due: float
    delay: float
    started: float = 0.0   # when the latest check began
    finished: float = -1.0  # when the latest check ended (its outcome then in the database)
    look_again: float | None = None  # the latest check's driver asked for a look this soon


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


class Reconciler(periodic.PooledRounds):
    """The reconciler of one conductor (`host`). `clock` (monotonic seconds) and `utcnow`
    (aware UTC datetimes) are injectable so tests drive the schedule without sleeping."""

    def __init__(self, host: str, manager: Any = None,
                 ring: hashring.ConductorRing | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 utcnow: Callable[[], datetime.datetime] | None = None,
                 workers: int | None = None) -> None:
        super().__init__(host, workers, LOG, "Reconciler round on %s failed: %s",
                         "Reconciler rounds on %s work again")
        self.manager = manager
        self.ring = ring or hashring.ConductorRing(host)
        self._clock = clock
        self._utcnow = utcnow or (lambda: timeutils.utcnow(with_timezone=True))
        self._schedules: dict[str, _Schedule] = {}
        self._polling: set[str] = set()
        self._again: set[str] = set()  # asked for while being checked: again after that
        # Set when a notification asks for a cluster whose asked-for check waits between
        # its rechecks: the wait ends then (another of its stacks just finished).
        self._nudges: dict[str, threading.Event] = {}
        # Set by the conductor service while its listener of Heat's notifications runs.
        self.notified = False
        # The listing bound: when each project's latest listing began (clock seconds), and
        # the projects whose listing is under way.
        self._listed: dict[str, float] = {}
        self._listing: set[str] = set()
        self._driver_rows: dict[str, Any] = {}

    # -- life cycle (periodic.PooledRounds) --------------------------------------------------

    def _pool_size(self) -> int:
        return CONF.conductor.reconcile_workers

    def start(self) -> None:
        """Run a round at once, then every `[conductor] reconcile_interval` seconds after the
        previous one ended (a futurist periodic task in a thread of its own)."""
        self._stop.clear()
        with self._lock:
            self._listing.clear()  # of checks a previous stop left queued, never run
        self._pool()
        interval = CONF.conductor.reconcile_interval
        self._run_rounds("conductor-reconciler", "reconcile", interval)
        LOG.info("Reconciler of %s started (every %ss)", self.host, interval)

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
                # A notification may have started a check of one since the round read it:
                # two checks at once could both act in the cloud (a second delete cancels
                # Heat's first).
                items = [item for item in items if item.cluster.uuid not in self._polling]
                if not items:
                    continue
                self._listing.add(project_id)
                self._polling.update(item.cluster.uuid for item in items)
                for item in items:
                    self._schedules[item.cluster.uuid].started = now
            try:
                self._submit(pool, self._check_group, driver, project_id, items)
            except RuntimeError:  # the pool was shut down: stopping
                with self._lock:
                    self._polling.difference_update(item.cluster.uuid for item in items)
                    self._listing.discard(project_id)
                break
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
                self._checked(item, False if self._stop.is_set()
                              else self._check_item(driver, item, snapshot))
        finally:
            self._done(item.cluster.uuid for item in items)

    def _check_item(self, driver: drivers_base.Driver, item: _Item, snapshot: Any) -> bool:
        """Check one cluster in the cloud (with the project's `snapshot`, or None: the
        driver reads on its own) and record what changed; True when something did."""
        if item.operation.kind == states.Kind.UPGRADE:
            return self._run_upgrade(driver, item)
        if item.operation.kind == states.Kind.REPAIR:
            return self._run_repair(driver, item)
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
            return self._record_error(item, err)
        if state.look_again is not None:
            with self._lock:
                schedule = self._schedules.get(item.cluster.uuid)
                if schedule is not None:
                    schedule.look_again = state.look_again
        try:
            return self._record(item, state)
        except exception.ClusterNotFound:
            return False  # deleted meanwhile (its delete finished): nothing to do
        except Exception:
            LOG.exception("Cluster %s: cannot record its state", item.cluster.uuid)
            return False

    def _done(self, cluster_uuids: Iterable[str]) -> None:
        """The checks of these clusters ended; one a notification asked for meanwhile (it
        may have come after the check read the cloud) is checked again at once."""
        with self._lock:
            done = set(cluster_uuids)
            self._polling.difference_update(done)
            again = done & self._again
            self._again.difference_update(again)
        for cluster_uuid in again:
            self.sync_now(cluster_uuid)

    # -- a check asked for (a notification) --------------------------------------------------

    def sync_now(self, cluster_uuid: str) -> bool:
        """Check one cluster in the cloud at once, because the cloud said one of its stacks
        finished a step (conductor/heat_events.py); True when a check will serve it (one
        started, or the cluster's check under way here looks again).

        Any conductor may run it, owner on the ring or not: it is the same level-triggered
        check as a round's, and what it records is fenced like a round's (the cluster's
        status and version, and its operation, must be those the check read: another
        conductor's check of the same moment writes once). An upgrade or a repair, whose
        checks also act in the cloud, is left to its owner's rounds. A cluster already being
        checked here is checked again when that check ends.
        """
        if self._stop.is_set():
            return False
        context = ml_context.get_admin_context()
        context.all_projects = True
        found = self._in_flight(context, cluster_uuid)
        if found is None:
            return False
        cluster, operation = found
        if operation.step != Step.FOLLOWING:
            return False  # its owner still drives it
        if (operation.kind in (states.Kind.UPGRADE, states.Kind.REPAIR)
                and not self.ring.owns(cluster_uuid)):
            return False
        templates: dict[str, Any] = {}
        plugin, config, _ = self._plugin(context, cluster, templates)
        if plugin is None:
            return False
        item = _Item(cluster, objects.NodeGroup.list_for_clusters(context, [cluster_uuid]),
                     operation, self._template(context, cluster, templates))
        pool = self._pool()
        if pool is None:
            return False
        with self._lock:
            if cluster_uuid in self._polling:
                self._again.add(cluster_uuid)
                nudge = self._nudges.get(cluster_uuid)
                if nudge is not None:
                    nudge.set()
                return True
            self._polling.add(cluster_uuid)
            schedule = self._schedules.get(cluster_uuid)
            if schedule is not None and schedule.key == (cluster.status, cluster.version,
                                                         operation.uuid):
                schedule.started = self._clock()
        try:
            self._submit(pool, self._check_asked, plugin(config), item)
        except RuntimeError:  # the pool was shut down: stopping
            with self._lock:
                self._polling.discard(cluster_uuid)
            return False
        return True

    def _check_asked(self, driver: drivers_base.Driver, item: _Item) -> None:
        """The check `sync_now` asked for. Heat sends a stack's notification before it
        stores the stack's new state: a check that finds no change looks again after each
        of ASKED_RECHECKS seconds, reading the cluster anew, until one finds a change. A
        notification of the same cluster meanwhile (its other stack finished) ends the wait
        at once, and its own rechecks follow."""
        cluster_uuid = item.cluster.uuid
        nudge = threading.Event()
        with self._lock:
            self._nudges[cluster_uuid] = nudge
        try:
            changed = self._check_item(driver, item, None)
            delays = iter(ASKED_RECHECKS)
            while not changed and not self._stop.is_set():
                delay = next(delays, None)
                if delay is None:
                    break
                if nudge.wait(delay):
                    delays = iter(ASKED_RECHECKS)
                with self._lock:
                    nudge.clear()
                    self._again.discard(cluster_uuid)
                if self._stop.is_set():
                    break
                again = self._reread(item)
                if again is None:
                    break
                item = again
                changed = self._check_item(driver, item, None)
            self._checked(item, changed)
        finally:
            with self._lock:
                self._nudges.pop(cluster_uuid, None)
            self._done([cluster_uuid])

    @staticmethod
    def _in_flight(context: Any, cluster_uuid: str) -> tuple[Any, Any] | None:
        """The cluster and its operation in flight (None without one), the cluster read
        after the operation: the conductor records a cloud's answer (the stack id, the join
        token) on the cluster in the transaction that moves its operation on, so a cluster
        row read before that operation row could be the one from before the answer."""
        try:
            cluster = objects.Cluster.get_by_uuid(context, cluster_uuid)
            operation = operations.ClusterOperation.current(context, cluster)
            if operation is None:
                return None
            cluster = objects.Cluster.get_by_uuid(context, cluster_uuid)
        except exception.ClusterNotFound:
            return None
        if cluster.operation_uuid != operation.uuid:
            return None  # that operation ended meanwhile
        return cluster, operation

    @classmethod
    def _reread(cls, item: _Item) -> _Item | None:
        """`item` as the database holds it now; None when its operation is over."""
        context = ml_context.get_admin_context()
        context.all_projects = True
        found = cls._in_flight(context, item.cluster.uuid)
        if found is None or found[1].uuid != item.operation.uuid:
            return None
        cluster, operation = found
        return _Item(cluster, objects.NodeGroup.list_for_clusters(context, [cluster.uuid]),
                     operation, item.template)

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
        if not clear_reason and not recording.state_differs(cluster, item.nodegroups, state):
            return False
        recording.record_state(poll_context(cluster), operation.kind, cluster.uuid, state,
                               expect=(cluster.status, cluster.version),
                               clear_reason=clear_reason, operation_uuid=operation.uuid)
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
            soon = schedule.look_again
            schedule.due = schedule.started + (schedule.delay if soon is None
                                               else min(schedule.delay, soon))
            schedule.look_again = None
            schedule.finished = now
            if not changed:
                schedule.delay = min(schedule.delay * BACKOFF_FACTOR,
                                     self._backoff_max(item.operation.kind))

    def _backoff_max(self, kind: str) -> float:
        """The longest delay between two polls of a cluster: longer while Heat's
        notifications tell of its stacks' changes (the poll is then only the safety net),
        but for an upgrade or a repair, which also wait on the COE's nodes."""
        longest = CONF.conductor.reconcile_backoff_max
        if self.notified and kind not in (states.Kind.UPGRADE, states.Kind.REPAIR):
            longest = max(longest, CONF.heat_notifications.steady_poll_interval)
        return max(longest, CONF.conductor.reconcile_backoff_base)

    def next_check(self, cluster_uuid: str) -> float | None:
        """When the cluster is next due (clock seconds), or None if not followed (tests)."""
        with self._lock:
            schedule = self._schedules.get(cluster_uuid)
            return None if schedule is None else schedule.due
