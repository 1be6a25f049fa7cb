"""Notifications of cluster operations, for operators' accounting (DESIGN.md §7): CADF events
(pycadf) sent through oslo.messaging's notifier.

Each operation sends one notification when it starts and one when it ends, with Magnum's
event types, publisher and CADF shape, so that consumers written for Magnum (billing,
Ceilometer, dashboards) read ours unchanged:

    phase   priority  CADF outcome  event type
    start   INFO      pending       magnum.cluster.create | update | delete
    end     INFO      success       (the kind's; outcome `unknown` when a delete superseded it)
    error   ERROR     failure       (the kind's; CADF reason = the fault code)

Magnum has three event types: a resize, an upgrade, a CA or credentials rotation and a
nodegroup create or delete are updates of the cluster (Magnum itself sends
magnum.cluster.update when such an update completes). The operation's own kind, its uuid,
its outcome, fault and reason, the cluster's node counts, flavors, server type, COE and
driver (name and version) travel in the target's `cluster_data` attachment: Magnum's fields
plus ours.

The options are oslo.messaging's `[oslo_messaging_notifications]` (driver, transport_url,
topics, retry): nothing is sent while no driver is set, and nothing is gathered either
(`enabled`). A notification is sent after its operation's transaction committed; one that
cannot be sent is logged and never fails the operation.
"""

from __future__ import annotations

from collections.abc import Mapping
import datetime
import os
import threading
from typing import Any

from oslo_config import cfg
from oslo_log import log as logging
import oslo_messaging as messaging
from pycadf import attachment, cadftaxonomy, cadftype, eventfactory, reason, resource

from magnum_lite.common import rpc, states
from magnum_lite.conf import CONF

LOG = logging.getLogger(__name__)

GROUP = rpc.NOTIFICATIONS_GROUP
#: Magnum's publisher: notifications come from `container-infra.<host>`.
PUBLISHER = "container-infra"
#: Magnum's CADF type of a cluster (target, observer and the attachment).
CLUSTER_TYPE_URI = "service/magnum/cluster"
#: The attachment of the target with the cluster's fields (Magnum's name).
ATTACHMENT_NAME = "cluster_data"
#: The CADF reasonType of an error's reasonCode (states.Fault).
FAULT_REASON_TYPE = "magnum-lite/fault"


class Phase:
    """Where an operation is: the three notifications it may send."""

    START = "start"
    END = "end"
    ERROR = "error"

    ALL = (START, END, ERROR)


#: CADF actions of the kinds that are not an update of the cluster.
_ACTIONS = {states.Kind.CREATE: cadftaxonomy.ACTION_CREATE,
            states.Kind.DELETE: cadftaxonomy.ACTION_DELETE}

# Readable (and overridable in tests) before the first notifier is made.
rpc.register_notification_opts(CONF)

_LOCK = threading.Lock()
# (pid, transport, drivers, topics) -> Notifier: a notifier is costly to make (it loads its
# drivers); a forked child, a new transport or new options get a new one.
_NOTIFIERS: dict[tuple, messaging.Notifier] = {}


def action_of(kind: str) -> str:
    """The CADF action of an operation of `kind`: create, delete, or update (every other
    kind changes an existing cluster)."""
    return _ACTIONS.get(kind, cadftaxonomy.ACTION_UPDATE)


def event_type(kind: str) -> str:
    """Magnum's event type of an operation of `kind` (magnum.cluster.<action>)."""
    return f"magnum.cluster.{action_of(kind)}"


def outcome_of(phase: str, outcome: str | None) -> str:
    """The CADF outcome of a notification of `phase` for an operation that ended with
    `outcome` (states.Outcome; None while in flight)."""
    if phase == Phase.START:
        return cadftaxonomy.OUTCOME_PENDING
    if phase == Phase.ERROR:
        return cadftaxonomy.OUTCOME_FAILURE
    if outcome == states.Outcome.SUPERSEDED:
        return cadftaxonomy.UNKNOWN
    return cadftaxonomy.OUTCOME_SUCCESS


def enabled(conf: cfg.ConfigOpts = CONF) -> bool:
    """Whether a notification driver (other than noop) is configured."""
    rpc.register_notification_opts(conf)
    drivers = [name for name in conf[GROUP].driver if name != "noop"]
    return bool(drivers)


