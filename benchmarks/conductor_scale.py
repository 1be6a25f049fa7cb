"""The conductor alone at scale: 1,000 cluster creates at once, Heat faked at the client boundary.

Runs `magnum_lite.conductor.service.ConductorService` (RPC server on the threading executor,
heartbeat, status reconciler) in this process on a fresh PostgreSQL database and a fresh
RabbitMQ vhost, with `magnum_lite.common.clients.get_heat_client` pointing at the in-memory
Heat of tests/fakes/heat.py (FakeHeatCloud: a stack completes once it has been observed -
listed or read - `--complete-after` times since its action began). The cloud has no Octavia
and Neutron endpoints (the delete's clean-up of COE leftovers finds nothing to do). Each round:

1. writes `--clusters` clusters (spread over `--projects` projects) the way
   `POST /v1/clusters` does: the row with its two default nodegroups, pinned to the driver
   version of a public k8s_ubuntu_v1 template (server_type vm, distro ubuntu, kubernetes,
   image ubuntu-22.04), and the `cluster.create` event;
2. casts `cluster_create` for all of them through `ConductorAPI` (the API's RPC client) in
   one burst, and times until every cluster is CREATE_COMPLETE;
3. deletes them all the way `DELETE /v1/clusters/{id}` does (status, version, event, cast
   `cluster_delete`) and times until every row is gone.

Meanwhile a sampler (every 0.1 s) records the connections checked out of the conductor's
SQLAlchemy pool and (every 0.5 s) PostgreSQL's own count of connections to the database
(pg_stat_activity, the sampler's own excluded), the process RSS (VmRSS; VmHWM is the peak) and
the number of threads. After each round the fake Heat's own history (every call, every
deleted stack) is dropped, so that the RSS after a round is the conductor's.

Run from the repository root, with PostgreSQL (an account that may create databases: by
default `postgres` without a password, trust auth on 127.0.0.1) and RabbitMQ (guest/guest,
rabbitmqctl on this machine) running:

    .venv/bin/python -m benchmarks.conductor_scale [--clusters 1000] [--rounds 3]

With `--conductors N` (issue 17: `--steady 9000 --clusters 1000 --conductors 2`) the
conductors run as N processes of their own (benchmarks/conductor_child.py, hosts
bench-conductor-1..N, same database and vhost: the hash ring splits the clusters) with the
health monitor off (the fake cloud has no COE API), all on ONE FakeHeatCloud served from this
process (benchmarks/heat_ipc.py: the driver's calls forwarded, heatclient's shapes rebuilt).
First `--steady` clusters are written as a create is, then set CREATE_COMPLETE in bulk (stack
id, nodegroups, operation succeeded) with their stacks CREATE_COMPLETE in the fake Heat (same
projects, same tag: the reconciler's listings carry them). Then each round's creates, a quiet
window of `--quiet` seconds, and the deletes. With `--notifications on` (the default) the fake
Heat also sends, for every stack action that ends, the notification Heat 27 would send
(benchmarks/heat_notifier.py: `orchestration.stack.<action>.end`, `.error` for a failure, on
exchange `heat`, topic `notifications` of the round's vhost) and the conductors listen
(`[heat_notifications] enabled`, one pool: each notification reaches one of them), as in a
deployment whose Heat notifies; with `off` they learn of a stack's change at their next poll
only. Per conductor and phase it reports CPU seconds (/proc/<pid>/stat utime + stime), RSS and
VmHWM, and the SQL statements its engine ran: per reconciler round (the round's own thread), of
the checks the rounds started, and in all; per round, the time to each cluster's
CREATE_COMPLETE event from its cluster stack's CREATE_COMPLETE in the fake Heat, and from its
last stack's (stack change → API: the worker chunk stacks may end after the cluster stack),
and the Heat calls naming a steady stack during the quiet window; the notifications sent, and
those the conductors' logs say started a check.

Prints a Markdown table row per round and a summary line. Exit code 1 when a cluster does not
reach CREATE_COMPLETE or is not deleted within `--timeout`, or when the database connections
exceed `--max-db-connections` (default: what the conductor's threads can hold at once).
"""

from __future__ import annotations

import argparse
import collections
from collections.abc import Iterator
import concurrent.futures
import contextlib
import datetime
import gc
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any
import uuid

import sqlalchemy as sa

import magnum_lite  # noqa: F401  (selects oslo.service's threading backend first)

MASTER_NODEGROUP = "default-master"
WORKER_NODEGROUP = "default-worker"
CREATE_TIMEOUT_MINUTES = 60
ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


