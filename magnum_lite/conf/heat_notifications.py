"""[heat_notifications]: the conductor's listener of Heat's `orchestration.stack.*`
notifications, which reconciles a cluster as soon as one of its stacks finished a step
(conductor/heat_events.py); polling stays as the safety net."""

from oslo_config import cfg

group = cfg.OptGroup("heat_notifications", title="Heat's stack notifications")

opts = [
    cfg.BoolOpt("enabled", default=False,
                help="Listen to Heat's orchestration.stack.<action>.end and .error "
                     "notifications (Heat sends them with [oslo_messaging_notifications] "
                     "driver = messagingv2) and check the cluster whose stack it names at "
                     "once, instead of waiting for the next poll. The reconciler still "
                     "polls every cluster in progress, at most every "
                     "steady_poll_interval seconds then."),
    cfg.StrOpt("transport_url", secret=True,
               help="The message bus Heat notifies on (oslo.messaging transport URL). "
                    "Unset: the conductor's own [DEFAULT] transport_url."),
    cfg.ListOpt("topics", default=["notifications"],
                help="The topics Heat notifies on (Heat's [oslo_messaging_notifications] "
                     "topics)."),
    cfg.StrOpt("exchange", default="heat",
               help="The exchange Heat notifies on (Heat's control_exchange)."),
    cfg.StrOpt("pool", default="magnum-lite-heat-events",
               help="The listener pool the conductors share: each notification goes to "
                    "one conductor of the pool. On RabbitMQ it is the name of the queue "
                    "they share, beside those of other consumers of Heat's notifications "
                    "(Ceilometer): it must not be [conductor] topic, the queue of the "
                    "conductors' RPC when Heat and magnum-lite share a vhost."),
    cfg.IntOpt("workers", default=2, min=1,
               help="Threads that take notifications off the bus in one conductor (each "
                    "only hands the cluster's check to the reconciler's pool)."),
    cfg.FloatOpt("steady_poll_interval", default=30.0, min=0.0,
                 help="While the conductor listens to Heat's notifications: the longest "
                      "delay, in seconds, between two polls of a cluster whose operation "
                      "ends with its stacks (create, resize, nodegroups, rotations, "
                      "delete) while they report no change; it replaces [conductor] "
                      "reconcile_backoff_max, which stays the bound when it is larger. "
                      "The poll is the safety net for a notification lost or never sent. "
                      "Upgrades and repairs, which wait on the COE's nodes, keep "
                      "reconcile_backoff_max."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts() -> dict:
    return {group: opts}
