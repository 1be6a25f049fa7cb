"""The process runner of every entry point: start, SIGTERM/SIGINT, bounded stop."""

import os
import signal
import threading
import time

import pytest

from magnum_lite.common import service


class FakeService:
    def __init__(self, name, log, start_blocks=False, stop_takes=0.0, fail_start=False):
        self.name = name
        self.log = log
        self.start_blocks = start_blocks
        self.stop_takes = stop_takes
        self.fail_start = fail_start
        self.alive = False
        self.stop_timeout = 0.5

    def start(self):
        self.log.append(f"start {self.name}")
        if self.fail_start:
            raise RuntimeError("cannot bind")
        if self.start_blocks:
            time.sleep(30)  # a broker that never answers
        self.alive = True

    def is_alive(self):
        return self.alive

    def stop(self):
        self.log.append(f"stop {self.name}")
        time.sleep(self.stop_takes)
        self.alive = False
        return True


def signal_soon(signo, delay=0.3):
    timer = threading.Timer(delay, os.kill, args=(os.getpid(), signo))
    timer.start()
    return timer


@pytest.mark.parametrize("signo", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_services_in_reverse_order_with_exit_code_0(signo):
    log = []
    runner = service.ServiceRunner([FakeService("a", log), FakeService("b", log)])
    signal_soon(signo)
    code, clean = runner.run()
    assert (code, clean) == (0, True)
    assert runner.signal_received == signo
    assert log == ["start a", "start b", "stop b", "stop a"]


def test_signal_handlers_are_restored_after_the_run():
    before = signal.getsignal(signal.SIGTERM)
    runner = service.ServiceRunner([FakeService("a", [])])
    signal_soon(signal.SIGTERM, 0.1)
    runner.run()
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_signal_during_a_blocked_start_stops_what_had_started_and_the_half_started():
    log = []
    runner = service.ServiceRunner([FakeService("a", log),
                                    FakeService("b", log, start_blocks=True)])
    signal_soon(signal.SIGTERM)
    began = time.monotonic()
    code, clean = runner.run()
    assert time.monotonic() - began < 5
    assert (code, clean) == (0, True)
    assert log == ["start a", "start b", "stop b", "stop a"]


def test_a_service_that_dies_stops_the_process_with_exit_code_1():
    log = []
    dying = FakeService("b", log)
    runner = service.ServiceRunner([FakeService("a", log), dying])
    threading.Timer(0.2, setattr, args=(dying, "alive", False)).start()
    code, clean = runner.run()
    assert code == 1
    assert log[-2:] == ["stop b", "stop a"]


def test_a_failed_start_stops_everything_that_was_started_with_exit_code_1():
    log = []
    runner = service.ServiceRunner([FakeService("a", log),
                                    FakeService("b", log, fail_start=True),
                                    FakeService("c", log)])
    code, clean = runner.run()
    assert (code, clean) == (1, True)
    assert log == ["start a", "start b", "stop b", "stop a"]


def test_a_stop_that_overruns_its_timeout_is_left_behind():
    log = []
    runner = service.ServiceRunner([FakeService("slow", log, stop_takes=5)])
    signal_soon(signal.SIGTERM, 0.1)
    began = time.monotonic()
    code, clean = runner.run()
    assert time.monotonic() - began < 0.1 + 0.5 + service.STOP_GRACE + 1
    assert (code, clean) == (0, False)


def test_the_process_report_says_threading_and_no_monkey_patching(config):
    report = service.process_report("magnum-lite-test")
    assert "oslo.service backend threading" in report
    assert report.endswith("eventlet monkey patching: none")
    assert service.eventlet_monkey_patched() == []


def test_wsgi_server_serves_and_stops(config):
    import urllib.request

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello"]

    server = service.WSGIServerService(lambda: app, "127.0.0.1", 0, threads=2)
    server.start()
    try:
        assert server.is_alive()
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=5) as answer:
            assert answer.read() == b"hello"
    finally:
        began = time.monotonic()
        assert server.stop()
    assert time.monotonic() - began < server.stop_timeout
    assert not server.is_alive()
