"""[quotas] options: default limits per project."""

from oslo_config import cfg

group = cfg.OptGroup("quotas", title="Default quotas")

opts = [
    cfg.IntOpt("max_clusters_per_project", default=20, min=-1,
               help="Clusters a project may own unless a quota row says otherwise; -1 for no "
                    "limit."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts() -> dict:
    return {group: opts}