@contextlib.contextmanager
def postgresql_database(admin_url: str) -> Iterator[str]:
    """A new, empty database (bench_conductor_<random>) on the server of `admin_url`;
    dropped afterwards. Yields its URL."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT",
                             poolclass=sa.pool.NullPool)
    name = f"bench_conductor_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE datname = :name"), {"name": name})
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@contextlib.contextmanager
def rabbitmq_vhost(host: str) -> Iterator[str]:
    """A new RabbitMQ vhost (bench_conductor_<random>) open to guest; deleted afterwards.
    Yields the transport URL."""
    rabbitmqctl = shutil.which("rabbitmqctl")
    if rabbitmqctl is None:
        raise SystemExit("rabbitmqctl is missing: RabbitMQ must run on this machine")
    vhost = f"bench_conductor_{uuid.uuid4().hex[:10]}"

    def ctl(*args: str) -> None:
        subprocess.run([rabbitmqctl, *args], check=True, capture_output=True, timeout=60)

    ctl("add_vhost", vhost)
    try:
        ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"rabbit://guest:guest@{host}:5672/{vhost}"
    finally:
        ctl("delete_vhost", vhost)


def _proc_status() -> dict[str, int]:
    """VmRSS, VmHWM (kB) and Threads of this process."""
    values = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                values[key] = int(rest.split()[0])
    return values


class Sampler(threading.Thread):
    """Samples the pool, PostgreSQL's connections, RSS and threads until stopped."""

    def __init__(self, engine: sa.Engine, monitor: sa.Engine, database: str) -> None:
        super().__init__(name="bench-sampler", daemon=True)
        self.engine, self.monitor, self.database = engine, monitor, database
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "lock", threading.Lock()):
            self.max_checked_out = 0
            self.max_pg_connections = 0
            self.max_rss_kb = 0
            self.max_threads = 0

    def run(self) -> None:
        ticks = 0
        with self.monitor.connect() as conn:
            while not self.stop.wait(0.1):
                status = _proc_status()
                checked_out = self.engine.pool.checkedout()
                pg = None
                if ticks % 5 == 0:
                    pg = conn.execute(sa.text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = :name "
                        "AND pid <> pg_backend_pid()"), {"name": self.database}).scalar()
                    conn.rollback()
                ticks += 1
                with self.lock:
                    self.max_checked_out = max(self.max_checked_out, checked_out)
                    self.max_rss_kb = max(self.max_rss_kb, status["VmRSS"])
                    self.max_threads = max(self.max_threads, status["Threads"])
                    if pg is not None:
                        self.max_pg_connections = max(self.max_pg_connections, pg)


class Profiler(threading.Thread):
    """A sampling profiler: every 5 ms, where each busy thread is, by its innermost frame of
    magnum-lite or the fake Heat and the library it is in at that moment."""

    IDLE = {("threading.py", "wait"), ("threading.py", "_wait_for_tstate_lock"),
            ("queue.py", "get"), ("selectors.py", "select"), ("socket.py", "recv_into"),
            ("ssl.py", "read"), ("threading.py", "acquire")}

    def __init__(self) -> None:
        super().__init__(name="bench-profiler", daemon=True)
        self.samples: collections.Counter = collections.Counter()
        self.total = 0
        self.stop = threading.Event()

    def run(self) -> None:
        me = threading.get_ident()
        main = threading.main_thread().ident
        while not self.stop.wait(0.005):
            for ident, frame in sys._current_frames().items():
                if ident in (me, main):
                    continue
                inner = frame
                where = (pathlib.Path(inner.f_code.co_filename).name, inner.f_code.co_name)
                if where in self.IDLE or inner.f_code.co_name in ("wait", "sleep",
                                                                   "_wait", "drain_events"):
                    continue
                library = inner.f_code.co_filename
                library = library.split("site-packages/")[-1].split("/")[0] if (
                    "site-packages/" in library) else pathlib.Path(library).name
                ours = None
                while frame is not None:
                    name = frame.f_code.co_filename
                    if "/magnum_lite/" in name or "/tests/fakes/" in name:
                        ours = (f"{name.split('/work/main/')[-1]}:{frame.f_code.co_name}")
                        break
                    frame = frame.f_back
                self.samples[(ours or "-", library)] += 1
                self.total += 1

    def report(self, top: int = 25) -> list[str]:
        lines = ["| busy thread samples % | innermost magnum-lite / fake Heat frame | "
                 "executing in |", "|---|---|---|"]
        for (ours, library), count in self.samples.most_common(top):
            lines.append(f"| {100 * count / max(1, self.total):.1f} | {ours} | {library} |")
        return lines


def _counts(monitor: sa.Engine) -> dict[str, int]:
    with monitor.connect() as conn:
        return dict(conn.execute(sa.text(
            "SELECT status, count(*) FROM cluster WHERE name NOT LIKE 'steady-%' "
            "GROUP BY status")).all())


def _wait(monitor: sa.Engine, done: Any, timeout: float) -> tuple[float, dict[str, int]]:
    """Poll the cluster table every 0.2 s until done(counts); (seconds, last counts)."""
    began = time.monotonic()
    while True:
        counts = _counts(monitor)
        if done(counts) or time.monotonic() - began > timeout:
            return time.monotonic() - began, counts
        time.sleep(0.2)


def _write_config(config: pathlib.Path, workdir: pathlib.Path, db_url: str,
                  transport_url: str, args: argparse.Namespace, log_file: str) -> None:
    lines = ["[DEFAULT]", f"transport_url = {transport_url}", f"log_file = {log_file}",
             f"state_path = {workdir}", "",
             "[database]", f"connection = {db_url}", "",
             "[conductor]", f"rpc_workers = {args.rpc_workers}",
             f"reconcile_workers = {args.reconcile_workers}", ""]
    if args.conductors:
        # The fake cloud has no COE API for the health monitor to ask.
        lines += ["[health]", "enabled = false", ""]
    if args.conductors and args.notifications == "on":
        # The benchmark's fake Heat notifies on the conductors' own vhost.
        lines += ["[heat_notifications]", "enabled = true",
                  f"transport_url = {transport_url}", ""]
    config.write_text("\n".join(lines))


