"""magnum-lite's own `openstack coe` commands (the magnum-lite-osc plugin, osc/) through the
real `openstack` command against a real magnum-lite-all: drivers and their versions, cluster
events, and the upgrade command that replaces python-magnumclient's.

The deployment pages lists by one item ([api] max_limit = 1), so that `coe cluster event
list` must follow the pages to show a whole history. Without Heat every cluster ends
CREATE_FAILED, which no upgrade may start from: here an upgrade request gets as far as the
API's checks of its body (each answer names what it was sent); an upgrade that is accepted,
runs and is rolled back is tests/integration/test_osc_plugin.py's, in the sandbox.
"""

from __future__ import annotations

import uuid

import pytest

from tests.functional import deployment as dep

# python-magnumclient's `coe cluster upgrade` arguments, which must keep working.
MAGNUMCLIENT_UPGRADE_ARGS = ("<cluster>", "<cluster_template>", "--max-batch-size",
                             "--nodegroup")
NOT_STARTABLE = "is CREATE_FAILED: an update can start only from"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("osc-plugin")
    deployment = dep.Deployment(workdir, dep.free_port())
    deployment.write_config({"api": {"port": str(deployment.port), "max_limit": "1"}})
    deployment.start("magnum-lite-all")
    try:
        deployment.wait_until_serving()
        yield deployment
    finally:
        codes = deployment.stop()
    assert codes == {"magnum-lite-all": 0}, codes


def _fails(cloud: dep.Deployment, *args: str) -> str:
    """The error an `openstack` command prints (stderr) when it exits 1, as OSC commands do."""
    done = cloud.run_openstack(*args)
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == "", done.stdout
    return done.stderr.strip()


def _failed_cluster(cloud: dep.Deployment, name: str, template: str) -> dict:
    accepted = cloud.openstack("coe", "cluster", "create", name, "--cluster-template",
                               template, "--node-count", "1", parse_json=False)
    assert "accepted" in accepted

    def failed():
        shown = cloud.openstack("coe", "cluster", "show", name)
        return shown if shown["status"] == "CREATE_FAILED" else None

    return cloud.wait_for(failed)


def _template(cloud: dep.Deployment, name: str, *extra: str) -> dict:
    return cloud.openstack(
        "coe", "cluster", "template", "create", name, "--coe", "kubernetes", "--image",
        "fedora-coreos-40", "--external-network", "public", "--flavor", "m1.small",
        "--master-flavor", "m1.medium", "--network-driver", "flannel", *extra)


