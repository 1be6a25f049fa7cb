"""A real HTTP server on a free loopback port, served from a thread: the home of the faithful
fakes that stand for services at the boundary in unit tests."""

from __future__ import annotations

import http.server
import json
import threading
from typing import Any


class LocalHTTPServer:
    """Serves `handler_class` on 127.0.0.1 (a free port) while the `with` block runs."""

    def __init__(self, handler_class: type[http.server.BaseHTTPRequestHandler]) -> None:
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    def __enter__(self) -> LocalHTTPServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def send_json(handler: http.server.BaseHTTPRequestHandler, status: int, body: Any,
              headers: dict[str, str] | None = None) -> None:
    """Answer the handler's request with `body` as JSON (and any extra `headers`)."""
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.end_headers()
    handler.wfile.write(data)
