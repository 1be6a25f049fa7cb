"""Periodic work of a service process on futurist.periodics, as OpenStack's conductors run it.

A service's periodic task is a callable decorated with `futurist.periodics.periodic(spacing=...,
run_immediately=...)`, decorated when the service starts so its spacing is the configured one.
`PeriodicThread` runs such callables with a `futurist.periodics.PeriodicWorker` in a daemon
thread of its own: the next run comes `spacing` seconds after the previous one *finished* (a
slow run never leads to runs back to back), and a stop wakes the worker at once. The callables
run one at a time in that thread; a callable that raises is logged by futurist (its `futurist`
logger) and runs again at its next time: the callables here catch their own errors and say
each cause once through an `ErrorReport`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import threading
from typing import Any

from futurist import periodics
from oslo_utils import strutils


class PeriodicThread:
    """Runs `callables` (each decorated with `periodics.periodic`) until stopped.

    Startable again after a stop: each start builds a new worker.
    """

    def __init__(self, name: str, callables: Sequence[Callable[[], Any]]) -> None:
        self.name = name
        self._callables = list(callables)
        self._worker: periodics.PeriodicWorker | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._worker = periodics.PeriodicWorker(
            [(callable_, None, None) for callable_ in self._callables],
            schedule_strategy="last_finished")
        self._thread = threading.Thread(target=self._worker.start, name=self.name,
                                        daemon=True)
        self._thread.start()

    def signal_stop(self) -> None:
        """No run starts from now on; a run under way ends on its own."""
        if self._worker is not None:
            self._worker.stop()

    def stop(self, timeout: float) -> bool:
        """Stop and wait up to `timeout` seconds for a run under way; False if it goes on (a
        daemon thread, left behind: it may be stuck in a database or cloud call)."""
        self.signal_stop()
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.is_alive()

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


def cause_of(err: BaseException) -> str:
    """An error as a log line may show it: its type and first line, passwords masked."""
    first_line = (str(err).splitlines() or [""])[0]
    return f"{type(err).__name__}: {strutils.mask_password(first_line)}"


class ErrorReport:
    """How a periodic task says its errors: what a backend or the database being down for a
    while makes it repeat is logged as a warning when its cause first appears or changes, at
    debug level while it repeats, and `recovered` (if given) once the task works again.

    `failed` is a log format whose last argument is the cause; `args` come before it.
    """

    def __init__(self, log: Any, failed: str, recovered: str | None, *args: Any) -> None:
        self._log = log
        self._failed = failed
        self._recovered = recovered
        self._args = args
        self._last: str | None = None

    def failed(self, err: BaseException) -> None:
        cause = cause_of(err)
        say = self._log.debug if cause == self._last else self._log.warning
        say(self._failed, *self._args, cause)
        self._last = cause

    def worked(self) -> None:
        if self._last is not None and self._recovered is not None:
            self._log.info(self._recovered, *self._args)
        self._last = None
