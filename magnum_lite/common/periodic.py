"""Periodic work of a service process on futurist.periodics, as OpenStack's conductors run it.

A service's periodic task is a callable decorated with `futurist.periodics.periodic(spacing=...,
run_immediately=...)`, decorated when the service starts so its spacing is the configured one.
`PeriodicThread` runs such callables with a `futurist.periodics.PeriodicWorker` in a daemon
thread of its own: the next run comes `spacing` seconds after the previous one *finished* (a
slow run never leads to runs back to back), and a stop wakes the worker at once. The callables
run one at a time in that thread; a callable that raises is logged by futurist (its `futurist`
logger) and runs again at its next time: the callables here catch their own errors and say
each cause once through an `ErrorReport`. `PooledRounds` is such a task whose rounds hand
their checks to a bounded pool (the reconciler, the health monitor).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import concurrent.futures
import threading
from typing import Any

import futurist
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


class PooledRounds:
    """Rounds of a periodic task that hand their checks to a bounded pool of threads: the
    life cycle the conductor's reconciler and health monitor share.

    A subclass gives `run_once` (one round: it takes the pool from `_pool()`, None once
    stopping, and hands each check to `_submit`) and `_pool_size`, and starts its rounds
    with `_run_rounds`. A round's error is logged through an ErrorReport (`failed`,
    `recovered`: its formats, with `host` before the cause), never raised, so the rounds go
    on; `signal_stop` starts no new round or check, and checks under way finish on their own.
    """

    def __init__(self, host: str, workers: int | None, log: Any, failed: str,
                 recovered: str) -> None:
        self.host = host
        self._workers = workers
        self._lock = threading.Lock()
        self._futures: set[concurrent.futures.Future] = set()
        self._executor: futurist.ThreadPoolExecutor | None = None
        self._stop = threading.Event()
        self._periodic: PeriodicThread | None = None
        self._errors = ErrorReport(log, failed, recovered, host)

    def run_once(self) -> int:
        """One round; the number of checks it started."""
        raise NotImplementedError

    def _pool_size(self) -> int:
        """The pool's threads when the constructor was given none (a config option)."""
        raise NotImplementedError

    def _pool(self) -> futurist.ThreadPoolExecutor | None:
        """The pool of checks (made on first use); None once stopping."""
        with self._lock:
            if self._stop.is_set():
                return None
            if self._executor is None:
                self._executor = futurist.ThreadPoolExecutor(
                    max_workers=self._workers or self._pool_size())
            return self._executor

    def _run_rounds(self, thread_name: str, task_name: str, interval: float) -> None:
        """Run a round at once, then every `interval` seconds after the previous one ended
        (a futurist periodic task named `task_name` in a thread of its own)."""

        @periodics.periodic(spacing=interval, run_immediately=True)
        def task() -> None:
            self._round()

        task.__name__ = task.__qualname__ = task_name
        self._periodic = PeriodicThread(thread_name, [task])
        self._periodic.start()

    def _submit(self, pool: futurist.ThreadPoolExecutor, fn: Callable[..., Any],
                *args: Any) -> concurrent.futures.Future:
        """Run a check in the pool, kept until done for `wait`.

        :raises RuntimeError: the pool was shut down (stopping).
        """
        future = pool.submit(fn, *args)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget_future)
        return future

    def _forget_future(self, future: concurrent.futures.Future) -> None:
        with self._lock:
            self._futures.discard(future)

    def signal_stop(self) -> None:
        """Start no new round and no new check (checks under way finish on their own)."""
        self._stop.set()
        if self._periodic is not None:
            self._periodic.signal_stop()
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)

    def stop(self, timeout: float = 0.5) -> None:
        self.signal_stop()
        if self._periodic is not None:
            self._periodic.stop(timeout)

    def is_alive(self) -> bool:
        return self._periodic is not None and self._periodic.is_alive()

    def wait(self, timeout: float = 10) -> None:
        """Wait for the checks under way (tests)."""
        with self._lock:
            futures = list(self._futures)
        concurrent.futures.wait(futures, timeout=timeout)

    def _round(self) -> None:
        """The periodic task: a round whose error is logged, never raised, so the rounds go
        on (the database may be down for a while); a cause is said once, when it changes."""
        try:
            self.run_once()
        except Exception as err:
            self._errors.failed(err)
            return
        self._errors.worked()
