"""ClusterOperation: the durable record of an operation on a cluster, and the one place that
applies the transitions of common/states.py.

`start` (the API, and `start_create` for a new cluster) and `finish` (the conductor and its
reconciler) are the only writers of a cluster's status for an operation: each is one
transaction of the cluster row's compare-and-swap, the operation row (the cluster names its
operation in flight in `operation_uuid`, so at most one runs per cluster on every database)
and the event (an audit log, never read for control); then `_notify`, the one hook where
start/end/error notifications are sent (common/notifications.py). `version` counts
operations: +1 at start only.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from oslo_utils import timeutils, uuidutils

from magnum_lite.common import context as ml_context
from magnum_lite.common import encryption, exception, notifications, states
from magnum_lite.conf import CONF
from magnum_lite.db import api as dbapi
from magnum_lite.objects import base, fields
from magnum_lite.objects.cluster import INTERNAL_WRITE_ATTEMPTS, Cluster
from magnum_lite.objects.cluster_template import ClusterTemplate
from magnum_lite.objects.driver import Driver
from magnum_lite.objects.nodegroup import NodeGroup

LOG = logging.getLogger(__name__)

Status = fields.ClusterStatus
#: The parameter of a create that keeps its requester's roles (the trust delegates them).
REQUESTER_ROLES = "requester_roles"


@base.MagnumLiteObjectRegistry.register
class ClusterOperation(base.MagnumLitePersistentObject, base.MagnumLiteObject):
    # Version 1.0: Initial version
    # Version 1.1: auth_token
    VERSION = "1.1"

    dbapi = dbapi.get_instance()

    fields = {
        "id": fields.IntegerField(),
        "uuid": fields.UUIDField(nullable=True),
        "cluster_uuid": fields.StringField(),
        "project_id": fields.StringField(nullable=True),
        "user_id": fields.StringField(nullable=True),
        "request_id": fields.StringField(nullable=True),
        "kind": fields.StringField(),
        "params": fields.JsonField(nullable=True),
        "plan": fields.JsonField(nullable=True),
        "step": fields.StringField(),
        "owner": fields.StringField(nullable=True),
        "started_at": fields.DateTimeField(),
        "deadline": fields.DateTimeField(nullable=True),
        "finished_at": fields.DateTimeField(nullable=True),
        "outcome": fields.StringField(nullable=True),
        "fault": fields.StringField(nullable=True),
        "cluster_version": fields.IntegerField(nullable=True),
        "revision": fields.IntegerField(default=0),
        # Encrypted; only the conductor decrypts it (token_of).
        "auth_token": fields.StringField(nullable=True),
    }

    @classmethod
    def get(cls, context: Any, uuid: str) -> ClusterOperation:
        return cls._from_db_object(context, cls(), cls.dbapi.get_cluster_operation(uuid))

    @classmethod
    def list(cls, context: Any, cluster_uuid: str | None = None,
             in_flight: bool | None = None) -> list[ClusterOperation]:
        """Operations oldest first (of one cluster; in flight only, finished only, or all)."""
        return cls._from_db_rows(context, cls.dbapi.list_cluster_operations(cluster_uuid,
                                                                           in_flight))

    @classmethod
    def from_row(cls, context: Any, row: Any) -> ClusterOperation:
        return cls._from_db_object(context, cls(), row)

    @classmethod
    def current(cls, context: Any, cluster: Any) -> ClusterOperation | None:
        """The operation in flight on `cluster`, or None."""
        if not cluster.operation_uuid:
            return None
        try:
            operation = cls.get(context, cluster.operation_uuid)
        except exception.ClusterOperationNotFound:
            return None
        return operation if operation.in_flight else None

    @property
    def in_flight(self) -> bool:
        return self.outcome is None

    @property
    def rules(self) -> states.Rules:
        return states.rules(self.kind)

    @property
    def token(self) -> str | None:
        """The requester's token in clear (kept while only it can do the next step)."""
        return encryption.decrypt(self.auth_token) if self.auth_token else None

    def overdue(self, now: datetime.datetime, grace: float = 0) -> bool:
        """Whether the deadline (plus `grace` seconds) passed at `now` (aware UTC)."""
        if self.deadline is None:
            return False
        return now > _aware(self.deadline) + datetime.timedelta(seconds=grace)

    def update(self, expected: dict | None = None, event: dict | None = None,
               **values: Any) -> ClusterOperation:
        """A guarded write of `values` (ConcurrentUpdate unless the row still has the
        `expected` values; the operation must still be in flight), with `event` (a
        ClusterEvent's fields) in the same transaction."""
        row = self.dbapi.update_cluster_operation(self.uuid, values,
                                                  {"outcome": None, **(expected or {})},
                                                  event)
        return self._from_db_object(self._context, self, row)


