"""Sandbox Heat plugin: custom constraints that accept any value.

The sandbox has no Nova, Glance, Neutron, Cinder or Octavia, so Heat's client-backed
constraints (``nova.flavor``, ``neutron.network`` ...) fail with EndpointNotFound. Constraints
registered by plugin modules are loaded after the entry-point ones, so these replace them.
"""

from importlib import metadata

from heat.engine import constraints

SIMULATED_PREFIXES = ("nova.", "glance.", "neutron.", "cinder.", "octavia.")

# Used if the entry points cannot be read; Heat 27's names for the simulated services.
KNOWN_NAMES = (
    "cinder.backup", "cinder.qos_specs", "cinder.snapshot", "cinder.volume", "cinder.vtype",
    "glance.image", "neutron.address_scope", "neutron.flow_classifier",
    "neutron.lbaas.listener", "neutron.lbaas.loadbalancer", "neutron.lbaas.pool",
    "neutron.lbaas.provider", "neutron.network", "neutron.port", "neutron.port_pair",
    "neutron.port_pair_group", "neutron.qos_policy", "neutron.router",
    "neutron.security_group", "neutron.segment", "neutron.subnet", "neutron.subnetpool",
    "neutron.taas.tap_flow", "neutron.taas.tap_service", "nova.flavor", "nova.host",
    "nova.keypair", "nova.network", "nova.server", "octavia.availabilityzone",
    "octavia.availabilityzoneprofile", "octavia.flavor", "octavia.flavorprofile",
    "octavia.l7policy", "octavia.listener", "octavia.loadbalancer", "octavia.pool",
)


class SandboxAcceptingConstraint(constraints.BaseCustomConstraint):
    """Accepts every value: the simulated service would have had it."""

    def validate(self, value, context, *args, **kwargs):
        return True

    def validate_with_client(self, client, resource_id):
        return None


def _constraint_names():
    names = set(KNOWN_NAMES)
    try:
        eps = metadata.entry_points(group="heat.constraints")
        names.update(ep.name for ep in eps if ep.name.startswith(SIMULATED_PREFIXES))
    except Exception:  # noqa: BLE001 - the static list is enough
        pass
    return sorted(names)


def constraint_mapping():
    return {name: SandboxAcceptingConstraint for name in _constraint_names()}
