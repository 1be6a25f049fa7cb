"""Server side of the conductor RPC API: the endpoints magnum-lite-conductor serves.

An endpoint only hands its work to a thread pool, so the RPC thread returns at once. The work
finds the cluster's driver plugin, asks it to act in the cloud and records the ClusterState it
returns with `record_state` (compare-and-swap writes that retry when they race), the one
function that also records what the reconciler (conductor/reconciler.py) later reads from the
cloud. Whatever goes wrong ends in the operation's *_FAILED status with the cause as
`status_reason` whenever the database can be written: no cluster is left IN_PROGRESS by a
failure here.

Credentials (conductor/credentials.py) are made before the driver builds anything (the
cluster's CAs, its trustee and trust) and released when its rows go.

RPC API history: see rpcapi.ConductorAPI (1.1 added nodegroup_uuid and nodes_to_remove to
cluster_update; 1.2 the certificate and credentials endpoints; 1.3 nodegroup_create and
nodegroup_delete, run as updates of the cluster).
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
from magnum_lite.common import encryption, exception
from magnum_lite.conductor import credentials
from magnum_lite.drivers import base as drivers_base
from magnum_lite.drivers import loader
from magnum_lite.objects import fields

LOG = logging.getLogger(__name__)

# Must match ConductorAPI.RPC_API_VERSION; see the version history there.
RPC_API_VERSION = "1.3"

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

    @property
    def started_event(self) -> str:
        """The event the conductor records once the cloud accepted the operation."""
        return self.event_type + ".started"


CREATE = Operation("create", "cluster.create", Status.CREATE_IN_PROGRESS, Status.CREATE_FAILED)
UPDATE = Operation("update", "cluster.update", Status.UPDATE_IN_PROGRESS, Status.UPDATE_FAILED)
DELETE = Operation("delete", "cluster.delete", Status.DELETE_IN_PROGRESS, Status.DELETE_FAILED)
# A failed update Heat rolls back: it is followed (and times out) like an update.
ROLLBACK = Operation("rollback", "cluster.update", Status.ROLLBACK_IN_PROGRESS,
                     Status.ROLLBACK_FAILED)
OPERATIONS = {op.in_progress: op for op in (CREATE, UPDATE, DELETE, ROLLBACK)}
# The events that hand an operation over to the reconcilers: until one is recorded for the
# cluster's current version, the cloud may still show the previous operation's outcome
# (the stack of a cluster being resized still says UPDATE_COMPLETE from the last resize).
STARTED_EVENTS = (CREATE.started_event, UPDATE.started_event, DELETE.started_event)

# What a ClusterState may set on the cluster row and on a nodegroup row (None: unchanged).
CLUSTER_STATE_FIELDS = ("stack_id", "api_address", "coe_version", "join_token")
# Fields stored encrypted (common/encryption.py).
SECRET_STATE_FIELDS = ("join_token",)
NODEGROUP_STATE_FIELDS = ("status", "status_reason", "stack_id", "node_addresses", "node_count")

# The status_reason of a cluster whose rows the conductor deleted without a cloud call.
NOTHING_IN_THE_CLOUD = "the cluster had no Heat stack: nothing to remove from the cloud"
# The status_reason of an update whose nodegroup is gone.
NODEGROUP_GONE = "nodegroup %s of the cluster does not exist (any more)"


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


def operation_for(status: str | None) -> Operation | None:
    """The operation a cluster in `status` (an *_IN_PROGRESS status) is in, or None."""
    return OPERATIONS.get(status or "")


# -- recording what the cloud said (the manager and the reconciler) ------------------------

def state_differs(cluster: Any, nodegroups: list[Any], state: drivers_base.ClusterState
                  ) -> bool:
    """Whether recording `state` would change the cluster or one of its `nodegroups`."""
    if state.status is not None and state.status != cluster.status:
        return True
    if state.status_reason is not None and state.status_reason != cluster.status_reason:
        return True
    if any(getattr(state, name) is not None and getattr(state, name) != getattr(cluster, name)
           for name in CLUSTER_STATE_FIELDS if name not in SECRET_STATE_FIELDS):
        return True
    by_uuid = {ng.uuid: ng for ng in nodegroups}
    for uuid, ng_state in state.nodegroups.items():
        nodegroup = by_uuid.get(uuid)
        if nodegroup is not None and _nodegroup_changes(nodegroup, ng_state):
            return True
    return False


def _nodegroup_changes(nodegroup: Any, ng_state: drivers_base.NodeGroupState) -> dict:
    changes = {}
    for name in NODEGROUP_STATE_FIELDS:
        value = getattr(ng_state, name)
        if value is None:
            continue
        if name == "node_addresses":
            value = list(value)
        if value != getattr(nodegroup, name):
            changes[name] = value
    return changes


def _record_nodegroups(context: Any, cluster_uuid: str,
                       states: dict[str, drivers_base.NodeGroupState]) -> None:
    for uuid, ng_state in states.items():
        if ng_state.status == Status.DELETE_COMPLETE:
            _destroy_nodegroup(context, cluster_uuid, uuid)
            continue

        def mutate(nodegroup: Any, ng_state: drivers_base.NodeGroupState = ng_state) -> None:
            for name, value in _nodegroup_changes(nodegroup, ng_state).items():
                setattr(nodegroup, name, value)

        try:
            objects.NodeGroup.update_with_retry(context, cluster_uuid, uuid, mutate)
        except exception.NodeGroupNotFound:
            LOG.info("Cluster %s: nodegroup %s is gone: its state is not recorded",
                     cluster_uuid, uuid)


def _destroy_nodegroup(context: Any, cluster_uuid: str, uuid: str) -> None:
    """Remove the row of a nodegroup whose stacks are gone (a nodegroup delete is done)."""
    try:
        objects.NodeGroup.get(context, cluster_uuid, uuid).destroy()
    except exception.NodeGroupNotFound:
        return  # recorded once already (another conductor, an earlier poll)
    LOG.info("Cluster %s: nodegroup %s deleted", cluster_uuid, uuid)


def finish_operation(context: Any, operation: Operation, cluster_uuid: str, status: str,
                     reason: str | None, expect: tuple[str, int] | None = None,
                     clear_reason: bool = False, **changes: Any) -> Any:
    """Set status (and `changes`) with a retried compare-and-swap; record an event when the
    status changes. Returns the cluster, or None when another operation took over.

    A None `reason` keeps the current status_reason while the status stays (unless
    `clear_reason`) and clears it when the status changes: a reason belongs to its status.
    With `expect` = (status, version), the write happens only while the cluster still has
    them (the reconciler's guard against a poll that raced a new operation).
    """
    previous: list[str | None] = []

    def mutate(cluster: Any) -> None:
        if expect is not None and (cluster.status, cluster.version) != expect:
            raise _Superseded(f"{cluster.status} (version {cluster.version})")
        if (cluster.status in Status.IN_PROGRESS and cluster.status != operation.in_progress
                and cluster.status != status):
            raise _Superseded(cluster.status)
        previous[:] = [cluster.status]
        if reason is not None or clear_reason or cluster.status != status:
            cluster.status_reason = reason
        cluster.status = status
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
    LOG.info("Cluster %s: %s (%s)", cluster_uuid, status, cluster.status_reason)
    return cluster


def record_state(context: Any, operation: Operation, cluster_uuid: str,
                 state: drivers_base.ClusterState, expect: tuple[str, int] | None = None,
                 clear_reason: bool = False) -> Any:
    """Record what a driver reported: each NodeGroupState on its nodegroup row, then the
    cluster's status, reason and fields (an event when the status changes); DELETE_COMPLETE
    removes the cluster's rows (its events stay).

    The one writer of driver states, for the manager (what create/update/delete returned)
    and the reconciler (what get_status found). Returns the cluster, or None when it moved on
    to another operation (then nothing is written).
    """
    status = state.status or operation.in_progress
    if status == Status.DELETE_COMPLETE:
        waiting = _release_credentials(context, cluster_uuid)
        if waiting is not None:
            status, state = operation.in_progress, dataclasses.replace(
                state, status=operation.in_progress, status_reason=waiting)
    if state.nodegroups:
        if expect is not None:
            current = objects.Cluster.get_by_uuid(context, cluster_uuid)
            if (current.status, current.version) != expect:
                LOG.warning("Cluster %s is %s now: the state of its %s is not recorded",
                            cluster_uuid, current.status, operation.name)
                return None
        _record_nodegroups(context, cluster_uuid, state.nodegroups)
    changes = {name: getattr(state, name) for name in CLUSTER_STATE_FIELDS
               if getattr(state, name) is not None}
    for name in SECRET_STATE_FIELDS:
        if name in changes:
            changes[name] = encryption.encrypt(changes[name])
    cluster = finish_operation(context, operation, cluster_uuid, status, state.status_reason,
                               expect=expect, clear_reason=clear_reason, **changes)
    if cluster is not None and status == Status.DELETE_COMPLETE:
        try:
            cluster.destroy()
        except exception.ClusterNotFound:
            pass  # another conductor removed it first
        LOG.info("Cluster %s deleted", cluster_uuid)
    return cluster


def _release_credentials(context: Any, cluster_uuid: str) -> str | None:
    """Delete the trustee and trust of a cluster whose cloud resources are gone. None when
    done (or nothing to do); a status_reason when Keystone did not answer and the delete
    must wait for the next check."""
    try:
        cluster = objects.Cluster.get_by_uuid(context, cluster_uuid)
    except exception.ClusterNotFound:
        return None
    try:
        credentials.release(context, cluster)
    except exception.CloudUnreachable as err:
        return f"the cluster's stacks are deleted, its trustee user not yet: {err}; still trying"
    except Exception as err:  # noqa: BLE001 - trying again would not help: say it and go on
        LOG.warning("Cluster %s: its trustee user %s and trust %s are left in Keystone: %s",
                    cluster_uuid, cluster.trustee_user_id, cluster.trust_id, err)
    return None


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
                       rollback: bool = False, nodegroup_uuid: str | None = None,
                       nodes_to_remove: list[str] | None = None) -> None:
        """Resize a worker nodegroup (the default one for None) to `node_count` nodes,
        removing `nodes_to_remove` first (in the background). 1.1: nodegroup_uuid,
        nodes_to_remove."""
        self._spawn(context, UPDATE, cluster_uuid, self._update, node_count, rollback,
                    nodegroup_uuid, list(nodes_to_remove) if nodes_to_remove else None)

    @messaging.expected_exceptions(exception.ServiceUnavailable)
    def cluster_delete(self, context: Any, cluster_uuid: str) -> None:
        """Remove the cluster from the cloud and the database (in the background)."""
        self._spawn(context, DELETE, cluster_uuid, self._delete)

    @messaging.expected_exceptions(exception.ServiceUnavailable)
    def nodegroup_create(self, context: Any, cluster_uuid: str, nodegroup_uuid: str) -> None:
        """Build a nodegroup added to the cluster, as an update of it (in the background).
        1.3"""
        self._spawn(context, UPDATE, cluster_uuid, self._nodegroup, nodegroup_uuid, "create")

    @messaging.expected_exceptions(exception.ServiceUnavailable)
    def nodegroup_delete(self, context: Any, cluster_uuid: str, nodegroup_uuid: str) -> None:
        """Remove a nodegroup from the cluster, as an update of it (in the background). 1.3"""
        self._spawn(context, UPDATE, cluster_uuid, self._nodegroup, nodegroup_uuid, "delete")

    @messaging.expected_exceptions(exception.ServiceUnavailable)
    def rotate_ca_certificate(self, context: Any, cluster_uuid: str) -> None:
        """Give the cluster a new CA and push it to its nodes (in the background). 1.2"""
        self._spawn(context, UPDATE, cluster_uuid, self._rotate, "ca")

    @messaging.expected_exceptions(exception.ServiceUnavailable)
    def rotate_credentials(self, context: Any, cluster_uuid: str, push: bool = True) -> None:
        """Replace the cluster's trustee and trust with ones from the caller and push them
        to its nodes, unless `push` is False (an operation in progress needs a working trust
        now; it goes on with the new one). In the background. 1.2"""
        self._spawn(context, UPDATE, cluster_uuid, self._rotate,
                    "trustee" if push else "trustee only")

    @messaging.expected_exceptions(exception.MagnumLiteException)
    def sign_certificate(self, context: Any, cluster_uuid: str, csr: str) -> str:
        """A client certificate for the caller from their CSR, signed by the cluster's CA
        (a call: answered at once). 1.2"""
        ctx = _conductor_context(context)
        cluster = objects.Cluster.get_by_uuid(ctx, cluster_uuid)
        return credentials.sign(ctx, cluster, csr)

    def in_flight(self, cluster_uuid: str) -> bool:
        """Whether an operation on the cluster is queued or running here (the reconciler
        leaves such a cluster alone until the operation recorded its start)."""
        with self._lock:
            return any(w.cluster_uuid == cluster_uuid for w in self._work)

    # -- the work ----------------------------------------------------------------------------

    def _create(self, context: Any, cluster_uuid: str, create_timeout: int) -> None:
        cluster = objects.Cluster.get_by_uuid(context, cluster_uuid)
        template = objects.ClusterTemplate.get_by_uuid(context, cluster.cluster_template_id)
        driver = self._driver_for(context, cluster, template, CREATE)
        if driver is None:
            return
        nodegroups = objects.NodeGroup.list_for_clusters(context, [cluster_uuid])
        if not template.tls_disabled:
            cluster = credentials.ensure_cas(context, cluster, template.coe)
        cluster = credentials.ensure_trustee(context, cluster)
        LOG.info("Cluster %s: creating with driver plugin %s", cluster_uuid,
                 type(driver).__name__)
        state = driver.create(context, cluster, template, nodegroups, timeout=create_timeout,
                              credentials=credentials.loader(context, cluster, template.coe))
        self._record(context, CREATE, cluster_uuid, state)

    def _update(self, context: Any, cluster_uuid: str, node_count: int, rollback: bool,
                nodegroup_uuid: str | None = None,
                nodes_to_remove: list[str] | None = None) -> None:
        cluster = objects.Cluster.get_by_uuid(context, cluster_uuid)
        nodegroups = objects.NodeGroup.list_for_clusters(context, [cluster_uuid])
        nodegroup = _worker_nodegroup(nodegroups, nodegroup_uuid)
        if nodegroup is None:
            self._fail(context, UPDATE, cluster_uuid,
                       NODEGROUP_GONE % (nodegroup_uuid or "default-worker"))
            return
        template = objects.ClusterTemplate.get_by_uuid(context, cluster.cluster_template_id)
        driver = self._driver_for(context, cluster, template, UPDATE)
        if driver is None:
            return
        LOG.info("Cluster %s: resizing nodegroup %s to %d nodes (removing %s; rollback %s)",
                 cluster_uuid, nodegroup.name, node_count, nodes_to_remove or "none", rollback)
        state = driver.update(context, cluster, template, nodegroup, node_count,
                              nodes_to_remove=nodes_to_remove, rollback=rollback,
                              credentials=credentials.loader(context, cluster, template.coe))
        self._record(context, UPDATE, cluster_uuid, state)

    def _nodegroup(self, context: Any, cluster_uuid: str, nodegroup_uuid: str,
                   action: str) -> None:
        """Have the driver build (`action` = "create") or remove ("delete") one nodegroup;
        the cluster is UPDATE_IN_PROGRESS meanwhile and the reconciler follows it."""
        cluster = objects.Cluster.get_by_uuid(context, cluster_uuid)
        try:
            nodegroup = objects.NodeGroup.get(context, cluster_uuid, nodegroup_uuid)
        except exception.NodeGroupNotFound:
            self._fail(context, UPDATE, cluster_uuid, NODEGROUP_GONE % nodegroup_uuid)
            return
        template = objects.ClusterTemplate.get_by_uuid(context, cluster.cluster_template_id)
        driver = self._driver_for(context, cluster, template, UPDATE)
        if driver is None:
            return
        LOG.info("Cluster %s: %s nodegroup %s", cluster_uuid,
                 "creating" if action == "create" else "deleting", nodegroup.name)
        try:
            if action == "create":
                state = driver.create_nodegroup(
                    context, cluster, template, nodegroup,
                    credentials=credentials.loader(context, cluster, template.coe))
            else:
                state = driver.delete_nodegroup(context, cluster, nodegroup)
        except exception.MagnumLiteException as err:
            # The cloud refused or did not answer: the nodegroup fails with the cluster's
            # update (a delete may be asked again).
            failed = Status.CREATE_FAILED if action == "create" else Status.DELETE_FAILED
            state = drivers_base.ClusterState(
                status=UPDATE.failed, status_reason=str(err), nodegroups={
                    nodegroup_uuid: drivers_base.NodeGroupState(status=failed,
                                                                status_reason=str(err))})
        self._record(context, UPDATE, cluster_uuid, state)

    def _rotate(self, context: Any, cluster_uuid: str, what: str) -> None:
        """Replace the cluster's CA (`what` = "ca") or trustee ("trustee"), then have the
        driver push the new credentials to the nodes ("trustee only": no push)."""
        cluster = objects.Cluster.get_by_uuid(context, cluster_uuid)
        template = objects.ClusterTemplate.get_by_uuid(context, cluster.cluster_template_id)
        driver = self._driver_for(context, cluster, template, UPDATE)
        if driver is None:
            return
        if what == "ca":
            cluster = credentials.replace_ca(context, cluster)
        else:
            cluster = credentials.replace_trustee(context, cluster)
            if what == "trustee only":
                # A broken trust replaced during another operation, which goes on with it:
                # the nodes get the new trustee with the next rotation.
                LOG.info("Cluster %s: trust replaced during its %s", cluster_uuid,
                         cluster.status)
                return
        nodegroups = objects.NodeGroup.list_for_clusters(context, [cluster_uuid])
        LOG.info("Cluster %s: new %s; updating its nodes", cluster_uuid, what)
        state = driver.rotate_ca_certificate(
            context, cluster, template, nodegroups,
            credentials=credentials.loader(context, cluster, template.coe))
        self._record(context, UPDATE, cluster_uuid, state)

    def _delete(self, context: Any, cluster_uuid: str) -> None:
        cluster = objects.Cluster.get_by_uuid(context, cluster_uuid)
        nodegroups = objects.NodeGroup.list_for_clusters(context, [cluster_uuid])
        # A cluster pinned to a driver goes through it even without a recorded stack: a
        # conductor stopped in the middle of a create may have left stacks it never recorded,
        # and the driver finds them (a missing stack counts as deleted). Only a cluster with
        # no stack recorded and no driver to ask is removed from the database alone.
        has_stack = bool(cluster.stack_id) or any(ng.stack_id for ng in nodegroups)
        if not has_stack and (not cluster.driver_id or not self._reached_the_cloud(context,
                                                                                   cluster)):
            self._destroy(context, cluster_uuid)
            return
        template = objects.ClusterTemplate.get_by_uuid(context, cluster.cluster_template_id)
        driver = self._driver_for(context, cluster, template, DELETE, fail=has_stack)
        if driver is None:
            if not has_stack:
                self._destroy(context, cluster_uuid)
            return
        LOG.info("Cluster %s: deleting (stack %s)", cluster_uuid, cluster.stack_id)
        state = driver.delete(context, cluster, nodegroups)
        self._record(context, DELETE, cluster_uuid, state)

    @staticmethod
    def _reached_the_cloud(context: Any, cluster: Any) -> bool:
        """Whether a driver ever accepted work for the cluster (an operation started).

        A cluster whose create failed before the driver accepted it (no Heat, a refused
        parameter) has nothing in the cloud to look for. (A conductor killed between Heat
        accepting the stack and recording it leaves a stack this cannot see.)
        """
        events = objects.ClusterEvent.list(context, cluster.uuid)
        return any(e.event_type in STARTED_EVENTS for e in events)

    def _destroy(self, context: Any, cluster_uuid: str) -> None:
        """Delete the rows of a cluster that has nothing in the cloud; its events stay."""
        waiting = _release_credentials(context, cluster_uuid)
        if waiting is not None:
            self._fail(context, DELETE, cluster_uuid, waiting)
            return
        cluster = self._finish(context, DELETE, cluster_uuid, Status.DELETE_COMPLETE,
                               NOTHING_IN_THE_CLOUD)
        if cluster is None:
            return
        cluster.destroy()
        LOG.info("Cluster %s deleted (it had no stack)", cluster_uuid)

    # -- drivers -----------------------------------------------------------------------------

    def _driver_for(self, context: Any, cluster: Any, template: Any,
                    operation: Operation, fail: bool = True) -> drivers_base.Driver | None:
        """The cluster's driver, bound to its config; None (after failing the operation when
        `fail`) when none is installed."""
        driver = driver_for(context, cluster, template)
        if driver is None and fail:
            reason = str(exception.NoDriverInstalled(server_type=template.server_type,
                                                     distro=template.cluster_distro,
                                                     coe=template.coe))
            LOG.warning("Cluster %s: %s failed: %s", cluster.uuid, operation.name, reason)
            self._fail(context, operation, cluster.uuid, reason)
        return driver

    # -- recording outcomes ------------------------------------------------------------------

    def _record(self, context: Any, operation: Operation, cluster_uuid: str,
                state: drivers_base.ClusterState) -> None:
        """Write what the driver reported; the reconciler follows a status still in progress
        from the `started_event` recorded here on."""
        cluster = record_state(context, operation, cluster_uuid, state)
        if cluster is not None and cluster.status == operation.in_progress:
            cluster.record_event(context, operation.started_event)

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
        return finish_operation(context, operation, cluster_uuid, status, reason, **changes)


def _worker_nodegroup(nodegroups: list[Any], nodegroup_uuid: str | None) -> Any:
    """The nodegroup a resize is for: the given one, or the default worker nodegroup."""
    if nodegroup_uuid is not None:
        return next((ng for ng in nodegroups if ng.uuid == nodegroup_uuid), None)
    workers = [ng for ng in nodegroups if ng.role != fields.NodeGroupRole.MASTER]
    return next((ng for ng in workers if ng.is_default), workers[0] if workers else None)


def plugin_for(context: Any, cluster: Any, template: Any = None,
               driver_rows: dict[str, Any] | None = None
               ) -> tuple[type[drivers_base.Driver] | None, dict | None, str]:
    """(plugin class, config, key) of the cluster's driver; the class is None when none is
    installed. The key names the plugin and config, for grouping clusters by driver.

    A cluster pinned to a Driver version uses that version's plugin and config; an older
    cluster without one the plugin that provides its template's (server_type, distro, coe).
    `driver_rows` caches Driver rows by uuid (a version's plugin and config never change).
    """
    if cluster.driver_id:
        row = None if driver_rows is None else driver_rows.get(cluster.driver_id)
        if row is None:
            try:
                row = objects.Driver.get_by_uuid(context, cluster.driver_id)
            except exception.DriverNotFound:
                return None, None, f"driver:{cluster.driver_id}"
            if driver_rows is not None:
                driver_rows[cluster.driver_id] = row
        plugin = loader.get_plugin(row.plugin_name)
        if plugin is None:
            LOG.error("Cluster %s: driver %s version %s needs plugin %s, which is not "
                      "installed", cluster.uuid, row.name, row.version, row.plugin_name)
        return plugin, row.config, f"driver:{row.uuid}"
    if template is None:
        template = objects.ClusterTemplate.get_by_uuid(context, cluster.cluster_template_id)
    found = loader.find_plugin(template.server_type, template.cluster_distro, template.coe)
    if found is None:
        return None, None, "none"
    return found[1], None, f"plugin:{found[0]}"


def driver_for(context: Any, cluster: Any, template: Any = None) -> drivers_base.Driver | None:
    """The cluster's driver plugin bound to its config, or None when none is installed."""
    plugin, config, _key = plugin_for(context, cluster, template)
    return None if plugin is None else plugin(config)
