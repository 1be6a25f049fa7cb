"""Policies of /v1/clusters/{cluster_ident}/nodegroups."""

from oslo_policy import policy

from magnum_lite.common.policies import base

NODEGROUP = "nodegroup:%s"
COLLECTION = "/v1/clusters/{cluster_ident}/nodegroups"
ITEM = COLLECTION + "/{nodegroup}"

rules = [
    policy.DocumentedRuleDefault(
        name=NODEGROUP % "get",
        check_str=base.RULE_ADMIN_OR_PROJECT_READER,
        scope_types=base.PROJECT_SCOPE,
        description="Show a nodegroup of a cluster.",
        operations=[{"path": ITEM, "method": "GET"}],
    ),
    policy.DocumentedRuleDefault(
        name=NODEGROUP % "get_all",
        check_str=base.RULE_ADMIN_OR_PROJECT_READER,
        scope_types=base.PROJECT_SCOPE,
        description="List the nodegroups of a cluster.",
        operations=[{"path": COLLECTION, "method": "GET"}],
    ),
    policy.DocumentedRuleDefault(
        name=NODEGROUP % "get_all_all_projects",
        check_str=base.RULE_ADMIN_API,
        scope_types=base.PROJECT_SCOPE,
        description="List and show the nodegroups of a cluster of any project.",
        operations=[{"path": COLLECTION, "method": "GET"},
                    {"path": ITEM, "method": "GET"}],
    ),
    policy.DocumentedRuleDefault(
        name=NODEGROUP % "create",
        check_str=base.RULE_ADMIN_OR_PROJECT_MEMBER,
        scope_types=base.PROJECT_SCOPE,
        description="Add a nodegroup to a cluster.",
        operations=[{"path": COLLECTION, "method": "POST"}],
    ),
    policy.DocumentedRuleDefault(
        name=NODEGROUP % "update",
        check_str=base.RULE_ADMIN_OR_PROJECT_MEMBER,
        scope_types=base.PROJECT_SCOPE,
        description="Update (resize, set the bounds of) a nodegroup.",
        operations=[{"path": ITEM, "method": "PATCH"}],
    ),
    policy.DocumentedRuleDefault(
        name=NODEGROUP % "delete",
        check_str=base.RULE_ADMIN_OR_PROJECT_MEMBER,
        scope_types=base.PROJECT_SCOPE,
        description="Delete a nodegroup that is not a default one.",
        operations=[{"path": ITEM, "method": "DELETE"}],
    ),
]


def list_rules() -> list:
    return rules
