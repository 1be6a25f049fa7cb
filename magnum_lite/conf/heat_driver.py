"""[heat_driver]: how the shared Heat driver lays clusters out in stacks and cleans up."""

from oslo_config import cfg

group = cfg.OptGroup("heat_driver", title="The shared Heat driver")

opts = [
    cfg.IntOpt("max_resources_per_stack", default=1000, min=50,
               help="Heat's max_resources_per_stack (Heat's default is 1000). A worker "
                    "nodegroup is split into stacks small enough to stay under it, counting "
                    "every resource of a stack's whole tree as Heat does."),
    cfg.IntOpt("status_reason_resources", default=3, min=1,
               help="How many failed resources a FAILED cluster's status_reason names."),
    cfg.IntOpt("cleanup_timeout", default=120, min=1,
               help="Seconds the pre-delete cleanup waits for the load balancers the COE made "
                    "to go away before deleting the stacks anyway."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts() -> dict:
    return {group: opts}
