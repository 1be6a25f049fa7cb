"""Status-sync latency on the sandbox cloud: Heat says CREATE_COMPLETE -> the API says so.

Needs a running sandbox (`magnum-lite-sandbox start`; state in
~/.local/share/magnum-lite/sandbox or $MAGNUM_LITE_SANDBOX_DIR). As the sandbox's `demo`
user (keystoneauth1 password session, a real Keystone token) it creates a Kubernetes cluster
template (image ubuntu-22.04, external network public, flavors m1.small / m1.medium), then
`--clusters` clusters through magnum-lite's REST API, `--parallel` at a time, and for each:

- t_heat: the moment Heat says the last of the cluster's stacks (the cluster stack and the
  `-ng-` worker stacks the conductor creates while the masters build) is
  CREATE_COMPLETE. With `--heat-clock notifications` (the default) that is when its
  `orchestration.stack.create.end` notification reaches a queue of the benchmark's own bound
  to Heat's exchange on the sandbox's vhost (Heat sends it just before it stores the state);
  with `--heat-clock listing`, the first moment a Heat poller (python-heatclient, the demo
  user, one stack listing of the project every `--interval` s) sees all of them complete;
- t_api: the first moment `GET /v1/clusters/{uuid}` (polled every `--interval` s by a thread
  of the cluster) answers CREATE_COMPLETE;
- latency = t_api - t_heat; each moment is when the answer arrived, so the resolution is the
  interval plus one request (about +-50 ms with the default interval);
- the create time: POST to t_api.

Each cluster is deleted as soon as it is measured (so that no more than about `--parallel`
exist at once: the demo project's quota is 20 clusters); at the end of the round it waits
until they are all gone (and their stacks too), then deletes the template. Only what it
created is touched (names start with `bench-`), so it may share the sandbox with other users;
their load shows in the numbers, though.

    .venv/bin/python -m benchmarks.status_sync [--clusters 30] [--parallel 3] [--rounds 1]
        [--mode both|notify|poll]

`--mode`: `notify` as the sandbox runs (its conductors listen to Heat's notifications,
[heat_notifications] in sandbox/magnum_lite_sandbox/magnum.py, and poll as well); `poll`
with the conductors' notification queue (the listener pool, [heat_notifications] pool)
unbound from Heat's exchange for the round, so only the polls find the change (the sandbox
sets its steady poll interval to its reconcile_backoff_max: the polls are those of before);
`both` (the default) runs each round in both modes, notify first, and prints their ratio.

Prints a Markdown table row per round and mode and a summary line per mode. Exit code 1 when
the p50 latency of a notify round (or of any round, with `--mode poll`) is above `--target`
or a cluster does not reach CREATE_COMPLETE or is not deleted; 2 when the sandbox is not
there.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
import concurrent.futures
import configparser
import contextlib
import json
import math
import statistics
import sys
import threading
import time
from typing import Any
import uuid

from heatclient import client as heat_client
from keystoneauth1 import session as ks_session
import kombu

from magnum_lite.drivers.heat import chunks, names
from magnum_lite_sandbox import config as sandbox_config
from magnum_lite_sandbox import magnum as sandbox_magnum
from tests.integration import clusters

HEADERS = {"Content-Type": "application/json", "Accept": "application/json",
           "OpenStack-API-Version": "container-infra latest"}
PREFIX = "bench-"
TIMEOUT = 300.0  # seconds a cluster may take to be created or deleted here
MAX_RESOURCES_PER_STACK = 1000  # [heat_driver] max_resources_per_stack of the sandbox


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (p50 of an even count: the lower middle)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(len(ordered), rank) - 1]


class Api:
    """magnum-lite's REST API through the demo user's session."""

    def __init__(self, session: ks_session.Session, url: str) -> None:
        self.session, self.url = session, url.rstrip("/")

    def request(self, method: str, path: str, body: dict | None = None) -> Any:
        return self.session.request(self.url + path, method, headers=HEADERS,
                                    data=json.dumps(body) if body is not None else None,
                                    raise_exc=False)

    def create_template(self, name: str) -> str:
        answer = self.request("POST", "/clustertemplates", {
            "name": name, "coe": "kubernetes", "image_id": "ubuntu-22.04",
            "external_network_id": "public", "flavor_id": "m1.small",
            "master_flavor_id": "m1.medium", "network_driver": "flannel",
            "docker_volume_size": 5})
        if answer.status_code != 201:
            raise SystemExit(f"template create failed: {answer.status_code} {answer.text[:300]}")
        return answer.json()["uuid"]

    def create_cluster(self, name: str, template: str, node_count: int) -> str:
        answer = self.request("POST", "/clusters", {
            "name": name, "cluster_template_id": template, "master_count": 1,
            "node_count": node_count})
        if answer.status_code != 202:
            raise RuntimeError(f"cluster create failed: {answer.status_code} "
                               f"{answer.text[:300]}")
        return answer.json()["uuid"]

    def cluster(self, ident: str) -> dict | None:
        answer = self.request("GET", f"/clusters/{ident}")
        if answer.status_code == 404:
            return None
        if answer.status_code != 200:
            raise RuntimeError(f"GET cluster {ident}: {answer.status_code} {answer.text[:300]}")
        return answer.json()


class HeatWatcher(threading.Thread):
    """Lists the project's stacks every `interval` s; remembers, per watched cluster, when all
    its stacks were first seen CREATE_COMPLETE."""

    def __init__(self, heat: Any, interval: float) -> None:
        super().__init__(name="heat-watcher", daemon=True)
        self.heat, self.interval = heat, interval
        self.lock = threading.Lock()
        self.expected: dict[str, int] = {}  # cluster uuid -> number of stacks it will have
        self.complete_at: dict[str, float] = {}
        self.listings = 0
        self.listing_seconds: list[float] = []
        self.errors: list[str] = []
        self.stop = threading.Event()

    def watch(self, cluster_uuid: str, stack_count: int) -> None:
        with self.lock:
            self.expected[cluster_uuid] = stack_count

    def run(self) -> None:
        while not self.stop.is_set():
            began = time.monotonic()
            try:
                stacks = [(s.stack_name, s.stack_status) for s in self.heat.stacks.list()]
            except Exception as err:  # Heat busy for a moment: say so, go on
                self.errors.append(f"{type(err).__name__}: {err}")
                stacks = None
            seen = time.monotonic()
            if stacks is not None:
                self.listings += 1
                self.listing_seconds.append(seen - began)
                with self.lock:
                    for cluster_uuid, count in self.expected.items():
                        if cluster_uuid in self.complete_at:
                            continue
                        mine = [status for name, status in stacks if cluster_uuid in name]
                        if len(mine) == count and all(s == "CREATE_COMPLETE" for s in mine):
                            self.complete_at[cluster_uuid] = seen
            self.stop.wait(max(0.0, self.interval - (time.monotonic() - began)))


# Heat's control exchange and notification topic (its defaults, the sandbox's heat.conf),
# and the priorities the conductors' listener takes (heat_events.StackEndpoint).
HEAT_EXCHANGE = "heat"
HEAT_TOPIC = "notifications"
LISTENER_PRIORITIES = ("info", "error")
DEFAULT_POOL = "magnum-lite-heat-events"


def _bus_url() -> str:
    """The sandbox's transport URL (Heat and magnum-lite share its vhost), for kombu."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(sandbox_magnum.conf_path(sandbox_config.default_state_dir()))
    return parser["DEFAULT"]["transport_url"].replace("rabbit://", "amqp://", 1)


