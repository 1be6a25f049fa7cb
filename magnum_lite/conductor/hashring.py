"""A consistent hash ring of the live conductors: which conductor follows which cluster.

Every conductor builds the same ring from the same membership (conductor/membership.py: the
service table, or a tooz group where configured), so each cluster has exactly one owner; when
a conductor joins or dies, only the clusters of its ring segments move (about 1/n of them).
Each host takes VNODES points on the ring (md5 of "host:i") to even out the shares.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
import hashlib
import threading
import time

from oslo_log import log as logging

from magnum_lite.conductor import membership
from magnum_lite.conf import CONF

LOG = logging.getLogger(__name__)

# Points per host on the ring (2^5).
VNODES = 32


def _hash(text: str) -> int:
    # md5 spreads keys evenly and is the same on every host; it protects nothing here.
    digest = hashlib.md5(text.encode("utf-8"), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "big")


class HashRing:
    """An immutable ring over `hosts`."""

    def __init__(self, hosts: Iterable[str], vnodes: int = VNODES) -> None:
        self.hosts = frozenset(hosts)
        points = sorted((_hash(f"{host}:{i}"), host) for host in self.hosts
                        for i in range(vnodes))
        self._keys = [key for key, _host in points]
        self._hosts = [host for _key, host in points]

    def owner(self, key: str) -> str | None:
        """The host that owns `key`, or None for an empty ring."""
        if not self._keys:
            return None
        index = bisect.bisect(self._keys, _hash(key)) % len(self._keys)
        return self._hosts[index]


class ConductorRing:
    """This conductor's view of the ring, re-read from the configured membership every
    `[conductor] hash_ring_refresh_interval` seconds (`clock` and `list_hosts` are injectable
    for tests)."""

    def __init__(self, host: str, clock: Callable[[], float] = time.monotonic,
                 refresh_interval: float | None = None,
                 list_hosts: Callable[[], set[str]] = membership.list_hosts) -> None:
        self.host = host
        self._clock = clock
        self._refresh_interval = refresh_interval
        self._list_hosts = list_hosts
        self._lock = threading.Lock()
        self._ring: HashRing | None = None
        self._read_at: float | None = None

    @property
    def refresh_interval(self) -> float:
        if self._refresh_interval is not None:
            return self._refresh_interval
        return CONF.conductor.hash_ring_refresh_interval

    def refresh(self, force: bool = False) -> HashRing:
        """The ring, read again from the membership when due (or `force`d). A failed read
        keeps the last ring (or, with none, a ring of this host alone)."""
        with self._lock:
            now = self._clock()
            if (force or self._ring is None or self._read_at is None
                    or now - self._read_at >= self.refresh_interval):
                try:
                    hosts = self._list_hosts()
                except Exception as err:
                    LOG.warning("Cannot read the live conductors (%s: %s); keeping the ring "
                                "of %s", type(err).__name__, err,
                                sorted(self._ring.hosts) if self._ring else [self.host])
                    hosts = set(self._ring.hosts) if self._ring else set()
                if not hosts:
                    # Nobody is known alive (not even this host, whose first heartbeat may
                    # not be written yet): follow everything rather than nothing.
                    hosts = {self.host}
                if self._ring is None or hosts != self._ring.hosts:
                    LOG.info("Conductor %s: hash ring of %s", self.host, ", ".join(sorted(hosts)))
                    self._ring = HashRing(hosts)
                self._read_at = now
            return self._ring

    def owns(self, key: str) -> bool:
        """Whether this conductor follows the cluster `key` (its uuid)."""
        return self.refresh().owner(key) == self.host