def test_driver_commands(cloud):
    # The drivers seeded at database setup, one per installed plugin.
    listed = cloud.openstack("coe", "driver", "list")
    assert {d["name"] for d in listed} >= {"k8s_ubuntu_v1", "swarm_fedora_v2"}
    assert set(listed[0]) == {"uuid", "name", "version", "plugin_name", "public", "enabled",
                              "cluster_count"}

    name = f"osc-{uuid.uuid4().hex[:8]}"
    created = cloud.openstack("coe", "driver", "create", name, "--plugin", "k8s_ubuntu_v1",
                              "--config", "kube_tag=v1.30.4", "--private")
    assert (created["name"], created["version"], created["plugin_name"]) == \
        (name, 1, "k8s_ubuntu_v1")
    assert created["config"] == {"kube_tag": "v1.30.4"}
    assert (created["public"], created["enabled"], created["latest_version"]) == \
        (False, True, 1)
    assert "links" not in created

    # Each update publishes the next version; config keys are set, typed or removed.
    updated = cloud.openstack("coe", "driver", "update", name, "--config", "kube_tag=v1.31.1",
                              "--config-json", '{"prometheus_monitoring": true}', "--public")
    assert updated["version"] == 2
    assert updated["config"] == {"kube_tag": "v1.31.1", "prometheus_monitoring": True}
    assert updated["public"] is True
    third = cloud.openstack("coe", "driver", "update", name, "--unset-config",
                            "prometheus_monitoring", "--disable")
    assert (third["version"], third["config"], third["enabled"]) == \
        (3, {"kube_tag": "v1.31.1"}, False)

    # A name shows the latest version, a uuid that version.
    assert cloud.openstack("coe", "driver", "show", name)["uuid"] == third["uuid"]
    first = cloud.openstack("coe", "driver", "show", created["uuid"])
    assert (first["version"], first["config"], first["latest_version"]) == \
        (1, {"kube_tag": "v1.30.4"}, 3)

    versions = cloud.openstack("coe", "driver", "version", "list", name)
    assert [(v["version"], v["enabled"]) for v in versions] == [(1, True), (2, True),
                                                                (3, False)]
    long_versions = cloud.openstack("coe", "driver", "version", "list", name, "--long")
    assert long_versions[1]["config"] == updated["config"]

    # The other output formats.
    yaml_text = cloud.openstack("coe", "driver", "show", name, "-f", "yaml", parse_json=False)
    assert f"name: {name}\n" in yaml_text and "  kube_tag: v1.31.1\n" in yaml_text
    value = cloud.openstack("coe", "driver", "show", name, "-f", "value", "-c", "version",
                            "-c", "config", parse_json=False)
    # -f value prints what -f json does, as Python text (as every OSC command's dict columns).
    assert value.splitlines() == ["{'kube_tag': 'v1.31.1'}", "3"]
    rows = cloud.openstack("coe", "driver", "list", "-f", "value", "-c", "name", "-c",
                           "version", parse_json=False).splitlines()
    assert f"{name} 3" in rows
    table = cloud.openstack("coe", "driver", "list", "--long", parse_json=False)
    assert "latest_version" in table and '{"kube_tag": "v1.31.1"}' in table

    # One version deleted by uuid; then the name (every version) and one unknown driver.
    assert cloud.openstack("coe", "driver", "delete", created["uuid"], parse_json=False) == ""
    assert [v["version"] for v in cloud.openstack("coe", "driver", "version", "list",
                                                  name)] == [2, 3]
    error = _fails(cloud, "coe", "driver", "delete", name, "no-such-driver")
    assert "Failed to delete driver no-such-driver: Driver no-such-driver could not be found" \
        in error
    assert error.endswith("1 of 2 drivers failed to delete.")
    assert name not in {d["name"] for d in cloud.openstack("coe", "driver", "list")}

    # The API's refusals, as OSC prints errors: the message, exit code 1.
    error = _fails(cloud, "coe", "driver", "show", name)
    assert error.startswith(f"Driver {name} could not be found (HTTP 404)"), error
    error = _fails(cloud, "coe", "driver", "create", "x", "--plugin", "no_such_plugin")
    assert "plugin_name: no installed driver plugin is named 'no_such_plugin'" in error
    assert "(HTTP 400)" in error
    error = _fails(cloud, "coe", "driver", "update", "k8s_ubuntu_v1")
    assert error.startswith("Nothing to change: give --config"), error
    error = _fails(cloud, "coe", "driver", "update", "k8s_ubuntu_v1", "--config", "nope=1")
    assert "config: unknown keys nope" in error
    # A microversion asked for below the drivers' 1.15: refused before any request.
    # (the `openstack` shell warns first of any X.Y: python-magnumclient's plugin lists "1".)
    error = _fails(cloud, "--os-container-infra-api-version", "1.14", "coe", "driver", "list")
    assert error.splitlines()[-1] == (
        "`openstack coe driver` needs container-infra API version 1.15 or newer; "
        "--os-container-infra-api-version (or OS_CONTAINER_INFRA_API_VERSION) asks for 1.14.")
    # argparse's own errors: exit 2 with the usage.
    done = cloud.run_openstack("coe", "driver", "create", "x")
    assert done.returncode == 2 and "the following arguments are required: --plugin" in \
        done.stderr

    helped = cloud.run_openstack("coe", "driver", "update", "--help")
    assert helped.returncode == 0
    for option in ("--config <key=value>", "--config-json", "--unset-config", "--public",
                   "--private", "--enable", "--disable", "{json,shell,table,value,yaml}"):
        assert option in helped.stdout, option