def _pool() -> str:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(sandbox_magnum.conf_path(sandbox_config.default_state_dir()))
    return parser.get("heat_notifications", "pool", fallback=DEFAULT_POOL)


def _heat_exchange() -> kombu.Exchange:
    # As oslo.messaging declares it (not durable, not auto-deleted: its defaults).
    return kombu.Exchange(HEAT_EXCHANGE, type="topic", durable=False, auto_delete=False)


def notification_of(body: Any) -> dict | None:
    """The oslo.messaging notification a message on Heat's exchange carries, or None."""
    try:
        return json.loads(body["oslo.message"]) if isinstance(body, dict) else None
    except (KeyError, ValueError):
        return None


class HeatNotificationWatcher(threading.Thread):
    """Reads Heat's stack notifications from a queue of its own; remembers, per watched
    cluster, when the create.end of its last stack arrived."""

    def __init__(self, url: str) -> None:
        super().__init__(name="heat-notifications", daemon=True)
        self.url = url
        self.lock = threading.Lock()
        self.expected: dict[str, int] = {}
        self.done: dict[str, set[str]] = {}
        self.complete_at: dict[str, float] = {}
        self.listings = 0
        self.listing_seconds: list[float] = []
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.ready = threading.Event()

    def watch(self, cluster_uuid: str, stack_count: int) -> None:
        with self.lock:
            self.expected[cluster_uuid] = stack_count
            self._complete(cluster_uuid, time.monotonic())

    def _complete(self, cluster_uuid: str, now: float) -> None:
        count = self.expected.get(cluster_uuid)
        if (count is not None and cluster_uuid not in self.complete_at
                and len(self.done.get(cluster_uuid, ())) >= count):
            self.complete_at[cluster_uuid] = now

    def _on_message(self, body: Any, message: Any) -> None:
        now = time.monotonic()
        message.ack()
        data = notification_of(body)
        if not data or data.get("event_type") != "orchestration.stack.create.end":
            return
        stack = (data.get("payload") or {}).get("stack_name")
        cluster_uuid = names.cluster_uuid_of(stack)
        if cluster_uuid is None:
            return
        with self.lock:
            self.done.setdefault(cluster_uuid, set()).add(stack)
            self._complete(cluster_uuid, now)

    def run(self) -> None:
        try:
            with kombu.Connection(self.url) as conn:
                queue = kombu.Queue(f"bench-heat-{uuid.uuid4().hex[:8]}", _heat_exchange(),
                                    routing_key=f"{HEAT_TOPIC}.info", durable=False,
                                    auto_delete=True)
                with conn.Consumer([queue], callbacks=[self._on_message], accept=["json"]):
                    self.ready.set()
                    while not self.stop.is_set():
                        with contextlib.suppress(TimeoutError, OSError):
                            conn.drain_events(timeout=0.2)
        except Exception as err:
            self.errors.append(f"{type(err).__name__}: {err}")
        finally:
            self.ready.set()


