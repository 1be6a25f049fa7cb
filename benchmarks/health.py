"""The health monitor's cost at scale: `--clusters` clusters on two conductors, each checked
every `--interval` seconds, against stand-in COE endpoints.

Each conductor is a process of its own running `magnum_lite.conductor.health.HealthMonitor`
(the one magnum-lite-conductor runs; no RPC server, no reconciler) on a fresh PostgreSQL
database, its ring of the two hosts fixed, so each checks its half. The COE is one
stand-in HTTP server (a third process, `http.server` with a thread per connection): for
every cluster it answers `GET /<uuid>` with the health of its three nodes (a master, two
workers) as JSON, each check a new TCP connection, as the real clients make per round. The
plugin is k8s_ubuntu_v1 with its monitor replaced by a client of that server (no TLS: the
stand-in measures the monitor, not OpenSSL).

After every cluster shows HEALTHY, the run takes `--flips` clusters at random moments over
`--duration` seconds and turns a worker of each not ready at the stand-in; this process
reads the database every 0.1 s (the row the API answers from) and takes the lag from the
flip to `health_status` UNHEALTHY. It reports the checks per second the stand-in answered,
the lag's p50/p99/max, and each conductor's CPU (user + system over the measured time) and
RSS (VmRSS at the end, VmHWM peak).

Run from the repository root with PostgreSQL running (trust auth on 127.0.0.1):

    .venv/bin/python -m benchmarks.health [--clusters 1000] [--interval 10]

Exit code 1 when a flipped cluster is not UNHEALTHY within 3 intervals.
"""

from __future__ import annotations

import argparse
from http import server
import json
import multiprocessing
import pathlib
import random
import statistics
import sys
import tempfile
import threading
import time
from typing import Any
import uuid

import sqlalchemy as sa

from benchmarks.conductor_scale import ADMIN_URL, postgresql_database

HOSTS = ("bench-conductor-a", "bench-conductor-b")
NODES = ("m0", "w0", "w1")


# -- the stand-in COE ------------------------------------------------------------------------

