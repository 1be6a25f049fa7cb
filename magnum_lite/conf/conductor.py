"""[conductor] options: the RPC server, its heartbeat, the status reconciler, the hash ring
and its clients of the clusters' COE APIs."""

from oslo_config import cfg

group = cfg.OptGroup("conductor", title="Conductor options")

opts = [
    cfg.StrOpt("topic", default="magnum-lite-conductor", help="RPC topic the conductors serve."),
    cfg.IntOpt("rpc_call_timeout", default=30, min=1,
               help="Seconds the API waits for a conductor's answer to a call (signing a "
                    "certificate, a dry run) before it answers 503."),
    cfg.IntOpt("rpc_workers", default=8, min=1,
               help="Threads that execute RPC requests in one conductor."),
    cfg.IntOpt("heartbeat_interval", default=10, min=1,
               help="Seconds between two heartbeats a conductor writes to the service table."),
    cfg.IntOpt("service_down_time", default=60, min=1,
               help="Seconds without a heartbeat after which a service is reported down."),
    cfg.IntOpt("graceful_shutdown_timeout", default=8, min=1,
               help="Seconds a stopping conductor waits for RPC work in flight."),
    cfg.FloatOpt("reconcile_interval", default=1.0, min=0.01,
                 help="Seconds from the end of one round of the status reconciler, which "
                      "follows the clusters in an *_IN_PROGRESS status in the cloud, to the "
                      "start of the next. A round reads the database and starts the checks "
                      "that are due; the checks themselves are paced by "
                      "reconcile_backoff_base/_max and max_listings_per_project_per_second. "
                      "The sandbox cloud sets 0.1 (sandbox/magnum_lite_sandbox/magnum.py)."),
    cfg.FloatOpt("reconcile_backoff_base", default=2.0, min=0.0,
                 help="Seconds after which a cluster in progress is checked again when the "
                      "cloud reported a change (and the first delay of its backoff). The "
                      "sandbox cloud sets 0.2."),
    cfg.FloatOpt("reconcile_backoff_max", default=10.0, min=0.0,
                 help="The longest delay, in seconds, between two checks of a cluster in "
                      "progress while the cloud reports no change (the delay grows by half "
                      "each time from reconcile_backoff_base). About half of it is how long, "
                      "on average, a cluster shows *_IN_PROGRESS after Heat finished. The "
                      "sandbox cloud sets 0.3."),
    cfg.FloatOpt("max_listings_per_project_per_second", default=1.0, min=0.001,
                 help="How many times per second, at most, one conductor lists a project's "
                      "stacks in Heat to check its clusters in progress: two listings of a "
                      "project begin at least 1/this seconds apart, and the next begins only "
                      "once the previous one answered. Clusters due meanwhile wait for the "
                      "next round that may list their project (each conductor of several "
                      "counts its own listings; the hash ring spreads a project's clusters "
                      "over them). The sandbox cloud sets 10 (one listing per round at "
                      "most)."),
    cfg.IntOpt("reconcile_workers", default=8, min=1,
               help="Threads that read clusters' status from the cloud at once, so one slow "
                    "project does not hold up the others."),
    cfg.IntOpt("create_timeout", default=60, min=1,
               help="Minutes a cluster creation may take when the cluster sets no "
                    "create_timeout of its own; then it fails."),
    cfg.IntOpt("update_timeout", default=60, min=1,
               help="Minutes a cluster update (resize) or rollback may take; then it fails."),
    cfg.IntOpt("upgrade_timeout", default=240, min=1,
               help="Minutes a rolling upgrade (or its rollback) may take in all, every batch "
                    "included; then it fails in UPDATE_FAILED and a new upgrade call "
                    "resumes it."),
    cfg.IntOpt("repair_timeout", default=60, min=1,
               help="Minutes a repair (unhealthy nodes replaced, by auto-healing or asked "
                    "for) may take in all; then it fails in UPDATE_FAILED."),
    cfg.IntOpt("repair_drain_timeout", default=60, min=0,
               help="Seconds a repair tries to drain a node it replaces through the COE "
                    "API (a node that is down rarely lets its pods go); then it replaces "
                    "the node anyway."),
    cfg.IntOpt("upgrade_drain_timeout", default=600, min=1,
               help="Seconds a rolling upgrade waits for a batch's nodes to be drained "
                    "through the COE API (PodDisruptionBudgets may hold pods back); then "
                    "the upgrade fails naming the nodes."),
    cfg.IntOpt("upgrade_node_timeout", default=900, min=1,
               help="Seconds a rolling upgrade waits for a batch's replaced nodes to be "
                    "ready at the target version in the COE; then the upgrade fails naming "
                    "the node."),
    cfg.IntOpt("delete_timeout", default=60, min=1,
               help="Minutes a cluster deletion may take; then it ends in DELETE_FAILED."),
    cfg.IntOpt("timeout_grace", default=30, min=0,
               help="Seconds added to every operation timeout, so Heat's own stack timeout "
                    "reports first (with Heat's reason)."),
    cfg.IntOpt("hash_ring_refresh_interval", default=5, min=1,
               help="Seconds between two reads of the live conductors that share the "
                    "clusters to follow (the consistent hash ring)."),
    cfg.FloatOpt("coe_api_timeout", default=5.0, min=0.1,
                 help="Seconds the conductor waits for a cluster's COE API (Kubernetes, "
                      "Docker, Mesos) to accept a connection, and then for each answer, when "
                      "it drains nodes for a rolling upgrade; past that the API counts as "
                      "unreachable for this round and is asked again on the next."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts() -> dict:
    return {group: opts}
