"""Policies of /v1/stats."""

from oslo_policy import policy

from magnum_lite.common.policies import base

rules = [
    policy.DocumentedRuleDefault(
        name="stats:get_all",
        check_str=base.RULE_ADMIN_OR_PROJECT_READER,
        scope_types=base.PROJECT_SCOPE,
        description="Show the number of clusters and nodes of a project (admins: of any "
                    "project, or of all).",
        operations=[{"path": "/v1/stats", "method": "GET"}],
    ),
]


def list_rules() -> list:
    return rules
