"""Server side of the conductor RPC API: the endpoints magnum-lite-conductor serves.

An endpoint only hands its work to a thread pool, so the RPC thread returns at once. The work
finds the cluster's driver plugin, asks it to act in the cloud and records the outcome with a
compare-and-swap write that retries when it races (`Cluster.update_with_retry`). Whatever goes
wrong ends in the operation's *_FAILED status with the cause as `status_reason` whenever the
database can be written: no cluster is left IN_PROGRESS by a failure here.
"""

from __future__ import annotations

from collections.abc import Callable
import concurrent.futures
import dataclasses
import threading
import time
from typing import Any

import futurist
from oslo_log import log as logging
import oslo_messaging as messaging
from oslo_utils import strutils

from magnum_lite import objects
from magnum_lite.common import context as ml_context
from magnum_lite.common import exception
from magnum_lite.drivers import base as drivers_base
from magnum_lite.drivers import loader
from magnum_lite.objects import fields

LOG = logging.getLogger(__name__)

# Must match ConductorAPI.RPC_API_VERSION; see the version history there.
RPC_API_VERSION = "1.0"

# The longest status_reason the conductor writes for an unexpected error.
MAX_REASON_LENGTH = 500

Status = fields.ClusterStatus


@dataclasses.dataclass(frozen=True)
class Operation:
    """One kind of cluster operation: its event type and its statuses."""

    name: str
    event_type: str
    in_progress: str
    failed: str


CREATE = Operation("create", "cluster.create", Status.CREATE_IN_PROGRESS, Status.CREATE_FAILED)
UPDATE = Operation("update", "cluster.update", Status.UPDATE_IN_PROGRESS, Status.UPDATE_FAILED)
DELETE = Operation("delete", "cluster.delete", Status.DELETE_IN_PROGRESS, Status.DELETE_FAILED)

# The status_reason of a cluster whose rows the conductor deleted without a cloud call.
NOTHING_IN_THE_CLOUD = "the cluster had no Heat stack: nothing to remove from the cloud"


class _Superseded(Exception):
    """The cluster moved on to another operation: this one must not write its outcome."""


@dataclasses.dataclass(eq=False)
class _Work:
    """A piece of work handed to the pool, and how far it got."""

    operation: Operation
    cluster_uuid: str
    context: Any
    state: str = "queued"  # queued -> running -> done, or queued -> abandoned
    future: concurrent.futures.Future | None = None


def _conductor_context(context: Any) -> ml_context.RequestContext:
    """The caller's identity and request id, allowed to read the cluster whatever its project.

    The API already checked policy; the conductor acts for it and reads public templates and
    driver rows owned by other projects.
    """
    values = context.to_dict() if hasattr(context, "to_dict") else dict(context)
    return ml_context.RequestContext.from_dict(values, is_admin=True, all_projects=True,
                                               overwrite=True)


def _reason_for(operation: Operation, err: Exception) -> str:
    """A status_reason for an unexpected error: its type and first line, no SQL, no secrets."""
    if isinstance(err, exception.MagnumLiteException):
        return str(err)
    text = (str(err).strip().splitlines() or [""])[0]
    # SQLAlchemy appends the statement and its parameters: never copy those into the API.
    text = text.split("[SQL:")[0].strip()
    text = strutils.mask_password(text)
    reason = f"{operation.name} failed in the conductor: {type(err).__name__}"
    if text:
        reason += f": {text}"
    return reason[:MAX_REASON_LENGTH]


