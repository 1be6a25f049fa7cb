"""Failpoints are inert unless the environment arms them; armed, they raise or pause."""

import threading

import pytest

from magnum_lite.common import failpoints


@pytest.fixture
def arm(monkeypatch, tmp_path):
    def arm(spec):
        monkeypatch.setenv(failpoints.ENV, spec)
        monkeypatch.setenv(failpoints.MARKER_DIR_ENV, str(tmp_path))
        return tmp_path
    yield arm
    failpoints._armed.cache_clear()


def test_an_unarmed_failpoint_does_nothing(arm):
    arm("other.place=raise")
    failpoints.hit("this.place")
    assert failpoints.armed() == {"other.place": "raise"}


def test_raise_raises_the_caller_s_error_and_marks_the_place(arm):
    markers = arm("heat.sent=raise")
    with pytest.raises(TimeoutError, match="failpoint heat.sent"):
        failpoints.hit("heat.sent", TimeoutError)
    assert (markers / "heat.sent").exists()


def test_pause_stops_the_thread_there(arm):
    markers = arm("a.b=pause, c.d=raise")
    thread = threading.Thread(target=failpoints.hit, args=("a.b",), daemon=True)
    thread.start()
    thread.join(0.3)
    assert thread.is_alive() and (markers / "a.b").exists()


def test_a_counted_failpoint_acts_on_its_first_passes_only(arm):
    arm("a.b=raise*2")
    for _ in range(2):
        with pytest.raises(failpoints.FailpointError):
            failpoints.hit("a.b")
    failpoints.hit("a.b")


@pytest.mark.parametrize("spec", ["a.b=explode", "a.b=raise*x"])
def test_an_unknown_action_is_refused(arm, spec):
    arm(spec)
    with pytest.raises(ValueError, match="must be one of pause, raise"):
        failpoints.hit("a.b")
