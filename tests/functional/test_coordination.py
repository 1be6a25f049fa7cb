"""[coordination] backend_url with the machine's Redis: two real conductors, each on a database
of its own (so the service table cannot tell one about the other), see each other through the
tooz group; one that gets SIGTERM leaves the other's ring within a couple of seconds, far
below [conductor] service_down_time."""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import re
import signal
import time
import uuid

import pytest
import redis
from tooz import coordination

from tests.functional import deployment as dep
from tests.functional.conftest import require_service

REDIS_URL = "redis://127.0.0.1:6379"
# The promise: the others' rings drop a stopped conductor this fast (the ring is read every
# second here; service_down_time stays at its 60 s).
DROPPED_WITHIN = 3.0


def _ring_line(host: str, hosts: list[str]) -> re.Pattern:
    return re.compile(rf"Conductor {re.escape(host)}: hash ring of "
                      rf"{re.escape(', '.join(sorted(hosts)))}$", re.MULTILINE)


@contextlib.contextmanager
def _redis_run() -> Iterator[str]:
    """An id for this test run's group and hosts; afterwards the group and every key naming
    the id (each process's reader leaves a heartbeat key that would expire in 30 s) are gone."""
    require_service("redis")
    run = uuid.uuid4().hex[:12]
    try:
        yield run
    finally:
        coordinator = coordination.get_coordinator(REDIS_URL, f"mlfunc-cleanup-{run}".encode())
        coordinator.start()
        try:
            coordinator.delete_group(f"mlfunc-conductors-{run}".encode()).get()
        except (coordination.GroupNotCreated, coordination.GroupNotEmpty):
            pass
        finally:
            coordinator.stop()
        client = redis.Redis.from_url(REDIS_URL)
        try:
            keys = list(client.scan_iter(match=f"*{run}*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


def _conductor(tmp_path, host: str, transport_url: str, group: str) -> dep.Deployment:
    workdir = tmp_path / host
    workdir.mkdir()
    deployment = dep.Deployment(workdir, dep.free_port())
    deployment.write_config({
        "DEFAULT": {"transport_url": transport_url, "host": host, "state_path": str(workdir)},
        "database": {"connection": f"sqlite:///{workdir}/magnum-lite.sqlite"},
        "conductor": {"hash_ring_refresh_interval": "1"},
        "coordination": {"backend_url": REDIS_URL, "group_name": group,
                         "heartbeat_interval": "0.5"},
    })
    deployment.manage("db", "upgrade")
    return deployment


@pytest.mark.service
def test_conductors_share_a_redis_group_and_a_sigterm_d_one_leaves_the_ring_at_once(tmp_path):
    with _redis_run() as run, dep.rabbitmq_vhost() as transport_url:
        group, host_a, host_b = f"mlfunc-conductors-{run}", f"tooz-a-{run}", f"tooz-b-{run}"
        a = _conductor(tmp_path, host_a, transport_url, group)
        b = _conductor(tmp_path, host_b, transport_url, group)
        try:
            proc_a = a.start("magnum-lite-conductor")
            b.start("magnum-lite-conductor")
            both = [host_a, host_b]
            a.wait_for(lambda: _ring_line(host_a, both).search(a.log("magnum-lite-conductor")),
                       timeout=dep.START_TIMEOUT)
            b.wait_for(lambda: _ring_line(host_b, both).search(b.log("magnum-lite-conductor")),
                       timeout=dep.START_TIMEOUT)

            began = time.monotonic()
            proc_a.send_signal(signal.SIGTERM)
            b.wait_for(lambda: _ring_line(host_b, [host_b]).search(
                b.log("magnum-lite-conductor")), timeout=DROPPED_WITHIN, interval=0.1)
            took = time.monotonic() - began
            print(f"{host_a} left the ring of {host_b} after {took:.2f}s")
            assert proc_a.wait(timeout=dep.STOP_TIMEOUT) == 0
            log_a = a.log("magnum-lite-conductor")
        finally:
            codes = [a.stop(), b.stop()]
    assert took < DROPPED_WITHIN
    assert f"Conductor {host_a} left the group {group}" in log_a
    assert codes == [{"magnum-lite-conductor": 0}] * 2, codes
    assert "Traceback" not in log_a + b.log("magnum-lite-conductor")
