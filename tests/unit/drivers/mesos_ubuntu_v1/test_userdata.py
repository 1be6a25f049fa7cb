"""The mesos_ubuntu_v1 boot configuration is valid cloud-init user data that does what it says.

As for k8s_ubuntu_v1 (with the shared tests.unit.drivers.boot_helpers): each configuration is
rendered, its placeholders replaced as Heat does, split with the email package, checked by
`cloud-init schema` and shellcheck (`service` tests), and the boot scripts are run against
stub commands (and the real openssl) to show how masters form the ZooKeeper ensemble, which
certificate they issue and how agents are pointed at the masters.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import shutil
import subprocess

import pytest

from magnum_lite.common import x509
from magnum_lite.drivers.mesos_ubuntu_v1 import userdata
from magnum_lite.drivers.mesos_ubuntu_v1.userdata import (
    NODE_INDEX_PLACEHOLDER,
    MesosBootConfig,
    render_user_data,
    validate_config,
)
from tests.unit.drivers import boot_helpers
from tests.unit.drivers.boot_helpers import boot, cloud_config, files

UUID = "5d12f6fd-a196-4bf0-ae4c-1f639a523a52"
TOKEN = "0123456789abcdef" * 4
MASTERS = ("10.0.0.5", "10.0.0.6", "10.0.0.7")


@pytest.fixture(scope="module")
def ca() -> x509.KeyPair:
    return x509.generate_ca("ca CA test")


def make(**overrides) -> MesosBootConfig:
    values = dict(role="master", cluster_uuid=UUID, cluster_name="mesos-test",
                  control_plane_host="10.0.0.100", join_token=TOKEN, master_count=1)
    values.update(overrides)
    if values["role"] == "worker":
        values.setdefault("zookeeper_hosts", MASTERS)
    return MesosBootConfig(**values)


LONG_PROXY = "http://user:p%40ss@" + "proxy." * 60 + "example.com:3128/" + "p" * 1600
CONFIGS = {
    "minimal": {},
    "ha-everything": dict(
        master_count=3, mesos_version="1.7.1", api_public_address="172.24.4.10",
        docker_volume_size=50, http_proxy="http://proxy.example.com:3128",
        https_proxy="http://proxy.example.com:3128", no_proxy="10.0.0.0/24,.example.com",
        attributes={"pool": "gpu", "rack": "r1"}),
    "worst-case": dict(
        master_count=5, docker_volume_size=100, api_public_address="a" * 63 + ".example.com",
        http_proxy=LONG_PROXY, https_proxy=LONG_PROXY.replace("http:", "https:"),
        no_proxy=",".join(f"host{i:04d}.internal.example.com" for i in range(60)),
        attributes={f"{'k' * 60}{i:03d}": "v" * 63 for i in range(30)}),
}
NODES = [(name, role, index) for name in CONFIGS for role in ("master", "worker")
         for index in (0, 1)]
NODE_IDS = [f"{name}-{role}{index}" for name, role, index in NODES]


def config_of(name: str, role: str, ca: x509.KeyPair | None = None) -> MesosBootConfig:
    credentials = {}
    if ca is not None:
        credentials[userdata.CA_CERT_PATH] = ca.certificate
        if role == "master":
            credentials[userdata.CA_KEY_PATH] = ca.private_key
    return make(role=role, credential_files=credentials, **CONFIGS[name])


@pytest.fixture(scope="module")
def rendered(ca) -> dict[tuple[str, str], str]:
    return {(name, role): render_user_data(config_of(name, role, ca))
            for name in CONFIGS for role in ("master", "worker")}


def node_env(user_data: str) -> str:
    return files(user_data)["/etc/magnum-lite/node.env"]["content"]


# ------------------------------------------------------------------ cloud-init and shellcheck

@pytest.mark.service
@pytest.mark.parametrize(("name", "role", "index"), NODES, ids=NODE_IDS)
def test_cloud_config_passes_cloud_init_schema(rendered, tmp_path, name, role, index):
    boot_helpers.check_cloud_init_schema(boot(rendered[name, role], index), tmp_path)


@pytest.mark.service
@pytest.mark.parametrize(("name", "role", "index"), NODES, ids=NODE_IDS)
def test_scripts_pass_shellcheck(rendered, tmp_path, name, role, index):
    script = "mesos-master.sh" if role == "master" else "mesos-agent.sh"
    boot_helpers.check_scripts_with_shellcheck(boot(rendered[name, role], index), tmp_path,
                                               ["10-prepare-node.sh", f"20-{script}"])


@pytest.mark.service
def test_the_credentials_script_passes_shellcheck():
    boot_helpers.shellcheck(userdata.BOOT_DIR / "apply-credentials.sh")


def test_boot_files_are_ascii():
    """7-bit MIME parts need ASCII (setup.cfg must ship boot/*.yaml and boot/*.sh)."""
    boot_helpers.check_boot_files(userdata.BOOT_DIR, [
        ".shellcheckrc", "apply-credentials.sh", "cloud-config.yaml", "mesos-agent.sh",
        "mesos-master.sh", "prepare-node.sh"])


# ------------------------------------------------------------------ structure

@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("role", ["master", "worker"])
def test_mime_layout_and_size(rendered, ca, name, role):
    boot_helpers.check_layout_and_size(rendered[name, role],
                                       render_user_data(config_of(name, role, ca)))


def test_too_large_names_the_field():
    many = {f"{'k' * 60}{i:03d}": "v" * 63 for i in range(400)}
    with pytest.raises(ValueError, match=r"^attributes: .*over Nova's limit of 65535"):
        render_user_data(make(role="worker", attributes=many))


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("role", ["master", "worker"])
def test_node_env_and_files(rendered, name, role):
    config = config_of(name, role)
    node = boot(rendered[name, role], 0)
    env = node_env(node)
    assert "COE=" not in env  # nothing only for the sandbox: it reads what a node reads
    assert f"ROLE='{role}'" in env
    assert f"MESOS_MASTER_IMAGE='mesosphere/mesos-master:{config.mesos_version}'" in env
    assert f"MESOS_AGENT_IMAGE='mesosphere/mesos-slave:{config.mesos_version}'" in env
    assert f"QUORUM='{config.master_count // 2 + 1}'" in env
    assert f"DOCKER_VOLUME_SIZE='{config.docker_volume_size}'" in env
    written = files(node)
    for entry in written.values():
        assert entry["permissions"] in ("0644", "0600")
    assert written[userdata.CA_CERT_PATH]["permissions"] == "0644"
    if role == "master":
        assert written[userdata.CA_KEY_PATH]["permissions"] == "0600"
        creds = json.loads(written["/etc/mesos/credentials.json"]["content"])
        principals = {c["principal"]: c["secret"] for c in creds["credentials"]}
        assert set(principals) == {"magnum-agent", "marathon", "magnum-admin"}
        assert len(set(principals.values())) == 3  # one secret each
        assert written["/etc/mesos/marathon.secret"]["content"] == principals["marathon"]
        # Marathon's API: the operator's credentials, and its keystore's own password.
        http_env = written[userdata.MARATHON_HTTP_ENV]
        assert http_env["permissions"] == "0600"
        assert http_env["content"] == (
            f"MARATHON_HTTP_CREDENTIALS=magnum-admin:{principals['magnum-admin']}\n"
            f"MARATHON_SSL_KEYSTORE_PASSWORD={userdata.secret(TOKEN, 'marathon-keystore')}\n")
        assert "ZOOKEEPER_URL=''" in env
        assert "/etc/mesos/agent-credential.json" not in written
    else:
        assert userdata.CA_KEY_PATH not in written
        agent = json.loads(written["/etc/mesos/agent-credential.json"]["content"])
        assert agent == {"principal": "magnum-agent",
                         "secret": userdata.secret(TOKEN, "magnum-agent")}
        assert written["/etc/mesos/agent-credential.json"]["permissions"] == "0600"
        assert ("ZOOKEEPER_URL='zk://10.0.0.5:2181,10.0.0.6:2181,10.0.0.7:2181/mesos'"
                in env)
        assert "/etc/mesos/credentials.json" not in written
        assert userdata.MARATHON_HTTP_ENV not in written
    assert TOKEN not in node  # only derived secrets reach the nodes
    cc = cloud_config(node)
    if config.http_proxy:
        assert cc["apt"]["http_proxy"] == config.http_proxy
        dropin = written["/etc/systemd/system/docker.service.d/http-proxy.conf"]
        assert dropin["permissions"] == "0600"
        assert "10.0.0.100" in dropin["content"].split('"NO_PROXY=')[1]
    else:
        assert "apt" not in cc


# ------------------------------------------------------------------ the scripts, stubbed

STUB = r"""#!/bin/bash
name=$(basename "$0")
echo "$name $*" >>"$STUBS/calls"
count() { local n; n=$(cat "$STUBS/$1" 2>/dev/null || echo 0); echo $((n + 1)) >"$STUBS/$1"
          echo "$n"; }
case "$name" in
    curl)
        case "$*" in
            *public-ipv4*) echo 172.24.4.5 ;;
            */master/redirect*)
                if [ "$(count redirect)" -ge "${NO_LEADER_TIMES:-0}" ]; then
                    printf 'https://%s:5050/' "${LEADER:-10.0.0.5}"
                fi ;;
        esac ;;
    docker)
        case "$*" in
            *" config") printf '%s\n' "$ENSEMBLE" 'version=100000000' ;;
            *"reconfig -add"*) [ -n "$RECONFIG_SILENT" ] || echo 'Committed new configuration:' ;;
        esac ;;