def _aware(moment: datetime.datetime) -> datetime.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=datetime.UTC)


def _now() -> datetime.datetime:
    return timeutils.utcnow()


def timeout_minutes(kind: str, create_timeout: int | None = None) -> int:
    """Minutes an operation of `kind` may take (a create: the cluster's own timeout first)."""
    if kind == states.Kind.CREATE and create_timeout:
        return create_timeout
    return getattr(CONF.conductor, states.rules(kind).timeout_option)


def _new_row(context: Any, cluster: Any, kind: str, params: dict | None,
             owner: str | None, step: str = states.Step.QUEUED,
             started_at: datetime.datetime | None = None) -> dict:
    started_at = started_at or _now()
    minutes = timeout_minutes(kind, cluster.create_timeout)
    return {"uuid": uuidutils.generate_uuid(), "cluster_uuid": cluster.uuid,
            "project_id": cluster.project_id,
            "user_id": getattr(context, "user_id", None) or cluster.user_id,
            "request_id": getattr(context, "request_id", None), "kind": kind,
            "params": params or {}, "step": step, "owner": owner, "started_at": started_at,
            "deadline": started_at + datetime.timedelta(minutes=minutes),
            "cluster_version": (cluster.version or 0) + (1 if kind != states.Kind.CREATE
                                                         else 0)}


def _keep_requester(context: Any, row: dict) -> dict:
    """Keep the requester's token (encrypted) and roles on a new operation of a kind whose
    next step needs them (states.NEEDS_REQUESTER: a new trust), for a conductor that takes it
    over before that step."""
    token = getattr(context, "auth_token", None)
    if token and row["kind"] in states.NEEDS_REQUESTER:
        row["auth_token"] = encryption.encrypt(token)
        row["params"] = {**row["params"],
                         REQUESTER_ROLES: list(getattr(context, "roles", None) or [])}
    return row


def _notify(context: Any, phase: str, cluster: Any, operation: dict,
            facts: dict | None = None) -> None:
    """The one place where an operation's start/end/error notification is sent (CADF
    through oslo.messaging's notifier: common/notifications.py), after its transaction.
    `operation` holds the record's fields the caller wrote (the rest is read here);
    `facts` what _facts read before the write (a delete's end removes the rows)."""
    LOG.debug("Cluster %s: %s %s %s", cluster.uuid, operation.get("kind"), phase,
              operation.get("outcome") or "")
    if not notifications.enabled():
        return
    try:
        facts = facts or _facts(cluster)
        record = _operation_fields(operation.get("uuid"))
        operation = {**record, **{k: v for k, v in operation.items() if k != "auth_token"}}
        if phase == notifications.Phase.ERROR:
            operation["reason"] = cluster.status_reason
        payload = notifications.build_payload(
            phase, initiator=_initiator(context, operation), cluster=_fields(cluster),
            operation=operation, nodegroups=facts["nodegroups"], template=facts["template"],
            driver_name=facts["driver"])
    except Exception:
        LOG.exception("Cluster %s: the %s notification of its %s could not be built",
                      cluster.uuid, phase, operation.get("kind"))
        return
    notifications.send(context, phase, operation["kind"], payload)


def _fields(obj: Any) -> dict:
    """The fields set on an object (build_payload picks the ones it tells)."""
    return {name: getattr(obj, name) for name in obj.fields if obj.obj_attr_is_set(name)}


def _facts(cluster: Any) -> dict | None:
    """What the notifications of the cluster's operations tell besides the cluster row: its
    nodegroups, template and driver name. None while notifications are off (nothing read)."""
    if not notifications.enabled():
        return None
    admin = ml_context.get_admin_context()
    facts: dict[str, Any] = {"nodegroups": [], "template": None, "driver": None}
    try:
        facts["nodegroups"] = [_fields(ng) for ng in
                               NodeGroup.list_for_clusters(admin, [cluster.uuid])]
        if cluster.cluster_template_id:
            facts["template"] = _fields(ClusterTemplate.get_by_uuid(
                admin, cluster.cluster_template_id))
        if cluster.driver_id:
            facts["driver"] = Driver.get_by_uuid(admin, cluster.driver_id).name
    except exception.NotFound as err:
        # Told as far as it is known: a missing row leaves its fields out.
        LOG.info("Cluster %s: its notification leaves out what is gone: %s", cluster.uuid,
                 err)
    return facts


def _operation_fields(uuid: str | None) -> dict:
    if uuid is None:
        return {}
    try:
        return _fields(ClusterOperation.get(None, uuid))
    except exception.ClusterOperationNotFound:
        return {}


