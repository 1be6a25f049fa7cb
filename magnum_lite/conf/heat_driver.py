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
    cfg.FloatOpt("early_workers_check_interval", default=1.0, min=0.0,
                 help="While a cluster stack is still being built, how often (seconds) the "
                      "conductor looks whether what the worker stacks need exists (network, "
                      "subnet, security group, the control plane's address), so that the "
                      "workers are built beside the masters instead of after them. 0 starts "
                      "the worker stacks only once the cluster stack is complete. The "
                      "sandbox cloud sets 0.5."),
    cfg.IntOpt("cleanup_timeout", default=120, min=1,
               help="Seconds the pre-delete cleanup waits for the load balancers the COE made "
                    "to go away before deleting the stacks anyway."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts() -> dict:
    return {group: opts}
