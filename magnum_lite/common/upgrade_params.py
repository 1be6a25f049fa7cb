"""An upgrade operation's params (`cluster_operation.params`), which the API writes and the
conductor reads: `cluster_template_uuid`, `driver_id` and `driver_version` (the target),
`max_batch_size`, `nodegroup_uuid` (None: masters and every worker nodegroup), the
`from_*` of the three (what the cluster ran), and for a rollback `rollback` and, when it
undoes an upgrade that did not finish, `undo_key` and `undo_version` (that upgrade's
target key and COE version, from its plan). `cancel` records a rollback asked while the
upgrade runs (who asked, and its `max_batch_size`).

The plan beside them (`cluster_operation.plan`) is the conductor's; its `phase` is one of
PHASES (the API refuses a rollback once the upgrade is settling).
"""

from __future__ import annotations

#: The phases of an upgrade's plan, in order (conductor/upgrade.py).
PHASES = DRAIN, ROLL, WAIT, VERIFY, SETTLE = "drain", "roll", "wait", "verify", "settle"


def rollback_of(params: dict, plan: dict | None, max_batch_size: int | None = None) -> dict:
    """The params of a rollback that undoes the upgrade of `params` which did not finish
    (cancelled while it ran, or failed) and whose plan was `plan`: back to where it came
    from, taking back only the nodes it moved, with its batching unless
    `max_batch_size` is given."""
    return {
        "cluster_template_uuid": params["from_cluster_template_uuid"],
        "driver_id": params.get("from_driver_id"),
        "driver_version": params.get("from_driver_version"),
        "max_batch_size": max_batch_size or params.get("max_batch_size") or 1,
        "nodegroup_uuid": params.get("nodegroup_uuid"),
        "from_cluster_template_uuid": params["cluster_template_uuid"],
        "from_driver_id": params.get("driver_id"),
        "from_driver_version": params.get("driver_version"),
        "rollback": True,
        "undo_key": (plan or {}).get("target_key"),
        "undo_version": (plan or {}).get("to_version"),
    }
