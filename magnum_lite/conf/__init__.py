"""Configuration: every option group is registered here, once, on the global CONF."""

from oslo_config import cfg

from magnum_lite.conf import (
    api,
    cloud,
    conductor,
    coordination,
    database,
    default,
    health,
    heat_driver,
    heat_notifications,
    keystone_auth,
    quotas,
    trust,
    upgrade_levels,
    x509,
)

CONF = cfg.CONF

MODULES = (default, api, cloud, conductor, coordination, database, health, heat_driver,
           heat_notifications, keystone_auth, quotas, trust, upgrade_levels, x509)

for _module in MODULES:
    _module.register_opts(CONF)
