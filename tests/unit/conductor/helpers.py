"""What the conductor tests share: how long they wait, and waiting on the database.

Background work is awaited through what it leaves in the database (the operation records,
a cluster's status), never through the manager's private work list.
"""

from __future__ import annotations

from collections.abc import Callable
import time
from typing import Any, TypeVar

from magnum_lite import objects
from magnum_lite.common import context as ml_context
from magnum_lite.common import states
from magnum_lite.conductor import hashring
from magnum_lite.conductor import manager as conductor_manager
from magnum_lite.conductor import reconciler as conductor_reconciler
from magnum_lite.objects import cluster_operation

# Seconds a test waits for background work at most.
WAIT = 10

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = WAIT, what: str = "condition",
             interval: float = 0.01) -> T:
    """Poll `predicate` every `interval` seconds until it returns something true (which is
    returned)."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"{what} not met within {timeout}s"
        time.sleep(interval)
    return value


def driven() -> list[Any]:
    """The operations in flight at a step their conductor drives (queued, cloud_requested)."""
    return [op for op in objects.ClusterOperation.list(None, in_flight=True)
            if op.step in states.Step.DRIVEN]


def settle(timeout: float = WAIT) -> None:
    """Wait until every operation cast to a conductor was taken up and either handed over
    to the reconciler (step following) or ended (an outcome)."""
    wait_for(lambda: not driven(), timeout, "every operation handed over or ended", 0.05)


def operation_of(context: Any, cluster_uuid: str) -> Any:
    """The cluster's latest operation record (in flight or not), or None."""
    found = objects.ClusterOperation.list(context, cluster_uuid)
    return found[-1] if found else None


def in_flight(context: Any, cluster: Any, kind: str | None = None,
              step: str = states.Step.QUEUED) -> Any:
    """Give a cluster made in an *_IN_PROGRESS status the operation record the API starts
    with it (of `kind`, by default the one its status says); returns the record."""
    kind = kind or states.kind_for_status(cluster.status)
    admin = ml_context.get_admin_context()
    admin.all_projects = True
    operation = cluster_operation.adopt(admin, cluster.uuid, kind, None, step)
    assert operation is not None, f"{cluster.status} is no status of a {kind}"
    written = objects.Cluster.get_by_uuid(admin, cluster.uuid)
    cluster.operation_uuid, cluster.revision = written.operation_uuid, written.revision
    cluster.updated_at = written.updated_at
    cluster.obj_reset_changes()
    return operation


def reconciler_on(host: str, manager: Any, hosts: set[str], clock: Any
                  ) -> conductor_reconciler.Reconciler:
    """The reconciler of `host` (with its `manager`) on a ring of the live `hosts` (read at
    every round), on the test's `clock` (a FakeClock)."""
    ring = hashring.ConductorRing(host, list_hosts=lambda: set(hosts), refresh_interval=0)
    return conductor_reconciler.Reconciler(host, manager=manager, ring=ring, clock=clock,
                                           utcnow=clock.utcnow)


def takeover_round(host: str, hosts: set[str], clock: Any, workers: int = 2) -> None:
    """Conductor `host` started with an empty pool (a new or restarted process) on a ring of
    `hosts`: one reconciler round after the unclaimed grace, which takes over what was left
    behind, until every operation is handed over or ended; then it stops."""
    manager = conductor_manager.ConductorManager(host, workers=workers)
    manager.start()
    reconciler = reconciler_on(host, manager, hosts, clock)
    try:
        clock.advance(conductor_reconciler.UNCLAIMED_GRACE + 60)
        reconciler.run_once()
        settle()
    finally:
        reconciler.stop()
        manager.stop(timeout=WAIT)
