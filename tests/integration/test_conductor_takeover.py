"""A conductor killed or stopped at each step of an operation, in the sandbox cloud.

The sandbox runs one conductor, so the one that takes an operation over is the same one
started again (same host name: its records name it, its pool is empty). The moments without
an outside sign (after a cast is claimed and before the first cloud call; after Heat accepted
a stack and before it was recorded) are reached through failpoints
(magnum_lite/common/failpoints.py) armed in the environment of a conductor started for the
test; the others by watching Heat. Every test restarts the sandbox's own conductor
(`magnum-lite-sandbox start`) before it checks the outcome.

Each operation ends in its terminal status long before its timeout (60 minutes): taken over
within seconds of the restart.
"""

from __future__ import annotations

import os
from pathlib import Path
import signal
import time

import pytest

from magnum_lite_sandbox import config as sandbox_config
from magnum_lite_sandbox import magnum as sandbox_magnum
from magnum_lite_sandbox import processes
from tests.integration import clusters
from tests.integration.test_cluster_faults import _restart_missing, _wait_for

pytestmark = [pytest.mark.sandbox, pytest.mark.service, pytest.mark.disruptive]

# Taken over within seconds of the restart: far below any operation's timeout.
TAKEOVER_TIMEOUT = 180.0


def _conductor_with(markers: Path, failpoints: str, **options: str) -> int:
    """Replace the sandbox's conductor with one whose `failpoints` are armed (and oslo.config
    `options` set through the environment, e.g. CONDUCTOR__RPC_WORKERS="1"); its pid."""
    state_dir = sandbox_config.default_state_dir()
    processes.stop(state_dir, sandbox_magnum.CONDUCTOR)
    env = {"MAGNUM_LITE_FAILPOINTS": failpoints, "MAGNUM_LITE_FAILPOINTS_DIR": str(markers),
           **{f"OS_{name}": value for name, value in options.items()}}
    return processes.ensure(state_dir, sandbox_magnum.CONDUCTOR, [
        str(sandbox_magnum.project_bin() / sandbox_magnum.CONDUCTOR), "--config-file",
        str(sandbox_magnum.conf_path(state_dir))], env=env)


def _kill(pid: int, sig: int = signal.SIGKILL) -> None:
    os.kill(pid, sig)
    _wait_for(lambda: not processes.alive(pid), 30, "the conductor to end")


def _reached(markers: Path, failpoint: str) -> None:
    _wait_for(lambda: (markers / failpoint).exists(), 120, f"failpoint {failpoint}")


def _cluster_stacks(heat, cluster_uuid: str) -> list[str]:
    return [name for name in clusters.stacks_of(heat, cluster_uuid) if "-ng-" not in name]


def _stack_id(cluster: dict) -> str | None:
    """The cluster's Heat stack id (shown as `cluster_id` from API 1.13 on, as Magnum)."""
    return cluster["cluster_id"] if "cluster_id" in cluster else cluster["stack_id"]


def _settled_after_restart(openstack_cli, name: str) -> dict:
    restarted = time.monotonic()
    _restart_missing()
    cluster = clusters.settle(openstack_cli, name, timeout=TAKEOVER_TIMEOUT)
    assert time.monotonic() - restarted < TAKEOVER_TIMEOUT
    return cluster


@pytest.fixture
def markers(tmp_path):
    yield tmp_path
    # Whatever happened: the sandbox's own conductor again, without failpoints.
    processes.stop(sandbox_config.default_state_dir(), sandbox_magnum.CONDUCTOR)
    _restart_missing()


def test_killed_after_the_cast_before_any_cloud_call(openstack_cli, heat, make_template,
                                                     markers):
    pid = _conductor_with(markers, "conductor.create.claimed=pause")
    name = clusters.create(openstack_cli, make_template(), "--node-count", "1")
    _reached(markers, "conductor.create.claimed")
    cluster = clusters.show(openstack_cli, name)
    assert clusters.stacks_of(heat, cluster["uuid"]) == {}  # nothing asked of the cloud
    _kill(pid)
    cluster = _settled_after_restart(openstack_cli, name)
    assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
    clusters.delete(openstack_cli, heat, cluster)


def test_killed_between_heat_s_answer_and_its_record(openstack_cli, heat, make_template,
                                                     markers):
    pid = _conductor_with(markers, "conductor.create.cloud_accepted=pause")
    name = clusters.create(openstack_cli, make_template(), "--node-count", "1")
    _reached(markers, "conductor.create.cloud_accepted")
    uuid = clusters.show(openstack_cli, name)["uuid"]
    assert len(_cluster_stacks(heat, uuid)) == 1  # Heat has it; the cluster has no id of it
    assert _stack_id(clusters.show(openstack_cli, name)) is None
    _kill(pid)
    cluster = _settled_after_restart(openstack_cli, name)
    assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
    [stack_name] = _cluster_stacks(heat, uuid)  # found, not made twice
    assert _stack_id(cluster) == clusters.stacks_of(heat, uuid)[stack_name].id
    clusters.delete(openstack_cli, heat, cluster)


