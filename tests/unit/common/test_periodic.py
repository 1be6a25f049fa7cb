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