def _configure(workdir: pathlib.Path, db_url: str, transport_url: str,
               args: argparse.Namespace) -> None:
    from magnum_lite.common import service

    config = workdir / "magnum-lite.conf"
    _write_config(config, workdir, db_url, transport_url, args, args.log_file)
    service.prepare_service(["--config-file", str(config)], prog="magnum-lite-conductor",
                            default_config_files=[])


def _install_fake_cloud(complete_after: int) -> Any:
    """Heat faked at the client boundary; no Octavia/Neutron endpoint for the clean-up."""
    from keystoneauth1 import exceptions as ks_exceptions

    from magnum_lite.common import clients
    from tests.fakes.heat import FakeHeatCloud

    cloud = FakeHeatCloud(complete_after=complete_after)
    clients.get_heat_client = cloud.client_for

    def no_endpoint(context: Any, group: str, **kwargs: Any) -> Any:
        raise ks_exceptions.EndpointNotFound(f"the benchmark's cloud has no {group}")

    clients.get_acting_auth = lambda context: None
    clients.get_adapter = no_endpoint
    return cloud


def _template(admin: Any) -> Any:
    from magnum_lite import objects

    template = objects.ClusterTemplate(
        admin, project_id=admin.project_id, user_id=admin.user_id, name="bench-k8s",
        coe="kubernetes", server_type="vm", cluster_distro="ubuntu", image_id="ubuntu-22.04",
        external_network_id="public", flavor_id="m1.small", master_flavor_id="m1.medium",
        keypair_id="default", network_driver="flannel", dns_nameserver="8.8.8.8",
        labels={}, public=True, floating_ip_enabled=True, master_lb_enabled=False)
    template.create()
    return template


def _context(project: str, user: str) -> Any:
    from magnum_lite.common import context as ml_context

    return ml_context.RequestContext(project_id=project, user_id=user, roles=["member"],
                                     overwrite=False)


def _write_cluster(context: Any, template: Any, driver: Any, name: str,
                   node_count: int) -> Any:
    """The rows `POST /v1/clusters` writes (api/controllers/v1/clusters.py)."""
    from magnum_lite import objects
    from magnum_lite.objects import cluster_operation, fields

    values = {"name": name, "cluster_template_id": template.uuid,
              "keypair": template.keypair_id, "docker_volume_size": template.docker_volume_size,
              "master_flavor_id": template.master_flavor_id, "flavor_id": template.flavor_id,
              "fixed_network": template.fixed_network, "fixed_subnet": template.fixed_subnet,
              "floating_ip_enabled": template.floating_ip_enabled,
              "master_lb_enabled": template.master_lb_enabled,
              "labels": dict(template.labels or {}), "create_timeout": CREATE_TIMEOUT_MINUTES,
              "discovery_url": None}
    if driver is not None:
        values["driver_id"], values["driver_version"] = driver.uuid, driver.version
    cluster = objects.Cluster(
        context, uuid=str(uuid.uuid4()), project_id=context.project_id,
        user_id=context.user_id, status=fields.ClusterStatus.CREATE_IN_PROGRESS, version=1,
        **values)
    common = {"project_id": context.project_id, "image_id": template.image_id,
              "docker_volume_size": values["docker_volume_size"], "labels": values["labels"],
              "is_default": True, "status": fields.ClusterStatus.CREATE_IN_PROGRESS}
    cluster_operation.start_create(context, cluster, [
        {**common, "name": MASTER_NODEGROUP, "role": fields.NodeGroupRole.MASTER,
         "node_count": 1, "min_node_count": 1, "flavor_id": values["master_flavor_id"]},
        {**common, "name": WORKER_NODEGROUP, "role": fields.NodeGroupRole.WORKER,
         "node_count": node_count, "min_node_count": 0, "flavor_id": values["flavor_id"]},
    ], {"create_timeout": CREATE_TIMEOUT_MINUTES})
    return cluster


def _start_delete(context: Any, cluster_uuid: str, rpcapi: Any) -> None:
    """What `DELETE /v1/clusters/{id}` does."""
    from magnum_lite import objects
    from magnum_lite.objects import cluster_operation

    cluster = objects.Cluster.get(context, cluster_uuid)
    cluster_operation.start(context, cluster, "delete", "cluster.delete")
    rpcapi.cluster_delete(context, cluster_uuid=cluster_uuid)


