"""Building blocks of every policy: the personas (reader, member, admin) and project scope.

Keystone's default roles imply each other (admin → member → reader), so a check for `reader`
admits members and admins of the project too.
"""

from oslo_policy import policy

RULE_ADMIN = "rule:context_is_admin"
RULE_ADMIN_API = "rule:admin_api"
RULE_PROJECT_READER = "rule:project_reader"
RULE_PROJECT_MEMBER = "rule:project_member"
RULE_ADMIN_OR_PROJECT_READER = "rule:admin_or_project_reader"
RULE_ADMIN_OR_PROJECT_MEMBER = "rule:admin_or_project_member"

# Every API resource is owned by a project; system-scoped tokens are not for this API.
PROJECT_SCOPE = ["project"]

rules = [
    policy.RuleDefault(
        name="context_is_admin",
        check_str="role:admin",
        description="Who is an administrator: sees and manages every project's resources.",
    ),
    policy.RuleDefault(
        name="admin_api",
        check_str=RULE_ADMIN,
        description="Operations only administrators may perform.",
    ),
    policy.RuleDefault(
        name="project_reader",
        check_str="role:reader and project_id:%(project_id)s",
        description="A reader (or member, or admin) of the project that owns the target.",
    ),
    policy.RuleDefault(
        name="project_member",
        check_str="role:member and project_id:%(project_id)s",
        description="A member (or admin) of the project that owns the target.",
    ),
    policy.RuleDefault(
        name="admin_or_project_reader",
        check_str=f"{RULE_ADMIN} or {RULE_PROJECT_READER}",
        description="An administrator, or a reader of the project that owns the target.",
    ),
    policy.RuleDefault(
        name="admin_or_project_member",
        check_str=f"{RULE_ADMIN} or {RULE_PROJECT_MEMBER}",
        description="An administrator, or a member of the project that owns the target.",
    ),
]


def list_rules() -> list:
    return rules
