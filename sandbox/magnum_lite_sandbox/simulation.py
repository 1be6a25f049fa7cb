"""The simulation of Nova, Neutron, Octavia and Cinder inside real Heat.

Real Heat has no compute, network, load-balancer or volume service in the sandbox, so a global
Heat environment maps those resource types to provider templates (``templates/``) that create
no resources and output plausible values; real Heat then creates, updates and deletes whole
cluster stacks. The Heat plugins (``heat_plugins/``) accept the custom constraints that would
otherwise call the missing services, lock yaql parsing and shorten the convergence sleep.

``prepare(state_dir)`` writes the environment and returns what heat.conf needs:
``[DEFAULT] plugin_dirs`` and ``[DEFAULT] environment_dir``. Standard library only, so the
backbone can call it from any interpreter.
"""

import argparse
import json
import os
import sys

#: Every simulated resource type and its provider template (in ``templates/``).
SIMULATED_TYPES: dict[str, str] = {
    name: name.lower().replace("::", "_") + ".yaml"
    for name in (
        "OS::Nova::Server",
        "OS::Nova::ServerGroup",
        "OS::Nova::KeyPair",
        "OS::Neutron::Net",
        "OS::Neutron::Subnet",
        "OS::Neutron::Port",
        "OS::Neutron::Router",
        "OS::Neutron::RouterInterface",
        "OS::Neutron::SecurityGroup",
        "OS::Neutron::SecurityGroupRule",
        "OS::Neutron::FloatingIP",
        "OS::Neutron::FloatingIPAssociation",
        "OS::Octavia::LoadBalancer",
        "OS::Octavia::Listener",
        "OS::Octavia::Pool",
        "OS::Octavia::PoolMember",
        "OS::Octavia::HealthMonitor",
        "OS::Cinder::Volume",
        "OS::Cinder::VolumeAttachment",
    )
}

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
TEMPLATES_DIR = os.path.join(PACKAGE_DIR, "templates")
PLUGINS_DIR = os.path.join(PACKAGE_DIR, "heat_plugins")
ENVIRONMENT_FILE = "sandbox-simulation.yaml"


def environment() -> dict:
    """The global environment: each simulated type mapped to its template by absolute URL.

    Heat reads file:// URLs in a global environment (never in a user's), which is why the
    mapping lives in ``environment_dir`` rather than in each stack.
    """
    registry = {
        name: "file://" + os.path.join(TEMPLATES_DIR, filename)
        for name, filename in SIMULATED_TYPES.items()
    }
    return {"resource_registry": registry}


def prepare(state_dir: "str | os.PathLike[str]") -> dict:
    """Write Heat's global environment under ``<state_dir>/heat/environment.d``.

    Returns {"plugin_dirs": [...], "environment_dir": ...} for heat.conf's [DEFAULT]. Safe
    to call on every start: the file is rewritten atomically, so a moved checkout is picked up.
    """
    env_dir = os.path.join(os.path.abspath(state_dir), "heat", "environment.d")
    os.makedirs(env_dir, exist_ok=True)
    path = os.path.join(env_dir, ENVIRONMENT_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        # JSON is YAML, and Heat parses environments with a YAML loader.
        json.dump(environment(), f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)
    return {"plugin_dirs": [PLUGINS_DIR], "environment_dir": env_dir}


def main(argv: list[str] | None = None) -> int:
    """``python -m magnum_lite_sandbox.simulation prepare --state-dir DIR`` prints the JSON."""
    parser = argparse.ArgumentParser(prog="python -m magnum_lite_sandbox.simulation")
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="write Heat's global environment, print heat.conf values")
    prep.add_argument("--state-dir", required=True)
    args = parser.parse_args(argv)
    result = prepare(args.state_dir)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