esac
exit 0
"""
STUBBED = ("curl", "docker", "sleep")
ENSEMBLE = "server.1=10.0.0.5:2888:3888:participant;0.0.0.0:2181"


def run_node(tmp_path: pathlib.Path, user_data: str, index: int | str, prepared: bool = True,
             script: str | None = None, **env: str
             ) -> tuple[subprocess.CompletedProcess, list[str], dict[str, pathlib.Path]]:
    """Run the node's 20- script (or `script`) with its rendered files and stub commands."""
    env = {"MAGNUM_LITE_MESOS_ETC": str(tmp_path / "mesos"),
           "MAGNUM_LITE_ZK_DIR": str(tmp_path / "zk"),
           "MAGNUM_LITE_MY_IP": env.pop("MY_IP", "10.0.0.5"),
           "ENSEMBLE": env.pop("ENSEMBLE", ENSEMBLE), "RECONFIG_SILENT": "", **env}
    return boot_helpers.run_node_script(
        tmp_path, user_data, index, stub=STUB, commands=STUBBED, roots={"/etc/mesos/": "mesos"},
        extra_dirs=("zk",), prepared=prepared, script=script, **env)


def docker_runs(calls: list[str]) -> dict[str, str]:
    """The daemon containers started, by name."""
    runs = {}
    for call in calls:
        if call.startswith("docker run -d --name "):
            runs[call.split()[4]] = call
    return runs


needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


@needs_openssl
def test_master_0_seeds_the_ensemble_and_starts_mesos_and_marathon(rendered, ca, tmp_path):
    done, calls, dirs = run_node(tmp_path, rendered["ha-everything", "master"], 0)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (dirs["zk"] / "myid").read_text() == "1\n"
    assert (dirs["zk"] / "zoo.cfg.dynamic").read_text() == ENSEMBLE + "\n"
    zoo = (dirs["zk"] / "zoo.cfg").read_text()
    assert "standaloneEnabled=false" in zoo and "reconfigEnabled=true" in zoo
    assert "admin.enableServer=false" in zoo  # its port 8080 is nobody's business
    assert not any("/master/redirect" in c for c in calls)  # the seed asks nobody
    runs = docker_runs(calls)
    assert list(runs) == ["zookeeper", "mesos-master", "marathon"]
    assert "zkServer.sh start-foreground /data/zoo.cfg" in runs["zookeeper"]
    assert runs["mesos-master"].endswith("mesosphere/mesos-master:1.7.1")
    assert "--mesos_authentication_principal marathon" in runs["marathon"]
    assert "--master zk://10.0.0.5:2181/mesos" in runs["marathon"]
    master_env = (dirs["mesos"] / "master.env").read_text().splitlines()
    for line in ("MESOS_QUORUM=2", "MESOS_ZK=zk://10.0.0.5:2181/mesos", "MESOS_PORT=5050",
                 "MESOS_AUTHENTICATE_AGENTS=true", "MESOS_AUTHENTICATE_FRAMEWORKS=true",
                 "MESOS_AUTHENTICATE_HTTP_READWRITE=true", "LIBPROCESS_SSL_ENABLED=true",
                 "LIBPROCESS_SSL_SUPPORT_DOWNGRADE=false"):
        assert line in master_env
    marathon_env = (dirs["mesos"] / "marathon.env").read_text()
    assert "LIBPROCESS_SSL_ENABLED=true" in marathon_env and "MESOS_" not in marathon_env
    # Marathon's API: HTTPS only, behind the operator's credentials, declining the offers of
    # machines in maintenance (a drain kills its tasks through it).
    for flag in ("--disable_http", f"--https_port {userdata.MARATHON_PORT}",
                 "--ssl_keystore_path /etc/mesos/ssl/marathon.p12",
                 "--enable_features maintenance_mode", "marathon-http.env"):
        assert flag in runs["marathon"]
    http_env = dict(line.split("=", 1) for line in
                    (dirs["mesos"] / "marathon-http.env").read_text().splitlines())
    admin = next(c for c in json.loads((dirs["mesos"] / "credentials.json").read_text())[
        "credentials"] if c["principal"] == userdata.ADMIN_PRINCIPAL)
    assert http_env["MARATHON_HTTP_CREDENTIALS"] == f"{admin['principal']}:{admin['secret']}"
    keystore = subprocess.run(
        ["openssl", "pkcs12", "-in", str(dirs["mesos"] / "ssl" / "marathon.p12"), "-nokeys",
         "-passin", "pass:" + http_env["MARATHON_SSL_KEYSTORE_PASSWORD"]],
        capture_output=True, text=True)
    assert keystore.returncode == 0, keystore.stderr
    assert keystore.stdout.count("BEGIN CERTIFICATE") == 2  # the master's, then the CA's
    assert "Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC" in subprocess.run(
        ["openssl", "pkcs12", "-in", str(dirs["mesos"] / "ssl" / "marathon.p12"), "-info",
         "-noout", "-passin", "pass:" + http_env["MARATHON_SSL_KEYSTORE_PASSWORD"]],
        capture_output=True, text=True).stderr
    # The master's certificate: issued by the cluster CA, for every address clients use.
    cert = dirs["mesos"] / "ssl" / "server.crt"
    verify = subprocess.run(["openssl", "verify", "-CAfile", str(dirs["mesos"] / "ssl/ca.crt"),
                             str(cert)], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    text = subprocess.run(["openssl", "x509", "-noout", "-text", "-in", str(cert)],
                          capture_output=True, text=True).stdout
    for san in ("IP Address:10.0.0.5", "IP Address:10.0.0.100", "IP Address:172.24.4.10",
                "IP Address:172.24.4.5"):
        assert san in text
    assert "PRIVATE KEY" not in done.stdout + done.stderr


@needs_openssl
def test_marathon_from_v1_7_declines_offers_in_maintenance_by_default(tmp_path):
    config = dataclasses.replace(config_of("ha-everything", "master"),
                                 marathon_version="v1.7.7")
    done, calls, _ = run_node(tmp_path, userdata.render_user_data(config), 0)
    assert done.returncode == 0, done.stdout + done.stderr
    marathon = docker_runs(calls)["marathon"]
    assert "--enable_features" not in marathon  # a v1.6 feature, the default since
    assert marathon.endswith("--mesos_authentication_secret_file /etc/mesos/marathon.secret")
    assert "mesosphere/marathon:v1.7.7 --master" in marathon


@needs_openssl
def test_master_1_joins_the_ensemble_through_the_elected_master(rendered, tmp_path):
    done, calls, dirs = run_node(tmp_path, rendered["ha-everything", "master"], 1,
                                 MY_IP="10.0.0.6", NO_LEADER_TIMES="2")
    assert done.returncode == 0, done.stdout + done.stderr
    redirects = [c for c in calls if "/master/redirect" in c]
    assert len(redirects) == 3  # no leader twice, then the seed's address
    assert "https://10.0.0.100:5050/master/redirect" in redirects[0]
    me = "server.2=10.0.0.6:2888:3888:participant;0.0.0.0:2181"
    assert (dirs["zk"] / "myid").read_text() == "2\n"
    assert (dirs["zk"] / "zoo.cfg.dynamic").read_text().splitlines() == [ENSEMBLE, me]
    [add] = [c for c in calls if "reconfig -add" in c]
    assert f"-server 10.0.0.5:2181 reconfig -add {me}" in add
    # ZooKeeper starts before it is added (it must sync), Mesos after.
    order = [c for c in calls if c.startswith("docker run") and ("--name" in c or "reconfig" in c)]
    assert ["zookeeper" in order[0], "reconfig" in order[1], "mesos-master" in order[2]] == [
        True, True, True]


@needs_openssl
@pytest.mark.parametrize("member", [True, False])
def test_a_lost_reconfig_answer_is_checked_against_the_ensemble(rendered, tmp_path, member):
    me = "server.2=10.0.0.6:2888:3888:participant;0.0.0.0:2181"
    ensemble = f"{ENSEMBLE}\n{me}" if member else ENSEMBLE
    done, calls, dirs = run_node(tmp_path, rendered["ha-everything", "master"], 1,
                                 MY_IP="10.0.0.6", RECONFIG_SILENT="1", ENSEMBLE=ensemble)
    adds = [c for c in calls if "reconfig -add" in c]
    if member:
        assert done.returncode == 0, done.stdout + done.stderr
        assert len(adds) == 1
        assert (dirs["zk"] / "zoo.cfg.dynamic").read_text().splitlines() == [ENSEMBLE, me]
    else:
        assert done.returncode != 0
        assert len(adds) == 20 and "failed 20 times: add_member" in done.stdout
        assert "mesos-master" not in docker_runs(calls)


@needs_openssl
def test_a_master_run_again_keeps_its_membership(rendered, tmp_path):
    first, _, _ = run_node(tmp_path, rendered["ha-everything", "master"], 1, MY_IP="10.0.0.6")
    assert first.returncode == 0, first.stdout + first.stderr
    (tmp_path / "stubs" / "calls").unlink()
    again, calls, dirs = run_node(tmp_path, rendered["ha-everything", "master"], 1,
                                  MY_IP="10.0.0.6")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already a member" in again.stdout
    assert not any("reconfig" in c or "/master/redirect" in c for c in calls)
    assert list(docker_runs(calls)) == ["zookeeper", "mesos-master", "marathon"]


@needs_openssl
@pytest.mark.parametrize("index", [0, 1])
def test_workers_start_an_agent_pointed_at_every_master(rendered, tmp_path, index):
    done, calls, dirs = run_node(tmp_path, rendered["ha-everything", "worker"], index,
                                 MY_IP="10.0.0.20", MAGNUM_LITE_NODE_NAME=f"k-1-ng-0-{index}")
    assert done.returncode == 0, done.stdout + done.stderr
    runs = docker_runs(calls)
    assert list(runs) == ["mesos-agent"]
    assert "-v /var/run/docker.sock:/var/run/docker.sock" in runs["mesos-agent"]
    env = (dirs["mesos"] / "agent.env").read_text().splitlines()
    for line in ("MESOS_MASTER=zk://10.0.0.5:2181,10.0.0.6:2181,10.0.0.7:2181/mesos",
                 "MESOS_CREDENTIAL=/etc/mesos/agent-credential.json",
                 "MESOS_CONTAINERIZERS=docker,mesos",
                 f"MESOS_ATTRIBUTES=magnum_lite_node:k-1-ng-0-{index};pool:gpu;rack:r1",
                 "MESOS_HOSTNAME=10.0.0.20", "LIBPROCESS_SSL_ENABLED=true"):
        assert line in env
    assert (dirs["mesos"] / "ssl" / "agent.crt").exists()
    assert f"worker {index} started" in done.stdout


@pytest.mark.parametrize(("hostname", "attribute"), [
    ("k8s-abc123-default-worker-0", "k8s-abc123-default-worker-0"),
    ("odd;name:x", "odd-name-x"),  # never a separator of Mesos' attribute list
    ("", "10.0.0.5"),
])
def test_an_agent_names_its_server_in_an_attribute(rendered, tmp_path, hostname, attribute):
    """Agents register by IP: magnum-lite finds a node's agent by this attribute (coe.py)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl")
    done, _, dirs = run_node(tmp_path, rendered["minimal", "worker"], 0,
                             MAGNUM_LITE_NODE_NAME=hostname)
    assert done.returncode == 0, done.stdout + done.stderr
    env = (dirs["mesos"] / "agent.env").read_text().splitlines()
    assert f"MESOS_ATTRIBUTES={userdata.NODE_NAME_ATTRIBUTE}:{attribute}" in env


@pytest.mark.parametrize("role", ["master", "worker"])
def test_nothing_starts_on_an_unprepared_node(rendered, tmp_path, role):
    done, calls, _ = run_node(tmp_path, rendered["minimal", role], 0, prepared=False)
    assert done.returncode == 1
    assert "node preparation failed" in done.stdout
    assert docker_runs(calls) == {}


def test_master_refuses_an_unreplaced_placeholder(rendered, tmp_path):
    """Had Heat not substituted the index, no master may take it for "not 0" and join."""
    done, calls, _ = run_node(tmp_path, rendered["minimal", "master"], NODE_INDEX_PLACEHOLDER)
    assert done.returncode == 1
    assert "is not a number" in done.stdout
    assert calls == []


# ------------------------------------------------------------------ validation

def test_valid_variants_are_accepted():
    for overrides in (
        {"control_plane_host": "mesos.example.com"}, {"control_plane_host": "fd00::10"},
        {"master_count": 5}, {"mesos_version": "1.11.0"}, {"zookeeper_version": "3.5.10"},
        {"role": "worker", "attributes": {"a.b": "c-d", "_x": "1"}},
        {"no_proxy": " localhost , 10.0.0.0/8,.example.com,*"},
        {"join_token": "a" * 32},
    ):
        validate_config(make(**overrides))


BAD = [
    ("role", {"role": "slave"}),
    ("cluster_uuid", {"cluster_uuid": UUID.upper()}),
    ("cluster_name", {"cluster_name": "1starts-with-digit"}),
    ("cluster_name", {"cluster_name": "x__NODE_INDEX__"}),
    ("control_plane_host", {"control_plane_host": "10.0.0.1:5050"}),
    ("control_plane_host", {"control_plane_host": "bad_host"}),
    ("join_token", {"join_token": "abcdef.0123456789abcdef"}),
    ("join_token", {"join_token": "A" * 64}),
    ("join_token", {"join_token": "a" * 31}),
    ("master_count", {"master_count": 0}),
    ("master_count", {"master_count": 2}),
    ("master_count", {"master_count": "3"}),
    ("mesos_version", {"mesos_version": "1.7"}),
    ("mesos_version", {"mesos_version": "v1.7.1"}),
    ("mesos_version", {"mesos_version": "1.3.2"}),
    ("mesos_version", {"mesos_version": "2.0.0"}),
    ("mesos_version", {"mesos_version": "1.7.1; reboot"}),
    ("marathon_version", {"marathon_version": "1.6.322"}),
    ("marathon_version", {"marathon_version": "v1.5.12"}),  # no maintenance mode
    ("zookeeper_version", {"zookeeper_version": "3.4.14"}),
    ("zookeeper_hosts", {"role": "worker", "zookeeper_hosts": ()}),
    ("zookeeper_hosts", {"role": "worker", "zookeeper_hosts": ("10.0.0.5:2181",)}),
    ("zookeeper_hosts", {"zookeeper_hosts": "10.0.0.5"}),
    ("api_public_address", {"api_public_address": "1.2.3.4/32"}),
    ("docker_volume_size", {"docker_volume_size": -1}),
    ("http_proxy", {"http_proxy": "http://proxy:3128'; reboot; '"}),
    ("https_proxy", {"https_proxy": "https://proxy with space:3128"}),
    ("no_proxy", {"no_proxy": "a;reboot"}),
    ("attributes", {"attributes": ["a:b"]}),
    ("attributes", {"attributes": {"a:b": "c"}}),
    ("attributes", {"attributes": {"a": "b;c"}}),
    ("attributes", {"attributes": {"a": ""}}),
    ("attributes", {"attributes": {"magnum_lite_node": "someone-else"}}),
    ("credential_files", {"credential_files": {"/etc/passwd": "x"}}),
    ("credential_files", {"credential_files": {"/etc/mesos/../shadow": "x"}}),
]


@pytest.mark.parametrize(("field", "overrides"), BAD,
                         ids=[f"{f}-{i}" for i, (f, _) in enumerate(BAD)])
def test_bad_values_name_the_field(field, overrides):
    config = make(**overrides)
    with pytest.raises(ValueError, match=rf"^{field}: "):
        validate_config(config)
    with pytest.raises(ValueError, match=rf"^{field}: "):
        render_user_data(config)


def test_an_even_master_count_says_why():
    with pytest.raises(ValueError, match="^master_count: mesos needs an odd number of masters "
                                         "for its ZooKeeper quorum$"):
        validate_config(make(master_count=4))
