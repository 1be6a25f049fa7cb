"""Sandbox Heat plugin: an optionally shorter poll of a resource's completion.

Heat checks whether a resource's create, update or delete is complete once a second
(``scheduler.TaskRunner.__call__``'s ``wait_time``). Every simulated resource of the sandbox
is a nested stack that is done at once, so each level of nesting costs that second: a
cluster stack spends most of its time waiting on it. The test suite asks for a shorter poll
(MAGNUM_LITE_SANDBOX_HEAT_POLL seconds); unset, Heat keeps its own second, which the
benchmarks' figures are measured with.
"""

import os

from heat.engine import scheduler as _scheduler

POLL = os.environ.get("MAGNUM_LITE_SANDBOX_HEAT_POLL", "")
HEATS_OWN = 1


def _with_poll(call, poll):
    def run(self, wait_time=HEATS_OWN, *args, **kwargs):
        if wait_time == HEATS_OWN:
            wait_time = poll
        return call(self, wait_time, *args, **kwargs)

    run.sandbox_poll = poll
    return run


if POLL and not hasattr(_scheduler.TaskRunner.__call__, "sandbox_poll"):
    _scheduler.TaskRunner.__call__ = _with_poll(_scheduler.TaskRunner.__call__, float(POLL))
