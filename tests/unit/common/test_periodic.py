"""PeriodicThread: futurist periodic tasks in a thread of their own, stopped at once."""

import threading
import time

from futurist import periodics

from magnum_lite.common import periodic

WAIT = 10


def _task(spacing, run_immediately=True, fail=False):
    runs = []
    ran = threading.Event()

    @periodics.periodic(spacing=spacing, run_immediately=run_immediately)
    def task():
        runs.append(time.monotonic())
        ran.set()
        if fail:
            raise RuntimeError("this round failed")

    return task, runs, ran


def _wait_for(predicate):
    deadline = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_runs_at_once_then_every_spacing_and_stops_at_once():
    task, runs, ran = _task(spacing=60)
    thread = periodic.PeriodicThread("test-periodic", [task])
    thread.start()
    assert ran.wait(WAIT)
    assert thread.is_alive()
    began = time.monotonic()
    # Waiting a minute for its next run: a stop wakes it.
    assert thread.stop(WAIT)
    assert time.monotonic() - began < 2
    assert not thread.is_alive()
    assert len(runs) == 1


def test_waits_its_spacing_first_unless_told_to_run_at_once():
    task, runs, ran = _task(spacing=0.2, run_immediately=False)
    thread = periodic.PeriodicThread("test-periodic", [task])
    began = time.monotonic()
    thread.start()
    try:
        assert ran.wait(WAIT)
    finally:
        assert thread.stop(WAIT)
    assert runs[0] - began >= 0.2


def test_a_failing_run_does_not_stop_the_next_ones():
    task, runs, _ran = _task(spacing=0.01, fail=True)
    thread = periodic.PeriodicThread("test-periodic", [task])
    thread.start()
    try:
        _wait_for(lambda: len(runs) >= 3)
        assert thread.is_alive()
    finally:
        assert thread.stop(WAIT)


def test_starts_again_after_a_stop():
    task, runs, _ran = _task(spacing=60)
    thread = periodic.PeriodicThread("test-periodic", [task])
    thread.start()
    _wait_for(lambda: len(runs) == 1)
    assert thread.stop(WAIT)
    thread.start()
    try:
        _wait_for(lambda: len(runs) == 2)
    finally:
        assert thread.stop(WAIT)


def test_a_stop_before_the_thread_ran_anything_holds():
    task, runs, _ran = _task(spacing=60)
    thread = periodic.PeriodicThread("test-periodic", [task])
    assert thread.stop(WAIT)  # never started: nothing to stop
    thread.start()
    thread.signal_stop()
    assert thread.stop(WAIT)
    assert len(runs) <= 1


class Rounds(periodic.PooledRounds):
    """Each round hands one check per item of `work` to the pool; a round may fail."""

    def __init__(self, log):
        super().__init__("host-a", 2, log, "Round on %s failed: %s", "Rounds on %s work again")
        self.work = ["a", "b"]
        self.done = []
        self.fail = None
        self.rounds = threading.Event()

    def run_once(self):
        self.rounds.set()
        if self.fail is not None:
            raise self.fail
        pool = self._pool()
        if pool is None:
            return 0
        for item in self.work:
            self._submit(pool, self.done.append, item)
        return len(self.work)


class Log:
    def __init__(self):
        self.lines = []

    def warning(self, fmt, *args):
        self.lines.append(("warning", fmt % args))

    def debug(self, fmt, *args):
        self.lines.append(("debug", fmt % args))

    def info(self, fmt, *args):
        self.lines.append(("info", fmt % args))


def test_pooled_rounds_run_their_checks_in_the_pool_until_stopped():
    log = Log()
    rounds = Rounds(log)
    rounds._run_rounds("test-rounds", "test_round", 60)
    try:
        assert rounds.rounds.wait(WAIT)
        _wait_for(lambda: len(rounds.done) == 2)
        assert rounds.is_alive()
        assert rounds._periodic._callables[0].__name__ == "test_round"
    finally:
        rounds.stop(WAIT)
    assert not rounds.is_alive()
    assert rounds._pool() is None and rounds.run_once() == 0  # stopped: no new check
    assert sorted(rounds.done) == ["a", "b"]


def test_a_failed_round_is_said_once_per_cause_and_when_it_works_again():
    log = Log()
    rounds = Rounds(log)
    rounds.fail = RuntimeError("db down")
    rounds._round()
    rounds._round()
    rounds.fail = None
    rounds._round()
    rounds.wait(WAIT)
    rounds.stop()
    assert log.lines == [("warning", "Round on host-a failed: RuntimeError: db down"),
                         ("debug", "Round on host-a failed: RuntimeError: db down"),
                         ("info", "Rounds on host-a work again")]
