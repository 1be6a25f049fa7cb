"""Which conductors are alive: the hosts the hash ring is built over.

Without `[coordination] backend_url` they are the conductors whose heartbeat in the service
table is fresh; a conductor that dies without marking itself stopped counts until
`[conductor] service_down_time` has passed. With it, they are the members of a tooz group
(`[coordination] group_name`): each conductor joins on start with its host as member id,
heartbeats the backend and leaves on stop, so the others see it go at once; one that dies
drops out after the backend's own member timeout.

Any process reads the members through one tooz client of its own (`list_hosts`), made on
first use and again after a fork: the API process picks its cast targets from the same
membership as the conductors, without joining the group.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
import uuid

from futurist import periodics
from oslo_log import log as logging
from tooz import coordination

from magnum_lite import objects
from magnum_lite.common import context as ml_context
from magnum_lite.common import periodic
from magnum_lite.conf import CONF
from magnum_lite.objects import fields

LOG = logging.getLogger(__name__)

# The service-table binary of the conductors (conductor/service.py's BINARY).
CONDUCTOR_BINARY = "magnum-lite-conductor"
# Seconds a starting conductor waits for its first join before it serves anyway, and a
# stopping one for its leave to reach the backend: a backend that does not answer (tooz's
# Redis driver retries a refused connection for about a minute) must not hold either; the
# heartbeat thread keeps trying to join, and an unannounced leaver ages out on the backend.
START_TIMEOUT = 2.0
STOP_TIMEOUT = 0.5
# Seconds a read of the members may take before the ring keeps its last hosts (an API
# request that refreshes the ring waits at most this long for a backend that is down).
READ_TIMEOUT = 1.0


def live_conductors(context: object | None = None) -> set[str]:
    """The hosts of the conductors whose heartbeat is fresh (and not disabled)."""
    context = context or ml_context.get_admin_context()
    down_time = CONF.conductor.service_down_time
    return {service.host for service in objects.MagnumService.list(context)
            if service.binary == CONDUCTOR_BINARY and not service.disabled
            and service.state(down_time) == fields.MagnumServiceState.UP}


def _group_id(group_name: str | None = None) -> bytes:
    return (group_name or CONF.coordination.group_name).encode("utf-8")


def _members(coordinator: coordination.CoordinationDriver, group_id: bytes) -> set[str]:
    """The member ids of the group (none while nobody has created it)."""
    try:
        members = coordinator.get_members(group_id).get()
    except coordination.GroupNotCreated:
        return set()
    return {m.decode("utf-8") if isinstance(m, bytes) else m for m in members}


class ServiceTableMembership:
    """The live conductors from the service table, which the conductor's heartbeats keep up
    to date: nothing to join or leave."""

    stop_timeout = 0.0

    def __init__(self, host: str) -> None:
        self.host = host

    def start(self) -> None:
        """Nothing to join: the conductor's heartbeat makes it a member."""

    def stop(self) -> None:
        """Nothing to leave: the conductor marks itself stopped in the service table."""

    def hosts(self) -> set[str]:
        return live_conductors()


