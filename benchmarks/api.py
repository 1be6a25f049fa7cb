"""Requests per second of the template API with one sequential client.

Starts `magnum-lite-api` (gunicorn, [api] workers) on a fresh PostgreSQL database in noauth
mode (given a RabbitMQ vhost, which template reads never use), creates 200 cluster
templates, then measures with one keep-alive HTTP client:

- get: `GET /v1/clustertemplates/{uuid}` (a different template each time),
- list: `GET /v1/clustertemplates?limit=50`.

Run from the repository root, with PostgreSQL prepared by tools/test-setup.sh:

    .venv/bin/python -m benchmarks.api [--requests 1000] [--rounds 5] [--workers 2]

Prints a Markdown table row per operation: req/s of the median round (and the slowest and
fastest rounds), median and p99 latency in ms over all requests, and p99/median.
"""

from __future__ import annotations

import argparse
import http.client
import json
import pathlib
import statistics
import tempfile
import time

from tests.functional import deployment as dep

TEMPLATES = 200
HEADERS = {"Content-Type": "application/json", "Accept": "application/json",
           "OpenStack-API-Version": "container-infra latest"}


def _request(conn: http.client.HTTPConnection, method: str, path: str,
             body: dict | None = None) -> tuple[int, bytes]:
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers=HEADERS)
    answer = conn.getresponse()
    return answer.status, answer.read()


def _create_templates(conn: http.client.HTTPConnection) -> list[str]:
    uuids = []
    for i in range(TEMPLATES):
        status, body = _request(conn, "POST", "/v1/clustertemplates", {
            "name": f"bench-{i:03d}", "coe": "kubernetes", "image_id": "fedora-coreos",
            "external_network_id": "public", "flavor_id": "m1.small",
            "labels": {"kube_tag": "v1.30.1", "index": str(i)}})
        if status != 201:
            raise SystemExit(f"template create failed: {status} {body[:300]!r}")
        uuids.append(json.loads(body)["uuid"])
    return uuids


def _measure(conn: http.client.HTTPConnection, paths: list[str],
             rounds: int) -> dict[str, float]:
    """Send `paths` `rounds` times. req/s is the median round's (a shared VM has noisy
    neighbours: one slow round should not decide); latencies are over every request."""
    latencies = []
    round_rates = []
    for _ in range(rounds):
        started = time.perf_counter()
        for path in paths:
            t0 = time.perf_counter()
            status, _ = _request(conn, "GET", path)
            latencies.append(time.perf_counter() - t0)
            if status != 200:
                raise SystemExit(f"GET {path} answered {status}")
        round_rates.append(len(paths) / (time.perf_counter() - started))
    latencies.sort()
    median = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return {"rps": statistics.median(round_rates), "min_rps": min(round_rates),
            "max_rps": max(round_rates), "median_ms": median * 1000, "p99_ms": p99 * 1000,
            "ratio": p99 / median}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000,
                        help="requests per operation and round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per operation")
    parser.add_argument("--workers", type=int, default=2, help="[api] workers")
    args = parser.parse_args()

    with (tempfile.TemporaryDirectory() as tmp, dep.postgresql_database() as db_url,
          dep.rabbitmq_vhost() as transport_url):
        cloud = dep.Deployment(pathlib.Path(tmp), dep.free_port())
        cloud.write_config({
            "DEFAULT": {"transport_url": transport_url},
            "database": {"connection": db_url},
            "api": {"host": "127.0.0.1", "port": str(cloud.port), "auth_strategy": "noauth",
                    "workers": str(args.workers)},
        })
        cloud.manage("db", "upgrade")
        cloud.start("magnum-lite-api")
        try:
            cloud.wait_until_serving()
            conn = http.client.HTTPConnection("127.0.0.1", cloud.port, timeout=30)
            uuids = _create_templates(conn)
            warmup = [f"/v1/clustertemplates/{u}" for u in uuids]
            _measure(conn, warmup + ["/v1/clustertemplates?limit=50"] * 50, 1)
            gets = [f"/v1/clustertemplates/{uuids[i % TEMPLATES]}" for i in range(args.requests)]
            lists = ["/v1/clustertemplates?limit=50"] * args.requests
            results = {"get by uuid": _measure(conn, gets, args.rounds),
                       "list ?limit=50": _measure(conn, lists, args.rounds)}
        finally:
            cloud.stop()

    print("| operation | req/s (median round) | rounds min–max | median ms | p99 ms | "
          "p99/median |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['rps']:.1f} | {r['min_rps']:.0f}–{r['max_rps']:.0f} | "
              f"{r['median_ms']:.2f} | {r['p99_ms']:.2f} | {r['ratio']:.2f} |")


if __name__ == "__main__":
    main()