def _primitive(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return value.isoformat()
    if isinstance(value, Mapping):
        return {key: _primitive(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_primitive(item) for item in value]
    return value


def build_payload(phase: str, *, initiator: Mapping[str, Any], cluster: Mapping[str, Any],
                  operation: Mapping[str, Any], nodegroups: list[Mapping[str, Any]] = (),
                  template: Mapping[str, Any] | None = None,
                  driver_name: str | None = None) -> dict:
    """The CADF event (as a dict) of a notification of `phase` for `operation`.

    `initiator`: user_id, project_id (and domain_id) of who asked; `cluster`: the cluster's
    fields; `operation`: its record's (kind, uuid, outcome, fault, ...) with `reason` for an
    error; `nodegroups`: the cluster's nodegroups' fields; `template`: its template's (coe,
    server_type, flavors by default); `driver_name`: the name of its driver's version.
    """
    if phase not in Phase.ALL:
        raise ValueError(f"unknown notification phase {phase!r}")
    template = template or {}
    kind = operation["kind"]
    who = resource.Resource(typeURI=cadftaxonomy.ACCOUNT_USER)
    for key in ("user_id", "project_id", "domain_id"):
        if initiator.get(key):
            setattr(who, key, initiator[key])
    target = resource.Resource(id=cluster["uuid"], name=cluster.get("name"),
                               typeURI=CLUSTER_TYPE_URI)
    target.add_attachment(attach_val=attachment.Attachment(
        typeURI=CLUSTER_TYPE_URI, name=ATTACHMENT_NAME,
        content=_cluster_data(phase, cluster, operation, nodegroups, template, driver_name)))
    why = None
    if phase == Phase.ERROR:
        why = reason.Reason(reasonType=FAULT_REASON_TYPE,
                            reasonCode=operation.get("fault") or states.Fault.INTERNAL_ERROR)
    event = eventfactory.EventFactory().new_event(
        eventType=cadftype.EVENTTYPE_ACTIVITY, action=action_of(kind),
        outcome=outcome_of(phase, operation.get("outcome")), initiator=who, target=target,
        observer=resource.Resource(typeURI=CLUSTER_TYPE_URI), reason=why)
    return event.as_dict()


def _cluster_data(phase: str, cluster: Mapping[str, Any], operation: Mapping[str, Any],
                  nodegroups: list[Mapping[str, Any]], template: Mapping[str, Any],
                  driver_name: str | None) -> dict:
    """The attachment: Magnum's cluster_data fields, then what accounting needs besides."""
    flavors = {"master": cluster.get("master_flavor_id") or template.get("master_flavor_id"),
               "worker": cluster.get("flavor_id") or template.get("flavor_id")}
    groups = []
    for ng in sorted(nodegroups, key=lambda n: (n.get("role") != "master", n.get("name"))):
        role = "master" if ng.get("role") == "master" else "worker"
        groups.append({
            "uuid": ng.get("uuid"), "name": ng.get("name"), "role": ng.get("role"),
            "node_count": ng.get("node_count"), "is_default": ng.get("is_default"),
            "flavor_id": ng.get("flavor_id") or flavors[role],
            "server_type": ng.get("server_type") or template.get("server_type"),
            "image_id": ng.get("image_id"), "status": ng.get("status"),
            "availability_zone": ng.get("availability_zone")})
    masters = [ng for ng in groups if ng["role"] == "master"]
    workers = [ng for ng in groups if ng["role"] != "master"]
    master_count = (sum(ng["node_count"] or 0 for ng in masters) if groups
                    else cluster.get("master_count"))
    node_count = (sum(ng["node_count"] or 0 for ng in workers) if groups
                  else cluster.get("node_count"))
    params = operation.get("params") or {}
    data = {
        # Magnum's fields.
        "status": cluster.get("status"), "status_reason": cluster.get("status_reason"),
        "project_id": cluster.get("project_id"), "created_at": cluster.get("created_at"),
        "updated_at": cluster.get("updated_at"),
        "cluster_template_id": cluster.get("cluster_template_id"),
        "keypair": cluster.get("keypair"), "docker_volume_size": cluster.get("docker_volume_size"),
        "labels": cluster.get("labels"), "master_flavor_id": flavors["master"],
        "flavor_id": flavors["worker"], "stack_id": cluster.get("stack_id"),
        "health_status": cluster.get("health_status"),
        "create_timeout": cluster.get("create_timeout"),
        "api_address": cluster.get("api_address"), "node_count": node_count,
        "master_count": master_count,
        # Ours: who owns it, what runs it, and the operation.
        "uuid": cluster.get("uuid"), "name": cluster.get("name"),
        "user_id": cluster.get("user_id"), "coe": template.get("coe"),
        "server_type": template.get("server_type"),
        "cluster_distro": template.get("cluster_distro"),
        "coe_version": cluster.get("coe_version"), "driver": driver_name,
        "driver_id": cluster.get("driver_id"), "driver_version": cluster.get("driver_version"),
        "version": cluster.get("version"), "nodegroups": groups,
        "operation": {
            "uuid": operation.get("uuid"), "kind": operation["kind"], "phase": phase,
            "outcome": operation.get("outcome"), "fault": operation.get("fault"),
            "reason": operation.get("reason"), "request_id": operation.get("request_id"),
            "started_at": operation.get("started_at"),
            "finished_at": operation.get("finished_at"),
            "cluster_version": operation.get("cluster_version"),
            "nodegroup_uuid": params.get("nodegroup_uuid"),
        },
    }
    return _primitive(data)


def _notifier() -> messaging.Notifier:
    transport = rpc.get_notification_transport()
    options = CONF[GROUP]
    key = (os.getpid(), id(transport), tuple(options.driver), tuple(options.topics))
    with _LOCK:
        notifier = _NOTIFIERS.get(key)
        if notifier is None:
            _NOTIFIERS.clear()
            notifier = rpc.get_notifier(PUBLISHER, messaging.NoOpSerializer())
            _NOTIFIERS[key] = notifier
        return notifier


def send(context: Any, phase: str, kind: str, payload: dict) -> None:
    """Send the notification of `phase` (built by build_payload) at its priority; a failure
    is logged, never raised (the operation it tells of is recorded already)."""
    if not enabled():
        return
    try:
        notifier = _notifier()
        notify = notifier.error if phase == Phase.ERROR else notifier.info
        notify(context, event_type(kind), payload)
    except Exception:
        LOG.exception("Cluster %s: the %s notification of its %s could not be sent",
                      payload.get("target", {}).get("id"), phase, kind)
