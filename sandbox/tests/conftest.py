"""Fixtures of the sandbox's unit tests.

They run from the repository (PYTHONPATH or an editable install of both distributions): some
drive magnum-lite's own code against the sandbox's pieces, so they share the service tests'
fresh per-test configuration (`config`, from tests/conftest.py) rather than a copy of it.
"""

import signal

import pytest

from tests.conftest import config  # noqa: F401 - a fixture, used by name


@pytest.fixture(autouse=True)
def _sigpipe_ignored():
    """A peer that hangs up mid-write must raise EPIPE, not kill pytest. Python ignores
    SIGPIPE from the start, but ``magnum-lite-sandbox``'s main() (which some of these tests
    run in this process) sets the default action; this puts Python's own setting back, for
    good, since server threads may still write after a test ends."""
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
