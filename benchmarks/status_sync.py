"""Status-sync latency on the sandbox cloud: Heat says CREATE_COMPLETE -> the API says so.

Needs a running sandbox (`magnum-lite-sandbox start`; state in
~/.local/share/magnum-lite/sandbox or $MAGNUM_LITE_SANDBOX_DIR). As the sandbox's `demo`
user (keystoneauth1 password session, a real Keystone token) it creates a Kubernetes cluster
template (image ubuntu-22.04, external network public, flavors m1.small / m1.medium), then
`--clusters` clusters through magnum-lite's REST API, `--parallel` at a time, and for each:

- t_heat: the first moment a Heat poller (python-heatclient, the demo user, one stack listing
  of the project every `--interval` s) sees ALL the cluster's stacks (names containing the
  cluster's uuid: the cluster stack, then the `-ng-` worker stacks the conductor creates once
  the cluster stack is complete) in CREATE_COMPLETE, the worker stacks all there;
- t_api: the first moment `GET /v1/clusters/{uuid}` (polled every `--interval` s by a thread
  of the cluster) answers CREATE_COMPLETE;
- latency = t_api - t_heat; each moment is when the answer arrived, so the resolution is the
  interval plus one request (about +-50 ms with the default interval);
- the create time: POST to t_api.

Then it deletes the clusters and the template and waits until they are gone (and their
stacks too). Only what it created is touched (names start with `bench-`), so it may share the
sandbox with other users; their load shows in the numbers, though.

    .venv/bin/python -m benchmarks.status_sync [--clusters 10] [--parallel 3] [--rounds 1]

Prints a Markdown table row per round and a summary line. Exit code 1 when the p50 latency of
a round is above `--target` (1 s) or a cluster does not reach CREATE_COMPLETE or is not
deleted; 2 when the sandbox is not there.
"""

from __future__ import annotations

import argparse
import concurrent.futures
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

from magnum_lite.drivers.heat import chunks
from magnum_lite_sandbox import config as sandbox_config
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
    return {"uuid": cluster_uuid, "name": name, "status": status,
            "reason": (cluster or {}).get("status_reason"), "posted": posted,
            "t_api": seen}


def _delete_all(api: Api, heat: Any, clusters: list[str], interval: float) -> list[str]:
    """Delete the clusters, wait until the API and Heat no longer have them; problems."""
    problems = []
    for cluster_uuid in clusters:
        answer = api.request("DELETE", f"/clusters/{cluster_uuid}")
        if answer.status_code not in (204, 404):
            problems.append(f"DELETE {cluster_uuid}: {answer.status_code} {answer.text[:200]}")
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
              number: int) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:6]
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
    delete_began = time.monotonic()
    errors.extend(_delete_all(api, heat, [r["uuid"] for r in results], args.interval))
    deleted = time.monotonic() - delete_began
    return {"round": number, "clusters": len(results), "latencies": latencies,
            "creates": creates, "elapsed": elapsed, "delete": deleted, "errors": errors,
            "heat_listing_ms": 1000 * statistics.median(watcher.listing_seconds or [0]),
            "heat_errors": watcher.errors}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Measures, per cluster, how long after Heat shows all its stacks "
               "CREATE_COMPLETE the API answers CREATE_COMPLETE (the conductor's reconciler "
               "polls Heat with a backoff from [conductor] reconcile_backoff_base up to "
               "reconcile_backoff_max). See benchmarks/README.md.")
    parser.add_argument("--clusters", type=int, default=10, help="clusters per round (10)")
    parser.add_argument("--parallel", type=int, default=3,
                        help="clusters being created at a time (3)")
    parser.add_argument("--node-count", type=int, default=1, help="workers per cluster (1)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds (1)")
    parser.add_argument("--interval", type=float, default=0.05,
                        help="seconds between two polls of Heat, and of each cluster (0.05)")
    parser.add_argument("--target", type=float, default=1.0,
                        help="the p50 latency, in seconds, a round must not exceed (1.0)")
    args = parser.parse_args()

    state = sandbox_config.default_state_dir()
    try:
        sandbox = json.loads((state / "sandbox.json").read_text())
    except OSError as err:
        sys.stderr.write(f"no sandbox at {state} ({err}): run magnum-lite-sandbox start\n")
        return 2
    session = clusters.session(sandbox)
    api = Api(session, sandbox["magnum_lite_url"])
    heat = heat_client.Client("1", session=session, service_type="orchestration",
                              interface="public", region_name=sandbox["region"])
    template = api.create_template(f"{PREFIX}tmpl-{uuid.uuid4().hex[:6]}")
    rounds = []
    try:
        for number in range(1, args.rounds + 1):
            rounds.append(run_round(api, heat, template, args, number))
    finally:
        answer = api.request("DELETE", f"/clustertemplates/{template}")
        if answer.status_code not in (204, 404):
            sys.stderr.write(f"template {template} not deleted: {answer.status_code} "
                             f"{answer.text[:300]}\n")

    print("| round | clusters (parallel) | latency p50 / p90 / max s | create p50 / max s "
          "| all created in s | all deleted in s | Heat listing ms |")
    print("|---|---|---|---|---|---|---|")
    failed = False
    for r in rounds:
        lat, cre = r["latencies"], r["creates"]
        if lat:
            print(f"| {r['round']} | {r['clusters']} ({args.parallel}) | "
                  f"{percentile(lat, 0.5):.2f} / {percentile(lat, 0.9):.2f} / {max(lat):.2f} | "
                  f"{percentile(cre, 0.5):.1f} / {max(cre):.1f} | {r['elapsed']:.1f} | "
                  f"{r['delete']:.1f} | {r['heat_listing_ms']:.0f} |")
        for error in r["errors"]:
            print(f"round {r['round']}: FAILED: {error}")
        for error in r["heat_errors"][:5]:
            print(f"round {r['round']}: Heat listing error: {error}")
        if r["errors"] or not lat or percentile(lat, 0.5) > args.target:
            failed = True
    every = [x for r in rounds for x in r["latencies"]]
    if every:
        print(f"summary: {len(every)} clusters in {len(rounds)} round(s), latency Heat "
              f"CREATE_COMPLETE -> API CREATE_COMPLETE p50 {percentile(every, 0.5):.2f} s, "
              f"p90 {percentile(every, 0.9):.2f} s, max {max(every):.2f} s (+-{args.interval}"
              f" s polling; target p50 <= {args.target} s: "
              f"{'met' if not failed else 'MISSED'})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