@contextlib.contextmanager
def notifications_withheld(url: str, pool: str) -> Iterator[None]:
    """The conductors' notification queue unbound from Heat's exchange meanwhile: only
    their polls see a stack change."""
    with kombu.Connection(url) as conn:
        channel = conn.channel()
        queue = kombu.Queue(pool, channel=channel)
        exchange = _heat_exchange()
        keys = [f"{HEAT_TOPIC}.{priority}" for priority in LISTENER_PRIORITIES]
        for key in keys:
            queue.unbind_from(exchange, routing_key=key)
        try:
            yield
        finally:
            for key in keys:
                queue.bind_to(exchange, routing_key=key)


def _follow_create(api: Api, watcher: HeatWatcher, template: str, index: int,
                   node_count: int, interval: float, run_id: str) -> dict[str, Any]:
    """Create one cluster and poll it until it ends its create; its measurements."""
    name = f"{PREFIX}{run_id}-{index:03d}"
    posted = time.monotonic()
    cluster_uuid = api.create_cluster(name, template, node_count)
    chunk_count = len(chunks.plan(node_count, chunks.nodes_per_stack(MAX_RESOURCES_PER_STACK)))
    watcher.watch(cluster_uuid, 1 + chunk_count)
    deadline = posted + TIMEOUT
    while True:
        began = time.monotonic()
        cluster = api.cluster(cluster_uuid)
        seen = time.monotonic()
        status = cluster["status"] if cluster else "GONE"
        if status != "CREATE_IN_PROGRESS":
            break
        if seen > deadline:
            status = f"still CREATE_IN_PROGRESS after {TIMEOUT:.0f}s"
            break
        time.sleep(max(0.0, interval - (time.monotonic() - began)))
    # Deleted at once, so that no more than about --parallel clusters exist at a time
    # (the demo project's quota is 20 clusters); the round waits for it at its end.
    answer = api.request("DELETE", f"/clusters/{cluster_uuid}")
    delete_problem = (None if answer.status_code in (204, 404) else
                      f"DELETE {cluster_uuid}: {answer.status_code} {answer.text[:200]}")
    return {"uuid": cluster_uuid, "name": name, "status": status,
            "reason": (cluster or {}).get("status_reason"), "posted": posted,
            "t_api": seen, "delete_problem": delete_problem}


