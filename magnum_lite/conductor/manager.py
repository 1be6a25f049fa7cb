"""Server side of the conductor RPC API: the endpoints magnum-lite-conductor serves.

An endpoint only hands its work to a thread pool, so the RPC thread returns at once. The work
finds the cluster's driver plugin, asks it to act in the cloud and records the ClusterState it
returns with `recording.record_state` (compare-and-swap writes that retry when they race), the one
function that also records what the reconciler (conductor/reconciler.py) later reads from the
cloud. Whatever goes wrong ends in the operation's *_FAILED status with the cause as
`status_reason` whenever the database can be written: no cluster is left IN_PROGRESS by a
failure here.

Credentials (conductor/credentials.py) are made before the driver builds anything (the
cluster's CAs, its trustee and trust) and released when its rows go.

RPC API history: see rpcapi.ConductorAPI (1.1 added nodegroup_uuid and nodes_to_remove to
cluster_update; 1.2 the certificate and credentials endpoints; 1.3 nodegroup_create and
nodegroup_delete, run as updates of the cluster; 1.4 cluster_upgrade; 1.5 the dry runs,
calls answered at once that change nothing: conductor/dry_run.py; 1.6 repair_plan and
cluster_repair: conductor/repair.py).
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
from magnum_lite.common import driver_factory, exception, failpoints, states
from magnum_lite.conductor import credentials, dry_run, recording, repair, upgrade
from magnum_lite.conf import CONF
from magnum_lite.drivers import base as drivers_base
from magnum_lite.objects import cluster_operation as operations
from magnum_lite.objects import fields

LOG = logging.getLogger(__name__)

# Must match ConductorAPI.RPC_API_VERSION; see the version history there.
RPC_API_VERSION = "1.6"

# The longest status_reason the conductor writes for an unexpected error.
MAX_REASON_LENGTH = 500

Status = fields.ClusterStatus
Kind = states.Kind
Step = states.Step
Fault = states.Fault

# The status_reason of a cluster whose rows the conductor deleted without a cloud call.
NOTHING_IN_THE_CLOUD = "the cluster had no Heat stack: nothing to remove from the cloud"
# The status_reason of an update whose nodegroup is gone.
NODEGROUP_GONE = "nodegroup %s of the cluster does not exist (any more)"


@dataclasses.dataclass(eq=False)
class _Work:
    """A piece of work handed to the pool, and how far it got here (the operation's own
    step is on its record)."""

    kind: str
    cluster_uuid: str
    context: Any
    state: str = "queued"  # queued -> running -> done, or queued -> abandoned
    future: concurrent.futures.Future | None = None
    operation: Any = None  # the ClusterOperation it works for (once claimed)
    #: Side work during another operation (a trust replaced while it runs): no record.
    side: bool = False
    #: Taken over from its record (its owner may be this conductor before a restart).
    retake: bool = False

    @property
    def operation_uuid(self) -> str | None:
        return None if self.operation is None else self.operation.uuid

    @property
    def owner(self) -> str | None:
        """The owner its writes expect on the operation (fencing: a conductor whose work was
        taken over writes nothing more)."""
        return None if self.operation is None else self.operation.owner


class _MovedOn(Exception):
    """The cluster is in no operation of the work's kind (another one started)."""


def _conductor_context(context: Any) -> ml_context.RequestContext:
    """The caller's identity and request id, allowed to read the cluster whatever its project.

    The API already checked policy; the conductor acts for it and reads public templates and
    driver rows owned by other projects.
    """
    values = context.to_dict() if hasattr(context, "to_dict") else dict(context)
    return ml_context.RequestContext.from_dict(values, is_admin=True, all_projects=True,
                                               overwrite=True)


def _reason_for(kind: str, err: Exception) -> str:
    """A status_reason for an unexpected error: its type and first line, no SQL, no secrets."""
    if isinstance(err, exception.MagnumLiteException):
        return str(err)
    text = (str(err).strip().splitlines() or [""])[0]
    # SQLAlchemy appends the statement and its parameters: never copy those into the API.
    text = text.split("[SQL:")[0].strip()
    text = strutils.mask_password(text)
    reason = f"{_name(kind)} failed in the conductor: {type(err).__name__}"
    if text:
        reason += f": {text}"
    return reason[:MAX_REASON_LENGTH]


def _name(kind: str) -> str:
    """How status reasons name an operation of `kind` (an update-like one: "update")."""
    return states.rules(kind).event_type.split(".", 1)[1]


