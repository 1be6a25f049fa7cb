"""Stack states Heat announced on the message bus before it stored them.

Heat sends a stack's `orchestration.stack.<action>.end|error` notification and only then
writes the new state to its database, so a check started by the notification often lists the
stack still in progress and has to look again. The conductor's listener (heat_events.py)
hands the announced state here, and a stack listing taken meanwhile shows it instead of the
stale one.

Only the end of a create is taken (CREATE_COMPLETE, CREATE_FAILED): a stack is created once,
so a listing that still shows that stack (same id) CREATE_IN_PROGRESS is merely behind. An
update or a delete can be superseded by a newer one of the same stack, whose old
notification must not pass for the new outcome: those are left to the listing. An
announcement is dropped once a listing no longer shows the stack creating, or after
KEPT_SECONDS.
"""

from __future__ import annotations

import collections
from collections.abc import MutableMapping
import dataclasses
import threading
import time
from typing import Any

#: The announced states taken, and the listed state they may replace.
TAKEN = frozenset({"CREATE_COMPLETE", "CREATE_FAILED"})
BEHIND = "CREATE_IN_PROGRESS"
#: How long an announcement waits for a listing to use or drop it.
KEPT_SECONDS = 120.0
#: Announcements kept at most (the oldest go first).
MAX_KEPT = 10000

_lock = threading.Lock()
# stack name -> (stack id, state, reason, when announced)
_announced: collections.OrderedDict[str, tuple[str, str, str, float]] = (
    collections.OrderedDict())


def record(payload: Any) -> bool:
    """Keep the state a notification's payload announces; whether it was taken."""
    if not isinstance(payload, dict):
        return False
    state, name, stack_id = (payload.get("state"), payload.get("stack_name"),
                             payload.get("stack_identity"))
    if state not in TAKEN or not isinstance(name, str) or not isinstance(stack_id, str):
        return False
    with _lock:
        _announced.pop(name, None)
        _announced[name] = (stack_id, state, str(payload.get("state_reason") or ""),
                            time.monotonic())
        while len(_announced) > MAX_KEPT:
            _announced.popitem(last=False)
    return True


def apply(listing: MutableMapping[str, Any]) -> None:
    """Show in `listing` (stack name -> stacks.StackSummary) the announced states of the
    stacks it shows still being created."""
    if not _announced:
        return
    now = time.monotonic()
    with _lock:
        for name, (stack_id, state, reason, when) in list(_announced.items()):
            listed = listing.get(name)
            if now - when > KEPT_SECONDS:
                del _announced[name]
            elif listed is None:
                continue  # another project's listing, or not listed yet
            elif listed.id == stack_id and listed.status == BEHIND:
                listing[name] = dataclasses.replace(listed, status=state, reason=reason)
            else:
                del _announced[name]  # Heat caught up, or this is another stack now


def forget() -> None:
    """Drop every announcement (tests)."""
    with _lock:
        _announced.clear()