def serve_coe(port_queue: Any, flips: Any, stop: Any, counter: Any) -> None:
    """The stand-in: every cluster's nodes ready unless flipped (a uuid put on `flips`)."""
    down: set[str] = set()
    lock = threading.Lock()

    class Handler(server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            uuid_ = self.path.strip("/")
            with lock:
                while not flips.empty():
                    down.add(flips.get_nowait())
                sick = uuid_ in down
            with counter.get_lock():
                counter.value += 1
            body = json.dumps({n: not (sick and n == "w1") for n in NODES}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    httpd = server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    port_queue.put(httpd.server_address[1])
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    stop.wait()
    httpd.shutdown()


# -- a conductor -------------------------------------------------------------------------------

def _configure(workdir: pathlib.Path, db_url: str, interval: int, workers: int,
               name: str) -> None:
    from magnum_lite.common import service

    config = workdir / f"{name}.conf"
    config.write_text("\n".join([
        "[DEFAULT]", f"log_file = {workdir / (name + '.log')}", f"state_path = {workdir}",
        f"host = {name}", "",
        "[database]", f"connection = {db_url}", "",
        "[health]", f"interval = {interval}", f"workers = {workers}", ""]))
    service.prepare_service(["--config-file", str(config)], prog="magnum-lite-conductor",
                            default_config_files=[])


def _install_stand_in_plugin(port: int) -> None:
    """k8s_ubuntu_v1 whose monitor asks the stand-in over plain HTTP."""
    import http.client

    from stevedore import extension

    from magnum_lite.common import driver_factory
    from magnum_lite.drivers import base
    from magnum_lite.drivers.k8s_ubuntu_v1.driver import K8sUbuntuV1

    class StandInNodes(base.CoeNodes):
        def __init__(self, cluster_uuid: str) -> None:
            self.cluster_uuid = cluster_uuid

        def nodes(self) -> dict[str, base.NodeHealth]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                conn.request("GET", f"/{self.cluster_uuid}")
                ready = json.loads(conn.getresponse().read())
            finally:
                conn.close()
            return {name: base.NodeHealth(name, ok, reason=None if ok else "NotReady")
                    for name, ok in ready.items()}

        def drain(self, names: list[str]) -> bool:
            return True

        def uncordon(self, names: list[str]) -> None:
            return None

    class StandInDriver(K8sUbuntuV1):
        def get_monitor(self, cluster: Any, cluster_template: Any, *,
                        credentials: Any) -> base.CoeNodes:
            return StandInNodes(cluster.uuid)

    driver_factory.set_extension_manager(extension.ExtensionManager.make_test_instance(
        [extension.Extension("k8s_ubuntu_v1", None, StandInDriver, None)],
        namespace=driver_factory.NAMESPACE))


def _proc_status() -> dict[str, int]:
    found = {}
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


def run_conductor(name: str, workdir: str, db_url: str, interval: int, workers: int,
                  port: int, measure: Any, stop: Any, results: Any) -> None:
    """One conductor's health monitor until `stop`; its CPU between `measure` and `stop`."""
    import os

    _configure(pathlib.Path(workdir), db_url, interval, workers, name)
    _install_stand_in_plugin(port)
    from magnum_lite.conductor import hashring, health

    monitor = health.HealthMonitor(
        name, ring=hashring.ConductorRing(name, list_hosts=lambda: set(HOSTS)))
    monitor.start()
    measure.wait()
    began, cpu0 = time.monotonic(), sum(os.times()[:2])
    stop.wait()
    cpu = sum(os.times()[:2]) - cpu0
    seconds = time.monotonic() - began
    monitor.stop(2.0)
    results.put({"name": name, "cpu_percent": 100.0 * cpu / seconds, **_proc_status()})


# -- the run -----------------------------------------------------------------------------------

def _write_clusters(count: int, port: int) -> list[str]:
    from magnum_lite import objects
    from magnum_lite.common import context as ml_context
    from magnum_lite.objects import fields

    admin = ml_context.RequestContext(project_id="bench", user_id="bench", is_admin=True,
                                      all_projects=True, overwrite=False)
    template = objects.ClusterTemplate(
        admin, project_id="bench", user_id="bench", name="bench-health", coe="kubernetes",
        server_type="vm", cluster_distro="ubuntu", image_id="ubuntu-22.04",
        external_network_id="public", flavor_id="m1.small", master_flavor_id="m1.medium",
        network_driver="flannel", labels={}, public=True)
    template.create()
    uuids = []
    for index in range(count):
        cluster = objects.Cluster(
            admin, uuid=str(uuid.uuid4()), project_id="bench", user_id="bench",
            name=f"bench-health-{index}", cluster_template_id=template.uuid,
            status=fields.ClusterStatus.CREATE_COMPLETE, version=1,
            api_address=f"127.0.0.1:{port}", labels={})
        cluster.create_with_nodegroups([
            {"name": "default-master", "project_id": "bench", "role": "master",
             "node_count": 1, "is_default": True},
            {"name": "default-worker", "project_id": "bench", "role": "worker",
             "node_count": 2, "is_default": True}], admin)
        uuids.append(cluster.uuid)
    return uuids


def _health_of(engine: sa.Engine, uuids: list[str]) -> dict[str, str | None]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT uuid, health_status FROM cluster WHERE uuid = "
                                    "ANY(:uuids)"), {"uuids": uuids}).all()
    return dict(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--interval", type=int, default=10)
    parser.add_argument("--workers", type=int, default=16, help="[health] workers")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--flips", type=int, default=100)
    parser.add_argument("--db-admin-url", default=ADMIN_URL)
    args = parser.parse_args()

    spawn = multiprocessing.get_context("spawn")
    with (tempfile.TemporaryDirectory() as tmp,
          postgresql_database(args.db_admin_url) as db_url):
        port_queue, flips, stop = spawn.Queue(), spawn.Queue(), spawn.Event()
        counter = spawn.Value("l", 0)
        coe = spawn.Process(target=serve_coe, args=(port_queue, flips, stop, counter))
        coe.start()
        port = port_queue.get(timeout=30)

        _configure(pathlib.Path(tmp), db_url, args.interval, args.workers, "bench-writer")
        from magnum_lite.db import migration

        migration.upgrade()
        uuids = _write_clusters(args.clusters, port)
        engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)

        measure, results = spawn.Event(), spawn.Queue()
        conductors = [spawn.Process(target=run_conductor, args=(
            name, tmp, db_url, args.interval, args.workers, port, measure, stop, results))
            for name in HOSTS]
        for process in conductors:
            process.start()
        began = time.monotonic()
        while True:
            healthy = sum(1 for s in _health_of(engine, uuids).values() if s == "HEALTHY")
            if healthy == len(uuids):
                break
            if time.monotonic() - began > 6 * args.interval + 60:
                print(f"only {healthy} of {len(uuids)} clusters HEALTHY", file=sys.stderr)
                stop.set()
                return 1
            time.sleep(0.5)
        first_round = time.monotonic() - began

        picked = random.sample(uuids, min(args.flips, len(uuids)))
        at = sorted(random.uniform(0, args.duration) for _ in picked)
        flipped: dict[str, float] = {}
        lags: dict[str, float] = {}
        checks0 = counter.value
        measure.set()
        start = time.monotonic()
        while time.monotonic() - start < args.duration + 3 * args.interval:
            now = time.monotonic() - start
            while len(flipped) < len(picked) and at[len(flipped)] <= now:
                cluster = picked[len(flipped)]
                flips.put(cluster)
                flipped[cluster] = time.monotonic()
            waiting = [u for u in flipped if u not in lags]
            if waiting:
                seen = _health_of(engine, waiting)
                for cluster in waiting:
                    if seen.get(cluster) == "UNHEALTHY":
                        lags[cluster] = time.monotonic() - flipped[cluster]
            if len(lags) == len(picked):
                break
            time.sleep(0.1)
        elapsed = time.monotonic() - start
        checks = counter.value - checks0
        stop.set()
        reports = sorted((results.get(timeout=30) for _ in conductors),
                         key=lambda r: r["name"])
        for process in [*conductors, coe]:
            process.join(30)

    missing = len(picked) - len(lags)
    values = sorted(lags.values())
    p99 = values[min(len(values) - 1, int(0.99 * len(values)))] if values else float("nan")
    heads = " | ".join(f"conductor {r['name'][-1]}: CPU, RSS MiB" for r in reports)
    print(f"| clusters | conductors | interval s | first round s | checks/s | lag p50 s | "
          f"lag p99 s | lag max s | {heads} |")
    print("|" + "---|" * (8 + len(reports)))
    print(f"| {args.clusters} | {len(HOSTS)} | {args.interval} | {first_round:.1f} | "
          f"{checks / elapsed:.1f} | {statistics.median(values):.2f} | {p99:.2f} | "
          f"{values[-1]:.2f} | " + " | ".join(
              f"{r['cpu_percent']:.1f} %, {r['VmRSS'] / 1024:.0f} (peak "
              f"{r['VmHWM'] / 1024:.0f})" for r in reports) + " |")
    if missing:
        print(f"{missing} flipped clusters never showed UNHEALTHY", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