def run_round(number: int, args: argparse.Namespace, template: Any, rpcapi: Any,
              sampler: Sampler, monitor: sa.Engine,
              after_create: Any = None) -> dict[str, Any]:
    from magnum_lite import objects

    contexts = [_context(f"bench{p:04d}" + "0" * 24, f"user{p:04d}")
                for p in range(args.projects)]
    driver = objects.Driver.for_template(contexts[0], template)
    if driver is None:
        raise SystemExit("no driver version for the template: is k8s_ubuntu_v1 installed?")
    began = time.monotonic()

    def write(i: int) -> tuple[Any, Any]:
        context = contexts[i % len(contexts)]
        return context, _write_cluster(context, template, driver, f"bench-{number}-{i:04d}",
                                       args.node_count)

    # From as many threads as the casts: an operation queued for longer than the
    # reconciler's UNCLAIMED_GRACE (5 s) is taken over by its owner on the ring.
    with concurrent.futures.ThreadPoolExecutor(args.cast_threads) as pool:
        clusters = list(pool.map(write, range(args.clusters)))
    written = time.monotonic() - began

    sampler.reset()
    began = time.monotonic()
    cast_at: dict[str, float] = {}

    def cast_create(item: tuple[Any, Any]) -> None:
        context, cluster = item
        cast_at[cluster.uuid] = time.time()
        rpcapi.cluster_create(context, cluster_uuid=cluster.uuid,
                              create_timeout=CREATE_TIMEOUT_MINUTES)

    with concurrent.futures.ThreadPoolExecutor(args.cast_threads) as pool:
        list(pool.map(cast_create, clusters))
    cast = time.monotonic() - began
    total = args.clusters
    created, counts = _wait(
        monitor, lambda c: c.get("CREATE_COMPLETE", 0) == total
        or c.get("CREATE_IN_PROGRESS", 0) == 0, args.timeout)
    created += cast
    with sampler.lock:
        create_stats = (sampler.max_checked_out, sampler.max_pg_connections,
                        sampler.max_rss_kb, sampler.max_threads)
    failures = []
    if counts.get("CREATE_COMPLETE", 0) != total:
        with monitor.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT uuid, name, status, status_reason FROM cluster "
                "WHERE status <> 'CREATE_COMPLETE' AND name NOT LIKE 'steady-%' "
                "ORDER BY name LIMIT 20")).all()
        failures = [f"{r.name} {r.uuid}: {r.status}: {r.status_reason}" for r in rows]
        failures.insert(0, f"round {number}: not all CREATE_COMPLETE after "
                           f"{created:.0f}s: {counts}")
    with monitor.connect() as conn:
        # The event's created_at is the conductor's clock (naive UTC), as time.time() here.
        completed = conn.execute(sa.text(
            "SELECT cluster_id, min(created_at) FROM cluster_event "
            "WHERE status = 'CREATE_COMPLETE' GROUP BY cluster_id")).all()
    seconds = [at.replace(tzinfo=datetime.UTC).timestamp() - cast_at[uuid_]
               for uuid_, at in completed if uuid_ in cast_at]
    extra = after_create(created) if after_create is not None else None

    sampler.reset()
    began = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(args.cast_threads) as pool:
        list(pool.map(lambda item: _start_delete(item[0], item[1].uuid, rpcapi), clusters))
    delete_cast = time.monotonic() - began
    # Done when no row is left but failed ones (a DELETE_COMPLETE row lives until the
    # conductor removes it, a moment later).
    deleted, counts = _wait(monitor, lambda c: set(c) <= {"DELETE_FAILED"}, args.timeout)
    deleted += delete_cast
    if counts:
        failures.append(f"round {number}: clusters left {deleted:.0f}s after the deletes: "
                        f"{counts}")
    with sampler.lock:
        delete_stats = (sampler.max_checked_out, sampler.max_pg_connections,
                        sampler.max_rss_kb, sampler.max_threads)
    end = _proc_status()
    return {"round": number, "written": written, "cast": cast, "created": created,
            "deleted": deleted, "delete_cast": delete_cast, "create": create_stats,
            "delete": delete_stats, "per_cluster": [float(s) for s in seconds], "end": end,
            "failures": failures, "extra": extra}


# -- the multi-conductor mode (--conductors N): steady clusters, conductors in processes ----


def _bench_cloud(complete_after: int, notifier: Any = None) -> Any:
    """The shared fake Heat: keeps no call history (memory), but counts the calls that name
    a steady cluster's stack, and records when each stack's create or update completed and,
    per cluster, when the latest of its stacks' (cluster stack, worker chunk stacks) did.
    With a `notifier` (heat_notifier.StackNotifier) every action that ends, completed or
    failed, is notified as Heat does."""
    from magnum_lite.drivers.heat import names
    from tests.fakes.heat import FakeHeatCloud

    class BenchCloud(FakeHeatCloud):
        def __init__(self) -> None:
            super().__init__(complete_after=complete_after)
            self.steady: set[str] = set()
            self.steady_calls = 0
            self.listings = 0
            self.completed_at: dict[str, float] = {}  # by stack id
            self.last_completed_at: dict[str, float] = {}  # by cluster uuid

        def _check(self, method: str, target: str, extra: Any = None) -> None:
            super()._check(method, target, extra)
            self.calls.clear()
            if method == "stacks.list":
                self.listings += 1
            elif target.rsplit("/", 1)[-1] in self.steady:
                self.steady_calls += 1

        def _finish(self, stack: Any) -> None:
            super()._finish(stack)
            if stack.state != "COMPLETE":
                return  # a failure planned for its completion: fail() notified it
            if stack.action != "DELETE":
                self.completed_at[stack.id] = now = time.time()
                cluster_uuid = names.cluster_uuid_of(stack.name)
                if cluster_uuid is not None:
                    self.last_completed_at[cluster_uuid] = now
            if notifier is not None:
                notifier.send(stack)

        def fail(self, name_or_id: str, resource: str | None = None,
                 message: str = "Unknown error") -> Any:
            stack = super().fail(name_or_id, resource, message)
            if notifier is not None:
                notifier.send(stack)
            return stack

    return BenchCloud()


