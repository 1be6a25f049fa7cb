"""What a cluster does when its conductor or Heat fails under it, in the sandbox cloud.

The faults are real: the conductor process is killed with SIGKILL, heat-api is stopped. Each
test puts the sandbox back (`magnum-lite-sandbox start` restarts whatever is missing) before
it checks the outcome, so a failing assertion never leaves the sandbox broken for the next
test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from magnum_lite_sandbox import config as sandbox_config
from magnum_lite_sandbox import heat as sandbox_heat
from magnum_lite_sandbox import magnum as sandbox_magnum
from magnum_lite_sandbox import processes
from tests.integration import clusters

pytestmark = [pytest.mark.sandbox, pytest.mark.service, pytest.mark.disruptive]


def _restart_missing() -> None:
    """`magnum-lite-sandbox start`: starts whatever is not running."""
    done = subprocess.run([sys.executable, "-m", "magnum_lite_sandbox.cli", "start"],
                          capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr


def _wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


def test_a_conductor_killed_mid_create_is_replaced_and_the_cluster_finishes(
        openstack_cli, heat, make_template):
    state_dir = sandbox_config.default_state_dir()
    template = make_template()
    name = clusters.create(openstack_cli, template, "--node-count", "2")
    cluster = clusters.show(openstack_cli, name)
    # Kill it while Heat builds the cluster stack (the conductor has handed it over).
    _wait_for(lambda: clusters.stacks_of(heat, cluster["uuid"]), 60, "the cluster stack")
    pid = processes.read_pid(state_dir, sandbox_magnum.CONDUCTOR)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    _wait_for(lambda: not processes.alive(pid), 10, "the conductor to die")
    try:
        assert clusters.show(openstack_cli, name)["status"] == "CREATE_IN_PROGRESS"
    finally:
        _restart_missing()
    cluster = clusters.settle(openstack_cli, name)
    assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
    assert len(cluster["node_addresses"]) == 2
    clusters.delete(openstack_cli, heat, cluster)


def test_with_heat_down_a_create_fails_clearly_and_nothing_is_stuck_after(
        openstack_cli, heat, make_template):
    state_dir = sandbox_config.default_state_dir()
    template = make_template()
    processes.stop(state_dir, sandbox_heat.API)
    try:
        name = clusters.create(openstack_cli, template, "--node-count", "1")
        failed = clusters.settle(openstack_cli, name, timeout=120)
    finally:
        _restart_missing()
    assert failed["status"] == "CREATE_FAILED"
    assert failed["status_reason"].startswith("cannot reach Heat: creating stack"), \
        failed["status_reason"]
    # Heat is back: the failed cluster deletes (nothing of it is in Heat) ...
    openstack_cli("sandbox", "coe", "cluster", "delete", failed["uuid"])
    assert clusters.settle(openstack_cli, failed["uuid"]) is None
    # ... and a new one builds.
    name = clusters.create(openstack_cli, template, "--node-count", "1")
    cluster = clusters.settle(openstack_cli, name)
    assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
    clusters.delete(openstack_cli, heat, cluster)


def test_heat_going_away_mid_create_is_reported_and_the_cluster_finishes_after(
        openstack_cli, heat, make_template):
    state_dir = sandbox_config.default_state_dir()
    template = make_template()
    name = clusters.create(openstack_cli, template, "--node-count", "1")
    cluster = clusters.show(openstack_cli, name)
    _wait_for(lambda: clusters.stacks_of(heat, cluster["uuid"]), 60, "the cluster stack")
    processes.stop(state_dir, sandbox_heat.API)
    try:
        reported = _wait_for(
            lambda: (c := clusters.show(openstack_cli, name)) and "cannot check the cluster"
            in (c["status_reason"] or "") and c, 60, "the outage in status_reason")
        assert reported["status"] == "CREATE_IN_PROGRESS"
        assert "still checking" in reported["status_reason"]
    finally:
        _restart_missing()
    cluster = clusters.settle(openstack_cli, name)
    assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
    clusters.delete(openstack_cli, heat, cluster)
