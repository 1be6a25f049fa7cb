"""Create time on the sandbox cloud: POST /v1/clusters -> the API says CREATE_COMPLETE, with
the worker stacks started beside the masters (early) and, in the same run, after the cluster
stack (the way before: [heat_driver] early_workers_check_interval = 0).

Needs a running sandbox (`magnum-lite-sandbox start`). As the sandbox's `demo` user it makes
a Kubernetes template (the one of status_sync.py), then for each way in `--ways` (default
`early,after`) restarts the sandbox's conductor with that setting and creates `--clusters`
clusters of 1 master and `--nodes` workers one after another (each deleted once measured;
nothing else of ours runs meanwhile). At the end the sandbox's own conductor is started
again and the template deleted; only names starting with `bench-` are touched.

Per cluster: create = POST to the first GET answering CREATE_COMPLETE (polled every
`--interval` s); from Heat's notifications (a queue of the benchmark's own on Heat's
exchange): when the cluster stack's create started and ended, and when the first worker
stack's create started and the last one's ended, relative to the POST.

    .venv/bin/python -m benchmarks.create_time [--nodes 2] [--clusters 5] [--ways early,after]

Prints a Markdown table row per way (medians), one per cluster with `--verbose`, and the
ratio of the medians. Exit code 1 when a cluster fails or the early median is above
`--target` seconds (15); 2 without a sandbox.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import time
from typing import Any
import uuid

from benchmarks import status_sync
from magnum_lite.drivers.heat import names
from magnum_lite_sandbox import config as sandbox_config
from magnum_lite_sandbox import magnum as sandbox_magnum
from magnum_lite_sandbox import processes

WAYS = {"early": None, "after": "0"}  # OS_HEAT_DRIVER__EARLY_WORKERS_CHECK_INTERVAL


class StackTimes(status_sync.HeatNotificationWatcher):
    """Heat's notifications of the benchmark's stacks: when each create started and ended."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.times: dict[str, dict[str, float]] = {}  # stack name -> event type -> arrival

    def _on_message(self, body: Any, message: Any) -> None:
        now = time.monotonic()
        message.ack()
        data = status_sync.notification_of(body)
        stack = ((data or {}).get("payload") or {}).get("stack_name")
        if stack and names.cluster_uuid_of(stack):
            with self.lock:
                self.times.setdefault(stack, {}).setdefault(data.get("event_type"), now)

    def of(self, cluster_uuid: str) -> dict[str, dict[str, float]]:
        with self.lock:
            return {name: dict(t) for name, t in self.times.items() if cluster_uuid in name}


@contextlib.contextmanager
def conductor_with(early_interval: str | None):
    """The sandbox's conductor restarted with early workers at `early_interval` (None: the
    sandbox's own setting); the sandbox's own conductor again afterwards."""
    state_dir = sandbox_config.default_state_dir()
    processes.stop(state_dir, sandbox_magnum.CONDUCTOR)
    env = ({} if early_interval is None
           else {"OS_HEAT_DRIVER__EARLY_WORKERS_CHECK_INTERVAL": early_interval})
    processes.ensure(state_dir, sandbox_magnum.CONDUCTOR, [
        str(sandbox_magnum.project_bin() / sandbox_magnum.CONDUCTOR), "--config-file",
        str(sandbox_magnum.conf_path(state_dir))], env=env)
    time.sleep(3)  # its listener and reconciler up
    try:
        yield
    finally:
        processes.stop(state_dir, sandbox_magnum.CONDUCTOR)
        subprocess.run([sys.executable, "-m", "magnum_lite_sandbox.cli", "start"],
                       capture_output=True, text=True, timeout=300, check=True,
                       stdin=subprocess.DEVNULL)