def _wait_deleted(api: Api, heat: Any, clusters: list[str], interval: float) -> list[str]:
    """Wait until the API and Heat no longer have the clusters (their DELETE was sent);
    problems."""
    problems = []
    deadline = time.monotonic() + TIMEOUT
    left = set(clusters)
    while left and time.monotonic() < deadline:
        for cluster_uuid in sorted(left):
            cluster = api.cluster(cluster_uuid)
            if cluster is None:
                left.discard(cluster_uuid)
            elif cluster["status"] == "DELETE_FAILED":
                problems.append(f"{cluster_uuid}: DELETE_FAILED {cluster['status_reason']}")
                left.discard(cluster_uuid)
        time.sleep(max(interval, 0.5))
    problems.extend(f"{u}: not deleted after {TIMEOUT:.0f}s" for u in sorted(left))
    stacks = [s.stack_name for s in heat.stacks.list()
              if any(u in s.stack_name for u in clusters)]
    if stacks:
        problems.append(f"stacks left in Heat: {stacks}")
    return problems


def run_round(api: Api, heat: Any, template: str, args: argparse.Namespace,
              number: int, mode: str) -> dict[str, Any]:
    """One round in `mode` (notify: as the sandbox runs; poll: the conductors' notification
    queue unbound from Heat's exchange meanwhile)."""
    url = _bus_url()
    withheld = (notifications_withheld(url, _pool()) if mode == "poll"
                else contextlib.nullcontext())
    with withheld:
        result = _run_round(api, heat, template, args, number, url)
    return {**result, "mode": mode}


def _run_round(api: Api, heat: Any, template: str, args: argparse.Namespace,
               number: int, url: str) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:6]
    if args.heat_clock == "notifications":
        watcher: Any = HeatNotificationWatcher(url)
        watcher.start()
        watcher.ready.wait(30)
    else:
        watcher = HeatWatcher(heat, args.interval)
        watcher.start()
    started = time.monotonic()
    results: list[dict[str, Any]] = []
    errors: list[str] = []
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.parallel) as pool:
            futures = [pool.submit(_follow_create, api, watcher, template, i,
                                   args.node_count, args.interval, run_id)
                       for i in range(args.clusters)]
            for future in futures:
                try:
                    results.append(future.result())
                except Exception as err:
                    errors.append(f"{type(err).__name__}: {err}")
        # The Heat poller may see the last stacks complete a moment after the API did.
        time.sleep(4 * args.interval)
    finally:
        watcher.stop.set()
        watcher.join()
    elapsed = time.monotonic() - started
    latencies, creates = [], []
    for r in results:
        if r["status"] != "CREATE_COMPLETE":
            errors.append(f"{r['uuid']} ({r['name']}): {r['status']}: {r['reason']}")
            continue
        t_heat = watcher.complete_at.get(r["uuid"])
        if t_heat is None:
            errors.append(f"{r['uuid']}: the API says CREATE_COMPLETE, Heat never showed all "
                          "its stacks CREATE_COMPLETE")
            continue
        latencies.append(r["t_api"] - t_heat)
        creates.append(r["t_api"] - r["posted"])
    errors.extend(r["delete_problem"] for r in results if r["delete_problem"])
    delete_began = time.monotonic()
    errors.extend(_wait_deleted(api, heat, [r["uuid"] for r in results], args.interval))
    deleted = time.monotonic() - delete_began
    return {"round": number, "clusters": len(results), "latencies": latencies,
            "creates": creates, "elapsed": elapsed, "delete": deleted, "errors": errors,
            "heat_listing_ms": 1000 * statistics.median(watcher.listing_seconds or [0]),
            "heat_errors": watcher.errors}


