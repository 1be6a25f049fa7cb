"""Policies of /v1/drivers: administrators publish drivers, every project reads them."""

from oslo_policy import policy

from magnum_lite.common.policies import base

DRIVER = "driver:%s"
COLLECTION = "/v1/drivers"
ITEM = "/v1/drivers/{driver_ident}"

rules = [
    policy.DocumentedRuleDefault(
        name=DRIVER % "create",
        check_str=base.RULE_ADMIN_API,
        scope_types=base.PROJECT_SCOPE,
        description="Create a driver (its version 1).",
        operations=[{"path": COLLECTION, "method": "POST"}],
    ),
    policy.DocumentedRuleDefault(
        name=DRIVER % "update",
        check_str=base.RULE_ADMIN_API,
        scope_types=base.PROJECT_SCOPE,
        description="Publish a new version of a driver.",
        operations=[{"path": ITEM, "method": "PATCH"}],
    ),
    policy.DocumentedRuleDefault(
        name=DRIVER % "delete",
        check_str=base.RULE_ADMIN_API,
        scope_types=base.PROJECT_SCOPE,
        description="Delete a driver or one of its versions.",
        operations=[{"path": ITEM, "method": "DELETE"}],
    ),
    policy.DocumentedRuleDefault(
        name=DRIVER % "get",
        check_str=base.RULE_ADMIN_OR_PROJECT_READER,
        scope_types=base.PROJECT_SCOPE,
        description="Show a driver version (public ones, or the caller's project's).",
        operations=[{"path": ITEM, "method": "GET"},
                    {"path": ITEM + "/versions", "method": "GET"}],
    ),
    policy.DocumentedRuleDefault(
        name=DRIVER % "get_all",
        check_str=base.RULE_ADMIN_OR_PROJECT_READER,
        scope_types=base.PROJECT_SCOPE,
        description="List drivers (public ones, and the caller's project's).",
        operations=[{"path": COLLECTION, "method": "GET"}],
    ),
]


def list_rules() -> list:
    return rules