def test_cluster_event_list(cloud):
    _template(cloud, "ev-k8s")
    cluster = _failed_cluster(cloud, "ev1", "ev-k8s")

    # Newest first, every page (the deployment answers one event per page).
    events = cloud.openstack("coe", "cluster", "event", "list", "ev1")
    assert [(e["event_type"], e["status"]) for e in events] == [
        ("cluster.create", "CREATE_FAILED"), ("cluster.create", "CREATE_IN_PROGRESS")]
    assert set(events[0]) == {"created_at", "event_type", "status", "status_reason",
                              "cluster_version"}
    assert events[0]["status_reason"].startswith("cannot reach Heat")

    oldest_first = cloud.openstack("coe", "cluster", "event", "list", cluster["uuid"],
                                   "--sort-dir", "asc", "--long")
    assert [e["status"] for e in oldest_first] == ["CREATE_IN_PROGRESS", "CREATE_FAILED"]
    assert set(oldest_first[0]) >= {"uuid", "user_id", "request_id"}
    one = cloud.openstack("coe", "cluster", "event", "list", "ev1", "--limit", "1", "--long")
    assert [e["uuid"] for e in one] == [oldest_first[1]["uuid"]]
    after = cloud.openstack("coe", "cluster", "event", "list", "ev1", "--marker",
                            one[0]["uuid"], "--long")
    assert [e["uuid"] for e in after] == [oldest_first[0]["uuid"]]

    value = cloud.openstack("coe", "cluster", "event", "list", "ev1", "-f", "value", "-c",
                            "status", parse_json=False)
    assert value.splitlines() == ["CREATE_FAILED", "CREATE_IN_PROGRESS"]
    yaml_text = cloud.openstack("coe", "cluster", "event", "list", "ev1", "-f", "yaml", "-c",
                                "status", parse_json=False)
    assert yaml_text.splitlines() == ["- status: CREATE_FAILED", "- status: CREATE_IN_PROGRESS"]

    error = _fails(cloud, "coe", "cluster", "event", "list", "no-such-cluster")
    assert error.startswith("Cluster no-such-cluster could not be found (HTTP 404)"), error
    error = _fails(cloud, "--os-container-infra-api-version", "1.15", "coe", "cluster", "event",
                   "list", "ev1")
    assert "needs container-infra API version 1.16 or newer" in error
    # An explicit version the command can use is what it sends.
    assert len(cloud.openstack("--os-container-infra-api-version", "1.16", "coe", "cluster",
                               "event", "list", "ev1")) == 2


