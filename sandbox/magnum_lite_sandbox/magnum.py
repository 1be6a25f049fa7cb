"""The project-side processes of the sandbox: magnum-lite itself, the guest agent, the stand-in.

They run from the project's venv (the one running this CLI), not the sandbox venv: magnum-lite
behind keystonemiddleware for real, validating resources against the stand-in through the
catalog, with its own PostgreSQL database and the sandbox's RabbitMQ vhost.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
import subprocess
import sys
from typing import Any

from magnum_lite_sandbox import config, processes

API = "magnum-lite-api"
CONDUCTOR = "magnum-lite-conductor"
AGENT = "agent"
CLOUD_API = "cloud-api"
ROOT_URL = "http://127.0.0.1:9511/"
# name -> module of the optional pieces written by the other sandbox engineers.
OPTIONAL_MODULES = {AGENT: "magnum_lite_sandbox.agent",
                    CLOUD_API: "magnum_lite_sandbox.cloud_api"}


def project_bin() -> Path:
    """The bin dir of the project's venv: where this interpreter's console scripts are."""
    return Path(sys.executable).parent


def conf_path(state_dir: Path) -> Path:
    return state_dir / "magnum-lite" / "magnum-lite.conf"


def conf_text(state_dir: Path, data: dict[str, Any], db_url: str, transport_url: str,
              validate_resources: bool = True) -> str:
    """magnum-lite.conf of the sandbox (pure: same inputs, same text)."""
    user = data["users"]["magnum-lite"]
    identity = data["keystone_url"].rsplit("/v3", 1)[0]
    region = data["region"]
    return config.render_ini({
        "DEFAULT": {"transport_url": transport_url,
                    "state_path": str(state_dir / "magnum-lite")},
        "api": {"auth_strategy": "keystone", "host": "127.0.0.1", "port": 9511,
                "workers": 1, "threads": 8},
        # Heat and magnum-lite share the machine's PostgreSQL (100 connections): oslo.db's
        # default overflow (50 per process) let a 50-node delete exhaust it.
        "database": {"connection": db_url, "max_pool_size": 5, "max_overflow": 5},
        "keystone_authtoken": {
            "www_authenticate_uri": identity, "auth_type": "password", "auth_url": identity,
            "username": user["username"], "password": user["password"],
            "project_name": "service", "user_domain_name": "Default",
            "project_domain_name": "Default", "region_name": region,
        },
        # The conductor's own credentials: the trustee of every cluster's trust.
        "keystone_auth": {
            "auth_type": "password", "auth_url": identity, "username": user["username"],
            "password": user["password"], "user_domain_name": "Default",
            "project_name": "service", "project_domain_name": "Default",
        },
        # One trustee user per cluster, made in this domain by its admin (DESIGN §10).
        "trust": {
            "trustee_domain_name": config.TRUSTEE_DOMAIN,
            "trustee_domain_admin_name": config.TRUSTEE_DOMAIN_ADMIN,
            "trustee_domain_admin_password": data["secrets"]["trustee_domain_admin"],
            "auth_url": data["keystone_url"],
        },
        # The key that encrypts the secrets magnum-lite stores (trustee passwords, CA keys).
        "credentials": {"encryption_keys": data["secrets"]["credentials_key"]},
        "cloud": {"validate_resources": validate_resources},
        # Faster status sync than the production defaults, so the tests and the status-sync
        # benchmark (benchmarks/README.md) see a cluster finish within a second of Heat.
        # A simulated node boots in seconds: an upgrade's node that is not back within a
        # minute is one a fault test holds down.
        "conductor": {"reconcile_interval": 0.1, "reconcile_backoff_base": 0.2,
                      "reconcile_backoff_max": 0.3,
                      "max_listings_per_project_per_second": 10,
                      "upgrade_node_timeout": 60, "upgrade_drain_timeout": 40},
        # The worker stacks start as soon as the cluster stack made what they need.
        "heat_driver": {"early_workers_check_interval": 0.5},
        # Health checks every 2 s (Magnum's are 60 s apart, ours 10 by default): the
        # sandbox's health and healing tests wait for a couple of intervals.
        "health": {"interval": 2},
        # Operations' start/end/error notifications (CADF, Magnum's event types) on the
        # sandbox's vhost, as devstack sends them: an accounting consumer can bind a queue
        # to the control exchange's notifications.* (the vhost bounds the default queue).
        "oslo_messaging_notifications": {"driver": "messagingv2"},
        # Heat's stack notifications (heat.py has Heat send them on the same vhost): a
        # cluster is checked as soon as one of its stacks ends a step. The polls stay as
        # quick as above (steady_poll_interval = reconcile_backoff_max), so the sandbox's
        # tests do not depend on them, and benchmarks/status_sync.py compares both ways in
        # one run (its poll mode unbinds the pool's queue from Heat's exchange meanwhile).
        "heat_notifications": {"enabled": True, "steady_poll_interval": 0.3},
        "glance": {"region_name": region},
        "nova": {"region_name": region},
        "neutron": {"region_name": region},
        "heat": {"region_name": region},
        "octavia": {"region_name": region},
    })


def setup(state_dir: Path, data: dict[str, Any], db_url: str, transport_url: str) -> bool:
    """Write the config and bring the database schema up to date (alembic: cheap when current).

    True when the config changed (running processes must restart to see it).
    """
    path = conf_path(state_dir)
    changed = config.write_private(path, conf_text(
        state_dir, data, db_url, transport_url, validate_resources=optional_available(CLOUD_API)))
    log = processes.log_path(state_dir, "magnum-lite-manage")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        res = subprocess.run(  # noqa: S603
            [str(project_bin() / "magnum-lite-manage"), "--config-file", str(path), "db",
             "upgrade"], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if res.returncode != 0:
        raise processes.StartError(f"magnum-lite-manage db upgrade failed; see {log}")
    return changed


def start_api(state_dir: Path, restart: bool = False) -> int:
    return processes.ensure(state_dir, API, [str(project_bin() / API), "--config-file",
                                             str(conf_path(state_dir))], restart=restart)


def start_conductor(state_dir: Path, restart: bool = False) -> int:
    return processes.ensure(state_dir, CONDUCTOR, [str(project_bin() / CONDUCTOR),
                                                   "--config-file", str(conf_path(state_dir))],
                            restart=restart)


def api_ready() -> bool:
    return processes.http_ok(ROOT_URL, accept=lambda status: status == 200)


def optional_available(name: str) -> bool:
    """True when the optional piece (agent, stand-in) can run with `python -m` here."""
    module = OPTIONAL_MODULES[name]
    try:
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.submodule_search_locations is not None:
            # A package runs with -m only once it has its __main__.
            spec = importlib.util.find_spec(module + ".__main__")
        return spec is not None
    except (ImportError, ValueError):
        return False


def start_optional(state_dir: Path, name: str) -> int | None:
    """Start the agent or the stand-in when its module exists; None when it does not."""
    if not optional_available(name):
        return None
    return processes.ensure(state_dir, name, [sys.executable, "-m", OPTIONAL_MODULES[name],
                                              "--state-dir", str(state_dir)])


def cloud_api_ready(data: dict[str, Any]) -> bool:
    """The stand-in answers on every one of its catalog URLs."""
    return all(processes.http_ok(url) for url in data["cloud_api"].values())
