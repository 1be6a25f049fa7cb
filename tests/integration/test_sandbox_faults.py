"""The sandbox's faults on a real cluster: a worker's server stopped and started (by
``magnum-lite-sandbox fault`` and by Nova's own server actions), as Nova and the cluster's
Kubernetes API (through the cluster's client certificates) show it, and the cluster's API
made unreachable and reachable again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
import time
from typing import Any

import pytest

from magnum_lite_sandbox import faults
from tests.integration import clusters

pytestmark = [pytest.mark.sandbox, pytest.mark.service]

kubernetes = pytest.importorskip(
    "kubernetes", reason="the kubernetes client (test-requirements.txt)"
)

# The agent sweeps every second at most; a started node boots in 2 s.
FAULT_TIMEOUT = 30.0


def _wait(what: str, check: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + FAULT_TIMEOUT
    while True:
        try:
            found = check()
        except Exception:
            if time.monotonic() > deadline:
                raise
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not so after {FAULT_TIMEOUT:.0f} s")
        time.sleep(0.3)


def _compute(sandbox: dict, method: str, path: str, **kwargs: Any) -> Any:
    """A call to Nova as the demo user (the clusters' owner)."""
    return clusters.session(sandbox).request(
        path,
        method,
        raise_exc=False,
        endpoint_filter={
            "service_type": "compute",
            "interface": "public",
            "region_name": sandbox["region"],
        },
        **kwargs,
    )


def _nova_status(sandbox: dict, name: str) -> tuple[str, str, int]:
    answer = _compute(sandbox, "GET", f"/servers/detail?name=^{name}$")
    assert answer.status_code == 200, answer.text
    [server] = answer.json()["servers"]
    return (server["status"], server["OS-EXT-STS:vm_state"], server["OS-EXT-STS:power_state"])


def _ready(kubeconfig: Path, name: str) -> tuple[str, str | None]:
    """The node's Ready condition (status, reason) through the cluster's API."""
    api = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    try:
        node = kubernetes.client.CoreV1Api(api).read_node(name, _request_timeout=10)
    finally:
        api.close()
    ready = next(c for c in node.status.conditions if c.type == "Ready")
    return ready.status, ready.reason


def _refused(kubeconfig: Path) -> bool:
    api = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    api.configuration.retries = 0
    try:
        kubernetes.client.CoreV1Api(api).list_node(_request_timeout=5)
    except Exception as err:  # noqa: BLE001 - urllib3 wraps the refusal in its own types
        return "Connection refused" in repr(err)
    finally:
        api.close()
    return False


def test_a_stopped_worker_is_shutoff_in_nova_and_not_ready_until_started(
    openstack_cli, heat, make_template, tmp_path
):
    sandbox = openstack_cli.sandbox
    name = clusters.create(
        openstack_cli, make_template(), "--master-count", "1", "--node-count", "2"
    )
    cluster = clusters.settle(openstack_cli, name)
    touched: list[str] = []
    try:
        assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
        result = openstack_cli(
            "sandbox",
            "coe",
            "cluster",
            "config",
            cluster["uuid"],
            "--dir",
            str(tmp_path),
            "--force",
        )
        assert f"KUBECONFIG={tmp_path}/config" in result.stdout
        kubeconfig = tmp_path / "config"
        worker, other = sorted(clusters.worker_servers(heat, cluster["uuid"]))
        touched.extend((worker, other))
        assert _wait("the worker Ready", lambda: _ready(kubeconfig, worker)[0] == "True")
        assert _nova_status(sandbox, worker) == ("ACTIVE", "active", 1)

        # The agent lists the cluster's servers once it serves the cluster.
        stopped = _wait("the worker known to the agent", lambda: faults.stop(worker))
        assert worker in stopped.values()
        assert _nova_status(sandbox, worker) == ("SHUTOFF", "stopped", 4)
        assert _wait(
            "the worker NotReady",
            lambda: _ready(kubeconfig, worker) == ("Unknown", "NodeStatusUnknown"),
        )
        assert _ready(kubeconfig, other) == ("True", "KubeletReady")
        faults.start(worker)
        assert _nova_status(sandbox, worker) == ("ACTIVE", "active", 1)
        assert _wait("the worker Ready again", lambda: _ready(kubeconfig, worker)[0] == "True")

        # Nova's own actions do the same.
        [server] = _compute(sandbox, "GET", f"/servers?name=^{other}$").json()["servers"]
        action = f"/servers/{server['id']}/action"
        assert _compute(sandbox, "POST", action, json={"os-stop": None}).status_code == 202
        assert _compute(sandbox, "POST", action, json={"os-stop": None}).status_code == 409
        assert _wait("the other worker NotReady", lambda: _ready(kubeconfig, other)[0] == "Unknown")
        assert _compute(sandbox, "POST", action, json={"os-start": None}).status_code == 202
        assert _wait("the other worker Ready again", lambda: _ready(kubeconfig, other)[0] == "True")

        # The cluster's API refuses connections while unreachable.
        faults.unreachable(cluster["uuid"])
        assert _wait("the API refusing", lambda: _refused(kubeconfig))
        faults.reachable(cluster["uuid"])
        assert _wait("the API answering", lambda: _ready(kubeconfig, worker)[0] == "True")
    finally:
        for node in touched:
            faults.start(node)
        if cluster is not None:
            faults.reachable(cluster["uuid"])
    clusters.delete(openstack_cli, heat, cluster)
