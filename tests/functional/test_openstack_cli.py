"""The `openstack coe` CLI end to end against real magnum-lite processes.

Three deployments run the same flow: API and conductor as separate processes on PostgreSQL and
RabbitMQ, the same on MariaDB, and `magnum-lite-all` with no configuration at all.
"""

from __future__ import annotations

import contextlib
import re

import pytest

from tests.functional import deployment as dep

NOAUTH_PROJECT = "00000000000000000000000000000001"
# Without Keystone there is no catalog to find Heat in: the k8s_ubuntu_v1 driver says so.
NO_HEAT_REASON = "cannot reach Heat: creating stack c1-"
NO_HEAT_DETAIL = "no endpoint_override is configured for service type orchestration"


@contextlib.contextmanager
def _split_processes(tmp_path, database):
    """magnum-lite-api and magnum-lite-conductor over RabbitMQ, on the given database."""
    with database() as db_url, dep.rabbitmq_vhost() as transport_url:
        deployment = dep.Deployment(tmp_path, dep.free_port())
        deployment.write_config({
            "DEFAULT": {"transport_url": transport_url, "host": "functest"},
            "database": {"connection": db_url},
            "api": {"host": "127.0.0.1", "port": str(deployment.port),
                    "auth_strategy": "noauth", "workers": "2"},
            "conductor": {"heartbeat_interval": "1"},
        })
        deployment.manage("db", "upgrade")
        deployment.start("magnum-lite-conductor")
        deployment.start("magnum-lite-api")
        try:
            deployment.wait_until_serving()
            yield deployment
        finally:
            codes = deployment.stop()
        assert codes == {"magnum-lite-conductor": 0, "magnum-lite-api": 0}, codes


@contextlib.contextmanager
def _all_in_one(tmp_path):
    """magnum-lite-all as a newcomer runs it: no config file, HOME pointing somewhere empty."""
    port = 9511
    deployment = dep.Deployment(tmp_path, port)
    if dep.port_open(port):
        # The default port is taken on this machine: the only configuration we then give is
        # another port.
        deployment = dep.Deployment(tmp_path, dep.free_port())
        deployment.write_config({"api": {"port": str(deployment.port)}})
    deployment.start("magnum-lite-all")
    try:
        deployment.wait_until_serving()
        yield deployment
    finally:
        codes = deployment.stop()
    assert codes == {"magnum-lite-all": 0}, codes
    assert (tmp_path / ".local/share/magnum-lite/magnum-lite.sqlite").exists()


DEPLOYMENTS = {
    "postgresql+rabbitmq": lambda tmp: _split_processes(tmp, dep.postgresql_database),
    "mariadb+rabbitmq": lambda tmp: _split_processes(tmp, dep.mariadb_database),
    "all-in-one-no-config": _all_in_one,
}


def _service_marks(name: str) -> list:
    return [] if name == "all-in-one-no-config" else [pytest.mark.service]


def _table_values(text: str) -> dict[str, str]:
    """Rows of the `| key | value |` tables python-magnumclient prints for quotas and stats."""
    rows = re.findall(r"^\|\s*(\S+)\s*\|\s*(.*?)\s*\|$", text, re.MULTILINE)
    return {key: value for key, value in rows if key != "Property"}


@pytest.mark.parametrize("kind", [pytest.param(name, marks=_service_marks(name))
                                  for name in DEPLOYMENTS])
def test_openstack_coe_cli_flow(kind, tmp_path):
    with DEPLOYMENTS[kind](tmp_path) as cloud:
        _template_lifecycle(cloud)
        _cluster_ends_failed_without_heat(cloud)
        _service_list_shows_conductor_up(cloud)
        _quotas(cloud)


