"""[upgrade_levels]: RPC version pins for rolling upgrades."""

from oslo_config import cfg

group = cfg.OptGroup("upgrade_levels", title="RPC version pins during a rolling upgrade")

opts = [
    cfg.StrOpt("conductor",
               help="Cap the conductor RPC API at this version (for example 1.0) while older "
                    "conductors still run; unset means the newest version."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts() -> dict:
    return {group: opts}