def _fault_for(err: Exception) -> str:
    """The fault code of an error that ended an operation in the conductor."""
    if isinstance(err, exception.Invalid):
        return Fault.INVALID
    if isinstance(err, exception.MagnumLiteException):
        return states.cloud_fault(str(err))
    return Fault.INTERNAL_ERROR


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

        Work still queued is not started and not failed: its operations are released (no
        owner, step queued), and the conductor the hash ring gives each cluster takes it over
        (reconciler.py). Returns the uuids of clusters whose work was still running at the
        deadline.
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
            releasing: concurrent.futures.Future = concurrent.futures.Future()
            threading.Thread(target=self._release_abandoned, args=(abandoned, releasing),
                             name="conductor-release", daemon=True).start()
            waits.append(releasing)
        if waits:
            LOG.info("Waiting up to %ss for %d operation(s) in flight", timeout, len(running))
            concurrent.futures.wait(waits, timeout=timeout)
        left = sorted(w.cluster_uuid for w in running if w.state == "running")
        if left:
            LOG.warning("Stopping with operations still running on clusters %s: the reconciler "
                        "of a live conductor takes them over", ", ".join(left))
        return left

    def _release_abandoned(self, abandoned: list[_Work],
                           done: concurrent.futures.Future) -> None:
        """Hand queued work over: its operation keeps no owner here (side work, which has no
        record, is dropped: its caller may ask again)."""
        try:
            for work in abandoned:
                if work.side:
                    continue
                try:
                    cluster = objects.Cluster.get_by_uuid(work.context, work.cluster_uuid)
                    operation = operations.ClusterOperation.current(work.context, cluster)
                    if operation is None or operation.kind != work.kind:
                        continue
                    if operation.owner == self.host:
                        operation.update(expected={"owner": self.host}, owner=None,
                                         step=Step.QUEUED)
                    LOG.info("Cluster %s: its %s is handed over (the conductor on %s "
                             "stops)", work.cluster_uuid, work.kind, self.host)
                except Exception as err:  # noqa: BLE001 - the next owner finds it anyway
                    LOG.warning("Cluster %s: cannot release its %s: %s", work.cluster_uuid,
                                work.kind, err)
        finally:
            done.set_result(None)

    def _spawn(self, context: Any, kind: str, cluster_uuid: str,
               func: Callable[..., None], *args: Any, side: bool = False,
               retake: bool = False) -> None:
        work = _Work(kind, cluster_uuid, _conductor_context(context), side=side,
                     retake=retake)
        with self._lock:
            if self._stopping or self._executor is None:
                stopping = True
            else:
                stopping = False
                self._work.add(work)
                work.future = self._executor.submit(self._run, work, func, *args)
        if stopping:
            self._fail(work.context, work, f"the conductor on {self.host} was stopping; "
                                           f"try again", Fault.CONDUCTOR_STOPPED)
            raise exception.ServiceUnavailable(what=f"The conductor on {self.host}",
                                               reason="it is stopping")
        LOG.debug("Cluster %s: %s queued", cluster_uuid, kind)

    def _claim(self, context: Any, work: _Work) -> None:
        """Make this conductor the owner of the cluster's operation of the work's kind (the
        record the API started, or one made now for a cluster without one).

        A cast claims only an operation nobody owns (or this conductor, before it began):
        one that arrives late, after another conductor took the operation over, leaves it
        alone. A takeover (`retake`) claims one whose owner is gone, as the reconciler found.
        A delete asked again while the cloud deletes (step following) drives it again.
        """
        operation = operations.adopt(context, work.cluster_uuid, work.kind, self.host)
        if operation is None:
            raise _MovedOn(work.kind)
        redrive = work.kind == Kind.DELETE and operation.step == Step.FOLLOWING
        if not redrive:
            if operation.step not in Step.DRIVEN:
                raise _MovedOn(work.kind)  # handed over to the reconciler already
            if operation.owner == self.host and operation.step != Step.QUEUED \
                    and not work.retake:
                raise _MovedOn(work.kind)  # a duplicate: this conductor drives it already
            if operation.owner not in (None, self.host) and not work.retake:
                raise _MovedOn(work.kind)  # another conductor's (it took the work over)
        try:
            # Guarded: of two conductors taking over the same operation, one wins.
            operation.update(expected={"owner": operation.owner, "step": operation.step},
                             owner=self.host, step=Step.QUEUED)
        except exception.ConcurrentUpdate:
            raise _MovedOn(work.kind) from None
        work.operation = operation

    def _advance(self, context: Any, work: _Work, step: str) -> None:
        """Record the step the work reached on its operation (while it is in flight and still
        this conductor's: one that lost it stops before the cloud is asked)."""
        if work.operation is not None:
            self._write(work, step=step)

    def _forget_token(self, work: _Work) -> None:
        """Clear the requester's token from the operation once the trust exists (nothing
        after needs it: later steps act through the trust)."""
        if work.operation is not None and work.operation.auth_token:
            self._write(work, auth_token=None)

    def _write(self, work: _Work, **values: Any) -> None:
        """Write `values` on the work's operation while it is still this conductor's."""
        try:
            work.operation.update(expected={"owner": self.host}, **values)
        except exception.ClusterOperationNotFound:
            raise _MovedOn(work.kind) from None
        except exception.ConcurrentUpdate:
            LOG.warning("Cluster %s: its %s ended or went to another conductor meanwhile",
                        work.cluster_uuid, work.kind)
            raise _MovedOn(work.kind) from None

    def _run(self, work: _Work, func: Callable[..., None], *args: Any) -> None:
        with self._lock:
            if work.state != "queued":
                return
            work.state = "running"
        context = work.context
        context.update_store()  # oslo.log then shows the request id on this thread's lines
        started = time.monotonic()
        try:
            if not work.side:
                self._claim(context, work)
                # A fault test stops the conductor here: the cast claimed, nothing asked yet.
                failpoints.hit(f"conductor.{work.kind}.claimed")
            func(context, work, *args)
        except _MovedOn:
            LOG.warning("Cluster %s is in another operation now: its %s is not done",
                        work.cluster_uuid, work.kind)
        except exception.ClusterNotFound:
            LOG.info("Cluster %s is gone: nothing left to %s", work.cluster_uuid,
                     _name(work.kind))
        except exception.MagnumLiteException as err:
            # A cause we know and can state (quota, invalid input, a missing template).
            LOG.warning("Cluster %s: %s failed: %s", work.cluster_uuid, _name(work.kind), err)
            self._fail(context, work, _reason_for(work.kind, err), _fault_for(err))
        except Exception as err:
            LOG.exception("Cluster %s: %s failed", work.cluster_uuid, _name(work.kind))
            self._fail(context, work, _reason_for(work.kind, err), _fault_for(err))
        finally:
            with self._lock:
                work.state = "done"
                self._work.discard(work)
            LOG.debug("Cluster %s: %s handled in %.3fs", work.cluster_uuid, work.kind,
                      time.monotonic() - started)

    # -- RPC endpoints -----------------------------------------------------------------------

    @messaging.expected_exceptions(exception.ServiceUnavailable)
    def cluster_create(self, context: Any, cluster_uuid: str, create_timeout: int) -> None:
        """Build the cluster in the cloud (in the background)."""
        self._spawn(context, Kind.CREATE, cluster_uuid, self._create, create_timeout)

    @messaging.expected_exceptions(exception.ServiceUnavailable)
    def cluster_update(self, context: Any, cluster_uuid: str, node_count: int,
                       rollback: bool = False, nodegroup_uuid: str | None = None,
                       nodes_to_remove: list[str] | None = None) -> None:
        """Resize a worker nodegroup (the default one for None) to `node_count` nodes,
        removing `nodes_to_remove` first (in the background). 1.1: nodegroup_uuid,
        nodes_to_remove."""
        self._spawn(context, Kind.RESIZE, cluster_uuid, self._update, node_count, rollback,
                    nodegroup_uuid, list(nodes_to_remove) if nodes_to_remove else None)

    @messaging.expected_exceptions(exception.ServiceUnavailable)
    def cluster_delete(self, context: Any, cluster_uuid: str) -> None:
        """Remove the cluster from the cloud and the database (in the background)."""
        self._spawn(context, Kind.DELETE, cluster_uuid, self._delete)

    @messaging.expected_exceptions(exception.ServiceUnavailable)
    def nodegroup_create(self, context: Any, cluster_uuid: str, nodegroup_uuid: str) -> None:
        """Build a nodegroup added to the cluster, as an update of it (in the background).
        1.3"""
        self._spawn(context, Kind.NODEGROUP_CREATE, cluster_uuid, self._nodegroup,
                    nodegroup_uuid, "create")

    @messaging.expected_exceptions(exception.ServiceUnavailable)
    def nodegroup_delete(self, context: Any, cluster_uuid: str, nodegroup_uuid: str) -> None:
        """Remove a nodegroup from the cluster, as an update of it (in the background). 1.3"""
        self._spawn(context, Kind.NODEGROUP_DELETE, cluster_uuid, self._nodegroup,
                    nodegroup_uuid, "delete")

    @messaging.expected_exceptions(exception.ServiceUnavailable)
    def rotate_ca_certificate(self, context: Any, cluster_uuid: str) -> None:
        """Give the cluster a new CA and push it to its nodes (in the background). 1.2"""
        self._spawn(context, Kind.CA_ROTATION, cluster_uuid, self._rotate, "ca")

    @messaging.expected_exceptions(exception.ServiceUnavailable)
    def rotate_credentials(self, context: Any, cluster_uuid: str, push: bool = True) -> None:
        """Replace the cluster's trustee and trust with ones from the caller and push them
        to its nodes, unless `push` is False (an operation in progress needs a working trust
        now; it goes on with the new one: side work, no operation of its own). In the
        background. 1.2"""
        self._spawn(context, Kind.CREDENTIALS_ROTATION, cluster_uuid, self._rotate,
                    "trustee" if push else "trustee only", side=not push)

    @messaging.expected_exceptions(exception.ServiceUnavailable)
    def cluster_upgrade(self, context: Any, cluster_uuid: str) -> None:
        """Roll the cluster, batch by batch, to the target its upgrade operation names (in
        the background). 1.4"""
        self._spawn(context, Kind.UPGRADE, cluster_uuid, self._upgrade)

    @messaging.expected_exceptions(exception.ServiceUnavailable)
    def cluster_repair(self, context: Any, cluster_uuid: str) -> None:
        """Replace the nodes the cluster's repair operation names (in the background). The
        healer calls it too. 1.6"""
        self._spawn(context, Kind.REPAIR, cluster_uuid, self._repair)

    @messaging.expected_exceptions(exception.MagnumLiteException)
    def repair_plan(self, context: Any, cluster_uuid: str, nodes: list[str]) -> list[dict]:
        """The driver's repairs of `nodes`, nothing done (a call: the API checks the nodes
        with it before it starts the repair). 1.6"""
        ctx = _conductor_context(context)
        cluster = objects.Cluster.get_by_uuid(ctx, cluster_uuid)
        template = objects.ClusterTemplate.get_by_uuid(ctx, cluster.cluster_template_id)
        nodegroups = objects.NodeGroup.list_for_clusters(ctx, [cluster_uuid])
        return _installed_driver(ctx, cluster, template).plan_repair(
            ctx, cluster, nodegroups, nodes, cluster_template=template)

    def take_over(self, operation: Any) -> None:
        """Drive again, from its recorded parameters, an operation its owner left at a step
        it drives (queued, or cut off before the cloud's answer was recorded): the conductor
        died, stopped, or the cast never reached it. Not an RPC endpoint: the reconciler of
        the cluster's owner on the hash ring calls it."""
        params = operation.params or {}
        # A create or credentials rotation cut off before its trust existed makes it with
        # the requester's token and roles.
        context = ml_context.RequestContext(
            project_id=operation.project_id, user_id=operation.user_id,
            request_id=operation.request_id, auth_token=operation.token,
            roles=params.get(operations.REQUESTER_ROLES) or [], is_admin=True,
            all_projects=True)
        kind, uuid = operation.kind, operation.cluster_uuid
        LOG.info("Cluster %s: taking over its %s (step %s) from %s", uuid, kind,
                 operation.step, operation.owner or "no conductor")
        if kind == Kind.CREATE:
            self._spawn(context, kind, uuid, self._create, params.get("create_timeout"),
                        retake=True)
        elif kind == Kind.DELETE:
            self._spawn(context, kind, uuid, self._delete, retake=True)
        elif kind == Kind.RESIZE and params.get("node_count") is not None:
            self._spawn(context, kind, uuid, self._update, params["node_count"],
                        bool(params.get("rollback")), params.get("nodegroup_uuid"),
                        params.get("nodes_to_remove"), retake=True)
        elif kind in (Kind.NODEGROUP_CREATE, Kind.NODEGROUP_DELETE) and params.get(
                "nodegroup_uuid"):
            self._spawn(context, kind, uuid, self._nodegroup, params["nodegroup_uuid"],
                        "create" if kind == Kind.NODEGROUP_CREATE else "delete", retake=True)
        elif kind == Kind.CA_ROTATION:
            self._spawn(context, kind, uuid, self._rotate, "ca", retake=True)
        elif kind == Kind.UPGRADE and params.get("cluster_template_uuid"):
            self._spawn(context, kind, uuid, self._upgrade, retake=True)
        elif kind == Kind.REPAIR and params.get("nodes"):
            self._spawn(context, kind, uuid, self._repair, retake=True)
        elif kind == Kind.CREDENTIALS_ROTATION and context.auth_token:
            self._spawn(context, kind, uuid, self._rotate, "trustee", retake=True)
        else:
            # A new trust needs its owner's token, which the record no longer holds (and an
            # operation recorded without parameters cannot be done again): end it.
            work = _Work(kind, uuid, context, operation=operation)
            self._fail(context, work, f"the conductor that had the {_name(kind)} stopped "
                                      f"before it began; try again", Fault.CONDUCTOR_STOPPED)

    def working_on(self, cluster_uuid: str) -> bool:
        """Whether work on the cluster is queued or running here (a restarted conductor's
        records may name it while its pool is empty)."""
        with self._lock:
            return any(w.cluster_uuid == cluster_uuid for w in self._work)

    @messaging.expected_exceptions(exception.MagnumLiteException)
    def sign_certificate(self, context: Any, cluster_uuid: str, csr: str) -> str:
        """A client certificate for the caller from their CSR, signed by the cluster's CA
        (a call: answered at once). 1.2"""
        ctx = _conductor_context(context)
        cluster = objects.Cluster.get_by_uuid(ctx, cluster_uuid)
        return credentials.sign(ctx, cluster, csr)

    @messaging.expected_exceptions(exception.MagnumLiteException)
    def upgrade_dry_run(self, context: Any, cluster_uuid: str, params: dict) -> dict:
        """The plan of an upgrade with `params` (an upgrade operation's), nothing done (a
        call). 1.5"""
        ctx = _conductor_context(context)
        cluster = objects.Cluster.get_by_uuid(ctx, cluster_uuid)
        template = objects.ClusterTemplate.get_by_uuid(ctx, cluster.cluster_template_id)
        return dry_run.upgrade_plan(ctx, _installed_driver(ctx, cluster, template), cluster,
                                    template, params)

    @messaging.expected_exceptions(exception.MagnumLiteException)
    def cluster_create_dry_run(self, context: Any, cluster_fields: dict,
                               nodegroups: list[dict]) -> dict:
        """What the driver would build for a cluster of `cluster_fields` with `nodegroups`
        (the rows a create stores), nothing stored (a call). 1.5"""
        ctx = _conductor_context(context)
        cluster, groups = dry_run.unsaved_cluster(ctx, cluster_fields, nodegroups)
        template = objects.ClusterTemplate.get_by_uuid(ctx, cluster.cluster_template_id)
        return dry_run.create(ctx, _installed_driver(ctx, cluster, template), cluster,
                              template, groups)

    @messaging.expected_exceptions(exception.MagnumLiteException)
    def cluster_resize_dry_run(self, context: Any, cluster_uuid: str,
                               nodegroup_uuid: str | None, node_count: int,
                               nodes_to_remove: list[str] | None = None) -> dict:
        """What the driver would change to resize a worker nodegroup (None: the default
        one), nothing done (a call). 1.5"""
        ctx = _conductor_context(context)
        cluster = objects.Cluster.get_by_uuid(ctx, cluster_uuid)
        nodegroup = _worker_nodegroup(
            objects.NodeGroup.list_for_clusters(ctx, [cluster_uuid]), nodegroup_uuid)
        if nodegroup is None:
            raise exception.NodeGroupNotFound(nodegroup=nodegroup_uuid or "default-worker")
        template = objects.ClusterTemplate.get_by_uuid(ctx, cluster.cluster_template_id)
        return dry_run.resize(ctx, _installed_driver(ctx, cluster, template), cluster,
                              template, nodegroup, node_count,
                              list(nodes_to_remove) if nodes_to_remove else None)

    # -- the work ----------------------------------------------------------------------------

    def _create(self, context: Any, work: _Work, create_timeout: int | None) -> None:
        cluster = objects.Cluster.get_by_uuid(context, work.cluster_uuid)
        create_timeout = (create_timeout or cluster.create_timeout
                          or CONF.conductor.create_timeout)
        template = objects.ClusterTemplate.get_by_uuid(context, cluster.cluster_template_id)
        driver = self._driver_for(context, cluster, template, work)
        if driver is None:
            return
        nodegroups = objects.NodeGroup.list_for_clusters(context, [work.cluster_uuid])
        if not template.tls_disabled:
            cluster = credentials.ensure_cas(context, cluster, template.coe)
        cluster = credentials.ensure_trustee(context, cluster)
        self._forget_token(work)
        if not credentials.acting_for(context, cluster):
            self._fail(context, work, "the conductor that had the create stopped before the "
                                      "cluster's trust was made, and the request's token is "
                                      "gone; try again", Fault.CONDUCTOR_STOPPED)
            return
        LOG.info("Cluster %s: creating with driver plugin %s", work.cluster_uuid,
                 type(driver).__name__)
        self._advance(context, work, Step.CLOUD_REQUESTED)
        try:
            state = driver.create(context, cluster, template, nodegroups,
                                  timeout=create_timeout,
                                  credentials=credentials.loader(context, cluster,
                                                                 template.coe))
        except exception.CloudUnreachable as err:
            if err.never_sent:
                # Nothing reached the cloud: a delete has nothing there to look for.
                self._advance(context, work, Step.QUEUED)
            raise
        self._record(context, work, state)

    def _update(self, context: Any, work: _Work, node_count: int, rollback: bool,
                nodegroup_uuid: str | None = None,
                nodes_to_remove: list[str] | None = None) -> None:
        cluster = objects.Cluster.get_by_uuid(context, work.cluster_uuid)
        nodegroups = objects.NodeGroup.list_for_clusters(context, [work.cluster_uuid])
        nodegroup = _worker_nodegroup(nodegroups, nodegroup_uuid)
        if nodegroup is None:
            self._fail(context, work, NODEGROUP_GONE % (nodegroup_uuid or "default-worker"),
                       Fault.INVALID)
            return
        template = objects.ClusterTemplate.get_by_uuid(context, cluster.cluster_template_id)
        driver = self._driver_for(context, cluster, template, work)
        if driver is None:
            return
        LOG.info("Cluster %s: resizing nodegroup %s to %d nodes (removing %s; rollback %s)",
                 work.cluster_uuid, nodegroup.name, node_count, nodes_to_remove or "none",
                 rollback)
        self._advance(context, work, Step.CLOUD_REQUESTED)
        state = driver.update(context, cluster, template, nodegroup, node_count,
                              nodes_to_remove=nodes_to_remove, rollback=rollback,
                              credentials=credentials.loader(context, cluster, template.coe))
        self._record(context, work, state)

    def _nodegroup(self, context: Any, work: _Work, nodegroup_uuid: str,
                   action: str) -> None:
        """Have the driver build (`action` = "create") or remove ("delete") one nodegroup;
        the cluster is UPDATE_IN_PROGRESS meanwhile and the reconciler follows it."""
        cluster = objects.Cluster.get_by_uuid(context, work.cluster_uuid)
        try:
            nodegroup = objects.NodeGroup.get(context, work.cluster_uuid, nodegroup_uuid)
        except exception.NodeGroupNotFound:
            self._fail(context, work, NODEGROUP_GONE % nodegroup_uuid, Fault.INVALID)
            return
        template = objects.ClusterTemplate.get_by_uuid(context, cluster.cluster_template_id)
        driver = self._driver_for(context, cluster, template, work)
        if driver is None:
            return
        LOG.info("Cluster %s: %s nodegroup %s", work.cluster_uuid,
                 "creating" if action == "create" else "deleting", nodegroup.name)
        self._advance(context, work, Step.CLOUD_REQUESTED)
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
                status=Status.UPDATE_FAILED, status_reason=str(err), nodegroups={
                    nodegroup_uuid: drivers_base.NodeGroupState(status=failed,
                                                                status_reason=str(err))})
        self._record(context, work, state)

    def _rotate(self, context: Any, work: _Work, what: str) -> None:
        """Replace the cluster's CA (`what` = "ca") or trustee ("trustee"), then have the
        driver push the new credentials to the nodes ("trustee only": no push)."""
        cluster = objects.Cluster.get_by_uuid(context, work.cluster_uuid)
        template = objects.ClusterTemplate.get_by_uuid(context, cluster.cluster_template_id)
        driver = self._driver_for(context, cluster, template, work)
        if driver is None:
            return
        if what == "ca":
            cluster = credentials.replace_ca(context, cluster)
        else:
            cluster = credentials.replace_trustee(context, cluster)
            self._forget_token(work)
            if what == "trustee only":
                # A broken trust replaced during another operation, which goes on with it:
                # the nodes get the new trustee with the next rotation.
                LOG.info("Cluster %s: trust replaced during its %s", work.cluster_uuid,
                         cluster.status)
                return
        nodegroups = objects.NodeGroup.list_for_clusters(context, [work.cluster_uuid])
        LOG.info("Cluster %s: new %s; updating its nodes", work.cluster_uuid, what)
        self._advance(context, work, Step.CLOUD_REQUESTED)
        state = driver.rotate_ca_certificate(
            context, cluster, template, nodegroups,
            credentials=credentials.loader(context, cluster, template.coe))
        self._record(context, work, state)

    def _plan(self, context: Any, work: _Work,
              make_plan: Callable[..., dict]) -> dict | None:
        """Plan the operation (`make_plan(driver, cluster, template, nodegroups, params)`,
        kept on its record) and hand it to the reconciler, which runs it; the plan, or None
        when no driver serves the cluster (the operation failed)."""
        cluster = objects.Cluster.get_by_uuid(context, work.cluster_uuid)
        template = objects.ClusterTemplate.get_by_uuid(context, cluster.cluster_template_id)
        driver = self._driver_for(context, cluster, template, work)
        if driver is None:
            return None
        nodegroups = objects.NodeGroup.list_for_clusters(context, [work.cluster_uuid])
        self._advance(context, work, Step.CLOUD_REQUESTED)
        plan = make_plan(driver, cluster, template, nodegroups, work.operation.params or {})
        self._write(work, plan=plan, step=Step.FOLLOWING)
        return plan

    def _upgrade(self, context: Any, work: _Work) -> None:
        """The upgrade's batches, run by the reconciler (conductor/upgrade.py)."""
        params = work.operation.params or {}
        plan = self._plan(context, work, lambda driver, cluster, template, nodegroups, p:
                          upgrade.new_plan(context, driver, cluster, nodegroups, template, p))
        if plan is not None:
            LOG.info("Cluster %s: upgrading %s -> %s in %d batches (at most %s nodes at "
                     "once)", work.cluster_uuid, plan["from_version"], plan["to_version"],
                     len(plan["batches"]), params.get("max_batch_size"))

    def _repair(self, context: Any, work: _Work) -> None:
        """The repair's stack updates, run by the reconciler (conductor/repair.py)."""
        params = work.operation.params or {}
        plan = self._plan(context, work, lambda driver, cluster, template, nodegroups, p:
                          repair.new_plan(context, driver, cluster, template, nodegroups, p))
        if plan is not None:
            LOG.info("Cluster %s: repairing %s (%s)", work.cluster_uuid,
                     ", ".join(params.get("nodes") or []), params.get("cause"))

    def _delete(self, context: Any, work: _Work) -> None:
        cluster = objects.Cluster.get_by_uuid(context, work.cluster_uuid)
        nodegroups = objects.NodeGroup.list_for_clusters(context, [work.cluster_uuid])
        # The driver is asked even without a recorded stack once the cloud was asked for
        # anything: a create whose answer was lost, or a conductor stopped between the
        # cloud's answer and its record, left stacks with no id here, and the driver finds
        # them by name (a missing stack counts as deleted). Only a cluster the cloud never
        # heard of is removed from the database alone.
        has_stack = bool(cluster.stack_id) or any(ng.stack_id for ng in nodegroups)
        if not has_stack and not self._reached_the_cloud(context, cluster):
            self._destroy(context, work)
            return
        template = objects.ClusterTemplate.get_by_uuid(context, cluster.cluster_template_id)
        driver = self._driver_for(context, cluster, template, work)
        if driver is None:
            return  # failed: what the cloud may hold needs the driver to be found
        LOG.info("Cluster %s: deleting (stack %s)", work.cluster_uuid, cluster.stack_id)
        self._advance(context, work, Step.CLOUD_REQUESTED)
        state = driver.delete(context, cluster, nodegroups)
        self._record(context, work, state)

    @staticmethod
    def _reached_the_cloud(context: Any, cluster: Any) -> bool:
        """Whether the cloud was ever asked to act for the cluster (an operation of it
        reached the step cloud_requested): then its driver is asked to find what is there,
        even when the conductor was cut off before it recorded what the cloud accepted.

        A cluster whose create failed before the driver was called (no driver, a refused
        parameter) has nothing in the cloud to look for.
        """
        return any(op.step in (Step.CLOUD_REQUESTED, Step.FOLLOWING)
                   for op in operations.ClusterOperation.list(context, cluster.uuid))

    def _destroy(self, context: Any, work: _Work) -> None:
        """Delete the rows of a cluster that has nothing in the cloud; its events stay."""
        waiting = recording.release_credentials(context, work.cluster_uuid)
        if waiting is not None:
            self._fail(context, work, waiting, Fault.CLOUD_ERROR)
            return
        cluster = operations.finish(context, work.cluster_uuid, work.kind,
                                    Status.DELETE_COMPLETE, NOTHING_IN_THE_CLOUD,
                                    operation_uuid=work.operation_uuid, owner=work.owner)
        if cluster is not None:
            LOG.info("Cluster %s deleted (it had no stack)", work.cluster_uuid)

    # -- drivers -----------------------------------------------------------------------------

    def _driver_for(self, context: Any, cluster: Any, template: Any, work: _Work
                    ) -> drivers_base.Driver | None:
        """The cluster's driver, bound to its config; None (after failing the operation)
        when none is installed."""
        driver = driver_for(context, cluster, template)
        if driver is None:
            reason = str(exception.NoDriverInstalled(server_type=template.server_type,
                                                     distro=template.cluster_distro,
                                                     coe=template.coe))
            LOG.warning("Cluster %s: %s failed: %s", cluster.uuid, _name(work.kind), reason)
            self._fail(context, work, reason, Fault.NO_DRIVER)
        return driver

    # -- recording outcomes ------------------------------------------------------------------

    def _record(self, context: Any, work: _Work, state: drivers_base.ClusterState) -> None:
        """Write what the driver reported, with the handover: the cloud accepted the
        operation, and the reconciler follows a status still in progress from here on."""
        # A fault test stops the conductor here: the cloud accepted, nothing recorded yet.
        failpoints.hit(f"conductor.{work.kind}.cloud_accepted")
        recording.record_state(context, work.kind, work.cluster_uuid, state,
                     operation_uuid=work.operation_uuid, owner=work.owner,
                     step=None if work.operation_uuid is None else Step.FOLLOWING)

    def _fail(self, context: Any, work: _Work, reason: str, fault: str) -> None:
        """End the operation in its failed status with `fault`, if the database lets us.
        Side work (a trust replaced during another operation) fails no operation."""
        if work.side:
            LOG.warning("Cluster %s: %s", work.cluster_uuid, reason)
            return
        try:
            operations.finish(context, work.cluster_uuid, work.kind,
                              states.rules(work.kind).failed_status, reason, fault=fault,
                              operation_uuid=work.operation_uuid, owner=work.owner)
        except exception.ClusterNotFound:
            LOG.info("Cluster %s is gone: its %s failure is not recorded", work.cluster_uuid,
                     _name(work.kind))
        except Exception:
            LOG.exception("Cluster %s: could not record that its %s failed (%s); the "
                          "reconciler will find it", work.cluster_uuid, _name(work.kind),
                          reason)


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
        _name, plugin, config = driver_factory.plugin_for(row, template)
        if plugin is None:
            LOG.error("Cluster %s: driver %s version %s needs plugin %s, which is not "
                      "installed", cluster.uuid, row.name, row.version, row.plugin_name)
        return plugin, config, f"driver:{row.uuid}"
    if template is None:
        template = objects.ClusterTemplate.get_by_uuid(context, cluster.cluster_template_id)
    name, plugin, config = driver_factory.plugin_for(None, template)
    if plugin is None:
        return None, None, "none"
    return plugin, config, f"plugin:{name}"


def driver_for(context: Any, cluster: Any, template: Any = None) -> drivers_base.Driver | None:
    """The cluster's driver plugin bound to its config, or None when none is installed."""
    plugin, config, _key = plugin_for(context, cluster, template)
    return None if plugin is None else plugin(config)


def _installed_driver(context: Any, cluster: Any, template: Any) -> drivers_base.Driver:
    """The cluster's driver (see driver_for).

    :raises exception.NoDriverInstalled: none is installed (400).
    """
    driver = driver_for(context, cluster, template)
    if driver is None:
        raise exception.NoDriverInstalled(server_type=template.server_type,
                                          distro=template.cluster_distro, coe=template.coe)
    return driver
