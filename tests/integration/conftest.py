"""The sandbox cloud for the integration tier: started once per session, or found running.

`sandbox` (session scope) runs `magnum-lite-sandbox start` (idempotent: quick when it runs
already) and yields the parsed sandbox.json. When the sandbox cannot start for want of
PostgreSQL/RabbitMQ (exit code 2) the tests skip with the reason; every integration test is
also marked `service`, so under CI=true that skip is a failure. A sandbox this session started
is stopped at the end unless MAGNUM_LITE_SANDBOX_KEEP=1 or pytest-xdist runs the tests; one
found running is left running.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import json
import os
from pathlib import Path
import subprocess
import sys
from typing import Any
import uuid

from heatclient import client as heat_client
import pytest

from magnum_lite_sandbox import config as sandbox_config
from magnum_lite_sandbox import processes
from tests.integration import clusters, upgrades

# From nothing the start builds a venv (about a minute) and may apt-get install the services.
START_TIMEOUT = 900


def _cli(*args: str, timeout: float = START_TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "magnum_lite_sandbox.cli", *args],
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[dict[str, Any]]:
    """The running sandbox's sandbox.json (users, passwords, URLs)."""
    state_dir = sandbox_config.default_state_dir()
    was_running = _cli("status", timeout=60).returncode == 0
    result = _cli("start")
    if result.returncode == 2:
        pytest.skip(f"the sandbox cannot start here: {result.stdout.strip()}")
    if result.returncode != 0:
        pytest.fail(f"magnum-lite-sandbox start failed ({result.returncode}):\n"
                    f"{result.stdout}\n{result.stderr}")
    data = json.loads((state_dir / "sandbox.json").read_text())
    data["clouds_yaml"] = str(state_dir / "clouds.yaml")
    yield data
    # Under pytest-xdist every worker has this fixture and none knows whether the others are
    # done: the sandbox is left running (tools/run-tests.sh starts and stops it around them).
    in_xdist_worker = "PYTEST_XDIST_WORKER" in os.environ
    if (not was_running and not in_xdist_worker
            and os.environ.get("MAGNUM_LITE_SANDBOX_KEEP") != "1"):
        stopped = _cli("stop", timeout=120)
        # `stop` leaves no process behind: none carries the state dir's marker any more.
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert processes.marked_pids(state_dir) == [], "sandbox processes survived stop"


@pytest.fixture(scope="session")
def openstack_cli(sandbox: dict[str, Any]):
    """Runs the `openstack` CLI of the project's venv (it has the `coe` commands)."""
    binary = Path(sys.executable).parent / "openstack"
    if not binary.exists():
        pytest.skip("no `openstack` CLI in the project venv (python-openstackclient, "
                    "python-magnumclient from test-requirements.txt)")
    # `coe cluster config` reads SHELL to say how to export KUBECONFIG.
    env = dict(os.environ, OS_CLIENT_CONFIG_FILE=sandbox["clouds_yaml"])
    env.setdefault("SHELL", "/bin/bash")
    for key in [k for k in env if k.startswith("OS_") and k != "OS_CLIENT_CONFIG_FILE"]:
        del env[key]

    def run(cloud: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        res = subprocess.run([str(binary), "--os-cloud", cloud, *args], capture_output=True,
                             text=True, env=env, timeout=120, stdin=subprocess.DEVNULL)
        if check and res.returncode != 0:
            pytest.fail(f"openstack {' '.join(args)} failed:\n{res.stdout}\n{res.stderr}")
        return res

    run.sandbox = sandbox  # clusters.show polls the API through it, without a CLI process
    return run


@pytest.fixture(scope="module")
def heat(sandbox) -> Any:
    """A Heat client of the demo project (the clusters' owner). A connection Heat's API
    drops on a loaded machine is tried again (tests read Heat often, and the repair tests
    drive the driver with this client)."""
    return heat_client.Client("1", session=clusters.session(sandbox),
                              service_type="orchestration", interface="public",
                              region_name=sandbox["region"], connect_retries=3)


@pytest.fixture(scope="module")
def make_template(openstack_cli) -> Iterator[Callable[..., dict]]:
    """Makes templates of the demo project (deleted at the end of the module)."""
    made: list[str] = []

    def make(flavor: str = "m1.small", master_lb: bool = False) -> dict:
        name = f"it-k8s-{uuid.uuid4().hex[:8]}"
        args = ["coe", "cluster", "template", "create", name, "--coe", "kubernetes",
                "--image", clusters.IMAGE, "--external-network", "public", "--flavor", flavor,
                "--master-flavor", "m1.medium", "--network-driver", "flannel",
                "--docker-volume-size", "5", "-f", "json"]
        if master_lb:
            args.append("--master-lb-enabled")
        template = clusters.parse_json(openstack_cli("sandbox", *args))
        made.append(template["uuid"])
        return template

    yield make
    for template_uuid in made:
        openstack_cli("sandbox", "coe", "cluster", "template", "delete", template_uuid,
                      check=False)


@pytest.fixture(scope="module")
def k8s_templates(openstack_cli):
    """Two Kubernetes templates of the demo project, one minor version apart (the upgrade
    tests')."""
    made = []

    def make(tag: str) -> dict:
        made_now = upgrades.template(openstack_cli, "kubernetes", clusters.IMAGE, "flannel",
                            f"kube_tag={tag}")
        made.append(made_now["uuid"])
        return made_now

    yield make(upgrades.OLD), make(upgrades.NEW)
    for template_uuid in made:
        openstack_cli("sandbox", "coe", "cluster", "template", "delete", template_uuid,
                      check=False)
