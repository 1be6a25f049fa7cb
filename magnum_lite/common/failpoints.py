"""Failpoints: named places in an operation where a fault test stops or breaks the process.

A fault must be tested at every step of an operation, also where no outside event marks the
moment (after a cast is claimed and before the first cloud call; after the cloud accepted a
stack and before it was recorded). The code names such places with `hit(name)`; the process
environment arms them, so nothing changes unless a test asked for it:

    MAGNUM_LITE_FAILPOINTS="conductor.create.claimed=pause,heat.stack_create.sent=raise*1"

- `pause`: the thread stops there for good (the test then kills the process); the place is
  announced in the log and, with MAGNUM_LITE_FAILPOINTS_DIR set, by a file `<name>` there;
- `raise`: the error the caller names is raised, as if the call had failed there;
- `*N` after either: only the first N passes act, the later ones go through.

A failpoint not armed costs one dictionary lookup.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
import threading

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

ENV = "MAGNUM_LITE_FAILPOINTS"
MARKER_DIR_ENV = "MAGNUM_LITE_FAILPOINTS_DIR"
ACTIONS = ("pause", "raise")
_LOCK = threading.Lock()


class FailpointError(Exception):
    """Raised by a `raise` failpoint whose caller named no error of its own."""


@functools.lru_cache(maxsize=1)
def _armed(spec: str) -> dict[str, list]:
    """name -> [action, passes left (None: every pass)]."""
    armed = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _sep, action = item.partition("=")
        action, _star, times = action.partition("*")
        if action not in ACTIONS or (times and not times.isdigit()):
            raise ValueError(f"{ENV}: {item!r}: the action must be one of "
                             f"{', '.join(ACTIONS)}, optionally followed by *N")
        armed[name.strip()] = [action, int(times) if times else None]
    return armed


def armed() -> dict[str, str]:
    """The failpoints the environment arms, by name, with their action."""
    return {name: action for name, (action, _left) in _armed(os.environ.get(ENV, "")).items()}


def hit(name: str, error: type[Exception] = FailpointError) -> None:
    """Pass the failpoint `name`: nothing happens unless the environment arms it."""
    armed_here = _armed(os.environ.get(ENV, "")).get(name)
    if armed_here is None:
        return
    with _LOCK:
        action, left = armed_here
        if left is not None:
            if left <= 0:
                return
            armed_here[1] = left - 1
    LOG.warning("Failpoint %s reached: %s", name, action)
    marker_dir = os.environ.get(MARKER_DIR_ENV)
    if marker_dir:
        Path(marker_dir, name).touch()
    if action == "raise":
        raise error(f"failpoint {name}")
    threading.Event().wait()  # pause: until the process is killed
