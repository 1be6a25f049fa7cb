"""Sandbox Heat plugin: a short convergence sleep.

``Stack._converge_create_or_update`` sleeps 1 s after triggering each leaf resource, so an
N-member group needs at least N seconds. That pacing protects a big production cloud's
services; the simulated ones need none, so the sandbox sleeps briefly instead
(MAGNUM_LITE_SANDBOX_CONVERGE_SLEEP seconds, default 0.05).
"""

import os
import time as _time

from heat.engine import stack as _stack

FAST_SLEEP = float(os.environ.get("MAGNUM_LITE_SANDBOX_CONVERGE_SLEEP", "0.05"))


class _FastTime:
    """Stands in for the ``time`` module inside heat.engine.stack only."""

    def __getattr__(self, name):
        return getattr(_time, name)

    @staticmethod
    def sleep(seconds):
        _time.sleep(FAST_SLEEP if seconds >= 1 else seconds)


if not isinstance(_stack.time, _FastTime):
    _stack.time = _FastTime()

