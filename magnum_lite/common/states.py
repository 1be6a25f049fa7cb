"""The cluster life cycle as data: operation kinds, their steps, outcomes, fault codes, and
every status change an operation of each kind may make (DESIGN.md §7).

Pure data and checks, importable by every layer (Ironic's common/states.py is the model). The
one place that applies a transition to the database is objects/cluster_operation.py; the API
asks it to start an operation (409 when the table refuses or another operation runs) and the
conductor to record its progress and its end.

A cluster's `status` stays Magnum's; what the operation in flight *is* (its kind, the step it
reached, its owner and deadline) lives on its ClusterOperation row.
"""

from __future__ import annotations

import dataclasses


class ClusterStatus:
    """Magnum's cluster statuses (objects/fields.py makes the field type of them)."""

    CREATE_IN_PROGRESS = "CREATE_IN_PROGRESS"
    CREATE_FAILED = "CREATE_FAILED"
    CREATE_COMPLETE = "CREATE_COMPLETE"
    UPDATE_IN_PROGRESS = "UPDATE_IN_PROGRESS"
    UPDATE_FAILED = "UPDATE_FAILED"
    UPDATE_COMPLETE = "UPDATE_COMPLETE"
    DELETE_IN_PROGRESS = "DELETE_IN_PROGRESS"
    DELETE_FAILED = "DELETE_FAILED"
    DELETE_COMPLETE = "DELETE_COMPLETE"
    RESUME_COMPLETE = "RESUME_COMPLETE"
    RESUME_FAILED = "RESUME_FAILED"
    RESTORE_COMPLETE = "RESTORE_COMPLETE"
    ROLLBACK_IN_PROGRESS = "ROLLBACK_IN_PROGRESS"
    ROLLBACK_FAILED = "ROLLBACK_FAILED"
    ROLLBACK_COMPLETE = "ROLLBACK_COMPLETE"
    SNAPSHOT_COMPLETE = "SNAPSHOT_COMPLETE"
    CHECK_COMPLETE = "CHECK_COMPLETE"
    ADOPT_COMPLETE = "ADOPT_COMPLETE"

    ALL = (CREATE_IN_PROGRESS, CREATE_FAILED, CREATE_COMPLETE, UPDATE_IN_PROGRESS,
           UPDATE_FAILED, UPDATE_COMPLETE, DELETE_IN_PROGRESS, DELETE_FAILED, DELETE_COMPLETE,
           RESUME_COMPLETE, RESUME_FAILED, RESTORE_COMPLETE, ROLLBACK_IN_PROGRESS,
           ROLLBACK_FAILED, ROLLBACK_COMPLETE, SNAPSHOT_COMPLETE, CHECK_COMPLETE,
           ADOPT_COMPLETE)
    IN_PROGRESS = (CREATE_IN_PROGRESS, UPDATE_IN_PROGRESS, DELETE_IN_PROGRESS,
                   ROLLBACK_IN_PROGRESS)
    # Statuses from which a resize or other update may start.
    UPDATABLE = (CREATE_COMPLETE, UPDATE_COMPLETE, RESUME_COMPLETE, RESTORE_COMPLETE,
                 ROLLBACK_COMPLETE, SNAPSHOT_COMPLETE, CHECK_COMPLETE, ADOPT_COMPLETE,
                 UPDATE_FAILED)


Status = ClusterStatus


class Kind:
    """What an operation does."""

    CREATE = "create"
    RESIZE = "resize"
    NODEGROUP_CREATE = "nodegroup_create"
    NODEGROUP_DELETE = "nodegroup_delete"
    CA_ROTATION = "ca_rotation"
    CREDENTIALS_ROTATION = "credentials_rotation"
    UPGRADE = "upgrade"
    REPAIR = "repair"  # unhealthy nodes replaced (auto-healing, or asked by a user)
    DELETE = "delete"

    ALL = (CREATE, RESIZE, NODEGROUP_CREATE, NODEGROUP_DELETE, CA_ROTATION,
           CREDENTIALS_ROTATION, UPGRADE, REPAIR, DELETE)


