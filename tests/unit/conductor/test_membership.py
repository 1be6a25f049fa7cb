"""Who the live conductors are: a tooz group (the real file:// driver in a tmp dir) where
[coordination] backend_url is set, the service table otherwise."""

from collections.abc import Iterator
import logging
import time

import pytest
from tooz import coordination

from magnum_lite import objects
from magnum_lite.common import context as ml_context
from magnum_lite.conductor import hashring, membership, rpcapi
from magnum_lite.conductor import service as conductor_service
from magnum_lite.conf import CONF

KEYS = [f"cluster-{i}" for i in range(64)]


@pytest.fixture
def url(tmp_path) -> Iterator[str]:
    """A tooz file backend of this test, configured for the process."""
    backend_url = f"file://{tmp_path}/coordination"
    CONF.set_override("backend_url", backend_url, group="coordination")
    yield backend_url
    CONF.clear_override("backend_url", group="coordination")


@pytest.fixture
def members(url) -> Iterator[list[membership.Membership]]:
    """Memberships started by the test; stopped at the end."""
    started: list[membership.Membership] = []
    yield started
    for member in started:
        member.stop()


def _join(members: list, host: str, **kwargs) -> membership.Membership:
    member = membership.Membership(host, **kwargs)
    member.start()
    members.append(member)
    return member


def test_two_conductors_see_each_other(members):
    a = _join(members, "host-a")
    b = _join(members, "host-b")
    assert a.hosts() == b.hosts() == {"host-a", "host-b"}


def test_a_stopped_conductor_is_gone_from_the_others_at_once(members):
    a = _join(members, "host-a")
    b = _join(members, "host-b")
    b.stop()
    assert a.hosts() == {"host-a"}  # no waiting for a timeout


def test_the_ring_over_the_group_moves_the_leaver_s_clusters(members):
    a = _join(members, "host-a")
    b = _join(members, "host-b")
    ring = hashring.ConductorRing("host-a", refresh_interval=0, list_hosts=a.hosts)
    owners = {key: ring.refresh().owner(key) for key in KEYS}
    assert set(owners.values()) == {"host-a", "host-b"}
    b.stop()
    assert all(ring.owns(key) for key in KEYS)
    # The clusters host-a already had stay where they were.
    assert {k for k, o in owners.items() if o == "host-a"} <= set(KEYS)


def test_the_default_ring_reads_the_configured_group(members):
    _join(members, "host-a")
    b = _join(members, "host-b")
    # The API's ring: no member of its own, the group read through this process's reader.
    ring = hashring.ConductorRing("", refresh_interval=0)
    assert ring.refresh().hosts == {"host-a", "host-b"}
    assert membership.list_hosts() == {"host-a", "host-b"}
    b.stop()
    assert ring.refresh().hosts == {"host-a"}


def test_the_api_casts_to_an_owner_from_the_group(members):
    _join(members, "host-a")
    _join(members, "host-b")
    api = rpcapi.ConductorAPI()
    owners = {api.owner(key) for key in KEYS}
    assert owners == {"host-a", "host-b"}


def test_no_group_yet_is_no_conductor(url):
    assert membership.list_hosts() == set()


def test_the_reader_is_made_once_per_process_and_again_after_a_fork(members, monkeypatch):
    _join(members, "host-a")
    first = membership._reader_for(CONF.coordination.backend_url)
    assert membership._reader_for(CONF.coordination.backend_url) is first
    assert first.members(membership._group_id()) == {"host-a"}
    monkeypatch.setattr(membership.os, "getpid", lambda: -1)  # as in a forked child
    child = membership._reader_for(CONF.coordination.backend_url)
    assert child is not first
    assert membership.list_hosts() == {"host-a"}


def test_a_backend_that_does_not_answer_delays_a_read_at_most_read_timeout(monkeypatch):
    # Nothing listens there: tooz's Redis driver keeps retrying for about a minute.
    CONF.set_override("backend_url", "redis://127.0.0.1:1", group="coordination")
    monkeypatch.setattr(membership, "READ_TIMEOUT", 0.2)
    try:
        began = time.monotonic()
        with pytest.raises(coordination.OperationTimedOut):
            membership.list_hosts()
        assert time.monotonic() - began < 1
        # The ring keeps what it had (here: nothing known, so its own host).
        assert hashring.ConductorRing("h", refresh_interval=0).refresh().hosts == {"h"}
    finally:
        CONF.clear_override("backend_url", group="coordination")


def test_a_member_the_backend_lost_joins_again(members, url):
    a = _join(members, "host-a", heartbeat_interval=0.1)
    # Another client with the same member id takes it out, as a backend that lost its data.
    other = coordination.get_coordinator(url, b"host-a")
    other.start()
    other.leave_group(a.group_id).get()
    other.stop()
    deadline = time.monotonic() + 5
    while a.hosts() != {"host-a"}:
        assert time.monotonic() < deadline, "host-a did not join again"
        time.sleep(0.05)


def test_a_leftover_member_of_the_same_host_is_taken_over(members, url):
    # A process of host-a that died without leaving: its entry is there when host-a starts.
    old = coordination.get_coordinator(url, b"host-a")
    old.start()
    old.create_group(membership._group_id()).get()
    old.join_group(membership._group_id()).get()
    a = _join(members, "host-a")
    assert a.hosts() == {"host-a"}
    a.stop()
    assert membership.list_hosts() == set()  # and it leaves for real


def test_a_conductor_joins_once_an_unusable_backend_works(members, tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    a = _join(members, "host-a", backend_url=f"file://{blocker}/coordination",
              heartbeat_interval=0.1)  # start() returns: the conductor serves anyway
    assert "host-a cannot heartbeat the coordination backend" in caplog.text
    with pytest.raises(coordination.ToozError):
        a.hosts()
    blocker.unlink()
    deadline = time.monotonic() + 5
    while True:
        try:
            if a.hosts() == {"host-a"}:
                break
        except coordination.ToozError:
            pass
        assert time.monotonic() < deadline, "host-a did not join"
        time.sleep(0.05)


def test_a_url_no_driver_serves_fails_the_start():
    with pytest.raises(Exception, match="nosuchdriver"):
        membership.Membership("host-a", backend_url="nosuchdriver://x").start()


def test_unset_backend_is_the_service_table(db):
    assert CONF.coordination.backend_url is None
    context = ml_context.get_admin_context()
    objects.MagnumService.heartbeat(context, "c1", membership.CONDUCTOR_BINARY)
    objects.MagnumService.heartbeat(context, "api-host", "magnum-lite-api")
    assert membership.list_hosts() == {"c1"}
    member = membership.for_host("c1")
    assert isinstance(member, membership.ServiceTableMembership)
    member.start()
    assert member.hosts() == {"c1"}
    member.stop()
    assert hashring.ConductorRing("c1", refresh_interval=0).refresh().hosts == {"c1"}


def test_the_conductor_service_joins_on_start_and_leaves_first_on_stop(db, url):
    service = conductor_service.ConductorService(host="unit-host")
    assert isinstance(service.membership, membership.Membership)
    # The leave may wait for the backend, within the runner's 10 s from SIGTERM to exit.
    assert service.stop_timeout == (CONF.conductor.graceful_shutdown_timeout + 0.5
                                    + membership.STOP_TIMEOUT)
    assert service.stop_timeout + 0.5 < 10
    service.start()
    try:
        assert membership.list_hosts() == {"unit-host"}
    finally:
        assert service.stop()
    assert membership.list_hosts() == set()