def _write_steady(args: argparse.Namespace, template: Any, cloud: Any,
                  monitor: sa.Engine) -> float:
    """`--steady` clusters as CREATE_COMPLETE: written as the API writes a create, then
    finished in bulk (status, stack id, nodegroups, operation) with their stacks
    CREATE_COMPLETE in the fake Heat. Returns the seconds it took."""
    from magnum_lite import objects
    from magnum_lite.drivers.heat import names
    from tests.fakes.heat import FakeStack

    began = time.monotonic()
    contexts = [_context(f"bench{p:04d}" + "0" * 24, f"user{p:04d}")
                for p in range(args.projects)]
    driver = objects.Driver.for_template(contexts[0], template)

    def write(i: int) -> Any:
        context = contexts[i % len(contexts)]
        return _write_cluster(context, template, driver, f"steady-{i:05d}", args.node_count)

    with concurrent.futures.ThreadPoolExecutor(args.cast_threads) as pool:
        clusters = list(pool.map(write, range(args.steady)))
    stacks = []
    for cluster in clusters:
        stack = FakeStack(
            id=str(uuid.uuid4()), name=names.cluster_stack_name(cluster),
            project_id=cluster.project_id, template={"heat_template_version": "2021-04-16"},
            files={}, registry={}, parameters={}, tags=[names.STACK_TAG],
            timeout_mins=CREATE_TIMEOUT_MINUTES, disable_rollback=True, state="COMPLETE",
            reason="Stack CREATE completed successfully")
        stacks.append({"u": cluster.uuid, "s": stack.id})
        with cloud.lock:
            cloud._by_id[stack.id] = stack
            cloud._live[(stack.project_id, stack.name)] = stack
            cloud.steady.add(stack.id)
    with monitor.begin() as conn:
        conn.execute(sa.text("UPDATE cluster SET stack_id = :s, status = 'CREATE_COMPLETE', "
                             "status_reason = 'Stack CREATE completed successfully', "
                             "operation_uuid = NULL WHERE uuid = :u"), stacks)
        steady = "(SELECT uuid FROM cluster WHERE name LIKE 'steady-%')"
        conn.execute(sa.text(f"UPDATE nodegroup SET status = 'CREATE_COMPLETE' "
                             f"WHERE cluster_id IN {steady}"))
        conn.execute(sa.text(f"UPDATE cluster_operation SET outcome = 'succeeded', "
                             f"finished_at = now() AT TIME ZONE 'utc', step = 'following' "
                             f"WHERE cluster_uuid IN {steady}"))
    return time.monotonic() - began


def _cpu_and_memory(pid: int) -> dict[str, float]:
    """CPU seconds (utime + stime) and VmRSS/VmHWM (kB) of a process."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    values = {"cpu": (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


def _child_log(args: argparse.Namespace, host: str) -> str:
    """A conductor process's log: beside `--log-file`, named after its host."""
    return f"{args.log_file}.{host}"


class Conductors:
    """`count` conductor processes (benchmarks/conductor_child.py) named bench-conductor-N."""

    def __init__(self, count: int, workdir: pathlib.Path, db_url: str, transport_url: str,
                 args: argparse.Namespace, heat_address: tuple[str, int], key: bytes) -> None:
        self.procs: dict[str, subprocess.Popen] = {}
        self.phases: list[tuple[str, float, dict[str, dict[str, Any]]]] = []
        for n in range(1, count + 1):
            host = f"bench-conductor-{n}"
            config = workdir / f"{host}.conf"
            _write_config(config, workdir, db_url, transport_url, args,
                          _child_log(args, host))
            self.procs[host] = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.conductor_child", host, str(config),
                 f"{heat_address[0]}:{heat_address[1]}"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                env={**os.environ, "BENCH_HEAT_KEY": key.hex()})
        for host, proc in self.procs.items():
            line = proc.stdout.readline()
            if not line:
                raise SystemExit(f"conductor {host} did not start")
        self.began = time.monotonic()
        self.cpu = {h: _cpu_and_memory(p.pid)["cpu"] for h, p in self.procs.items()}

    def mark(self, phase: str) -> None:
        """Close a phase: each conductor's counts, CPU seconds and memory since the last."""
        now = time.monotonic()
        found = {}
        for host, proc in self.procs.items():
            proc.stdin.write("mark\n")
            proc.stdin.flush()
            counts = json.loads(proc.stdout.readline())
            usage = _cpu_and_memory(proc.pid)
            counts.update(cpu=usage["cpu"] - self.cpu[host], rss_kb=usage["VmRSS"],
                          hwm_kb=usage["VmHWM"])
            self.cpu[host] = usage["cpu"]
            found[host] = counts
        self.phases.append((phase, now - self.began, found))
        self.began = now

    def stop(self) -> bool:
        stopped = True
        for proc in self.procs.values():
            try:
                proc.stdin.write("stop\n")
                proc.stdin.flush()
            except OSError:
                pass
        for proc in self.procs.values():
            try:
                out, _ = proc.communicate(timeout=120)
                stopped = stopped and '"stopped": true' in out
            except subprocess.TimeoutExpired:
                proc.kill()
                stopped = False
        return stopped

    def report(self) -> list[str]:
        lines = ["| phase | conductor | s | CPU s | CPU % | rounds | SQL per round p50 / max "
                 "| clusters in flight it owns (per round, max) | SQL per round / owned "
                 "cluster | SQL of its checks | SQL in all | RSS MiB at the end | VmHWM MiB |",
                 "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for phase, seconds, found in self.phases:
            for host, c in found.items():
                rq = sorted(c["round_queries"]) or [0]
                owned = max(c["owned"] or [0])
                per = (f"{statistics.median(rq) / owned:.3f}" if owned else "–")
                lines.append(
                    f"| {phase} | {host} | {seconds:.0f} | {c['cpu']:.1f} | "
                    f"{100 * c['cpu'] / max(seconds, 1e-9):.0f} | {c['rounds']} | "
                    f"{statistics.median(rq):.0f} / {rq[-1]} | {owned} | {per} | "
                    f"{c['check_queries']} | {c['queries']} | {c['rss_kb'] / 1024:.0f} | "
                    f"{c['hwm_kb'] / 1024:.0f} |")
        return lines


def _percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def _spread(values: list[float]) -> str:
    """p50 / p99 / max, in seconds."""
    return (f"{_percentile(values, 50):.2f} / {_percentile(values, 99):.2f} / "
            f"{max(values or [float('nan')]):.2f}")


def _change_to_api(cloud: Any, monitor: sa.Engine) -> tuple[list[float], list[float]]:
    """Seconds to each cluster's CREATE_COMPLETE event (the conductor's clock, the same
    machine's) from the CREATE_COMPLETE in the fake Heat of its cluster stack, and from that
    of its last stack: the change that completes the cluster (its worker chunk stacks, made
    beside the masters, may end after the cluster stack)."""
    with monitor.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT c.uuid, c.stack_id, min(e.created_at) FROM cluster c JOIN cluster_event e "
            "ON e.cluster_id = c.uuid WHERE e.status = 'CREATE_COMPLETE' "
            "AND c.name NOT LIKE 'steady-%' GROUP BY c.uuid, c.stack_id")).all()
    with cloud.lock:
        by_stack, by_cluster = dict(cloud.completed_at), dict(cloud.last_completed_at)
    at = {cluster_uuid: when.replace(tzinfo=datetime.UTC).timestamp()
          for cluster_uuid, _, when in rows}
    return ([at[uuid_] - by_stack[stack_id] for uuid_, stack_id, _ in rows
             if stack_id in by_stack],
            [at[uuid_] - by_cluster[uuid_] for uuid_, _, _ in rows if uuid_ in by_cluster])


