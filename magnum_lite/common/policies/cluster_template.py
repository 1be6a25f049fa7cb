"""Policies of /v1/clustertemplates."""

from oslo_policy import policy

from magnum_lite.common.policies import base

CLUSTER_TEMPLATE = "clustertemplate:%s"
COLLECTION = "/v1/clustertemplates"
ITEM = "/v1/clustertemplates/{clustertemplate_ident}"

rules = [
    policy.DocumentedRuleDefault(
        name=CLUSTER_TEMPLATE % "create",
        check_str=base.RULE_ADMIN_OR_PROJECT_MEMBER,
        scope_types=base.PROJECT_SCOPE,
        description="Create a cluster template.",
        operations=[{"path": COLLECTION, "method": "POST"}],
    ),
    policy.DocumentedRuleDefault(
        name=CLUSTER_TEMPLATE % "delete",
        check_str=base.RULE_ADMIN_OR_PROJECT_MEMBER,
        scope_types=base.PROJECT_SCOPE,
        description="Delete a cluster template.",
        operations=[{"path": ITEM, "method": "DELETE"}],
    ),
    policy.DocumentedRuleDefault(
        name=CLUSTER_TEMPLATE % "delete_all_projects",
        check_str=base.RULE_ADMIN_API,
        scope_types=base.PROJECT_SCOPE,
        description="Delete a cluster template of any project.",
        operations=[{"path": ITEM, "method": "DELETE"}],
    ),
    policy.DocumentedRuleDefault(
        name=CLUSTER_TEMPLATE % "detail",
        check_str=base.RULE_ADMIN_OR_PROJECT_READER,
        scope_types=base.PROJECT_SCOPE,
        description="List cluster templates with all their fields.",
        operations=[{"path": COLLECTION + "/detail", "method": "GET"}],
    ),
    policy.DocumentedRuleDefault(
        name=CLUSTER_TEMPLATE % "detail_all_projects",
        check_str=base.RULE_ADMIN_API,
        scope_types=base.PROJECT_SCOPE,
        description="List the cluster templates of every project with all their fields.",
        operations=[{"path": COLLECTION + "/detail", "method": "GET"}],
    ),
    policy.DocumentedRuleDefault(
        name=CLUSTER_TEMPLATE % "get",
        check_str=base.RULE_ADMIN_OR_PROJECT_READER,
        scope_types=base.PROJECT_SCOPE,
        description="Show a cluster template.",
        operations=[{"path": ITEM, "method": "GET"}],
    ),
    policy.DocumentedRuleDefault(
        name=CLUSTER_TEMPLATE % "get_one_all_projects",
        check_str=base.RULE_ADMIN_API,
        scope_types=base.PROJECT_SCOPE,
        description="Show a cluster template of any project.",
        operations=[{"path": ITEM, "method": "GET"}],
    ),
    policy.DocumentedRuleDefault(
        name=CLUSTER_TEMPLATE % "get_all",
        check_str=base.RULE_ADMIN_OR_PROJECT_READER,
        scope_types=base.PROJECT_SCOPE,
        description="List cluster templates.",
        operations=[{"path": COLLECTION, "method": "GET"}],
    ),
    policy.DocumentedRuleDefault(
        name=CLUSTER_TEMPLATE % "get_all_all_projects",
        check_str=base.RULE_ADMIN_API,
        scope_types=base.PROJECT_SCOPE,
        description="List the cluster templates of every project.",
        operations=[{"path": COLLECTION, "method": "GET"}],
    ),
    policy.DocumentedRuleDefault(
        name=CLUSTER_TEMPLATE % "update",
        check_str=base.RULE_ADMIN_OR_PROJECT_MEMBER,
        scope_types=base.PROJECT_SCOPE,
        description="Update a cluster template.",
        operations=[{"path": ITEM, "method": "PATCH"}],
    ),
    policy.DocumentedRuleDefault(
        name=CLUSTER_TEMPLATE % "update_all_projects",
        check_str=base.RULE_ADMIN_API,
        scope_types=base.PROJECT_SCOPE,
        description="Update a cluster template of any project.",
        operations=[{"path": ITEM, "method": "PATCH"}],
    ),
    policy.DocumentedRuleDefault(
        name=CLUSTER_TEMPLATE % "publish",
        check_str=base.RULE_ADMIN_API,
        scope_types=base.PROJECT_SCOPE,
        description="Set the public or hidden flag of a cluster template.",
        operations=[{"path": COLLECTION, "method": "POST"}, {"path": ITEM, "method": "PATCH"}],
    ),
]


def list_rules() -> list:
    return rules
