"""[health]: the conductors' periodic check of each cluster's COE (DESIGN.md §9)."""

from oslo_config import cfg

group = cfg.OptGroup("health", title="COE health monitoring")

opts = [
    cfg.BoolOpt("enabled", default=True,
                help="Check the health of every cluster in a *_COMPLETE status through its "
                     "COE API (nodes ready, API answering) and show it as health_status and "
                     "health_status_reason."),
    cfg.IntOpt("interval", default=10, min=1,
               help="Seconds between two checks of a cluster (Magnum's is 60). The clusters "
                    "are shared among the conductors by the hash ring."),
    cfg.IntOpt("workers", default=16, min=1,
               help="Checks one conductor runs at once: an unreachable cluster holds one "
                    "worker for at most [health] check_timeout, never the others."),
    cfg.FloatOpt("check_timeout", min=0.1,
                 help="Seconds one check of a cluster may take in all: its COE API "
                      "requests (each also bounded by [conductor] coe_api_timeout) and, "
                      "when the API cannot be reached, the look at its masters' servers in "
                      "Nova. Unset: twice [conductor] coe_api_timeout."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts() -> dict:
    return {group: opts}
