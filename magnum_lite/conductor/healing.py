"""Auto-healing: the health monitor's findings turned into repairs, safely (DESIGN.md §9).

A cluster heals itself when its labels (the template's, the cluster's over them) say
`auto_healing_enabled=true` (Magnum's label). A node the COE shows not ready for longer than
`auto_healing_grace` seconds (default 300) is replaced by a repair operation
(conductor/repair.py), with these rules:

- never while the cluster is in another operation (the monitor only checks clusters in a
  *_COMPLETE status with none in flight, and the repair starts through the operation table);
- at most `auto_healing_max_parallel` nodes (default 1) per repair;
- no healing at all when more than `auto_healing_max_unhealthy` of the workers, or of the
  masters (default 40 %), are unhealthy at once: that is a network partition or a cloud
  outage, not broken nodes; the health_status_reason says so (`"healing"`);
- a master is replaced only when the masters' quorum survives without it;
- a node whose repair failed twice (since its last repair that worked) is left alone, and
  the reason says so.

A node the COE no longer lists but the cloud holds (health.py: NotRegistered) is unhealthy
like a node shown not ready. When each node was first seen unhealthy is stored with the
cluster's health (`health_since`, wall-clock time), so a conductor that takes the cluster
over keeps the grace; a node chosen for a repair leaves it (its grace starts anew should
the repair not heal it). Each node's role comes from the servers the monitor keeps per
cluster (`Driver.expected_nodes`), not from a read of the cloud every round; the driver's
repair plan is asked only for a node those do not name.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import datetime
import time
from typing import Any

from oslo_log import log as logging
from oslo_utils import strutils

from magnum_lite import objects
from magnum_lite.common import context as ml_context
from magnum_lite.common import exception, states
from magnum_lite.conductor import health, reconciler
from magnum_lite.drivers import base as drivers_base
from magnum_lite.objects import cluster_operation as operations
from magnum_lite.objects import fields

LOG = logging.getLogger(__name__)

ENABLED_LABEL = "auto_healing_enabled"
GRACE_LABEL = "auto_healing_grace"
MAX_PARALLEL_LABEL = "auto_healing_max_parallel"
MAX_UNHEALTHY_LABEL = "auto_healing_max_unhealthy"
DEFAULT_GRACE = 300.0
DEFAULT_MAX_PARALLEL = 1
DEFAULT_MAX_UNHEALTHY = 40.0  # percent of the nodes
#: Failed repairs of one node after which it is left alone.
MAX_FAILED_REPAIRS = 2
#: The key of health_status_reason that says why healing holds back.
REASON_KEY = "healing"


def _number(labels: dict, name: str, default: float) -> float:
    try:
        return float(str(labels.get(name, default)).strip().rstrip("%"))
    except ValueError:
        return default


def settings(labels: dict) -> tuple[bool, float, int, float]:
    """(enabled, grace seconds, max parallel, max unhealthy percent) from the labels; a
    value that is no number counts as its default."""
    enabled = strutils.bool_from_string(labels.get(ENABLED_LABEL, "false"), default=False)
    return (enabled, max(0.0, _number(labels, GRACE_LABEL, DEFAULT_GRACE)),
            max(1, int(_number(labels, MAX_PARALLEL_LABEL, DEFAULT_MAX_PARALLEL))),
            _number(labels, MAX_UNHEALTHY_LABEL, DEFAULT_MAX_UNHEALTHY))


def failed_repairs(context: Any, cluster_uuid: str) -> dict[str, int]:
    """Per node, the repairs of it that failed since its last one that worked."""
    counts: dict[str, int] = {}
    for operation in objects.ClusterOperation.list(context, cluster_uuid, in_flight=False):
        if operation.kind != states.Kind.REPAIR:
            continue
        for name in (operation.params or {}).get("nodes") or []:
            if operation.outcome == states.Outcome.FAILED:
                counts[name] = counts.get(name, 0) + 1
            elif operation.outcome == states.Outcome.SUCCEEDED:
                counts.pop(name, None)
    return counts


def _stamp(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).isoformat()


def _seconds(stamps: dict[str, str] | None) -> dict[str, float]:
    """health_since as seconds since the epoch; a value that is no time is left out."""
    found = {}
    for name, stamp in (stamps or {}).items():
        try:
            when = datetime.datetime.fromisoformat(stamp)
        except (TypeError, ValueError):
            continue
        found[name] = (when if when.tzinfo else when.replace(tzinfo=datetime.UTC)).timestamp()
    return found


class Healer:
    """The auto-healing of one conductor: `review` each finding before it is recorded (it
    may add why healing holds back), then `act` on it."""

    def __init__(self, start_repair: Callable[[Any, str], None],
                 clock: Callable[[], float] = time.time) -> None:
        # start_repair(context, cluster_uuid): run the repair operation just started.
        # clock: wall-clock seconds (health_since is shared by every conductor).
        self._start_repair = start_repair
        self._clock = clock

    def review(self, driver: drivers_base.Driver, cluster: Any, template: Any,
               finding: health.Finding, expected: health.ExpectedNodes | None = None
               ) -> tuple[health.Finding, list[str]]:
        """The finding to record (when each unhealthy node was first seen so, from the
        cluster's `health_since`; `"healing"` in its reason when healing holds back) and
        the nodes to repair now (none unless auto-healing is on). `expected` gives the
        cluster's servers (their roles) when the finding has none."""
        now = self._clock()
        stored = _seconds(cluster.health_since)
        since = {name: stored.get(name, now) for name in finding.unhealthy}
        finding = dataclasses.replace(finding,
                                      since={n: _stamp(t) for n, t in since.items()})
        labels = {**(template.labels or {}), **(cluster.labels or {})}
        enabled, grace, max_parallel, max_unhealthy = settings(labels)
        if (not enabled or finding.status != fields.ClusterHealthStatus.UNHEALTHY
                or not finding.unhealthy):
            return finding, []
        context = ml_context.get_admin_context()
        roles = self._roles(driver, cluster, template, finding, expected)
        if roles is None:
            return _held(finding, "held back: the cloud cannot say which nodes these are"), []
        down = {role: sorted(n for n, r in roles.items() if r == role)
                for role in ("master", "worker")}
        for role, total in (("worker", finding.workers), ("master", finding.masters)):
            if total and len(down[role]) * 100.0 > max_unhealthy * total:
                return _held(finding, f"held back: {len(down[role])} of {total} {role}s are "
                                      f"unhealthy, more than {max_unhealthy:g} %: a network "
                                      f"partition or a cloud outage, not broken nodes"), []
        due = [n for t, n in sorted((t, n) for n, t in since.items()) if now - t >= grace]
        failed = failed_repairs(context, cluster.uuid) if due else {}
        given_up = sorted(n for n in due if failed.get(n, 0) >= MAX_FAILED_REPAIRS)
        why = []
        if given_up:
            why.append(f"left alone: {', '.join(given_up)} failed to heal "
                       f"{MAX_FAILED_REPAIRS} times")
        # A master goes only while a majority of the masters is ready without it.
        quorum_kept = finding.masters - len(down["master"]) >= finding.masters // 2 + 1
        kept = [n for n in due if roles.get(n) == "master" and not quorum_kept]
        if kept:
            why.append(f"{', '.join(kept)} not replaced: the masters' quorum would not "
                       f"survive")
        chosen = [n for n in due if n not in given_up and n not in kept][:max_parallel]
        if why:
            finding = _held(finding, "; ".join(why))
        if chosen:
            finding = dataclasses.replace(finding, since={
                n: stamp for n, stamp in (finding.since or {}).items() if n not in chosen})
        return finding, chosen

    @staticmethod
    def _roles(driver: drivers_base.Driver, cluster: Any, template: Any,
               finding: health.Finding, expected: health.ExpectedNodes | None
               ) -> dict[str, str] | None:
        """Each unhealthy node's role: from the cluster's servers (the finding's, else
        `expected`'s, which the monitor keeps), else from the driver's plan of their repair
        (a read of the cloud); None when neither can say."""
        nodes = finding.expected
        if nodes is None and expected is not None:
            nodes = expected()
        if nodes is not None:
            known = {}
            for node in nodes:
                known[node.name] = node.role
                if node.server_id:
                    known.setdefault(node.server_id, node.role)
            if all(name in known for name in finding.unhealthy):
                return {name: ("master" if known[name] == "master" else "worker")
                        for name in finding.unhealthy}
        context = reconciler.poll_context(cluster)
        nodegroups = objects.NodeGroup.list_for_clusters(context, [cluster.uuid])
        try:
            plan = driver.plan_repair(context, cluster, nodegroups, sorted(finding.unhealthy),
                                      cluster_template=template)
        except exception.MagnumLiteException as err:
            LOG.info("Cluster %s: cannot plan the repair of %s: %s", cluster.uuid,
                     ", ".join(sorted(finding.unhealthy)), err)
            return None
        return {name: ("master" if r.get("role") == "master" else "worker")
                for r in plan for name in r["nodes"]}

    def act(self, cluster: Any, nodes: list[str], finding: health.Finding) -> bool:
        """Start the repair of `nodes` (an operation like any other: 409-like refusals mean
        the cluster moved on, and nothing happens); True when started."""
        if not nodes:
            return False
        cause = "; ".join(f"{n}: {finding.unhealthy.get(n, 'not ready')}" for n in nodes)
        context = ml_context.RequestContext(project_id=cluster.project_id,
                                            user_id=cluster.user_id, is_admin=True,
                                            all_projects=True)
        try:
            current = objects.Cluster.get_by_uuid(context, cluster.uuid)
            operations.start(context, current, states.Kind.REPAIR, "cluster.repair",
                             {"nodes": nodes, "cause": f"auto-healing: {cause}"[:500],
                              "auto": True})
        except (exception.Conflict, exception.ConcurrentUpdate, exception.ClusterNotFound):
            return False
        LOG.warning("Cluster %s: auto-healing replaces %s (%s)", cluster.uuid,
                    ", ".join(nodes), cause)
        self._start_repair(context, cluster.uuid)
        return True


def _held(finding: health.Finding, why: str) -> health.Finding:
    """The finding with why healing holds back in its reason."""
    return dataclasses.replace(finding, reason={**finding.reason, REASON_KEY: why})
