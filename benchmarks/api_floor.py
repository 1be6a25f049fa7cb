"""The floor of benchmarks/api.py: the least a WSGI app can do to answer the same reads.

No magnum_lite import, no framework: a plain WSGI callable that answers

- `GET /v1/clustertemplates/{uuid}` and `GET /v1/clusters/{uuid}`: one indexed read of the
  row by uuid, every column, as JSON;
- `GET /v1/clustertemplates?limit=N` and `GET /v1/clusters?limit=N`: one read of the first N
  rows by id, every column, as JSON;

from the same PostgreSQL database (magnum-lite's tables and rows), with one psycopg2
connection per thread in autocommit mode (a single SELECT needs no transaction) and
`json.dumps`. benchmarks/api.py runs it under gunicorn with the worker class, workers and
threads magnum-lite-api has, so the difference between the two is magnum-lite's own work.

    BENCH_FLOOR_DSN=postgresql://user:pw@host/db gunicorn benchmarks.api_floor:application
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
import datetime
import json
import os
import threading
from urllib import parse

import psycopg2

# The tables behind the two resources, by their URL's collection name.
TABLES = {"clustertemplates": "cluster_template", "clusters": "cluster"}
MAX_LIMIT = 1000

_local = threading.local()


def _connection():  # noqa: ANN202 (psycopg2's connection type)
    """This thread's connection, opened on first use (in the worker, after the fork)."""
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = psycopg2.connect(os.environ["BENCH_FLOOR_DSN"])
        conn.autocommit = True
        _local.conn = conn
    return conn


def _json_value(value: object) -> object:
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=datetime.UTC).isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _rows(sql: str, params: tuple) -> list[dict]:
    with _connection().cursor() as cursor:
        cursor.execute(sql, params)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _answer(start_response: Callable, status: str, document: object) -> Iterable[bytes]:
    body = json.dumps(document, default=_json_value).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body)))])
    return [body]


def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
    """The whole app: route by path, one SELECT, JSON."""
    parts = environ.get("PATH_INFO", "").strip("/").split("/")
    if environ["REQUEST_METHOD"] != "GET" or len(parts) not in (2, 3) or parts[0] != "v1" \
            or parts[1] not in TABLES:
        return _answer(start_response, "404 Not Found", {"error": "not found"})
    collection, table = parts[1], TABLES[parts[1]]
    if len(parts) == 3:
        rows = _rows(f"SELECT * FROM {table} WHERE uuid = %s", (parts[2],))  # noqa: S608
        if not rows:
            return _answer(start_response, "404 Not Found", {"error": "not found"})
        return _answer(start_response, "200 OK", rows[0])
    query = parse.parse_qs(environ.get("QUERY_STRING", ""))
    limit = min(int(query.get("limit", [MAX_LIMIT])[0]) or MAX_LIMIT, MAX_LIMIT)
    rows = _rows(f"SELECT * FROM {table} ORDER BY id LIMIT %s", (limit,))  # noqa: S608
    return _answer(start_response, "200 OK", {collection: rows})
