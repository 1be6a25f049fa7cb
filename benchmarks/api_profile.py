"""The read path of the REST API profiled in process: one worker's WSGI app, no server.

benchmarks/api.py measures req/s through gunicorn, which on a shared machine swings from
round to round; this calls the application a gunicorn worker loads (`magnum_lite.api.wsgi`)
directly, on the same kind of database (PostgreSQL, 200 templates, 200 clusters made through
the API, noauth admin), and reports per operation what is stable: the Python function calls
per request (cProfile) and the in-process time per request (without the profiler; best of a
few batches). With `--dump DIR` it writes each operation's profile (pstats) to DIR.

    .venv/bin/python -m benchmarks.api_profile [--requests 500] [--top 25] [--dump DIR]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import cProfile
import io
import json
import os
import pathlib
import pstats
import sys
import tempfile
import time
from typing import Any

from benchmarks.api import HEADERS, OPERATIONS, create_rows, request_paths
from tests.functional import deployment as dep


def _environ(method: str, path: str, body: bytes = b"") -> dict:
    """The environ gunicorn hands a worker's app for this request."""
    path_info, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path_info, "QUERY_STRING": query,
        "SCRIPT_NAME": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "9511",
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "RAW_URI": path,
        "HTTP_HOST": "127.0.0.1:9511", "HTTP_CONNECTION": "keep-alive",
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0), "wsgi.multithread": True, "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in HEADERS.items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE",):
            environ[key] = value
        else:
            environ["HTTP_" + key] = value
    if body:
        environ["CONTENT_LENGTH"] = str(len(body))
    return environ


def call(app: Any, method: str, path: str, document: Any = None) -> tuple[str, bytes]:
    """(status line, body) of one request to the WSGI app."""
    body = json.dumps(document).encode() if document is not None else b""
    status: list[str] = []

    def start_response(status_line: str, headers: list, exc_info: Any = None) -> Any:
        status.append(status_line)
        return lambda data: None

    chunks = app(_environ(method, path, body), start_response)
    try:
        data = b"".join(chunks)
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    return status[0], data


def _send(app: Any) -> Callable[[str, str, dict], tuple[int, bytes]]:
    def send(method: str, path: str, document: dict) -> tuple[int, bytes]:
        status, body = call(app, method, path, document)
        return int(status.split()[0]), body
    return send


def _run(app: Any, paths: list[str]) -> None:
    for path in paths:
        status, body = call(app, "GET", path)
        if not status.startswith("200"):
            raise SystemExit(f"GET {path} answered {status}: {body[:300]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=500, help="requests per batch")
    parser.add_argument("--batches", type=int, default=3, help="timed batches (best kept)")
    parser.add_argument("--top", type=int, default=25, help="functions listed per operation")
    parser.add_argument("--dump", help="directory for each operation's pstats file")
    args = parser.parse_args()

    with (tempfile.TemporaryDirectory() as tmp, dep.postgresql_database() as db_url,
          dep.rabbitmq_vhost() as transport_url):
        cloud = dep.Deployment(pathlib.Path(tmp), dep.free_port())
        config = cloud.write_config({
            "DEFAULT": {"transport_url": transport_url},
            "database": {"connection": db_url},
            "api": {"auth_strategy": "noauth"},
            "quotas": {"max_clusters_per_project": "-1"},
        })
        cloud.manage("db", "upgrade")
        os.environ["MAGNUM_LITE_CONFIG_FILE"] = str(config)
        os.environ["HOME"] = tmp
        from magnum_lite.api import wsgi

        app = wsgi.application
        templates, clusters = create_rows(_send(app))
        summary = []
        for operation in OPERATIONS:
            paths = request_paths(operation, templates, clusters, args.requests)
            _run(app, paths)  # warm caches and the pool
            best = float("inf")
            for _ in range(args.batches):
                started = time.perf_counter()
                _run(app, paths)
                best = min(best, (time.perf_counter() - started) / len(paths))
            profile = cProfile.Profile()
            profile.enable()
            _run(app, paths)
            profile.disable()
            stats = pstats.Stats(profile)
            calls = stats.total_calls / len(paths)  # type: ignore[attr-defined]
            summary.append((operation, calls, best * 1000))
            if args.dump:
                stats.dump_stats(os.path.join(args.dump, operation.split(" ?")[0]
                                              .replace(" ", "_") + ".pstats"))
            print(f"## {operation}: {calls:.0f} calls/request, {best * 1000:.3f} ms/request")
            stats.sort_stats("tottime").print_stats(args.top)
        print("| operation | calls per request | in-process ms per request (best batch) |")
        print("|---|---|---|")
        for operation, calls, ms in summary:
            print(f"| {operation} | {calls:.0f} | {ms:.3f} |")
        print(f"load average (1 min): {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    sys.exit(main())