def _template_lifecycle(cloud: dep.Deployment) -> None:
    created = cloud.openstack(
        "coe", "cluster", "template", "create", "k8s.v1", "--coe", "kubernetes",
        "--image", "fedora-coreos-40", "--external-network", "public",
        "--flavor", "m1.small", "--master-flavor", "m1.medium", "--network-driver", "flannel",
        "--labels", "kube_tag=v1.30.1")
    assert created["name"] == "k8s.v1"
    assert created["coe"] == "kubernetes"
    assert created["labels"] == {"kube_tag": "v1.30.1"}
    assert created["project_id"] == NOAUTH_PROJECT

    listed = cloud.openstack("coe", "cluster", "template", "list")
    assert [t["name"] for t in listed] == ["k8s.v1"]
    assert listed[0]["uuid"] == created["uuid"]

    updated = cloud.openstack("coe", "cluster", "template", "update", "k8s.v1",
                              "--docker-volume-size", "20")
    assert updated["docker_volume_size"] == 20
    shown = cloud.openstack("coe", "cluster", "template", "show", created["uuid"])
    assert shown["docker_volume_size"] == 20
    assert shown["master_flavor_id"] == "m1.medium"


def _cluster_ends_failed_without_heat(cloud: dep.Deployment) -> None:
    accepted = cloud.openstack("coe", "cluster", "create", "c1", "--cluster-template", "k8s.v1",
                               "--node-count", "2", "--master-count", "1", parse_json=False)
    assert "Request to create cluster" in accepted and "accepted" in accepted

    def failed():
        clusters = cloud.openstack("coe", "cluster", "list")
        return clusters if clusters and clusters[0]["status"] == "CREATE_FAILED" else None

    clusters = cloud.wait_for(failed)
    assert [c["name"] for c in clusters] == ["c1"]
    assert clusters[0]["node_count"] == 2 and clusters[0]["master_count"] == 1

    shown = cloud.openstack("coe", "cluster", "show", "c1")
    assert shown["status"] == "CREATE_FAILED"
    assert shown["status_reason"].startswith(NO_HEAT_REASON), shown["status_reason"]
    assert NO_HEAT_DETAIL in shown["status_reason"]

    stats = _table_values(cloud.openstack("coe", "stats", "list", NOAUTH_PROJECT,
                                          parse_json=False))
    assert stats == {"clusters": "1", "nodes": "3"}

    # A template in use cannot be deleted (the CLI prints the API's error and exits 0).
    refused = cloud.openstack("coe", "cluster", "template", "delete", "k8s.v1",
                              parse_json=False)
    assert "referenced by one or more clusters" in refused
    assert len(cloud.openstack("coe", "cluster", "template", "list")) == 1

    deleted = cloud.openstack("coe", "cluster", "delete", "c1", parse_json=False)
    assert "accepted" in deleted
    cloud.wait_for(lambda: cloud.openstack("coe", "cluster", "list") == [])

    deleted = cloud.openstack("coe", "cluster", "template", "delete", "k8s.v1",
                              parse_json=False)
    assert "accepted" in deleted
    assert cloud.openstack("coe", "cluster", "template", "list") == []


def _service_list_shows_conductor_up(cloud: dep.Deployment) -> None:
    services = cloud.openstack("coe", "service", "list")
    # Magnum's binary name on the wire (monitoring written for Magnum looks for it).
    assert [(s["binary"], s["state"]) for s in services] == [("magnum-conductor", "up")]


def _quotas(cloud: dep.Deployment) -> None:
    created = _table_values(cloud.openstack(
        "coe", "quotas", "create", "--project-id", "p-quota", "--resource", "Cluster",
        "--hard-limit", "5", parse_json=False))
    assert created["hard_limit"] == "5" and created["project_id"] == "p-quota"

    updated = _table_values(cloud.openstack(
        "coe", "quotas", "update", "--project-id", "p-quota", "--resource", "Cluster",
        "--hard-limit", "7", parse_json=False))
    assert updated["hard_limit"] == "7"

    shown = _table_values(cloud.openstack("coe", "quotas", "show", "--project-id", "p-quota",
                                          "--resource", "Cluster", parse_json=False))
    assert shown["hard_limit"] == "7"

    listed = cloud.openstack("coe", "quotas", "list", "--all-tenants", parse_json=False)
    assert "p-quota" in listed

    deleted = cloud.openstack("coe", "quotas", "delete", "--project-id", "p-quota",
                              "--resource", "Cluster", parse_json=False)
    assert "accepted" in deleted
    listed = cloud.openstack("coe", "quotas", "list", "--all-tenants", parse_json=False)
    assert "p-quota" not in listed
