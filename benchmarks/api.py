"""The read path of the REST API against a bare floor, measured in the same run.

Starts `magnum-lite-api` (gunicorn, [api] workers × [api] threads, gthread) on a fresh
PostgreSQL database in noauth mode (given a RabbitMQ vhost: a cluster create casts to a
conductor, which is not running, so the clusters stay CREATE_IN_PROGRESS), creates 200 cluster
templates and 200 clusters (1 master, 2 workers) through the API, then starts the floor
(benchmarks/api_floor.py: one SELECT and `json.dumps`, no framework) under gunicorn with the
same worker class, workers, threads and keep-alive, on the same database and rows. Then, per
round, for each operation and each number of concurrent clients, magnum-lite and the floor
back to back (so both see the same neighbours on a shared machine):

- `GET /v1/clustertemplates/{uuid}` and `GET /v1/clusters/{uuid}` (a different row each time),
- `GET /v1/clustertemplates?limit=50` and `GET /v1/clusters?limit=50`.

Each client is a thread with one keep-alive HTTP connection, all in this process, so the
client's own cost is the same for both servers. Run from the repository root, with
PostgreSQL prepared by tools/test-setup.sh:

    .venv/bin/python -m benchmarks.api [--requests 1000] [--rounds 5] [--workers 2]
                                       [--concurrency 1,8,32] [--only-magnum-lite]

Prints a Markdown table: per operation and concurrency, req/s of the median round for both,
the ratio magnum-lite / floor (median of the rounds' ratios), median (p50) and p99 latency in
ms over all requests and p99/p50; then the RSS of each gunicorn master and the load average.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import http.client
import json
import os
import pathlib
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from tests.functional import deployment as dep

ROWS = 200
HEADERS = {"Content-Type": "application/json", "Accept": "application/json",
           "OpenStack-API-Version": "container-infra latest"}
REPO = pathlib.Path(__file__).resolve().parent.parent
THREADS = 4
KEEPALIVE = 75
OPERATIONS = ("template get by uuid", "template list ?limit=50", "cluster get by uuid",
              "cluster list ?limit=50")


def _request(conn: http.client.HTTPConnection, method: str, path: str,
             body: dict | None = None) -> tuple[int, bytes]:
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers=HEADERS)
    answer = conn.getresponse()
    return answer.status, answer.read()


def create_rows(send: Callable[[str, str, dict], tuple[int, bytes]]
                ) -> tuple[list[str], list[str]]:
    """ROWS templates and ROWS clusters (on the first template), through the API (`send`:
    method, path and body in, status code and body out)."""
    templates = []
    for i in range(ROWS):
        status, body = send("POST", "/v1/clustertemplates", {
            "name": f"bench-{i:03d}", "coe": "kubernetes", "image_id": "fedora-coreos",
            "external_network_id": "public", "flavor_id": "m1.small",
            "master_flavor_id": "m1.medium", "dns_nameserver": "8.8.8.8",
            "docker_volume_size": 10, "network_driver": "flannel",
            "labels": {"kube_tag": "v1.30.1", "index": str(i)}})
        if status != 201:
            raise SystemExit(f"template create failed: {status} {body[:300]!r}")
        templates.append(json.loads(body)["uuid"])
    clusters = []
    for i in range(ROWS):
        status, body = send("POST", "/v1/clusters", {
            "name": f"bench-{i:03d}", "cluster_template_id": templates[0],
            "master_count": 1, "node_count": 2, "create_timeout": 60,
            "labels": {"kube_tag": "v1.30.2", "extra": str(i)}})
        if status != 202:
            raise SystemExit(f"cluster create failed: {status} {body[:300]!r}")
        clusters.append(json.loads(body)["uuid"])
    return templates, clusters


def request_paths(operation: str, templates: list[str], clusters: list[str], count: int
                  ) -> list[str]:
    kind = "clustertemplates" if operation.startswith("template") else "clusters"
    if "list" in operation:
        return [f"/v1/{kind}?limit=50"] * count
    uuids = templates if kind == "clustertemplates" else clusters
    return [f"/v1/{kind}/{uuids[i % len(uuids)]}" for i in range(count)]


def _measure(port: int, paths: list[str], concurrency: int) -> tuple[float, list[float]]:
    """Send `paths` from `concurrency` clients (threads, one keep-alive connection each):
    (req/s, latencies in s)."""
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                   for _ in range(concurrency)]
    for conn in connections:  # connect (and warm) outside the timing
        _request(conn, "GET", paths[0])
    work = iter(paths)
    lock = threading.Lock()
    latencies: list[float] = []
    failures: list[str] = []
    barrier = threading.Barrier(concurrency + 1)

    def client(conn: http.client.HTTPConnection) -> None:
        own = []
        barrier.wait()
        while True:
            with lock:
                path = next(work, None)
            if path is None:
                break
            t0 = time.perf_counter()
            status, _ = _request(conn, "GET", path)
            own.append(time.perf_counter() - t0)
            if status != 200:
                failures.append(f"GET {path} answered {status}")
                break
        with lock:
            latencies.extend(own)

    threads = [threading.Thread(target=client, args=(c,)) for c in connections]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    for conn in connections:
        conn.close()
    if failures:
        raise SystemExit(failures[0])
    return len(paths) / elapsed, latencies


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    ordered = sorted(latencies)
    return (statistics.median(ordered),
            ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))])


def _rss_mib(pid: int) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _start_floor(db_url: str, port: int, workers: int, workdir: pathlib.Path
                 ) -> subprocess.Popen:
    """gunicorn serving benchmarks/api_floor.py as magnum-lite-api is served."""
    env = dict(os.environ, BENCH_FLOOR_DSN=db_url.replace("postgresql+psycopg2://",
                                                           "postgresql://"),
               PYTHONPATH=str(REPO), HOME=str(workdir))
    log = open(workdir / "floor.log", "wb")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen(
        [str(dep.BIN / "gunicorn"), "--workers", str(workers), "--worker-class", "gthread",
         "--threads", str(THREADS), "--keep-alive", str(KEEPALIVE), "--no-control-socket",
         "--bind", f"127.0.0.1:{port}", "--chdir", str(REPO),
         "benchmarks.api_floor:application"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    proc.log_file = log  # type: ignore[attr-defined]
    deadline = time.monotonic() + dep.START_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"the floor exited: {(workdir / 'floor.log').read_text()[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            if _request(conn, "GET", "/v1/clusters?limit=1")[0] == 200:
                conn.close()
                return proc
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the floor did not answer")
        time.sleep(0.2)


def _stop_floor(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=dep.STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    proc.log_file.close()  # type: ignore[attr-defined]


def _report(results: dict, rss: dict[str, float], load: tuple, servers: tuple) -> None:
    print("| operation | clients | magnum-lite req/s | floor req/s | ratio (rounds min–max) | "
          "magnum-lite p50 / p99 ms (p99/p50) | floor p50 / p99 ms (p99/p50) |")
    print("|---|---|---|---|---|---|---|")
    for (operation, concurrency), by_server in results.items():
        cells = []
        for server in ("magnum-lite", "floor"):
            if server not in servers:
                cells.append(("–", "–"))
                continue
            rates, latencies = by_server[server]
            p50, p99 = _percentiles(latencies)
            cells.append((f"{statistics.median(rates):.0f}",
                          f"{p50 * 1000:.2f} / {p99 * 1000:.2f} ({p99 / p50:.2f})"))
        if len(servers) == 2:
            ratios = [m / f for m, f in zip(by_server["magnum-lite"][0], by_server["floor"][0],
                                            strict=True)]
            ratio = f"{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})"
        else:
            ratio = "–"
        print(f"| {operation} | {concurrency} | {cells[0][0]} | {cells[1][0]} | {ratio} | "
              f"{cells[0][1]} | {cells[1][1]} |")
    print()
    print("gunicorn master RSS: " + ", ".join(f"{k} {v:.1f} MiB" for k, v in rss.items()))
    print(f"load average (1 min) before / after: {load[0]:.2f} / {load[1]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000,
                        help="requests per operation, concurrency, server and round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds")
    parser.add_argument("--workers", type=int, default=2, help="[api] workers (and the floor's)")
    parser.add_argument("--concurrency", default="1,8,32",
                        help="comma-separated numbers of concurrent clients")
    parser.add_argument("--only-magnum-lite", action="store_true",
                        help="no floor (e.g. while profiling)")
    parser.add_argument("--operations", default=",".join(OPERATIONS),
                        help="comma-separated subset of: " + ", ".join(OPERATIONS))
    args = parser.parse_args()
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    operations = [o.strip() for o in args.operations.split(",")]
    servers = ("magnum-lite",) if args.only_magnum_lite else ("magnum-lite", "floor")
    load_before = os.getloadavg()[0]

    with (tempfile.TemporaryDirectory() as tmp, dep.postgresql_database() as db_url,
          dep.rabbitmq_vhost() as transport_url):
        cloud = dep.Deployment(pathlib.Path(tmp), dep.free_port())
        cloud.write_config({
            "DEFAULT": {"transport_url": transport_url},
            "database": {"connection": db_url},
            "api": {"host": "127.0.0.1", "port": str(cloud.port), "auth_strategy": "noauth",
                    "workers": str(args.workers), "threads": str(THREADS),
                    "keepalive_timeout": str(KEEPALIVE)},
            "quotas": {"max_clusters_per_project": "-1"},
        })
        cloud.manage("db", "upgrade")
        cloud.start("magnum-lite-api")
        floor = None
        ports = {"magnum-lite": cloud.port}
        try:
            cloud.wait_until_serving()
            conn = http.client.HTTPConnection("127.0.0.1", cloud.port, timeout=30)
            templates, clusters = create_rows(
                lambda method, path, body: _request(conn, method, path, body))
            conn.close()
            if "floor" in servers:
                ports["floor"] = dep.free_port()
                floor = _start_floor(db_url, ports["floor"], args.workers, pathlib.Path(tmp))
            for server in servers:  # warm up every worker thread's caches and connections
                for operation in operations:
                    _measure(ports[server], request_paths(operation, templates, clusters, 400), 8)
            results: dict = {(o, c): {s: ([], []) for s in servers}
                             for o in operations for c in concurrencies}
            for _ in range(args.rounds):
                for operation in operations:
                    paths = request_paths(operation, templates, clusters, args.requests)
                    for concurrency in concurrencies:
                        for server in servers:
                            rate, latencies = _measure(ports[server], paths, concurrency)
                            results[(operation, concurrency)][server][0].append(rate)
                            results[(operation, concurrency)][server][1].extend(latencies)
            rss = {"magnum-lite": _rss_mib(cloud.processes["magnum-lite-api"].pid)}
            if floor is not None:
                rss["floor (bare gunicorn)"] = _rss_mib(floor.pid)
        finally:
            if floor is not None:
                _stop_floor(floor)
            cloud.stop()

    _report(results, rss, (load_before, os.getloadavg()[0]), servers)


if __name__ == "__main__":
    sys.exit(main())
