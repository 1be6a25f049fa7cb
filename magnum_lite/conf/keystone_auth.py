"""[keystone_auth]: magnum-lite's own service credentials (a keystoneauth auth plugin).

The conductor uses them for work it starts itself: as the trustee of each cluster's trust
(acting for the cluster's owner in the owner's project), and for what needs no project (token
checks). In the sandbox they are the `magnum-lite` service user's.
"""

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

GROUP = "keystone_auth"

group = cfg.OptGroup(GROUP, title="magnum-lite's service credentials")


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(group)
    ks_loading.register_session_conf_options(conf, GROUP)
    ks_loading.register_auth_conf_options(conf, GROUP)


def list_opts() -> dict:
    return {group: (ks_loading.get_session_conf_options()
                    + ks_loading.get_auth_common_conf_options()
                    + ks_loading.get_auth_plugin_conf_options("password"))}
