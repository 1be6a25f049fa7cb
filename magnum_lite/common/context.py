"""Request context: who asks (project, user, roles) and the request id, carried over RPC."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from oslo_context import context

if TYPE_CHECKING:
    from magnum_lite.common import trustee as trustee_mod


class RequestContext(context.RequestContext):
    """oslo.context's context plus `all_projects` (admin listings across projects), the trust
    the conductor acts through for a cluster, and the caller's service catalog.

    The catalog travels over RPC with the token, so the conductor finds Heat where the user's
    token says it is. `trustee` (a cluster's trustee user with its trust, set by the conductor
    from the cluster's stored credentials) never travels: it holds a password, so to_dict
    leaves it out.
    """

    def __init__(self, all_projects: bool = False, trust_id: str | None = None,
                 service_catalog: Any = None, trustee: trustee_mod.Trustee | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.all_projects = all_projects
        self.trust_id = trust_id
        self.service_catalog = service_catalog
        self.trustee = trustee

    def to_dict(self) -> dict:
        values = super().to_dict()
        values["all_projects"] = self.all_projects
        values["trust_id"] = self.trust_id
        values["service_catalog"] = self.service_catalog
        return values

    @classmethod
    def from_dict(cls, values: dict, **kwargs: Any) -> RequestContext:
        kwargs.setdefault("all_projects", values.get("all_projects", False))
        kwargs.setdefault("trust_id", values.get("trust_id"))
        kwargs.setdefault("service_catalog", values.get("service_catalog"))
        return super().from_dict(values, **kwargs)

    def redacted_copy(self, **kwargs: Any) -> RequestContext:
        """A copy without the token and catalog (what a notifier sends along). Unlike
        oslo.context's, it does not become the thread's current context."""
        kwargs.setdefault("overwrite", False)
        return super().redacted_copy(**kwargs)

    def to_policy_values(self) -> Any:
        values = super().to_policy_values()
        values["is_admin"] = self.is_admin
        return values


def get_admin_context() -> RequestContext:
    """A context for work the service does on its own (heartbeats, reconcilers)."""
    return RequestContext(is_admin=True, roles=["admin"], all_projects=True, overwrite=False)
