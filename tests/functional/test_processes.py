"""The entry points as real processes: start, heartbeat, no monkey patching, clean SIGTERM.

magnum-lite-conductor and magnum-lite-api only meet over RabbitMQ: those tests run on a fresh
vhost (skipped without RabbitMQ, a failure under CI=true). magnum-lite-all needs nothing at all.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import time

import pytest

from tests.functional import deployment as dep

# The promise: SIGTERM to exit within this many seconds.
STOP_WITHIN = 10.0
NO_PATCHING = "eventlet monkey patching: none"


def _sigterm_and_time(proc: subprocess.Popen) -> tuple[int, float]:
    """SIGTERM `proc`; (exit code, seconds it took). Killed if it overruns the promise."""
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=STOP_WITHIN + 5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        pytest.fail(f"pid {proc.pid} ignored SIGTERM for {STOP_WITHIN + 5}s")
    return code, time.monotonic() - began


def _conductor_heartbeats(database: str) -> list[tuple[str, str, int]]:
    with contextlib.closing(sqlite3.connect(database, timeout=5)) as conn:
        try:
            return conn.execute("SELECT host, binary, report_count FROM magnum_service "
                                "WHERE binary = 'magnum-lite-conductor'").fetchall()
        except sqlite3.OperationalError:  # the schema is not there yet
            return []


@contextlib.contextmanager
def _split_deployment(tmp_path) -> Iterator[dep.Deployment]:
    """A config on SQLite and a fresh RabbitMQ vhost, the schema at head; processes are
    started by the test and always killed at the end."""
    with dep.rabbitmq_vhost() as transport_url:
        deployment = dep.Deployment(tmp_path, dep.free_port())
        deployment.database = str(tmp_path / "magnum-lite.sqlite")  # type: ignore[attr-defined]
        deployment.write_config({
            "DEFAULT": {"transport_url": transport_url, "host": "proc-test",
                        "state_path": str(tmp_path)},
            "database": {"connection": f"sqlite:///{deployment.database}"},
            "api": {"host": "127.0.0.1", "port": str(deployment.port),
                    "auth_strategy": "noauth", "workers": "2"},
            "conductor": {"heartbeat_interval": "1"},
        })
        deployment.manage("db", "upgrade")
        try:
            yield deployment
        finally:
            deployment.stop()


@pytest.mark.service
def test_conductor_stops_on_sigterm_within_10s_with_exit_0(tmp_path):
    with _split_deployment(tmp_path) as deployment:
        proc = deployment.start("magnum-lite-conductor")
        deployment.wait_for(lambda: "serving topic" in deployment.log("magnum-lite-conductor"),
                            timeout=dep.START_TIMEOUT)
        code, took = _sigterm_and_time(proc)
        log = deployment.log("magnum-lite-conductor")
    assert code == 0, log
    assert took < STOP_WITHIN, f"took {took:.1f}s"
    assert "Received SIGTERM: stopping" in log
    assert "Traceback" not in log


def test_conductor_stops_on_sigterm_even_while_the_broker_is_unreachable(tmp_path):
    # Nothing listens on the port: the RPC server is stuck reconnecting inside its start.
    deployment = dep.Deployment(tmp_path, dep.free_port())
    deployment.write_config({"DEFAULT": {
        "transport_url": f"rabbit://guest:guest@127.0.0.1:{dep.free_port()}/",
        "state_path": str(tmp_path)}})
    try:
        proc = deployment.start("magnum-lite-conductor")
        deployment.wait_for(lambda: "Connection failed" in deployment.log(
            "magnum-lite-conductor"), timeout=dep.START_TIMEOUT)
        code, took = _sigterm_and_time(proc)
        log = deployment.log("magnum-lite-conductor")
    finally:
        deployment.stop()
    assert code == 0, log
    assert took < STOP_WITHIN, f"took {took:.1f}s"
    assert "Received SIGTERM: stopping" in log


@pytest.mark.service
def test_conductor_heartbeat_shows_in_the_service_table(tmp_path):
    with _split_deployment(tmp_path) as deployment:
        deployment.start("magnum-lite-conductor")
        rows = deployment.wait_for(lambda: _conductor_heartbeats(deployment.database),
                                   timeout=dep.START_TIMEOUT)
        assert rows[0][:2] == ("proc-test", "magnum-lite-conductor")
        # Heartbeats go on at [conductor] heartbeat_interval (1s here).
        deployment.wait_for(
            lambda: _conductor_heartbeats(deployment.database)[0][2] >= rows[0][2] + 2,
            timeout=10)


@pytest.mark.service
def test_api_workers_and_conductor_run_without_eventlet_monkey_patching(tmp_path):
    with _split_deployment(tmp_path) as deployment:
        deployment.start("magnum-lite-conductor")
        deployment.start("magnum-lite-api")
        deployment.wait_until_serving()
        deployment.wait_for(lambda: len(re.findall(
            "magnum-lite-api worker .* eventlet monkey patching", deployment.log(
                "magnum-lite-api"))) == 2, timeout=dep.START_TIMEOUT)
        codes = deployment.stop()
        api_log = deployment.log("magnum-lite-api")
        conductor_log = deployment.log("magnum-lite-conductor")
    assert codes == {"magnum-lite-conductor": 0, "magnum-lite-api": 0}
    workers = re.findall(r"magnum-lite-api worker .*\(pid (\d+)\).*", api_log)
    assert len(set(workers)) == 2, api_log
    for line in re.findall(r"magnum-lite-api worker .*", api_log):
        assert line.endswith(NO_PATCHING) and "oslo.service backend threading" in line
    assert re.search(r"magnum-lite-conductor .* oslo.service backend threading, "
                     + re.escape(NO_PATCHING), conductor_log), conductor_log


@pytest.mark.service
def test_all_with_a_message_bus_runs_api_and_conductor_as_children(tmp_path):
    with _split_deployment(tmp_path) as deployment:
        proc = deployment.start("magnum-lite-all")
        deployment.wait_until_serving()
        deployment.wait_for(lambda: _conductor_heartbeats(deployment.database),
                            timeout=dep.START_TIMEOUT)
        log = deployment.log("magnum-lite-all")
        children = [int(pid) for pid in re.findall(r"\(pid (\d+)\)", log.split(
            "Started magnum-lite-api")[1].splitlines()[0])]
        code, took = _sigterm_and_time(proc)
        log = deployment.log("magnum-lite-all")
    assert code == 0, log
    assert took < STOP_WITHIN + 2
    assert len(children) == 2
    for pid in children:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_all_with_no_configuration_serves_and_stops_on_sigterm(tmp_path):
    deployment = dep.Deployment(tmp_path, dep.free_port())
    # No configuration file at all; only the port comes from the environment, so that the test
    # never collides with a real service on 9511 (oslo.config reads OS_<GROUP>__<OPTION>).
    deployment.env["OS_API__PORT"] = str(deployment.port)
    try:
        proc = deployment.start("magnum-lite-all")
        deployment.wait_until_serving()
        code, took = _sigterm_and_time(proc)
        log = deployment.log("magnum-lite-all")
    finally:
        deployment.stop()
    assert code == 0, log
    assert took < STOP_WITHIN, f"took {took:.1f}s"
    assert (tmp_path / ".local/share/magnum-lite/magnum-lite.sqlite").exists()
    assert re.search(r"magnum-lite-all .* oslo.service backend threading, "
                     + re.escape(NO_PATCHING), log), log
    assert "Traceback" not in log
