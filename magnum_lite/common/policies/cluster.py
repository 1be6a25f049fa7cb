"""Policies of /v1/clusters."""

from oslo_policy import policy

from magnum_lite.common.policies import base

CLUSTER = "cluster:%s"
COLLECTION = "/v1/clusters"
ITEM = "/v1/clusters/{cluster_ident}"

rules = [
    policy.DocumentedRuleDefault(
        name=CLUSTER % "create",
        check_str=base.RULE_ADMIN_OR_PROJECT_MEMBER,
        scope_types=base.PROJECT_SCOPE,
        description="Create a cluster.",
        operations=[{"path": COLLECTION, "method": "POST"}],
    ),
    policy.DocumentedRuleDefault(
        name=CLUSTER % "delete",
        check_str=base.RULE_ADMIN_OR_PROJECT_MEMBER,
        scope_types=base.PROJECT_SCOPE,
        description="Delete a cluster.",
        operations=[{"path": ITEM, "method": "DELETE"}],
    ),
    policy.DocumentedRuleDefault(
        name=CLUSTER % "delete_all_projects",
        check_str=base.RULE_ADMIN_API,
        scope_types=base.PROJECT_SCOPE,
        description="Delete a cluster of any project.",
        operations=[{"path": ITEM, "method": "DELETE"}],
    ),
    policy.DocumentedRuleDefault(
        name=CLUSTER % "detail",
        check_str=base.RULE_ADMIN_OR_PROJECT_READER,
        scope_types=base.PROJECT_SCOPE,
        description="List clusters with all their fields.",
        operations=[{"path": COLLECTION + "/detail", "method": "GET"}],
    ),
    policy.DocumentedRuleDefault(
        name=CLUSTER % "detail_all_projects",
        check_str=base.RULE_ADMIN_API,
        scope_types=base.PROJECT_SCOPE,
        description="List the clusters of every project with all their fields.",
        operations=[{"path": COLLECTION + "/detail", "method": "GET"}],
    ),
    policy.DocumentedRuleDefault(
        name=CLUSTER % "events",
        check_str=base.RULE_ADMIN_OR_PROJECT_READER,
        scope_types=base.PROJECT_SCOPE,
        description="List the events of a cluster (1.16+).",
        operations=[{"path": ITEM + "/events", "method": "GET"}],
    ),
    policy.DocumentedRuleDefault(
        name=CLUSTER % "events_all_projects",
        check_str=base.RULE_ADMIN_API,
        scope_types=base.PROJECT_SCOPE,
        description="List the events of a cluster of any project, also of a deleted "
                    "cluster (by its uuid).",
        operations=[{"path": ITEM + "/events", "method": "GET"}],
    ),
    policy.DocumentedRuleDefault(
        name=CLUSTER % "get",
        check_str=base.RULE_ADMIN_OR_PROJECT_READER,
        scope_types=base.PROJECT_SCOPE,
        description="Show a cluster.",
        operations=[{"path": ITEM, "method": "GET"}],
    ),
    policy.DocumentedRuleDefault(
        name=CLUSTER % "get_one_all_projects",
        check_str=base.RULE_ADMIN_API,
        scope_types=base.PROJECT_SCOPE,
        description="Show a cluster of any project.",
        operations=[{"path": ITEM, "method": "GET"}],
    ),
    policy.DocumentedRuleDefault(
        name=CLUSTER % "get_all",
        check_str=base.RULE_ADMIN_OR_PROJECT_READER,
        scope_types=base.PROJECT_SCOPE,
        description="List clusters.",
        operations=[{"path": COLLECTION, "method": "GET"}],
    ),
    policy.DocumentedRuleDefault(
        name=CLUSTER % "get_all_all_projects",
        check_str=base.RULE_ADMIN_API,
        scope_types=base.PROJECT_SCOPE,
        description="List the clusters of every project.",
        operations=[{"path": COLLECTION, "method": "GET"}],
    ),
    policy.DocumentedRuleDefault(
        name=CLUSTER % "resize",
        check_str=base.RULE_ADMIN_OR_PROJECT_MEMBER,
        scope_types=base.PROJECT_SCOPE,
        description="Resize a nodegroup of a cluster (an admin may resize any project's "
                    "cluster when cluster:update_all_projects allows it).",
        operations=[{"path": ITEM + "/actions/resize", "method": "POST"}],
    ),
    policy.DocumentedRuleDefault(
        name=CLUSTER % "update",
        check_str=base.RULE_ADMIN_OR_PROJECT_MEMBER,
        scope_types=base.PROJECT_SCOPE,
        description="Update (resize) a cluster.",
        operations=[{"path": ITEM, "method": "PATCH"}],
    ),
    policy.DocumentedRuleDefault(
        name=CLUSTER % "update_all_projects",
        check_str=base.RULE_ADMIN_API,
        scope_types=base.PROJECT_SCOPE,
        description="Update (resize) a cluster of any project.",
        operations=[{"path": ITEM, "method": "PATCH"}],
    ),
    policy.DocumentedRuleDefault(
        name=CLUSTER % "upgrade",
        check_str=base.RULE_ADMIN_OR_PROJECT_MEMBER,
        scope_types=base.PROJECT_SCOPE,
        description="Upgrade a cluster, or one of its nodegroups, to another cluster "
                    "template or driver version (an admin may upgrade any project's cluster "
                    "when cluster:update_all_projects allows it).",
        operations=[{"path": ITEM + "/actions/upgrade", "method": "POST"}],
    ),
    policy.DocumentedRuleDefault(
        name=CLUSTER % "repair",
        check_str=base.RULE_ADMIN_OR_PROJECT_MEMBER,
        scope_types=base.PROJECT_SCOPE,
        description="Replace unhealthy nodes of a cluster (an admin may repair any "
                    "project's cluster when cluster:update_all_projects allows it).",
        operations=[{"path": ITEM + "/actions/repair", "method": "POST"}],
    ),
]


def list_rules() -> list:
    return rules