class Membership:
    """This conductor as a member of the tooz group: it joins on `start()`, heartbeats the
    backend every `[coordination] heartbeat_interval` (a periodic task in a thread of its
    own, common/periodic.py; it joins again should the backend have lost it), and leaves on
    `stop()`.

    A backend that cannot be reached does not stop the conductor from serving: the thread
    keeps trying to connect and join, and warns while it fails."""

    stop_timeout = STOP_TIMEOUT

    def __init__(self, host: str, backend_url: str | None = None,
                 group_name: str | None = None,
                 heartbeat_interval: float | None = None) -> None:
        self.host = host
        self._backend_url = backend_url
        self._group_name = group_name
        self._heartbeat_interval = heartbeat_interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._heartbeats: periodic.PeriodicThread | None = None
        self._coordinator: coordination.CoordinationDriver | None = None
        self._joined = False
        self._errors = periodic.ErrorReport(
            LOG, "Conductor %s cannot heartbeat the coordination backend: %s", None, host)

    @property
    def group_id(self) -> bytes:
        return _group_id(self._group_name)

    @property
    def heartbeat_interval(self) -> float:
        if self._heartbeat_interval is not None:
            return self._heartbeat_interval
        return CONF.coordination.heartbeat_interval

    def start(self) -> None:
        """Join the group (at once when the backend answers) and start heartbeating. A URL
        no tooz driver serves raises here: that is a configuration error."""
        url = self._backend_url or CONF.coordination.backend_url
        self._coordinator = coordination.get_coordinator(url, self.host.encode("utf-8"))
        self._stop.clear()
        first_beat = threading.Event()

        @periodics.periodic(spacing=self.heartbeat_interval, run_immediately=True)
        def heartbeat() -> None:
            self._beat_logged()
            first_beat.set()

        self._heartbeats = periodic.PeriodicThread("coordination-heartbeat", [heartbeat])
        self._heartbeats.start()
        first_beat.wait(START_TIMEOUT)

    def _beat_logged(self) -> None:
        try:
            self._beat()
        except Exception as err:  # noqa: BLE001 - the backend may be down for a while
            self._errors.failed(err)
        else:
            self._errors.worked()

    def _beat(self) -> None:
        with self._lock:
            coordinator = self._coordinator
            if coordinator is None or self._stop.is_set():
                return
            if not coordinator.is_started:
                coordinator.start()
            # Alive first (some drivers drop a member without a fresh heartbeat), then in.
            coordinator.heartbeat()
            if self._joined and self.host in _members(coordinator, self.group_id):
                return
            try:
                # Not join_group_create: it sleeps a second when it has to create the group.
                coordinator.create_group(self.group_id).get()
            except coordination.GroupAlreadyExist:
                pass
            try:
                coordinator.join_group(self.group_id).get()
            except coordination.MemberAlreadyExist:
                # Left over from a process of this host that could not leave, or kept by
                # the backend while it lost track of us: take the membership over as ours.
                coordinator.leave_group(self.group_id).get()
                coordinator.join_group(self.group_id).get()
            LOG.info("Conductor %s joined the group %s of the live conductors", self.host,
                     self.group_id.decode("utf-8"))
            self._joined = True

    def hosts(self) -> set[str]:
        """The hosts of the conductors in the group."""
        coordinator = self._coordinator
        if coordinator is None or not coordinator.is_started:
            raise coordination.ToozConnectionError("not connected to the coordination backend")
        return _members(coordinator, self.group_id)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Leave the group, so the other conductors' rings drop this host at once; waits at
        most `timeout` seconds for the backend."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._heartbeats is not None:
            self._heartbeats.signal_stop()
        left = threading.Event()
        threading.Thread(target=self._leave, args=(left,), name="coordination-leave",
                         daemon=True).start()
        # Closing the client afterwards may take a while (the file driver's takes a second):
        # it goes on in the background.
        if not left.wait(timeout):
            LOG.warning("Conductor %s could not leave the coordination group within %ss: it "
                        "drops out after the backend's member timeout", self.host, timeout)

    def _leave(self, left: threading.Event) -> None:
        with self._lock:
            coordinator = self._coordinator
            try:
                if self._joined and coordinator is not None:
                    coordinator.leave_group(self.group_id).get()
                    LOG.info("Conductor %s left the group %s", self.host,
                             self.group_id.decode("utf-8"))
            except coordination.MemberNotJoined:
                pass
            except Exception as err:  # noqa: BLE001 - it ages out on the backend
                LOG.warning("Conductor %s cannot leave the coordination group: %s: %s",
                            self.host, type(err).__name__, err)
            finally:
                self._joined = False
                left.set()
        if coordinator is not None and coordinator.is_started:
            try:
                coordinator.stop()
            except Exception as err:  # noqa: BLE001 - closing a dead connection
                LOG.debug("Stopping the coordination client failed: %s", err)


def for_host(host: str) -> Membership | ServiceTableMembership:
    """The configured membership for the conductor on `host`."""
    if CONF.coordination.backend_url:
        return Membership(host)
    return ServiceTableMembership(host)


class _Reader:
    """A tooz client of this process that only reads the group (it never joins). Each read
    runs in a daemon thread of its own and is waited for at most READ_TIMEOUT: a backend
    that does not answer delays no caller longer, and no process exit."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.pid = os.getpid()
        self._lock = threading.Lock()
        self._coordinator: coordination.CoordinationDriver | None = None
        self._read: concurrent.futures.Future | None = None

    def members(self, group_id: bytes) -> set[str]:
        with self._lock:
            if self._read is None or self._read.done():
                # One read at a time: callers while it is under way wait for the same one.
                self._read = concurrent.futures.Future()
                threading.Thread(target=self._run, args=(self._read, group_id),
                                 name="coordination-read", daemon=True).start()
            read = self._read
        try:
            return read.result(READ_TIMEOUT)
        except concurrent.futures.TimeoutError:
            raise coordination.OperationTimedOut(
                f"the coordination backend did not answer within {READ_TIMEOUT}s") from None

    def _run(self, read: concurrent.futures.Future, group_id: bytes) -> None:
        try:
            if self._coordinator is None:
                # Unique per process: some drivers keep per-member state (a heartbeat key)
                # that two processes must not share.
                member_id = f"{CONF.host}:reader:{self.pid}:{uuid.uuid4().hex[:8]}"
                coordinator = coordination.get_coordinator(self.url, member_id.encode("utf-8"))
                coordinator.start()
                self._coordinator = coordinator
            read.set_result(_members(self._coordinator, group_id))
        except BaseException as err:  # noqa: BLE001 - handed to the caller
            read.set_exception(err)

    def close(self) -> None:
        if self._coordinator is not None:
            try:
                self._coordinator.stop()
            except Exception as err:  # noqa: BLE001 - the old backend may be gone
                LOG.debug("Stopping the coordination reader failed: %s", err)


_reader_lock = threading.Lock()
_reader: _Reader | None = None


def _reader_for(url: str) -> _Reader:
    """This process's reader, made on first use and again after a fork (a client's
    connections and threads do not survive one) or a change of URL."""
    global _reader
    with _reader_lock:
        if _reader is None or (_reader.pid, _reader.url) != (os.getpid(), url):
            if _reader is not None and _reader.pid == os.getpid():
                threading.Thread(target=_reader.close, name="coordination-close",
                                 daemon=True).start()
            _reader = _Reader(url)
        return _reader


def list_hosts() -> set[str]:
    """The hosts of the live conductors, as configured: the tooz group's members, or the
    conductors with a fresh heartbeat in the service table."""
    url = CONF.coordination.backend_url
    if not url:
        return live_conductors()
    return _reader_for(url).members(_group_id())
