"""Policies of /v1/certificates and /v1/credentials."""

from oslo_policy import policy

from magnum_lite.common.policies import base

rules = [
    policy.DocumentedRuleDefault(
        name="certificate:get",
        check_str=base.RULE_ADMIN_OR_PROJECT_READER,
        scope_types=base.PROJECT_SCOPE,
        description="Show the CA certificate of a cluster.",
        operations=[{"path": "/v1/certificates/{cluster_ident}", "method": "GET"}],
    ),
    policy.DocumentedRuleDefault(
        name="certificate:create",
        check_str=base.RULE_ADMIN_OR_PROJECT_MEMBER,
        scope_types=base.PROJECT_SCOPE,
        description="Have a CSR signed by a cluster's CA (the certificate names the caller).",
        operations=[{"path": "/v1/certificates", "method": "POST"}],
    ),
    policy.DocumentedRuleDefault(
        name="certificate:rotate_ca",
        check_str=base.RULE_ADMIN_OR_PROJECT_MEMBER,
        scope_types=base.PROJECT_SCOPE,
        description="Give a cluster a new CA: certificates the old one signed stop working.",
        operations=[{"path": "/v1/certificates/{cluster_ident}", "method": "PATCH"}],
    ),
    policy.DocumentedRuleDefault(
        name="certificate:all_projects",
        check_str=base.RULE_ADMIN_API,
        scope_types=base.PROJECT_SCOPE,
        description="Let an administrator reach the certificates of another project's "
                    "cluster.",
        operations=[{"path": "/v1/certificates/{cluster_ident}", "method": "GET"},
                    {"path": "/v1/certificates", "method": "POST"},
                    {"path": "/v1/certificates/{cluster_ident}", "method": "PATCH"}],
    ),
    policy.DocumentedRuleDefault(
        name="credential:rotate",
        check_str=base.RULE_ADMIN_OR_PROJECT_MEMBER,
        scope_types=base.PROJECT_SCOPE,
        description="Replace a cluster's trustee user and trust with ones from the caller.",
        operations=[{"path": "/v1/credentials/{cluster_ident}", "method": "PATCH"}],
    ),
    policy.DocumentedRuleDefault(
        name="credential:all_projects",
        check_str=base.RULE_ADMIN_API,
        scope_types=base.PROJECT_SCOPE,
        description="Let an administrator rotate the trust of another project's cluster.",
        operations=[{"path": "/v1/credentials/{cluster_ident}", "method": "PATCH"}],
    ),
]


def list_rules() -> list:
    return rules