def run_fleet(args: argparse.Namespace, workdir: pathlib.Path, db_url: str,
              transport_url: str, monitor: sa.Engine, sampler: Sampler) -> int:
    """The multi-conductor mode; returns the exit code."""
    from benchmarks import heat_ipc, heat_notifier
    from magnum_lite.common import context as ml_context
    from magnum_lite.conductor import rpcapi as conductor_rpcapi

    notifier = (heat_notifier.StackNotifier(transport_url) if args.notifications == "on"
                else None)
    cloud = _bench_cloud(args.complete_after, notifier)
    key = os.urandom(16)
    server = heat_ipc.HeatServer(cloud, key)
    template = _template(ml_context.get_admin_context())
    steady_seconds = _write_steady(args, template, cloud, monitor) if args.steady else 0.0
    print(f"{args.steady} steady clusters written in {steady_seconds:.1f}s", file=sys.stderr)
    conductors = Conductors(args.conductors, workdir, db_url, transport_url, args,
                            server.address, key)
    rounds, quiet = [], []
    try:
        # Every conductor in the service table and on every ring before the burst.
        _wait_for_hosts(monitor, set(conductors.procs), args.timeout)
        time.sleep(6)  # [conductor] hash_ring_refresh_interval (5 s)
        conductors.mark("idle before")
        rpcapi = conductor_rpcapi.ConductorAPI()

        def after_create(created: float) -> dict[str, Any]:
            conductors.mark(f"creates r{len(rounds) + 1}")
            lag, last_lag = _change_to_api(cloud, monitor)
            with cloud.lock:
                cloud.steady_calls, cloud.listings = 0, 0
            time.sleep(args.quiet)
            with cloud.lock:
                calls, listings = cloud.steady_calls, cloud.listings
            conductors.mark(f"quiet r{len(rounds) + 1}")
            quiet.append((calls, listings))
            return {"lag": lag, "last_lag": last_lag,
                    "steady_calls_per_min": 60 * calls / args.quiet,
                    "listings_per_min": 60 * listings / args.quiet}

        for number in range(1, args.rounds + 1):
            rounds.append(run_round(number, args, template, rpcapi, sampler, monitor,
                                    after_create))
            conductors.mark(f"deletes r{number}")
            with cloud.lock:
                for stack_id in [i for i, st in cloud._by_id.items() if st.deleted]:
                    del cloud._by_id[stack_id]
                cloud.completed_at.clear()
                cloud.last_completed_at.clear()
            print(f"round {number}: {rounds[-1]['created']:.1f}s to create, "
                  f"{rounds[-1]['deleted']:.1f}s to delete", file=sys.stderr)
    finally:
        stopped = conductors.stop()
        server.close()
        if notifier is not None:
            notifier.close()
    problems, notified = [], collections.Counter()
    for host in conductors.procs:
        log = pathlib.Path(_child_log(args, host))
        if log.exists():
            for line in open(log, errors="replace"):
                if " WARNING " in line or " ERROR " in line or " CRITICAL " in line:
                    problems.append(line.rstrip())
                elif "Heat notification " in line and ": checking cluster " in line:
                    notified[host] += 1
    print(f"| round | steady | clusters | conductors | Heat notifications | rows written s | "
          f"create s (of which casting) | creates/s (from the first row written) | "
          f"cluster stack COMPLETE → cluster CREATE_COMPLETE p50 / p99 / max s | "
          f"cluster's last stack COMPLETE in Heat → cluster CREATE_COMPLETE in the API "
          f"(learnt from Heat's notification, or at the next poll) p50 / p99 / max s | "
          f"delete s | deletes/s | Heat calls/min naming a steady stack ({args.quiet:.0f} s "
          f"quiet window) | stack listings/min (quiet) | max PG connections |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    failed = not stopped
    for r in rounds:
        extra = r["extra"] or {"lag": [], "last_lag": [], "steady_calls_per_min": 0,
                               "listings_per_min": 0}
        print(f"| {r['round']} | {args.steady} | {args.clusters} | {args.conductors} | "
              f"{args.notifications} | {r['written']:.1f} | {r['created']:.1f} ({r['cast']:.1f}) | "
              f"{args.clusters / r['created']:.1f} "
              f"({args.clusters / (r['written'] + r['created']):.1f}) | "
              f"{_spread(extra['lag'])} | {_spread(extra['last_lag'])} | {r['deleted']:.1f} | "
              f"{args.clusters / r['deleted']:.1f} | {extra['steady_calls_per_min']:.1f} | "
              f"{extra['listings_per_min']:.0f} | {max(r['create'][1], r['delete'][1])} |")
        for failure in r["failures"]:
            print(f"FAILED: {failure}")
        failed = failed or bool(r["failures"])
    print("\n".join(conductors.report()))
    if notifier is None:
        print("Heat notifications: off (the conductors learn of a stack's change at their "
              "next poll)")
    else:
        sent = ", ".join(f"{count} {kind}" for kind, count in sorted(notifier.sent.items()))
        handled = ", ".join(f"{host} {notified[host]}" for host in conductors.procs)
        print(f"Heat notifications: on; sent {sent or 'none'} (from the stack's end to "
              f"published p50 / p99 / max {_spread(notifier.delays)} s); that started a "
              f"check (conductor logs): {handled}")
    print(f"conductor logs: {len(problems)} WARNING/ERROR lines"
          + (f", the first: {problems[0][:400]}" if problems else ""))
    print("OK" if not failed else "FAILED")
    return 1 if failed else 0


def _wait_for_hosts(monitor: sa.Engine, hosts: set[str], timeout: float) -> None:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        with monitor.connect() as conn:
            found = set(conn.execute(sa.text("SELECT host FROM magnum_service")).scalars())
        if hosts <= found:
            return
        time.sleep(0.5)
    raise SystemExit(f"conductors {sorted(hosts)} did not all register")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Needs PostgreSQL and RabbitMQ (guest) on 127.0.0.1; creates and drops its "
               "own database and vhost (bench_conductor_<random>). "
               "See benchmarks/README.md.")
    parser.add_argument("--clusters", type=int, default=1000, help="clusters per round (1000)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="create+delete rounds on the same conductor (3)")
    parser.add_argument("--projects", type=int, default=10,
                        help="projects the clusters are spread over (10); the reconciler "
                             "lists stacks once per project and round")
    parser.add_argument("--node-count", type=int, default=1, help="workers per cluster (1)")
    parser.add_argument("--complete-after", type=int, default=3,
                        help="observations (stack list or show) after which a fake stack "
                             "completes its action (3)")
    parser.add_argument("--rpc-workers", type=int, default=8, help="[conductor] rpc_workers")
    parser.add_argument("--reconcile-workers", type=int, default=8,
                        help="[conductor] reconcile_workers")
    parser.add_argument("--cast-threads", type=int, default=8,
                        help="threads writing the delete intents and casting (as the API's "
                             "worker threads would) (8)")
    parser.add_argument("--conductors", type=int, default=0,
                        help="run this many conductors, each in a process of its own, on one "
                             "fake Heat served from this process (default 0: one conductor "
                             "in this process)")
    parser.add_argument("--steady", type=int, default=0,
                        help="with --conductors: clusters written CREATE_COMPLETE (with their "
                             "stacks) before the rounds (0)")
    parser.add_argument("--notifications", choices=("on", "off"), default="on",
                        help="with --conductors: the fake Heat sends Heat's stack "
                             "notifications and the conductors listen ([heat_notifications] "
                             "enabled), or (off) they learn of a stack's change at their next "
                             "poll only (on)")
    parser.add_argument("--quiet", type=float, default=60,
                        help="with --conductors: seconds of the quiet window after each "
                             "round's creates, counting Heat calls for steady stacks (60)")
    parser.add_argument("--profile", action="store_true",
                        help="also print where the process's threads spend their time (a "
                             "sampling profile of magnum-lite and fake Heat frames)")
    parser.add_argument("--timeout", type=float, default=900,
                        help="seconds the creates, and the deletes, of a round may take (900)")
    parser.add_argument("--max-db-connections", type=int, default=None,
                        help="fail above this many connections to the database (default: "
                             "rpc_workers + reconcile_workers + cast_threads + 4: the "
                             "reconciler's loop, the heartbeat, the benchmark's writers and "
                             "its sampler)")
    parser.add_argument("--log-file", default=None,
                        help="keep the conductor's log there (default: a temporary file); "
                             "with --conductors, each conductor's is <log-file>.<host>")
    parser.add_argument("--db-admin-url", default=ADMIN_URL,
                        help="a PostgreSQL account that may create databases (%(default)s)")
    parser.add_argument("--rabbit-host", default="127.0.0.1",
                        help="RabbitMQ host, guest/guest on 5672; the vhost is made with the "
                             "local rabbitmqctl (%(default)s)")
    args = parser.parse_args()
    limit = args.max_db_connections or (args.rpc_workers + args.reconcile_workers
                                        + args.cast_threads + 4)

    with (tempfile.TemporaryDirectory() as tmp,
          postgresql_database(args.db_admin_url) as db_url,
          rabbitmq_vhost(args.rabbit_host) as transport_url):
        workdir = pathlib.Path(tmp)
        args.log_file = args.log_file or str(workdir / "conductor.log")
        _configure(workdir, db_url, transport_url, args)
        from magnum_lite.common import context as ml_context
        from magnum_lite.common import encryption, rpc
        from magnum_lite.conductor import rpcapi as conductor_rpcapi
        from magnum_lite.conductor import service as conductor_service
        from magnum_lite.db import migration
        from magnum_lite.db.sqlalchemy import api as db_api
        from magnum_lite.objects import driver as driver_obj

        migration.upgrade()
        encryption.ensure_key()  # as `magnum-lite-manage credentials setup` would
        driver_obj.seed_default_drivers()
        if args.conductors:
            monitor = sa.create_engine(db_url, pool_size=2, max_overflow=0)
            sampler = Sampler(db_api.get_engine(), monitor, db_url.rsplit("/", 1)[1])
            sampler.start()
            try:
                return run_fleet(args, workdir, db_url, transport_url, monitor, sampler)
            finally:
                sampler.stop.set()
                sampler.join()
                rpc.cleanup()
                db_api.dispose_engine()
                monitor.dispose()
        cloud = _install_fake_cloud(args.complete_after)
        engine = db_api.get_engine()
        database = db_url.rsplit("/", 1)[1]
        monitor = sa.create_engine(db_url, pool_size=2, max_overflow=0)
        sampler = Sampler(engine, monitor, database)
        sampler.start()
        profiler = Profiler()
        if args.profile:
            profiler.start()
        conductor = conductor_service.ConductorService(host="bench-conductor")
        conductor.start()
        rounds = []
        try:
            template = _template(ml_context.get_admin_context())
            rpcapi = conductor_rpcapi.ConductorAPI()
            for number in range(1, args.rounds + 1):
                rounds.append(run_round(number, args, template, rpcapi, sampler, monitor))
                # The fake Heat keeps every call and deleted stack (tests look at them): drop
                # them, so that the RSS after a round is the conductor's.
                with cloud.lock:
                    cloud.calls.clear()
                    for stack_id in [i for i, st in cloud._by_id.items() if st.deleted]:
                        del cloud._by_id[stack_id]
                gc.collect()
                rounds[-1]["rss_after_kb"] = _proc_status()["VmRSS"]
                print(f"round {number}: {rounds[-1]['created']:.1f}s to create, "
                      f"{rounds[-1]['deleted']:.1f}s to delete", file=sys.stderr)
        finally:
            stopped = conductor.stop()
            sampler.stop.set()
            sampler.join()
            profiler.stop.set()
            rpc.cleanup()
            db_api.dispose_engine()
            monitor.dispose()
        pool = engine.pool
        pool_limit = pool.size() + pool._max_overflow
        problems = [line.rstrip() for line in open(args.log_file, errors="replace")
                    if " WARNING " in line or " ERROR " in line or " CRITICAL " in line]

    print("| round | clusters | create s (of which casting) | creates/s | per cluster "
          "cast→COMPLETE p50 / max s | delete s (of which casting) | deletes/s | "
          "max pool checked out | max PG connections | max RSS MiB | RSS after the round "
          "MiB | max threads |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    failed = not stopped
    for r in rounds:
        per = r["per_cluster"] or [0.0]
        cr, de = r["create"], r["delete"]
        print(f"| {r['round']} | {args.clusters} | {r['created']:.1f} ({r['cast']:.1f}) | "
              f"{args.clusters / r['created']:.1f} | {statistics.median(per):.1f} / "
              f"{max(per):.1f} | {r['deleted']:.1f} ({r['delete_cast']:.1f}) | "
              f"{args.clusters / r['deleted']:.1f} | "
              f"{max(cr[0], de[0])} | {max(cr[1], de[1])} | "
              f"{max(cr[2], de[2]) / 1024:.0f} | {r['rss_after_kb'] / 1024:.0f} | "
              f"{max(cr[3], de[3])} |")
        for failure in r["failures"]:
            print(f"FAILED: {failure}")
        if r["failures"] or max(cr[1], de[1]) > limit:
            failed = True
    end = rounds[-1]["end"] if rounds else _proc_status()
    print(f"summary: {args.clusters} clusters x {len(rounds)} round(s) over {args.projects} "
          f"projects; create {min(r['created'] for r in rounds):.1f}-"
          f"{max(r['created'] for r in rounds):.1f} s; delete "
          f"{min(r['deleted'] for r in rounds):.1f}-{max(r['deleted'] for r in rounds):.1f} s; "
          f"max DB connections {max(max(r['create'][1], r['delete'][1]) for r in rounds)} "
          f"(limit {limit}, pool {pool_limit}); RSS peak (VmHWM) {end['VmHWM'] / 1024:.0f} "
          f"MiB, at the end {end['VmRSS'] / 1024:.0f} MiB; threads at the end "
          f"{end['Threads']}; {'OK' if not failed else 'FAILED'}")
    print(f"conductor log: {len(problems)} WARNING/ERROR lines"
          + (f", the first: {problems[0][:400]}" if problems else ""))
    if args.profile:
        print("\n".join(profiler.report()))
    if not stopped:
        print("FAILED: the conductor did not stop within its timeout")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