def _initiator(context: Any, operation: dict) -> dict:
    """Who asked for the operation: its requester, with the project (and domain) they asked
    from when `context` is theirs (the API's, or the conductor's working for it); the
    cluster's project otherwise (a reconciler ends it)."""
    user = operation.get("user_id") or getattr(context, "user_id", None)
    if user and getattr(context, "user_id", None) == user and context.project_id:
        return {"user_id": user, "project_id": context.project_id,
                "domain_id": getattr(context, "project_domain_id", None)}
    return {"user_id": user, "project_id": operation.get("project_id")}


# -- start (the API) -------------------------------------------------------------------------

def start_create(context: Any, cluster: Cluster, nodegroups: list[dict],
                 params: dict | None = None) -> ClusterOperation:
    """Insert a new cluster in CREATE_IN_PROGRESS (version 1) with its nodegroups and its
    create operation, atomically; the event "cluster.create"."""
    cluster.status = states.rules(states.Kind.CREATE).in_progress
    cluster.status_reason = None
    cluster.version = 1
    if not cluster.obj_attr_is_set("create_timeout"):
        cluster.create_timeout = None
    row = _keep_requester(context, _new_row(context, cluster, states.Kind.CREATE, params,
                                            None))
    cluster.operation_uuid = row["uuid"]
    cluster.create_with_nodegroups(nodegroups, context=context, new_operation=row,
                                   event=cluster.event_values(context, "cluster.create"))
    _notify(context, "start", cluster, row)
    return ClusterOperation.get(context, row["uuid"])


def check_start(context: Any, cluster: Cluster, kind: str) -> ClusterOperation | None:
    """409 (Conflict) unless an operation of `kind` may start on `cluster` now, writing
    nothing (`start`, and a dry run that answers as the real request would); the operation
    in flight it would supersede, or None."""
    if not states.may_start(kind, cluster.status):
        raise exception.Conflict(states.refusal(kind, cluster.uuid, cluster.status))
    current = ClusterOperation.current(context, cluster)
    if current is not None and not states.rules(kind).supersedes:
        raise exception.Conflict(states.busy(cluster.uuid, current.kind))
    return current


def start(context: Any, cluster: Cluster, kind: str, event_type: str,
          params: dict | None = None) -> ClusterOperation:
    """Start an operation of `kind` on `cluster` as read by the caller: 409 (Conflict) when
    the table refuses it from the cluster's status, when another operation is in flight
    (a delete supersedes it instead), or when the row changed since it was read."""
    table = states.rules(kind)
    current = check_start(context, cluster, kind)
    superseded = None
    if current is not None:
        superseded = {"uuid": current.uuid, "outcome": states.Outcome.SUPERSEDED,
                      "finished_at": _now(), "auth_token": None}
    row = _keep_requester(context, _new_row(context, cluster, kind, params, None))
    cluster.status = table.in_progress
    cluster.status_reason = None
    cluster.version = row["cluster_version"]
    cluster.operation_uuid = row["uuid"]
    cluster.save(new_operation=row, operation_changes=superseded,
                 event=cluster.event_values(context, event_type))
    if superseded is not None:
        _notify(context, "end", cluster, {"kind": current.kind, **superseded})
    _notify(context, "start", cluster, row)
    return ClusterOperation.get(context, row["uuid"])


def adopt(context: Any, cluster_uuid: str, kind: str, owner: str | None,
          step: str = states.Step.QUEUED) -> ClusterOperation | None:
    """The record of an operation a cluster is in without one (started by an API from before
    operations were recorded, or in flight at the upgrade): made now, with no new version or
    event (the operation was counted when it started). None when the cluster is not in a
    status of `kind` (it moved on) or another operation is recorded meanwhile."""
    for _attempt in range(INTERNAL_WRITE_ATTEMPTS):
        cluster = Cluster.get_by_uuid(context, cluster_uuid)
        current = ClusterOperation.current(context, cluster)
        if current is not None:
            return current if current.kind == kind else None
        if cluster.status not in states.rules(kind).in_flight:
            return None
        row = _new_row(context, cluster, kind, None, owner, step,
                       started_at=cluster.updated_at or None)
        row["cluster_version"] = cluster.version
        cluster.operation_uuid = row["uuid"]
        try:
            cluster.save(new_operation=row)
        except exception.ConcurrentUpdate:
            continue
        LOG.info("Cluster %s: its %s (%s) is recorded as operation %s", cluster_uuid, kind,
                 cluster.status, row["uuid"])
        return ClusterOperation.get(context, row["uuid"])
    return None


# -- progress and end (the conductor) --------------------------------------------------------

class Superseded(Exception):
    """The cluster moved on to another operation: this one must not write its outcome."""


