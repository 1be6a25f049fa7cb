"""Policies of /v1/mservices: the service list is for operators only."""

from oslo_policy import policy

from magnum_lite.common.policies import base

rules = [
    policy.DocumentedRuleDefault(
        name="magnum-service:get_all",
        check_str=base.RULE_ADMIN_API,
        scope_types=base.PROJECT_SCOPE,
        description="List the magnum-lite services and their state.",
        operations=[{"path": "/v1/mservices", "method": "GET"}],
    ),
]


def list_rules() -> list:
    return rules
