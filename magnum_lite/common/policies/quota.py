"""Policies of /v1/quotas: everyone reads their own project's quotas, admins manage them."""

from oslo_policy import policy

from magnum_lite.common.policies import base

QUOTA = "quota:%s"
COLLECTION = "/v1/quotas"
ITEM = "/v1/quotas/{project_id}/{resource}"

rules = [
    policy.DocumentedRuleDefault(
        name=QUOTA % "create",
        check_str=base.RULE_ADMIN_API,
        scope_types=base.PROJECT_SCOPE,
        description="Set a project's quota for a resource.",
        operations=[{"path": COLLECTION, "method": "POST"}],
    ),
    policy.DocumentedRuleDefault(
        name=QUOTA % "delete",
        check_str=base.RULE_ADMIN_API,
        scope_types=base.PROJECT_SCOPE,
        description="Remove a project's quota for a resource (back to the default).",
        operations=[{"path": ITEM, "method": "DELETE"}],
    ),
    policy.DocumentedRuleDefault(
        name=QUOTA % "get",
        check_str=base.RULE_ADMIN_OR_PROJECT_READER,
        scope_types=base.PROJECT_SCOPE,
        description="Show a project's quota for a resource.",
        operations=[{"path": ITEM, "method": "GET"}],
    ),
    policy.DocumentedRuleDefault(
        name=QUOTA % "get_all",
        check_str=base.RULE_ADMIN_OR_PROJECT_READER,
        scope_types=base.PROJECT_SCOPE,
        description="List quotas (admins may list every project's with all_tenants).",
        operations=[{"path": COLLECTION, "method": "GET"}],
    ),
    policy.DocumentedRuleDefault(
        name=QUOTA % "get_all_all_projects",
        check_str=base.RULE_ADMIN_API,
        scope_types=base.PROJECT_SCOPE,
        description="List the quotas of every project.",
        operations=[{"path": COLLECTION + "?all_tenants=True", "method": "GET"}],
    ),
    policy.DocumentedRuleDefault(
        name=QUOTA % "update",
        check_str=base.RULE_ADMIN_API,
        scope_types=base.PROJECT_SCOPE,
        description="Change a project's quota for a resource.",
        operations=[{"path": ITEM, "method": "PATCH"}],
    ),
]


def list_rules() -> list:
    return rules
