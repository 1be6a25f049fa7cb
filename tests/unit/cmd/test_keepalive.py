"""[api] keepalive_timeout reaches every server that serves the API: gunicorn and cheroot.

tests/functional/test_keepalive.py shows what it is for: polling clients are never cut off.
"""

import socket

from magnum_lite.cmd import all as all_cmd
from magnum_lite.cmd import api
from magnum_lite.common import service


def test_gunicorn_keeps_idle_connections_longer_than_a_polling_client_waits(config):
    # gunicorn's own default (2 s) raced clients that poll every 2 s.
    assert api.make_application(config).cfg.keepalive == 75
    config.set_override("keepalive_timeout", 30, group="api")
    assert api.make_application(config).cfg.keepalive == 30


def test_cheroot_keeps_idle_connections_for_the_keepalive_given(config):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return [b"hello"]

    server = service.WSGIServerService(lambda: app, "127.0.0.1", 0, threads=2, keepalive=42)
    server.start()
    try:
        # cheroot announces its idle timeout to an HTTP/1.0 client asking for keep-alive.
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
            conn.sendall(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
            answer = b""
            while not answer.endswith(b"hello"):
                answer += conn.recv(4096)
        assert b"\r\nKeep-Alive: timeout=42\r\n" in answer
    finally:
        assert server.stop()


def test_magnum_lite_all_serves_with_the_api_keepalive(config, monkeypatch):
    config.set_override("keepalive_timeout", 33, group="api")
    ran = []

    class Runner:
        def __init__(self, services):
            ran.extend(services)

        def run(self):
            return 0, True

    monkeypatch.setattr(service, "ServiceRunner", Runner)
    monkeypatch.setattr("magnum_lite.conductor.service.ConductorService", lambda: "conductor")
    assert all_cmd._run_embedded() == 0
    servers = [s for s in ran if isinstance(s, service.WSGIServerService)]
    assert [s.keepalive for s in servers] == [33]
