"""[conductor] options: the RPC server and its heartbeat."""

from oslo_config import cfg

group = cfg.OptGroup("conductor", title="Conductor options")

opts = [
    cfg.StrOpt("topic", default="magnum-lite-conductor", help="RPC topic the conductors serve."),
    cfg.IntOpt("rpc_workers", default=8, min=1,
               help="Threads that execute RPC requests in one conductor."),
    cfg.IntOpt("heartbeat_interval", default=10, min=1,
               help="Seconds between two heartbeats a conductor writes to the service table."),
    cfg.IntOpt("service_down_time", default=60, min=1,
               help="Seconds without a heartbeat after which a service is reported down."),
    cfg.IntOpt("graceful_shutdown_timeout", default=8, min=1,
               help="Seconds a stopping conductor waits for RPC work in flight."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts() -> dict:
    return {group: opts}
