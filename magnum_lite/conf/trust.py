"""[trust]: the Keystone domain that holds one trustee user per cluster.

At cluster create the conductor makes a user in this domain (with the domain admin below) and
the cluster's owner delegates their roles in the cluster's project to it with a trust. The
conductor acts through that trust for work it starts itself, and the cluster's nodes get the
trustee's credentials for the in-cluster cloud provider. Both go with the cluster.
"""

from oslo_config import cfg

GROUP = "trust"

group = cfg.OptGroup(GROUP, title="Trustee users of clusters")

OPTS = [
    cfg.StrOpt("trustee_domain_id", help="Id of the domain of the trustee users."),
    cfg.StrOpt("trustee_domain_name", help="Name of the domain of the trustee users "
               "(when trustee_domain_id is unset)."),
    cfg.StrOpt("trustee_domain_admin_id", help="Id of the user that administers the trustee "
               "domain (it needs the admin role on that domain)."),
    cfg.StrOpt("trustee_domain_admin_name", help="Name of that user (in the trustee domain, "
               "when trustee_domain_admin_id is unset)."),
    cfg.StrOpt("trustee_domain_admin_password", secret=True,
               help="Password of the trustee domain admin."),
    cfg.StrOpt("auth_url", help="Keystone's URL for the trustee users (what the cluster's "
               "nodes reach). Defaults to [keystone_auth] auth_url."),
    cfg.BoolOpt("cluster_user_trust", default=True,
                help="Hand the trust id to the cluster's nodes with the trustee's "
                     "credentials, so the in-cluster cloud provider acts in the owner's "
                     "project."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(group)
    conf.register_opts(OPTS, group=group)


def list_opts() -> dict:
    return {group: OPTS}
