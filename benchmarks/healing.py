"""Heal time of one node on the sandbox cloud: a worker's server stopped until the cluster is
HEALTHY again with that node replaced.

Needs a running sandbox (`magnum-lite-sandbox start`; its conductors check health every 2 s).
As the sandbox's `demo` user it makes a Kubernetes template with auto-healing on
(`auto_healing_enabled=true`, `auto_healing_grace=--grace`) and a cluster of 1 master and
`--workers` workers on it, then `--rounds` times stops one worker's server
(`magnum_lite_sandbox.faults.stop`: Nova shows it SHUTOFF, Kubernetes NotReady) and polls the
API every 0.2 s for:

- seen: the stop -> health_status UNHEALTHY naming the node;
- repair: the stop -> the repair operation starts (UPDATE_IN_PROGRESS), grace included;
- replaced: the stop -> UPDATE_COMPLETE (drain, the Heat update of that member, the new
  node ready in the COE);
- healthy: the stop -> HEALTHY again.

It checks that only that worker's server changed (Nova ids from the stacks' outputs), then
deletes the cluster and the template (names start with `bench-heal-`).

    .venv/bin/python -m benchmarks.healing [--workers 3] [--rounds 3] [--grace 5]

Prints a Markdown table; exit code 1 when a heal does not happen or changes another server,
2 when the sandbox is not there.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any
import uuid

from heatclient import client as heat_client

from magnum_lite_sandbox import config as sandbox_config
from magnum_lite_sandbox import faults
from tests.integration import clusters

PREFIX = "bench-heal-"
TIMEOUT = 300.0


def _call(sandbox: dict, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
    response = clusters.rest(sandbox, method, path,
                             **({"json": body} if body is not None else {}))
    if response.status_code != expect:
        raise SystemExit(f"{method} {path}: {response.status_code} {response.text}")
    return response.json() if response.text else None


def _server_ids(heat: Any, cluster_uuid: str) -> dict[str, str]:
    ids = {}
    for stack in clusters.stacks_of(heat, cluster_uuid).values():
        out = clusters.outputs(heat, stack.id)
        for names_key, ids_key in (("master_names", "master_ids"), ("node_names", "node_ids")):
            for index, name in (out.get(names_key) or {}).items():
                ids[name] = (out.get(ids_key) or {}).get(index)
    return ids


def _until(sandbox: dict, uuid_: str, began: float, check: Any) -> float:
    while time.monotonic() - began < TIMEOUT:
        if check(_call(sandbox, "GET", f"v1/clusters/{uuid_}")):
            return time.monotonic() - began
        time.sleep(0.2)
    raise SystemExit(f"cluster {uuid_}: no heal within {TIMEOUT:.0f} s")


def heal_once(sandbox: dict, heat: Any, cluster: dict, worker: str) -> dict[str, float]:
    before = _server_ids(heat, cluster["uuid"])
    version = _call(sandbox, "GET", f"v1/clusters/{cluster['uuid']}")["version"]
    began = time.monotonic()
    faults.stop(worker)
    key = f"{worker}.Ready"
    times = {
        "seen": _until(sandbox, cluster["uuid"], began, lambda c: (
            c.get("health_status_reason") or {}).get(key) == "False"),
        "repair": _until(sandbox, cluster["uuid"], began,
                         lambda c: c["version"] > version),
        "replaced": _until(sandbox, cluster["uuid"], began, lambda c: (
            c["version"] > version and c["status"] == "UPDATE_COMPLETE")),
        "healthy": _until(sandbox, cluster["uuid"], began, lambda c: (
            c.get("health_status") == "HEALTHY"
            and (c.get("health_status_reason") or {}).get(key) == "True")),
    }
    after = _server_ids(heat, cluster["uuid"])
    changed = {n for n in before if after.get(n) != before[n]}
    if changed != {worker}:
        raise SystemExit(f"the heal of {worker} changed {sorted(changed)}")
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--grace", type=int, default=5)
    args = parser.parse_args()
    try:
        sandbox = sandbox_config.load(sandbox_config.default_state_dir())
    except Exception as err:  # noqa: BLE001 - any reason it is not there
        print(f"no sandbox: {err}", file=sys.stderr)
        return 2
    heat = heat_client.Client("1", session=clusters.session(sandbox))
    template = _call(sandbox, "POST", "v1/clustertemplates", {
        "name": f"{PREFIX}{uuid.uuid4().hex[:8]}", "coe": "kubernetes",
        "image_id": clusters.IMAGE, "external_network_id": "public",
        "flavor_id": "m1.small", "master_flavor_id": "m1.medium", "network_driver": "flannel",
        "labels": {"auto_healing_enabled": "true",
                   "auto_healing_grace": str(args.grace)}}, 201)["uuid"]
    cluster = None
    rows = []
    try:
        cluster = _call(sandbox, "POST", "v1/clusters", {
            "name": f"{PREFIX}{uuid.uuid4().hex[:8]}", "cluster_template_id": template,
            "master_count": 1, "node_count": args.workers}, 202)
        began = time.monotonic()
        _until(sandbox, cluster["uuid"], began, lambda c: c.get("health_status") == "HEALTHY")
        workers = sorted(n for n in _server_ids(heat, cluster["uuid"]) if "-master-" not in n)
        for round_ in range(args.rounds):
            rows.append(heal_once(sandbox, heat, cluster, workers[round_ % len(workers)]))
    finally:
        if cluster is not None:
            clusters.rest(sandbox, "DELETE", f"v1/clusters/{cluster['uuid']}")
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline and clusters.rest(
                    sandbox, "GET", f"v1/clusters/{cluster['uuid']}").status_code != 404:
                time.sleep(1)
        clusters.rest(sandbox, "DELETE", f"v1/clustertemplates/{template}")
    print(f"| round | stop -> UNHEALTHY s | -> repair starts s (grace {args.grace}) | "
          f"-> replaced s | -> HEALTHY s |")
    print("|---|---|---|---|---|")
    for number, row in enumerate(rows, start=1):
        print(f"| {number} | {row['seen']:.1f} | {row['repair']:.1f} | "
              f"{row['replaced']:.1f} | {row['healthy']:.1f} |")
    print(f"| median | {statistics.median(r['seen'] for r in rows):.1f} | "
          f"{statistics.median(r['repair'] for r in rows):.1f} | "
          f"{statistics.median(r['replaced'] for r in rows):.1f} | "
          f"{statistics.median(r['healthy'] for r in rows):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