def finish(context: Any, cluster_uuid: str, kind: str, status: str, reason: str | None,
           *, operation_uuid: str | None = None, expect: tuple[str, int] | None = None,
           clear_reason: bool = False, fault: str | None = None, step: str | None = None,
           event_type: str | None = None, owner: str | None = None,
           **changes: Any) -> Cluster | None:
    """Record `status` (and `changes`) for the cluster's operation of `kind`: a terminal
    status of the table ends it (outcome, fault, finished_at; the cluster's operation_uuid
    cleared), an in-flight one only moves the status. One retried compare-and-swap of the
    cluster row with the operation row (DELETE_COMPLETE deletes the cluster's rows instead);
    an event when the status changes. Returns the cluster, or None when another operation
    took over (nothing is written).

    A None `reason` keeps the current status_reason while the status stays (unless
    `clear_reason`, which also clears an in-flight fault) and clears it when the status
    changes: a reason belongs to its status. `operation_uuid` (the operation the caller
    works for) or `expect` = (status, version) guard the write against a newer operation.
    An in-flight `fault` (a trust that stopped working) is recorded on the operation, and
    `step` (the conductor's handover: the cloud accepted it) with the status. The event is
    the kind's (`event_type` when given). With `owner` (fencing) nothing is written unless
    the operation is still that conductor's: a conductor whose work another one took over
    cannot end it.
    """
    if not states.may_record(kind, status):
        raise exception.MagnumLiteException(
            f"a {kind} operation cannot set the status {status} (common/states.py)")
    table = states.rules(kind)
    outcome = states.outcome_of(kind, status)
    for _attempt in range(INTERNAL_WRITE_ATTEMPTS):
        cluster = Cluster.get_by_uuid(context, cluster_uuid)
        try:
            _check_current(cluster, table, status, operation_uuid, expect)
        except Superseded as superseded:
            LOG.warning("Cluster %s is %s now: the outcome of its %s (%s) is not recorded",
                        cluster_uuid, superseded, kind, status)
            return None
        previous = cluster.status
        if reason is not None or clear_reason or cluster.status != status:
            cluster.status_reason = reason
        cluster.status = status
        for name, value in changes.items():
            setattr(cluster, name, value)
        op_update = None
        if cluster.operation_uuid:
            if outcome is not None:
                op_update = {"uuid": cluster.operation_uuid, "outcome": outcome,
                             "finished_at": _now(), "auth_token": None,
                             "fault": fault or (states.cloud_fault(cluster.status_reason)
                                                if outcome == states.Outcome.FAILED else None)}
                cluster.operation_uuid = None
            elif fault is not None or clear_reason:
                op_update = {"uuid": cluster.operation_uuid, "fault": fault}
            if step is not None:
                op_update = {"uuid": cluster.operation_uuid, **(op_update or {}), "step": step,
                             "auth_token": None}
        if owner is not None and operation_uuid is not None:
            op_update = {"uuid": operation_uuid, **(op_update or {}),
                         "expected": {"owner": owner}}
        ended = op_update is not None and outcome is not None
        facts = _facts(cluster) if ended else None
        event = (cluster.event_values(context, event_type or table.event_type)
                 if previous != status else None)
        try:
            if status == Status.DELETE_COMPLETE:
                # The rows go with the operation's end: nothing is left half deleted.
                cluster.destroy(expected_revision=cluster.revision,
                                operation_changes=op_update, event=event)
            else:
                cluster.save(operation_changes=op_update, event=event)
        except exception.OperationFenced as fenced:
            LOG.warning("Cluster %s: %s", cluster_uuid, fenced)
            return None
        except exception.ConcurrentUpdate:
            continue
        if ended:
            _notify(context, "end" if outcome == states.Outcome.SUCCEEDED else "error",
                    cluster, {"kind": kind, **{k: v for k, v in op_update.items()
                                               if k != "expected"}}, facts)
        LOG.info("Cluster %s: %s (%s)", cluster_uuid, status, cluster.status_reason)
        return cluster
    raise exception.ConcurrentUpdate(resource="Cluster", uuid=cluster_uuid)


def _check_current(cluster: Cluster, table: states.Rules, status: str,
                   operation_uuid: str | None, expect: tuple[str, int] | None) -> None:
    if expect is not None and (cluster.status, cluster.version) != expect:
        raise Superseded(f"{cluster.status} (version {cluster.version})")
    if operation_uuid is not None and cluster.operation_uuid != operation_uuid:
        raise Superseded(f"{cluster.status} (operation {cluster.operation_uuid})")
    if (cluster.status in Status.IN_PROGRESS and cluster.status not in table.in_flight
            and cluster.status != status):
        raise Superseded(cluster.status)
