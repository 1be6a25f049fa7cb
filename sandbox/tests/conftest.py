"""Fixtures of the sandbox's unit tests.

They run from the repository (PYTHONPATH or an editable install of both distributions): some
drive magnum-lite's own code against the sandbox's pieces, so they share the service tests'
fresh per-test configuration (`config`, from tests/conftest.py) rather than a copy of it.
"""

import signal
from types import SimpleNamespace

import pytest

from magnum_lite.common import x509
from tests.conftest import config  # noqa: F401 - a fixture, used by name


@pytest.fixture(autouse=True)
def _sigpipe_ignored():
    """A peer that hangs up mid-write must raise EPIPE, not kill pytest. Python ignores
    SIGPIPE from the start, but ``magnum-lite-sandbox``'s main() (which some of these tests
    run in this process) sets the default action; this puts Python's own setting back, for
    good, since server threads may still write after a test ends."""
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)


@pytest.fixture(scope="module")
def ca() -> x509.KeyPair:
    """The CA a COE API stand-in serves with (a module's own)."""
    return x509.generate_ca("sandbox cluster")


@pytest.fixture
def clock():
    """The stand-ins' clock, moved by hand (`clock.now += seconds`)."""
    return SimpleNamespace(now=1_800_000_000.0)


@pytest.fixture
def serve(ca, clock, monkeypatch):
    """Serve a COE API stand-in: `serve(api_class, view)` on 127.0.0.1 with `ca` and the
    test's `clock` (nodes boot in 2 clock seconds); closed after the test."""
    monkeypatch.setenv("MAGNUM_LITE_SANDBOX_BOOT_SECONDS", "2")
    servers = []

    def start(api_class, view):
        server = api_class(view, ca, port=0, clock=lambda: clock.now)
        server.serve(["127.0.0.1"])
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
