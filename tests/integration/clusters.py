"""Helpers of the cluster integration tests: the CLI's JSON, waiting for a cluster to settle,
and what Heat holds for a cluster."""

from __future__ import annotations

import json
import time
from typing import Any
import uuid

from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3
import pytest

IMAGE = "ubuntu-22.04"
# How long a cluster may take to reach a terminal status here (a 50-node cluster ≈ 30 s).
SETTLE_TIMEOUT = 240.0


def session(sandbox: dict[str, Any], user: str = "demo") -> ks_session.Session:
    creds = sandbox["users"][user]
    return ks_session.Session(auth=v3.Password(
        auth_url=sandbox["keystone_url"], username=creds["username"],
        password=creds["password"], project_name=creds["project_name"],
        user_domain_name=creds["user_domain_name"],
        project_domain_name=creds["project_domain_name"]))


def parse_json(result: Any) -> Any:
    out = result.stdout
    start = min((i for i in (out.find("{"), out.find("[")) if i >= 0), default=0)
    return json.loads(out[start:])


def pem_of(output: str) -> str:
    """The first PEM certificate in a CLI's output (`coe ca show`, `coe ca sign`)."""
    start = output.index("-----BEGIN CERTIFICATE-----")
    end = output.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")
    return output[start:end] + "\n"


# Keystone sessions per (sandbox, user), shared by every call of a test process.
_SESSIONS: dict[tuple[str, str], ks_session.Session] = {}


def rest(sandbox: dict[str, Any], method: str, path: str, user: str = "demo",
         version: str = "latest", **kwargs: Any) -> Any:
    """A call to magnum-lite's API (`path` below its root, e.g. "v1/clusters") as `user`, at
    microversion `version` (python-magnumclient sends "latest"); the response, whatever its
    status."""
    key = (sandbox["keystone_url"], user)
    if key not in _SESSIONS:
        _SESSIONS[key] = session(sandbox, user)
    root = sandbox["magnum_lite_url"].rstrip("/").removesuffix("/v1")
    return _SESSIONS[key].request(
        f"{root}/{path}", method, raise_exc=False,
        headers={"OpenStack-API-Version": f"container-infra {version}",
                 "Accept": "application/json"}, **kwargs)


def show(openstack_cli, ident: str) -> dict | None:
    """The cluster as the demo user's `GET /v1/clusters/{ident}` shows it (None when 404).

    Through the API from this process (the fields `coe cluster show` prints): a poll costs
    one request instead of an `openstack` process of a second's CPU.
    """
    response = rest(openstack_cli.sandbox, "GET", f"v1/clusters/{ident}")
    if response.status_code == 404:
        return None
    assert response.status_code == 200, f"GET cluster {ident}: {response.status_code} " \
                                        f"{response.text}"
    return response.json()


def settle(openstack_cli, ident: str, timeout: float = SETTLE_TIMEOUT) -> dict | None:
    """The cluster once it is no longer *_IN_PROGRESS (None once it is gone)."""
    deadline = time.monotonic() + timeout
    while True:
        cluster = show(openstack_cli, ident)
        if cluster is None or not cluster["status"].endswith("_IN_PROGRESS"):
            return cluster
        if time.monotonic() > deadline:
            pytest.fail(f"cluster {ident} still {cluster['status']} after {timeout}s: "
                        f"{cluster['status_reason']}")
        time.sleep(0.5)


def create(openstack_cli, template: dict, *args: str) -> str:
    name = f"it-{uuid.uuid4().hex[:8]}"
    openstack_cli("sandbox", "coe", "cluster", "create", name, "--cluster-template",
                  template["uuid"], *args)
    return name


def delete(openstack_cli, heat, cluster: dict) -> None:
    openstack_cli("sandbox", "coe", "cluster", "delete", cluster["uuid"])
    assert settle(openstack_cli, cluster["uuid"]) is None
    assert stacks_of(heat, cluster["uuid"]) == {}


def stacks_of(heat, cluster_uuid: str) -> dict[str, Any]:
    return {s.stack_name: s for s in heat.stacks.list() if cluster_uuid in s.stack_name}


def outputs(heat, stack_id: str) -> dict[str, Any]:
    stack = heat.stacks.get(stack_id)
    return {o["output_key"]: o["output_value"] for o in stack.outputs}


def worker_servers(heat, cluster_uuid: str) -> dict[str, str]:
    """Server name -> address (floating, else private) of every worker the cluster's nodegroup
    stacks hold in Heat."""
    servers = {}
    for name, stack in stacks_of(heat, cluster_uuid).items():
        if "-ng-" in name:
            out = outputs(heat, stack.id)
            floating = out.get("node_floating_addresses") or {}
            for index, server in (out.get("node_names") or {}).items():
                servers[server] = floating.get(index) or out["node_private_addresses"][index]
    return servers