class ConductorManager:
    """The conductor's RPC endpoints (Ironic's shape: a Target with the API version)."""

    RPC_API_VERSION = RPC_API_VERSION

    target = messaging.Target(version=RPC_API_VERSION)

    def __init__(self, host: str, workers: int = 8) -> None:
        self.host = host
        self._workers = workers
        self._lock = threading.Lock()
        self._executor: futurist.ThreadPoolExecutor | None = None
        self._work: set[_Work] = set()
        self._stopping = False

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Make the worker pool; RPC requests are accepted from here on."""
        with self._lock:
            self._executor = futurist.ThreadPoolExecutor(max_workers=self._workers)
            self._stopping = False

    def stop(self, timeout: float) -> list[str]:
        """Stop taking work and wait up to `timeout` seconds for the work in flight.

        Work still queued is not started: its clusters end in *_FAILED saying the conductor
        stopped. Returns the uuids of clusters whose work was still running at the deadline.
        """
        with self._lock:
            self._stopping = True
            executor, self._executor = self._executor, None
            abandoned = [w for w in self._work if w.state == "queued"]
            for work in abandoned:
                work.state = "abandoned"
                self._work.discard(work)
            running = [w for w in self._work if w.state == "running" and w.future is not None]
        if executor is not None:
            executor.shutdown(wait=False)
        waits = [w.future for w in running]
        if abandoned:
            # Writes to a database that may hang: in a thread, within the same deadline.
            failing: concurrent.futures.Future = concurrent.futures.Future()
            threading.Thread(target=self._fail_abandoned, args=(abandoned, failing),
                             name="conductor-abandon", daemon=True).start()
            waits.append(failing)
        if waits:
            LOG.info("Waiting up to %ss for %d operation(s) in flight", timeout, len(running))
            concurrent.futures.wait(waits, timeout=timeout)
        left = sorted(w.cluster_uuid for w in running if w.state == "running")
        if left:
            LOG.warning("Stopping with operations still running on clusters %s: the reconciler "
                        "of a live conductor takes them over", ", ".join(left))
        return left

    def _fail_abandoned(self, abandoned: list[_Work], done: concurrent.futures.Future) -> None:
        try:
            for work in abandoned:
                self._fail(work.context, work.operation, work.cluster_uuid,
                           f"the conductor on {self.host} stopped before the "
                           f"{work.operation.name} began; try again")
        finally:
            done.set_result(None)

    def _spawn(self, context: Any, operation: Operation, cluster_uuid: str,
               func: Callable[..., None], *args: Any) -> None:
        work = _Work(operation, cluster_uuid, _conductor_context(context))
        with self._lock:
            if self._stopping or self._executor is None:
                stopping = True
            else:
                stopping = False
                self._work.add(work)
                work.future = self._executor.submit(self._run, work, func, *args)
        if stopping:
            self._fail(work.context, operation, cluster_uuid,
                       f"the conductor on {self.host} was stopping; try again")
            raise exception.ServiceUnavailable(what=f"The conductor on {self.host}",
                                               reason="it is stopping")
        LOG.debug("Cluster %s: %s queued", cluster_uuid, operation.name)

    def _run(self, work: _Work, func: Callable[..., None], *args: Any) -> None:
        with self._lock:
            if work.state != "queued":
                return
            work.state = "running"
        context = work.context
        context.update_store()  # oslo.log then shows the request id on this thread's lines
        started = time.monotonic()
        try:
            func(context, work.cluster_uuid, *args)
        except exception.ClusterNotFound:
            LOG.info("Cluster %s is gone: nothing left to %s", work.cluster_uuid,
                     work.operation.name)
        except exception.MagnumLiteException as err:
            # A cause we know and can state (quota, invalid input, a missing template).
            LOG.warning("Cluster %s: %s failed: %s", work.cluster_uuid, work.operation.name,
                        err)
            self._fail(context, work.operation, work.cluster_uuid,
                       _reason_for(work.operation, err))
        except Exception as err:
            LOG.exception("Cluster %s: %s failed", work.cluster_uuid, work.operation.name)
            self._fail(context, work.operation, work.cluster_uuid,
                       _reason_for(work.operation, err))
        finally:
            with self._lock:
                work.state = "done"
                self._work.discard(work)
            LOG.debug("Cluster %s: %s handled in %.3fs", work.cluster_uuid,
                      work.operation.name, time.monotonic() - started)

    # -- RPC endpoints -----------------------------------------------------------------------

    @messaging.expected_exceptions(exception.ServiceUnavailable)
    def cluster_create(self, context: Any, cluster_uuid: str, create_timeout: int) -> None:
        """Build the cluster in the cloud (in the background)."""
        self._spawn(context, CREATE, cluster_uuid, self._create, create_timeout)

    @messaging.expected_exceptions(exception.ServiceUnavailable)
    def cluster_update(self, context: Any, cluster_uuid: str, node_count: int,
                       rollback: bool = False) -> None:
        """Resize the cluster to `node_count` workers (in the background)."""
        self._spawn(context, UPDATE, cluster_uuid, self._update, node_count, rollback)

    @messaging.expected_exceptions(exception.ServiceUnavailable)
    def cluster_delete(self, context: Any, cluster_uuid: str) -> None:
        """Remove the cluster from the cloud and the database (in the background)."""
        self._spawn(context, DELETE, cluster_uuid, self._delete)

    # -- the work ----------------------------------------------------------------------------

    def _create(self, context: Any, cluster_uuid: str, create_timeout: int) -> None:
        cluster = objects.Cluster.get_by_uuid(context, cluster_uuid)
        template = objects.ClusterTemplate.get_by_uuid(context, cluster.cluster_template_id)
        driver = self._driver_for(context, cluster, template, CREATE)
        if driver is None:
            return
        LOG.info("Cluster %s: creating with driver plugin %s", cluster_uuid,
                 type(driver).__name__)
        state = driver.create(context, cluster, template, timeout=create_timeout)
        self._record(context, CREATE, cluster_uuid, state)

    def _update(self, context: Any, cluster_uuid: str, node_count: int, rollback: bool) -> None:
        cluster = objects.Cluster.get_by_uuid(context, cluster_uuid)
        template = objects.ClusterTemplate.get_by_uuid(context, cluster.cluster_template_id)
        driver = self._driver_for(context, cluster, template, UPDATE)
        if driver is None:
            return
        LOG.info("Cluster %s: resizing to %d workers (rollback %s)", cluster_uuid, node_count,
                 rollback)
        state = driver.update(context, cluster, template, node_count=node_count,
                              rollback=rollback)
        self._record(context, UPDATE, cluster_uuid, state)

    def _delete(self, context: Any, cluster_uuid: str) -> None:
        cluster = objects.Cluster.get_by_uuid(context, cluster_uuid)
        if cluster.stack_id is None:
            self._destroy(context, cluster_uuid)
            return
        template = objects.ClusterTemplate.get_by_uuid(context, cluster.cluster_template_id)
        driver = self._driver_for(context, cluster, template, DELETE)
        if driver is None:
            return
        LOG.info("Cluster %s: deleting stack %s", cluster_uuid, cluster.stack_id)
        state = driver.delete(context, cluster)
        self._record(context, DELETE, cluster_uuid, state)

    def _destroy(self, context: Any, cluster_uuid: str) -> None:
        """Delete the rows of a cluster that has nothing in the cloud; its events stay."""
        cluster = self._finish(context, DELETE, cluster_uuid, Status.DELETE_COMPLETE,
                               NOTHING_IN_THE_CLOUD)
        if cluster is None:
            return
        cluster.destroy()
        LOG.info("Cluster %s deleted (it had no stack)", cluster_uuid)

    # -- drivers -----------------------------------------------------------------------------

    def _driver_for(self, context: Any, cluster: Any, template: Any,
                    operation: Operation) -> drivers_base.Driver | None:
        """The cluster's driver, bound to its config; None after failing the operation."""
        plugin: type[drivers_base.Driver] | None = None
        config = None
        if cluster.driver_id:
            # The cluster is pinned to one Driver version: its plugin and its config.
            try:
                row = objects.Driver.get_by_uuid(context, cluster.driver_id)
            except exception.DriverNotFound:
                row = None
            if row is not None:
                plugin, config = loader.get_plugin(row.plugin_name), row.config
                if plugin is None:
                    LOG.error("Cluster %s: driver %s version %s needs plugin %s, which is not "
                              "installed", cluster.uuid, row.name, row.version, row.plugin_name)
        else:
            found = loader.find_plugin(template.server_type, template.cluster_distro,
                                       template.coe)
            plugin = found[1] if found else None
        if plugin is None:
            reason = str(exception.NoDriverInstalled(server_type=template.server_type,
                                                     distro=template.cluster_distro,
                                                     coe=template.coe))
            LOG.warning("Cluster %s: %s failed: %s", cluster.uuid, operation.name, reason)
            self._fail(context, operation, cluster.uuid, reason)
            return None
        return plugin(config)

    # -- recording outcomes ------------------------------------------------------------------

    def _record(self, context: Any, operation: Operation, cluster_uuid: str,
                state: drivers_base.ClusterState) -> None:
        """Write what the driver reported; the reconciler follows a status still in progress."""
        changes = {name: getattr(state, name)
                   for name in ("stack_id", "api_address", "coe_version")
                   if getattr(state, name) is not None}
        self._finish(context, operation, cluster_uuid, state.status or operation.in_progress,
                     state.status_reason, **changes)

    def _fail(self, context: Any, operation: Operation, cluster_uuid: str,
              reason: str) -> None:
        """End the operation in its *_FAILED status, if the database lets us."""
        try:
            self._finish(context, operation, cluster_uuid, operation.failed, reason)
        except exception.ClusterNotFound:
            LOG.info("Cluster %s is gone: its %s failure is not recorded", cluster_uuid,
                     operation.name)
        except Exception:
            LOG.exception("Cluster %s: could not record that its %s failed (%s); the "
                          "reconciler will find it", cluster_uuid, operation.name, reason)

    def _finish(self, context: Any, operation: Operation, cluster_uuid: str, status: str,
                reason: str | None, **changes: Any) -> Any:
        """Set status (and `changes`) with a retried compare-and-swap; record an event when
        the status changes. Returns the cluster, or None when another operation took over."""
        previous: list[str | None] = []

        def mutate(cluster: Any) -> None:
            if (cluster.status in Status.IN_PROGRESS and cluster.status != operation.in_progress
                    and cluster.status != status):
                raise _Superseded(cluster.status)
            previous[:] = [cluster.status]
            cluster.status = status
            cluster.status_reason = reason
            for name, value in changes.items():
                setattr(cluster, name, value)

        try:
            cluster = objects.Cluster.update_with_retry(context, cluster_uuid, mutate)
        except _Superseded as superseded:
            LOG.warning("Cluster %s is %s now: the outcome of its %s (%s) is not recorded",
                        cluster_uuid, superseded, operation.name, status)
            return None
        if previous != [status]:
            cluster.record_event(context, operation.event_type)
        LOG.info("Cluster %s: %s (%s)", cluster_uuid, status, reason)
        return cluster
