"""[cloud] and per-service client options (the keystoneauth way) for Nova, Glance, Neutron, Heat.

Each service has its own group with keystoneauth's session options (cafile, insecure, timeout,
...) and adapter options (interface, region_name, endpoint_override, ...).
"""

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

group = cfg.OptGroup("cloud", title="The OpenStack cloud magnum-lite provisions in")

opts = [
    cfg.BoolOpt(
        "validate_resources",
        default=True,
        help="Check images, flavors, keypairs and networks named in templates and clusters "
             "against Glance, Nova and Neutron. Only in effect with [api] auth_strategy = "
             "keystone: without Keystone there is no cloud to ask.",
    ),
]

# (group name, service type) of every OpenStack service a client is made for.
CLIENT_SERVICES = {
    "nova": "compute",
    "glance": "image",
    "neutron": "network",
    "heat": "orchestration",
    "octavia": "load-balancer",
}


def _client_opts(service_type: str) -> list:
    """keystoneauth's session and adapter options, with this service's defaults.

    Defaults live on the option objects (not `set_default`), so they survive CONF.reset().
    """
    adapter_opts = ks_loading.get_adapter_conf_options(include_deprecated=False)
    cfg.set_defaults(adapter_opts, service_type=service_type,
                     valid_interfaces=["internal", "public"])
    return ks_loading.get_session_conf_options() + adapter_opts


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(group)
    conf.register_opts(opts, group=group)
    for name, service_type in CLIENT_SERVICES.items():
        conf.register_opts(_client_opts(service_type), group=name)


def list_opts() -> dict:
    result: dict = {group: opts}
    for name, service_type in CLIENT_SERVICES.items():
        result[name] = _client_opts(service_type)
    return result
