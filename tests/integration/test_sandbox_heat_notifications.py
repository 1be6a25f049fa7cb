"""The sandbox's Heat notifies (`messagingv2` on the sandbox's vhost, exchange `heat`) and
its conductor listens ([heat_notifications] enabled): a cluster reaches CREATE_COMPLETE, and
its delete ends, through the notifications of its stacks, the worker stack started while
the cluster stack still builds (the driver's early looks are not polls: it asks for them).

The sandbox's conductor is replaced for the test by one that polls a cluster in progress
only every POLL seconds after its first check (oslo.config options from the environment),
far longer than a create takes here: the cluster can only settle in time through the
notifications, which the conductor's log names stack by stack.
"""

from __future__ import annotations

import re

import pytest

from magnum_lite_sandbox import config as sandbox_config
from magnum_lite_sandbox import magnum as sandbox_magnum
from magnum_lite_sandbox import processes
from tests.integration import clusters, upgrades
from tests.integration.test_cluster_faults import _restart_missing

pytestmark = [pytest.mark.sandbox, pytest.mark.service, pytest.mark.disruptive]

POLL = "900"  # seconds: the polls are out of the picture
SETTLE = 300.0  # a create (1 master, 1 worker) takes under a minute here


@pytest.fixture
def slow_polls():
    """The sandbox's conductor with slow polls; the sandbox's own again afterwards."""
    state_dir = sandbox_config.default_state_dir()
    processes.stop(state_dir, sandbox_magnum.CONDUCTOR)
    env = {"OS_CONDUCTOR__RECONCILE_BACKOFF_BASE": POLL,
           "OS_CONDUCTOR__RECONCILE_BACKOFF_MAX": POLL,
           "OS_HEAT_NOTIFICATIONS__STEADY_POLL_INTERVAL": POLL}
    processes.ensure(state_dir, sandbox_magnum.CONDUCTOR, [
        str(sandbox_magnum.project_bin() / sandbox_magnum.CONDUCTOR), "--config-file",
        str(sandbox_magnum.conf_path(state_dir))], env=env)
    yield
    processes.stop(state_dir, sandbox_magnum.CONDUCTOR)
    _restart_missing()


def _notified(cluster_uuid: str) -> list[tuple[str, str, str]]:
    """(event type, stack name, state) of each notification that had the conductor check
    the cluster at once."""
    log = processes.log_path(sandbox_config.default_state_dir(),
                             sandbox_magnum.CONDUCTOR).read_text(errors="replace")
    pattern = re.compile(r"Heat notification (\S+) \((\S+), (\S+)\): checking cluster "
                         + re.escape(cluster_uuid) + " now")
    return pattern.findall(log)


def _created_at(heat, stack_name: str) -> str:
    return heat.stacks.get(stack_name).creation_time


def _completed_at(heat, stack_name: str) -> str:
    """When Heat finished creating the stack (its own CREATE_COMPLETE event)."""
    stack = heat.stacks.get(stack_name)
    return next(e.event_time for e in heat.events.list(stack.id)
                if e.resource_name == stack_name and e.resource_status == "CREATE_COMPLETE")


def test_a_cluster_settles_through_its_stacks_notifications(openstack_cli, heat, slow_polls):
    template = upgrades.template(openstack_cli, "kubernetes", clusters.IMAGE, "flannel",
                                 f"kube_tag={upgrades.OLD}")
    try:
        name = clusters.create(openstack_cli, template, "--master-count", "1",
                               "--node-count", "1")
        cluster = clusters.settle(openstack_cli, name, timeout=SETTLE)
        assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
        created = [(event, stack) for event, stack, state in _notified(cluster["uuid"])
                   if state == "CREATE_COMPLETE"]
        stack = f"-{cluster['uuid']}"
        # Both stacks' ends were heard (the cluster completes on the later one).
        assert [event for event, _ in created] == ["orchestration.stack.create.end"] * 2
        cluster_stack = next(name for _, name in created if name.endswith(stack))
        worker_stack = next(name for _, name in created if f"{stack}-ng-" in name)
        # The worker stack was started while the cluster stack still built the master
        # (early_workers.py), through the early looks the driver asked for.
        assert _created_at(heat, worker_stack) < _completed_at(heat, cluster_stack)
        clusters.delete(openstack_cli, heat, cluster)
        assert ("orchestration.stack.delete.end", "DELETE_COMPLETE") in {
            (event, state) for event, _, state in _notified(cluster["uuid"])}
    finally:
        openstack_cli("sandbox", "coe", "cluster", "template", "delete", template["uuid"],
                      check=False)
