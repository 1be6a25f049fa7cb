"""[coordination]: an optional tooz backend that tells which conductors are alive."""

from oslo_config import cfg

group = cfg.OptGroup("coordination", title="Conductor membership through tooz")

opts = [
    cfg.StrOpt("backend_url", secret=True,
               help="URL of a tooz coordination backend that holds the group of live "
                    "conductors, for example redis://127.0.0.1:6379, "
                    "etcd3+http://127.0.0.1:2379, zookeeper://127.0.0.1:2181 or "
                    "file:///var/lib/magnum-lite/coordination (one host only). A stopping "
                    "conductor leaves the group at once, so the others take over its "
                    "clusters and their operations within [conductor] "
                    "hash_ring_refresh_interval; one that dies without leaving drops out "
                    "after the backend's member timeout (the URL's timeout parameter, for "
                    "example ?timeout=10). Unset: the conductors' heartbeats in the service "
                    "table decide ([conductor] service_down_time). Every conductor and API "
                    "process must use the same URL and group_name. The backend's client "
                    "library must be installed (redis, etcd3gw, kazoo...)."),
    cfg.StrOpt("group_name", default="magnum-lite-conductors",
               help="Name of the tooz group the conductors join; deployments sharing one "
                    "backend need different names."),
    cfg.FloatOpt("heartbeat_interval", default=1.0, min=0.1,
                 help="Seconds between two heartbeats a conductor sends to the coordination "
                      "backend (it also joins the group again then, should the backend have "
                      "lost it); keep it well below the backend's member timeout."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts() -> dict:
    return {group: opts}