def sandbox_clients() -> tuple[Api, Any] | None:
    """The API and Heat as the sandbox's demo user; None (said on stderr) without one."""
    state = sandbox_config.default_state_dir()
    try:
        sandbox = json.loads((state / "sandbox.json").read_text())
    except OSError as err:
        sys.stderr.write(f"no sandbox at {state} ({err}): run magnum-lite-sandbox start\n")
        return None
    session = clusters.session(sandbox)
    heat = heat_client.Client("1", session=session, service_type="orchestration",
                              interface="public", region_name=sandbox["region"])
    return Api(session, sandbox["magnum_lite_url"]), heat


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Measures, per cluster, how long after Heat shows all its stacks "
               "CREATE_COMPLETE the API answers CREATE_COMPLETE (the conductor's reconciler "
               "polls Heat with a backoff from [conductor] reconcile_backoff_base up to "
               "reconcile_backoff_max). See benchmarks/README.md.")
    parser.add_argument("--clusters", type=int, default=30, help="clusters per round (30)")
    parser.add_argument("--mode", choices=("both", "notify", "poll"), default="both",
                        help="with the conductors' Heat notifications, polls only, or both "
                             "in each round (both)")
    parser.add_argument("--heat-clock", choices=("notifications", "listing"),
                        default="notifications",
                        help="when Heat said COMPLETE: its notification's arrival, or a "
                             "stack listing every --interval s (notifications)")
    parser.add_argument("--parallel", type=int, default=3,
                        help="clusters being created at a time (3)")
    parser.add_argument("--node-count", type=int, default=1, help="workers per cluster (1)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds (1)")
    parser.add_argument("--interval", type=float, default=0.05,
                        help="seconds between two polls of Heat, and of each cluster (0.05)")
    parser.add_argument("--target", type=float, default=0.2,
                        help="the p50 latency, in seconds, a notify round must not exceed "
                             "(0.2)")
    parser.add_argument("--target-p99", type=float, default=1.0,
                        help="the p99 latency, in seconds, a notify round must not exceed "
                             "(1.0)")
    args = parser.parse_args()

    clients = sandbox_clients()
    if clients is None:
        return 2
    api, heat = clients
    template = api.create_template(f"{PREFIX}tmpl-{uuid.uuid4().hex[:6]}")
    rounds = []
    try:
        modes = ("notify", "poll") if args.mode == "both" else (args.mode,)
        for number in range(1, args.rounds + 1):
            for mode in modes:
                rounds.append(run_round(api, heat, template, args, number, mode))
    finally:
        answer = api.request("DELETE", f"/clustertemplates/{template}")
        if answer.status_code not in (204, 404):
            sys.stderr.write(f"template {template} not deleted: {answer.status_code} "
                             f"{answer.text[:300]}\n")

    print("| round | mode | clusters (parallel) | latency p50 / p90 / p99 / max s "
          "| create p50 / max s | all created in s | all deleted in s |")
    print("|---|---|---|---|---|---|---|")
    failed = False
    for r in rounds:
        lat, cre = r["latencies"], r["creates"]
        if lat:
            print(f"| {r['round']} | {r['mode']} | {r['clusters']} ({args.parallel}) | "
                  f"{percentile(lat, 0.5):.2f} / {percentile(lat, 0.9):.2f} / "
                  f"{percentile(lat, 0.99):.2f} / {max(lat):.2f} | "
                  f"{percentile(cre, 0.5):.1f} / {max(cre):.1f} | {r['elapsed']:.1f} | "
                  f"{r['delete']:.1f} |")
        for error in r["errors"]:
            print(f"round {r['round']} ({r['mode']}): FAILED: {error}")
        for error in r["heat_errors"][:5]:
            print(f"round {r['round']} ({r['mode']}): Heat watcher error: {error}")
        judged = r["mode"] == "notify" or args.mode == "poll"
        if r["errors"] or not lat or (judged and (
                percentile(lat, 0.5) > args.target or percentile(lat, 0.99) > args.target_p99)):
            failed = True
    summary = {}
    for mode in ("notify", "poll"):
        every = [x for r in rounds if r["mode"] == mode for x in r["latencies"]]
        if not every:
            continue
        summary[mode] = every
        print(f"summary {mode}: {len(every)} clusters, latency Heat CREATE_COMPLETE -> API "
              f"CREATE_COMPLETE p50 {percentile(every, 0.5):.3f} s, p99 "
              f"{percentile(every, 0.99):.3f} s, max {max(every):.3f} s (+-{args.interval} s "
              "polling of the API)")
    if len(summary) == 2:
        notify, poll = summary["notify"], summary["poll"]
        print(f"poll / notify: p50 {percentile(poll, 0.5) / percentile(notify, 0.5):.1f}x, "
              f"p99 {percentile(poll, 0.99) / percentile(notify, 0.99):.1f}x")
    print(f"target (notify): p50 <= {args.target} s, p99 <= {args.target_p99} s: "
          f"{'met' if not failed else 'MISSED'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
