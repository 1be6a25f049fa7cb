"""Fixtures of the sandbox's unit tests."""

import signal

import pytest


@pytest.fixture(autouse=True)
def _sigpipe_ignored():
    """A peer that hangs up mid-write must raise EPIPE, not kill pytest. Python ignores
    SIGPIPE from the start, but ``magnum-lite-sandbox``'s main() (which some of these tests
    run in this process) sets the default action; this puts Python's own setting back, for
    good, since server threads may still write after a test ends."""
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