def test_heat_s_answer_to_a_create_lost_the_stack_is_found_and_deleted(
        openstack_cli, heat, make_template, markers):
    # Every create's answer is lost (a client-side timeout; Heat made the stack): the
    # conductor looks the stack up by its name and follows it; a DELETE removes it.
    _conductor_with(markers, "heat.stack_create.sent=raise")
    name = clusters.create(openstack_cli, make_template(), "--node-count", "1")
    cluster = clusters.settle(openstack_cli, name)
    assert (markers / "heat.stack_create.sent").exists()
    assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
    assert len(_cluster_stacks(heat, cluster["uuid"])) == 1
    clusters.delete(openstack_cli, heat, cluster)  # no stack of it left in Heat


def test_killed_mid_resize_then_mid_delete(openstack_cli, heat, make_template, markers):
    name = clusters.create(openstack_cli, make_template(), "--node-count", "1")
    cluster = clusters.settle(openstack_cli, name)
    assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
    state_dir = sandbox_config.default_state_dir()

    openstack_cli("sandbox", "coe", "cluster", "resize", cluster["uuid"], "2")
    _wait_for(lambda: any(s.stack_status == "UPDATE_IN_PROGRESS"
                          for s in clusters.stacks_of(heat, cluster["uuid"]).values()),
              60, "the worker stack's update")
    _kill(processes.read_pid(state_dir, sandbox_magnum.CONDUCTOR))
    assert clusters.show(openstack_cli, name)["status"] == "UPDATE_IN_PROGRESS"
    resized = _settled_after_restart(openstack_cli, name)
    assert resized["status"] == "UPDATE_COMPLETE", resized["status_reason"]
    assert resized["node_count"] == 2 and len(resized["node_addresses"]) == 2

    openstack_cli("sandbox", "coe", "cluster", "delete", cluster["uuid"])
    _wait_for(lambda: any(s.stack_status == "DELETE_IN_PROGRESS"
                          for s in clusters.stacks_of(heat, cluster["uuid"]).values()),
              60, "a stack being deleted")
    _kill(processes.read_pid(state_dir, sandbox_magnum.CONDUCTOR))
    assert _settled_after_restart(openstack_cli, name) is None
    assert clusters.stacks_of(heat, cluster["uuid"]) == {}


def test_a_delete_asked_again_drives_a_stuck_delete(openstack_cli, heat, make_template,
                                                    markers):
    # The conductor's first delete hangs before it asks Heat anything (a call that never
    # returns); the conductor stays alive, so nothing takes it over. DELETE again drives it.
    _conductor_with(markers, "conductor.delete.claimed=pause*1")
    name = clusters.create(openstack_cli, make_template(), "--node-count", "1")
    cluster = clusters.settle(openstack_cli, name)
    assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
    openstack_cli("sandbox", "coe", "cluster", "delete", cluster["uuid"])
    _reached(markers, "conductor.delete.claimed")
    time.sleep(3)
    assert clusters.show(openstack_cli, name)["status"] == "DELETE_IN_PROGRESS"
    assert not any(s.stack_status.startswith("DELETE")
                   for s in clusters.stacks_of(heat, cluster["uuid"]).values())
    openstack_cli("sandbox", "coe", "cluster", "delete", cluster["uuid"])
    assert clusters.settle(openstack_cli, name) is None
    assert clusters.stacks_of(heat, cluster["uuid"]) == {}


def test_sigterm_hands_queued_work_over_and_none_fails(openstack_cli, heat, make_template,
                                                       markers):
    # One worker thread, held by the first create: the next one waits in its queue when the
    # conductor is stopped. It is handed over (no owner, still CREATE_IN_PROGRESS), and the
    # conductor started again takes both.
    pid = _conductor_with(markers, "conductor.create.claimed=pause*1",
                          CONDUCTOR__RPC_WORKERS="1")
    template = make_template()
    names = [clusters.create(openstack_cli, template, "--node-count", "1")]
    _reached(markers, "conductor.create.claimed")
    names.append(clusters.create(openstack_cli, template, "--node-count", "1"))
    time.sleep(1)  # the casts are in its queue
    _kill(pid, signal.SIGTERM)
    log = processes.log_path(sandbox_config.default_state_dir(),
                             sandbox_magnum.CONDUCTOR).read_text()
    for name in names[1:]:
        uuid = clusters.show(openstack_cli, name)["uuid"]
        assert f"Cluster {uuid}: its create is handed over" in log
    assert [clusters.show(openstack_cli, n)["status"] for n in names] == [
        "CREATE_IN_PROGRESS"] * 2
    _restart_missing()
    for name in names:
        cluster = clusters.settle(openstack_cli, name, timeout=TAKEOVER_TIMEOUT)
        assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
    for name in names:
        clusters.delete(openstack_cli, heat, clusters.show(openstack_cli, name))