def test_cluster_upgrade(cloud):
    helped = cloud.run_openstack("coe", "cluster", "upgrade", "--help")
    assert helped.returncode == 0
    for argument in (*MAGNUMCLIENT_UPGRADE_ARGS, "--driver-version", "--rollback",
                     "--dry-run", "{json,shell,table,value,yaml}"):
        assert argument in helped.stdout, argument

    # The command `openstack` runs is ours, not python-magnumclient's of the same name.
    done = cloud.run_openstack("--debug", "coe", "cluster", "upgrade", "no-such-cluster", "t")
    assert "command: coe cluster upgrade -> magnum_lite_osc.upgrade.UpgradeCluster" in \
        done.stderr

    _template(cloud, "up-k8s")
    _template(cloud, "up-k8s-next", "--labels", "kube_tag=v1.31.1")
    cluster = _failed_cluster(cloud, "up1", "up-k8s")

    # python-magnumclient's form: the template and batch size reach the API's checks (a
    # CREATE_FAILED cluster cannot start an upgrade), the template by name, the nodegroup
    # checked, at the default microversion and at 1.8 explicitly.
    error = _fails(cloud, "coe", "cluster", "upgrade", "up1", "up-k8s-next",
                   "--max-batch-size", "2")
    assert f"Cluster {cluster['uuid']} {NOT_STARTABLE}" in error and "(HTTP 409)" in error
    error = _fails(cloud, "--os-container-infra-api-version", "1.8", "coe", "cluster",
                   "upgrade", "up1", "up-k8s-next")
    assert NOT_STARTABLE in error
    error = _fails(cloud, "coe", "cluster", "upgrade", "up1", "no-such-template")
    assert "cluster_template: ClusterTemplate no-such-template could not be found" in error
    error = _fails(cloud, "coe", "cluster", "upgrade", "up1", "up-k8s-next", "--nodegroup",
                   "no-such-nodegroup")
    assert "no-such-nodegroup" in error and "(HTTP 404)" in error
    error = _fails(cloud, "coe", "cluster", "upgrade", "up1", "up-k8s")
    assert "nothing to upgrade" in error

    # --driver-version: a version of the cluster's driver (k8s_ubuntu_v1), a number or latest.
    error = _fails(cloud, "coe", "cluster", "upgrade", "up1", "--driver-version", "9")
    assert error.startswith("driver_version: driver 'k8s_ubuntu_v1' has no version 9 (its "
                            "versions: "), error
    published = cloud.openstack("coe", "driver", "update", "k8s_ubuntu_v1", "--config",
                                "kube_tag=v1.31.1")
    try:
        for version in (str(published["version"]), "latest"):
            error = _fails(cloud, "coe", "cluster", "upgrade", "up1", "--driver-version",
                           version, "--dry-run", "-f", "json")
            assert NOT_STARTABLE in error, error
        error = _fails(cloud, "coe", "cluster", "upgrade", "up1", "up-k8s-next",
                       "--driver-version", str(published["version"]))
        assert NOT_STARTABLE in error, error  # the template and that version: a valid target
    finally:
        cloud.openstack("coe", "driver", "delete", published["uuid"], parse_json=False)
    # --rollback: back to before the last upgrade that succeeded (there is none).
    error = _fails(cloud, "coe", "cluster", "upgrade", "up1", "--rollback", "--dry-run")
    assert error.startswith(f"rollback: cluster {cluster['uuid']} has no upgrade"), error

    # What the command refuses itself (exit 1) and what argparse does (exit 2).
    error = _fails(cloud, "coe", "cluster", "upgrade", "up1")
    assert error == "Give the cluster template to upgrade to, --driver-version or --rollback."
    error = _fails(cloud, "coe", "cluster", "upgrade", "up1", "up-k8s", "--rollback")
    assert error.startswith("--rollback goes back to the template the cluster had")
    for args, message in ((("--driver-version", "0"), "must be a version number"),
                          (("--driver-version", "2", "--rollback"),
                           "not allowed with argument --driver-version")):
        done = cloud.run_openstack("coe", "cluster", "upgrade", "up1", *args)
        assert done.returncode == 2 and message in done.stderr, done.stderr
    # magnum-lite's targets need 1.17: an older explicit version is refused before asking.
    error = _fails(cloud, "--os-container-infra-api-version", "1.16", "coe", "cluster",
                   "upgrade", "up1", "--rollback")
    assert error.splitlines()[-1].startswith(
        "`openstack coe cluster upgrade` with --driver-version, --rollback or --dry-run needs "
        "container-infra API version 1.17"), error
    error = _fails(cloud, "coe", "cluster", "upgrade", "no-such-cluster", "up-k8s-next")
    assert error.startswith("Cluster no-such-cluster could not be found (HTTP 404)"), error



def test_cluster_repair(cloud):
    """`coe cluster repair`: its arguments, and its requests reaching the API's checks (a
    cluster there never has a health finding, and CREATE_FAILED starts no repair)."""
    helped = cloud.run_openstack("coe", "cluster", "repair", "--help")
    assert helped.returncode == 0
    for argument in ("<cluster>", "--node", "--force", "{json,shell,table,value,yaml}"):
        assert argument in helped.stdout, argument
    _template(cloud, "rp-k8s")
    cluster = _failed_cluster(cloud, "rp1", "rp-k8s")
    # No node named and none shown unhealthy: the API says to name them.
    error = _fails(cloud, "coe", "cluster", "repair", "rp1")
    assert error.startswith(f"nodes: cluster {cluster['uuid']} has no node its health "
                            f"check shows unhealthy"), error
    assert "(HTTP 400)" in error
    # Named (and forced): the body reaches the operation table, which refuses a
    # CREATE_FAILED cluster.
    error = _fails(cloud, "coe", "cluster", "repair", "rp1", "--node", "rp1-node-0",
                   "--node", "rp1-node-1", "--force")
    assert NOT_STARTABLE in error and "(HTTP 409)" in error, error
    error = _fails(cloud, "coe", "cluster", "repair", "no-such-cluster", "--node", "x")
    assert "no-such-cluster" in error and "(HTTP 404)" in error
    # The repair needs 1.19: an older explicit version is refused before asking.
    error = _fails(cloud, "--os-container-infra-api-version", "1.18", "coe", "cluster",
                   "repair", "rp1")
    assert ("`openstack coe cluster repair` needs container-infra API version 1.19 or "
            "newer") in error, error