def measure(api: status_sync.Api, heat: Any, watcher: StackTimes, template: str, nodes: int,
            interval: float, name: str) -> dict[str, Any]:
    """Create one cluster, wait for its end, delete it; its times (seconds from the POST)."""
    posted = time.monotonic()
    cluster_uuid = api.create_cluster(name, template, nodes)
    deadline = posted + status_sync.TIMEOUT
    while True:
        cluster = api.cluster(cluster_uuid)
        seen = time.monotonic()
        status = cluster["status"] if cluster else "GONE"
        if status != "CREATE_IN_PROGRESS" or seen > deadline:
            break
        time.sleep(interval)
    time.sleep(0.5)  # the last notifications' arrival
    stacks = watcher.of(cluster_uuid)
    answer = api.request("DELETE", f"/clusters/{cluster_uuid}")
    problems = [] if answer.status_code in (204, 404) else [
        f"DELETE {cluster_uuid}: {answer.status_code} {answer.text[:200]}"]
    problems += status_sync._wait_deleted(api, heat, [cluster_uuid], interval)
    if status != "CREATE_COMPLETE":
        problems.append(f"{cluster_uuid}: {status}: {(cluster or {}).get('status_reason')}")
    cluster_stack = next((t for n, t in stacks.items() if "-ng-" not in n), {})
    workers = [t for n, t in stacks.items() if "-ng-" in n]

    def since_post(times: list[float]) -> float | None:
        return min(times) - posted if times else None

    start, end = "orchestration.stack.create.start", "orchestration.stack.create.end"
    return {
        "uuid": cluster_uuid, "problems": problems, "create": seen - posted,
        "cluster_start": since_post([cluster_stack[start]] if start in cluster_stack else []),
        "cluster_end": since_post([cluster_stack[end]] if end in cluster_stack else []),
        "workers_start": since_post([t[start] for t in workers if start in t]),
        "workers_end": (max(t[end] for t in workers) - posted
                        if workers and all(end in t for t in workers) else None),
    }


COLUMNS = ("create", "cluster_start", "cluster_end", "workers_start", "workers_end")


def _median(rows: list[dict[str, Any]], key: str) -> str:
    values = [r[key] for r in rows if r[key] is not None]
    return f"{statistics.median(values):.1f}" if values else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=2, help="workers per cluster (2)")
    parser.add_argument("--clusters", type=int, default=5, help="clusters per way (5)")
    parser.add_argument("--ways", default="early,after",
                        help="comma list of early (the workers beside the masters) and after "
                             "(after the cluster stack) (early,after)")
    parser.add_argument("--interval", type=float, default=0.1,
                        help="seconds between two GETs of the cluster (0.1)")
    parser.add_argument("--target", type=float, default=15.0,
                        help="the early way's median create time not to exceed (15)")
    parser.add_argument("--verbose", action="store_true", help="a row per cluster too")
    args = parser.parse_args()
    ways = [w.strip() for w in args.ways.split(",") if w.strip()]
    if any(w not in WAYS for w in ways):
        parser.error(f"--ways: each of {', '.join(WAYS)}")

    clients = status_sync.sandbox_clients()
    if clients is None:
        return 2
    api, heat = clients
    run_id = uuid.uuid4().hex[:6]
    template = api.create_template(f"{status_sync.PREFIX}tmpl-{run_id}")
    watcher = StackTimes(status_sync._bus_url())
    watcher.start()
    watcher.ready.wait(30)
    results: dict[str, list[dict[str, Any]]] = {}
    try:
        for way in ways:
            with conductor_with(WAYS[way]):
                results[way] = [
                    measure(api, heat, watcher, template, args.nodes, args.interval,
                            f"{status_sync.PREFIX}{run_id}-{way}-{i:02d}")
                    for i in range(args.clusters)]
    finally:
        watcher.stop.set()
        watcher.join()
        answer = api.request("DELETE", f"/clustertemplates/{template}")
        if answer.status_code not in (204, 404):
            sys.stderr.write(f"template {template} not deleted: {answer.status_code}\n")

    print(f"1 master + {args.nodes} workers, {args.clusters} clusters per way, one at a time; "
          "seconds from the POST (medians):")
    print("| way | create (POST -> API CREATE_COMPLETE) | cluster stack start | cluster stack "
          "end | first worker stack start | last worker stack end |")
    print("|---|---|---|---|---|---|")
    failed = False
    for way, rows in results.items():
        print(f"| {way} | " + " | ".join(_median(rows, c) for c in COLUMNS) + " |")
        if args.verbose:
            for r in rows:
                print(f"|   {r['uuid'][:8]} | " + " | ".join(
                    "-" if r[c] is None else f"{r[c]:.1f}" for c in COLUMNS) + " |")
        for row in rows:
            for problem in row["problems"]:
                failed = True
                print(f"{way}: FAILED: {problem}")
    if "early" in results and "after" in results:
        early = statistics.median(r["create"] for r in results["early"])
        after = statistics.median(r["create"] for r in results["after"])
        print(f"early / after: {early / after:.2f} (create medians {early:.1f} s / "
              f"{after:.1f} s)")
    if "early" in results:
        early = statistics.median(r["create"] for r in results["early"])
        met = early <= args.target
        print(f"target (early): median create <= {args.target:.0f} s: "
              f"{'met' if met else 'MISSED'}")
        failed = failed or not met
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
