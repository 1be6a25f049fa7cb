"""Rolling upgrade time on the sandbox cloud, and what each batch changes in Heat.

Needs a running sandbox (`magnum-lite-sandbox start`). As the sandbox's `demo` user it makes
two Kubernetes templates one minor version apart (kube_tag v1.30.4 and v1.31.1), and for each
`--batch-sizes` value: a cluster of 1 master and `--workers` workers on the first, then
`POST /v1/clusters/{id}/actions/upgrade` to the second with that `max_batch_size`, polled
every `--interval` s until UPDATE_COMPLETE. It reports:

- total: POST upgrade -> the API says UPDATE_COMPLETE;
- per batch: the seconds the conductor recorded in each batch's event (drain, Heat update,
  wait until the COE reports the nodes ready at the new version, uncordon);
- servers changed per batch: after each batch's event, every server of the cluster is read
  from Heat (its image and user data, what Nova acts on) and compared with the read before:
  a batch must change exactly its own members' servers; "settle" is the last step (the
  target folded into each stack), which must change none.

Then it deletes the cluster (and at the end the templates). Only what it made is touched
(names start with `bench-up-`).

    .venv/bin/python -m benchmarks.upgrade [--workers 10] [--batch-sizes 1,2,5]

Prints a Markdown table; exit code 1 when an upgrade fails or a batch changes a server that
is not its own, 2 when the sandbox is not there.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from typing import Any
import uuid

from heatclient import client as heat_client

from magnum_lite_sandbox import config as sandbox_config
from tests.integration import clusters

OLD, NEW = "v1.30.4", "v1.31.1"
PREFIX = "bench-up-"
TIMEOUT = 900.0


def _call(sandbox: dict, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
    response = clusters.rest(sandbox, method, path,
                             **({"json": body} if body is not None else {}))
    if response.status_code != expect:
        raise SystemExit(f"{method} {path}: {response.status_code} {response.text}")
    return response.json() if response.text else None


def _template(sandbox: dict, tag: str) -> str:
    return _call(sandbox, "POST", "v1/clustertemplates", {
        "name": f"{PREFIX}{uuid.uuid4().hex[:8]}", "coe": "kubernetes",
        "image_id": clusters.IMAGE, "external_network_id": "public",
        "flavor_id": "m1.small", "master_flavor_id": "m1.medium",
        "network_driver": "flannel", "labels": {"kube_tag": tag}}, 201)["uuid"]


def _wait(sandbox: dict, cluster_uuid: str, interval: float) -> dict:
    deadline = time.monotonic() + TIMEOUT
    while True:
        cluster = _call(sandbox, "GET", f"v1/clusters/{cluster_uuid}")
        if not cluster["status"].endswith("_IN_PROGRESS"):
            return cluster
        if time.monotonic() > deadline:
            raise SystemExit(f"cluster {cluster_uuid} still {cluster['status']}")
        time.sleep(interval)


def _servers(heat: Any, cluster_uuid: str) -> dict[str, tuple[str, str]]:
    """Every server of the cluster in Heat: its id -> (image, digest of its user data)."""
    found = {}
    for stack in clusters.stacks_of(heat, cluster_uuid).values():
        for resource in heat.resources.list(stack.id, nested_depth=3):
            if resource.resource_type != "OS::Nova::Server" or not \
                    resource.physical_resource_id:
                continue
            parameters = heat.stacks.get(resource.physical_resource_id).parameters
            found[resource.physical_resource_id] = (
                parameters.get("image", ""),
                hashlib.sha256(parameters.get("user_data", "").encode()).hexdigest())
    return found


def _changed(before: dict, after: dict) -> int:
    return sum(1 for server, values in after.items() if before.get(server) != values)


def _batch_events(sandbox: dict, cluster_uuid: str) -> list[str]:
    events = _call(sandbox, "GET", f"v1/clusters/{cluster_uuid}/events?limit=200")["events"]
    return [e["status_reason"] for e in events
            if e["event_type"] == "cluster.upgrade.batch"][::-1]


def run(sandbox: dict, heat: Any, templates: tuple[str, str], workers: int, size: int,
        interval: float) -> dict:
    cluster_uuid = _call(sandbox, "POST", "v1/clusters", {
        "name": f"{PREFIX}{uuid.uuid4().hex[:8]}", "cluster_template_id": templates[0],
        "master_count": 1, "node_count": workers}, 202)["uuid"]
    try:
        built = _wait(sandbox, cluster_uuid, interval)
        if built["status"] != "CREATE_COMPLETE":
            raise SystemExit(f"create failed: {built['status_reason']}")
        servers = _servers(heat, cluster_uuid)
        started = time.monotonic()
        _call(sandbox, "POST", f"v1/clusters/{cluster_uuid}/actions/upgrade",
              {"cluster_template": templates[1], "max_batch_size": size}, 202)
        changed: list[int] = []
        seen = 0
        while True:
            cluster = _call(sandbox, "GET", f"v1/clusters/{cluster_uuid}")
            events = _batch_events(sandbox, cluster_uuid)
            if len(events) > seen:
                now = _servers(heat, cluster_uuid)
                # Batches that ended between two reads share the change (rare at 0.5 s).
                changed.append(_changed(servers, now))
                changed.extend([0] * (len(events) - seen - 1))
                servers, seen = now, len(events)
            if not cluster["status"].endswith("_IN_PROGRESS"):
                break
            time.sleep(interval)
        total = time.monotonic() - started
        if cluster["status"] != "UPDATE_COMPLETE":
            raise SystemExit(f"upgrade failed: {cluster['status_reason']}")
        settle = _changed(servers, _servers(heat, cluster_uuid))
        seconds = [float(e.rsplit(" in ", 1)[1].split()[0]) for e in events]
        sizes = [len(e.split(": ", 1)[1].split(f" {OLD} ")[0].split(", ")) for e in events]
        return {"size": size, "batches": len(events), "total": total, "seconds": seconds,
                "changed": changed, "expected": sizes, "settle": settle}
    finally:
        clusters.rest(sandbox, "DELETE", f"v1/clusters/{cluster_uuid}")
        deadline = time.monotonic() + TIMEOUT
        while clusters.rest(sandbox, "GET", f"v1/clusters/{cluster_uuid}").status_code != 404:
            if time.monotonic() > deadline:
                break
            time.sleep(1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=10)
    parser.add_argument("--batch-sizes", default="1,2,5")
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args()
    path = sandbox_config.default_state_dir() / "sandbox.json"
    if not path.exists():
        print("no sandbox: run magnum-lite-sandbox start", file=sys.stderr)
        return 2
    sandbox = json.loads(path.read_text())
    heat = heat_client.Client("1", session=clusters.session(sandbox),
                              service_type="orchestration", interface="public",
                              region_name=sandbox["region"])
    templates = (_template(sandbox, OLD), _template(sandbox, NEW))
    ok = True
    print(f"1 master + {args.workers} workers, {OLD} -> {NEW}\n")
    print("| max batch | batches | total s | s per batch (median, max) | servers changed per "
          "batch | of which not the batch's | settle changed |")
    print("|---|---|---|---|---|---|---|")
    try:
        for size in (int(s) for s in args.batch_sizes.split(",")):
            r = run(sandbox, heat, templates, args.workers, size, args.interval)
            strays = sum(max(0, c - e) for c, e in zip(r["changed"], r["expected"],
                                                         strict=False))
            ok = ok and strays == 0 and r["settle"] == 0
            print(f"| {size} | {r['batches']} | {r['total']:.1f} | "
                  f"{statistics.median(r['seconds']):.1f}, {max(r['seconds']):.1f} | "
                  f"{' '.join(map(str, r['changed']))} | {strays} | {r['settle']} |",
                  flush=True)
    finally:
        for template in templates:
            clusters.rest(sandbox, "DELETE", f"v1/clustertemplates/{template}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