class Step:
    """How far an operation got. The conductor that owns it moves it on:

    queued (the API started it and cast it) -> cloud_requested (the driver is asking the
    cloud) -> following (the cloud accepted it; the reconciler follows it there) -> done.
    An operation that ends in the conductor (a refusal, no driver) goes to done directly.
    Until `following`, nothing in the cloud tells this operation's outcome (a resized
    cluster's stack still says UPDATE_COMPLETE from the last resize): the owner drives it.
    """

    QUEUED = "queued"
    CLOUD_REQUESTED = "cloud_requested"
    FOLLOWING = "following"
    DONE = "done"

    ALL = (QUEUED, CLOUD_REQUESTED, FOLLOWING, DONE)
    #: Steps the owning conductor drives itself (may be driven again by a new owner).
    DRIVEN = (QUEUED, CLOUD_REQUESTED)


class Outcome:
    """How an operation ended (NULL while it is in flight)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SUPERSEDED = "superseded"  # a delete started while it ran

    ALL = (SUCCEEDED, FAILED, SUPERSEDED)


class Fault:
    """Short codes of why an operation failed or is stuck (Ironic's node.fault); the
    cluster's status_reason says the same in prose for people."""

    CLOUD_ERROR = "cloud_error"  # the cloud refused or failed the operation
    TIMEOUT = "timeout"  # the deadline passed
    CONDUCTOR_STOPPED = "conductor_stopped"  # stopped before the operation began
    CONDUCTOR_UNREACHABLE = "conductor_unreachable"  # the API's cast failed
    TRUST_BROKEN = "trust_broken"  # the cluster's trust no longer works (in flight)
    QUOTA_EXCEEDED = "quota_exceeded"
    INVALID = "invalid"  # the request cannot be done (a nodegroup gone, a bad parameter)
    DRAIN_FAILED = "drain_failed"  # an upgrade's batch could not be drained in time
    NODE_NOT_READY = "node_not_ready"  # a replaced node did not come back healthy in time
    NO_DRIVER = "no_driver"  # no installed plugin serves the cluster
    INTERNAL_ERROR = "internal_error"  # an unexpected error in the conductor

    ALL = (CLOUD_ERROR, TIMEOUT, CONDUCTOR_STOPPED, CONDUCTOR_UNREACHABLE, TRUST_BROKEN,
           QUOTA_EXCEEDED, INVALID, DRAIN_FAILED, NODE_NOT_READY, NO_DRIVER, INTERNAL_ERROR)


# Statuses from which an update-like operation (resize, nodegroups, rotations) may start.
_UPDATABLE = frozenset(Status.UPDATABLE)
# A delete may start from anything but a delete under way (and a cluster already gone).
_DELETABLE = frozenset(Status.ALL) - {Status.DELETE_IN_PROGRESS, Status.DELETE_COMPLETE}


@dataclasses.dataclass(frozen=True)
class Rules:
    """The transitions of one kind of operation."""

    kind: str
    #: Statuses the cluster may be in for the operation to start (create: a new cluster).
    start_from: frozenset[str]
    #: The status the operation starts in.
    in_progress: str
    #: Other statuses the operation passes through in flight (Heat's rollback of an update).
    progress: frozenset[str]
    #: Terminal statuses that mean the operation did what was asked.
    succeeded: frozenset[str]
    #: Terminal statuses that mean it did not.
    failed: frozenset[str]
    #: The status a failure in the conductor (or a timeout) ends the operation in.
    failed_status: str
    #: The event type of the status changes the conductor records.
    event_type: str
    #: The [conductor] option with its timeout in minutes (create: the cluster's own first).
    timeout_option: str
    #: Whether starting it ends an operation in flight (as superseded) instead of a 409.
    supersedes: bool = False

    @property
    def in_flight(self) -> frozenset[str]:
        return frozenset({self.in_progress}) | self.progress

    @property
    def statuses(self) -> frozenset[str]:
        """Every status an operation of this kind may record."""
        return self.in_flight | self.succeeded | self.failed


def _update_like(kind: str, event_type: str = "cluster.update",
                 timeout_option: str = "update_timeout") -> Rules:
    return Rules(kind, _UPDATABLE, Status.UPDATE_IN_PROGRESS,
                 frozenset({Status.ROLLBACK_IN_PROGRESS}), frozenset({Status.UPDATE_COMPLETE}),
                 frozenset({Status.UPDATE_FAILED, Status.ROLLBACK_COMPLETE,
                            Status.ROLLBACK_FAILED}),
                 Status.UPDATE_FAILED, event_type, timeout_option)


#: The transition table: one entry per kind.
TABLE: dict[str, Rules] = {
    Kind.CREATE: Rules(Kind.CREATE, frozenset(), Status.CREATE_IN_PROGRESS, frozenset(),
                       frozenset({Status.CREATE_COMPLETE}), frozenset({Status.CREATE_FAILED}),
                       Status.CREATE_FAILED, "cluster.create", "create_timeout"),
    Kind.RESIZE: _update_like(Kind.RESIZE),
    Kind.NODEGROUP_CREATE: _update_like(Kind.NODEGROUP_CREATE),
    Kind.NODEGROUP_DELETE: _update_like(Kind.NODEGROUP_DELETE),
    Kind.CA_ROTATION: _update_like(Kind.CA_ROTATION),
    Kind.CREDENTIALS_ROTATION: _update_like(Kind.CREDENTIALS_ROTATION),
    Kind.UPGRADE: _update_like(Kind.UPGRADE, "cluster.upgrade", "upgrade_timeout"),
    Kind.REPAIR: _update_like(Kind.REPAIR, "cluster.repair", "repair_timeout"),
    Kind.DELETE: Rules(Kind.DELETE, _DELETABLE, Status.DELETE_IN_PROGRESS, frozenset(),
                       frozenset({Status.DELETE_COMPLETE}), frozenset({Status.DELETE_FAILED}),
                       Status.DELETE_FAILED, "cluster.delete", "delete_timeout",
                       supersedes=True),
}
assert set(TABLE) == set(Kind.ALL)

#: Kinds whose next step needs the requester's own token (a new trust is made with it): the
#: token is kept, encrypted, on the record until then, for a conductor that takes it over.
NEEDS_REQUESTER = frozenset({Kind.CREATE, Kind.CREDENTIALS_ROTATION})

#: Kinds that update the cluster stack itself (a resize or a nodegroup leaves it as it was).
TOUCHES_CLUSTER_STACK = frozenset({Kind.CREATE, Kind.CA_ROTATION, Kind.CREDENTIALS_ROTATION,
                                   Kind.UPGRADE, Kind.REPAIR, Kind.DELETE})


def rules(kind: str) -> Rules:
    """The rules of `kind` (KeyError names an unknown kind: a programming error)."""
    return TABLE[kind]


def may_start(kind: str, status: str | None) -> bool:
    """Whether an operation of `kind` may start on a cluster in `status` (None: a cluster
    not made yet, which only a create starts)."""
    if status is None:
        return kind == Kind.CREATE
    return status in TABLE[kind].start_from


def refusal(kind: str, cluster_uuid: str, status: str | None) -> str:
    """Why an operation of `kind` may not start now (the 409's message)."""
    allowed = TABLE[kind].start_from
    if kind == Kind.DELETE:
        return f"Cluster {cluster_uuid} is {status}: it is being deleted already."
    what = "an update" if TABLE[kind].in_progress == Status.UPDATE_IN_PROGRESS else kind
    return (f"Cluster {cluster_uuid} is {status}: {what} can start only from "
            f"{', '.join(s for s in Status.UPDATABLE if s in allowed)}.")


def busy(cluster_uuid: str, kind: str) -> str:
    """The 409's message for a cluster with another operation in flight."""
    return (f"Cluster {cluster_uuid} is busy with another operation ({kind}): try again "
            f"when it has finished.")


def may_record(kind: str, status: str) -> bool:
    """Whether an operation of `kind` may set the cluster's status to `status`."""
    return status in TABLE[kind].statuses


def outcome_of(kind: str, status: str) -> str | None:
    """The outcome `status` means for an operation of `kind`; None while in flight."""
    table = TABLE[kind]
    if status in table.succeeded:
        return Outcome.SUCCEEDED
    if status in table.failed:
        return Outcome.FAILED
    return None


def owns_status(kind: str, status: str) -> bool:
    """Whether a status the cloud reports belongs to an operation of `kind` (anything else
    is the previous operation's state, not an outcome of this one)."""
    return may_record(kind, status)


def cloud_fault(reason: str | None) -> str:
    """The fault code of a failure the cloud reported with `reason` (its own words, read
    once when the failure is recorded)."""
    return Fault.QUOTA_EXCEEDED if "quota" in (reason or "").lower() else Fault.CLOUD_ERROR


def kind_for_status(status: str | None) -> str | None:
    """The kind of operation a cluster in `status` was in before operations were recorded
    (clusters in flight when the table was added): an update counts as a resize."""
    if status == Status.CREATE_IN_PROGRESS:
        return Kind.CREATE
    if status == Status.DELETE_IN_PROGRESS:
        return Kind.DELETE
    if status in (Status.UPDATE_IN_PROGRESS, Status.ROLLBACK_IN_PROGRESS):
        return Kind.RESIZE
    return None
