"""The k8s_ubuntu_v1 boot configuration is valid cloud-init user data that does what it says.

Each configuration is rendered, its NODE_INDEX placeholder replaced by 0 and 1 as Heat does,
and split with the email package. The cloud-config parts are checked by Debian's
`cloud-init schema`, the shell scripts by shellcheck (both installed by tools/install-tools.sh;
those tests are `service` tests, so a missing tool fails a CI run), and the kubeadm scripts
are run against stub commands to show which node inits, which joins, and how they retry.
"""

from __future__ import annotations

import dataclasses
import pathlib
import subprocess

import pytest
import yaml

from magnum_lite.drivers.k8s_ubuntu_v1 import userdata
from magnum_lite.drivers.k8s_ubuntu_v1.userdata import (
    NODE_INDEX_PLACEHOLDER,
    NodeBootConfig,
    render_user_data,
    validate_config,
)
from tests.unit.drivers import boot_helpers
from tests.unit.drivers.boot_helpers import boot, cloud_config, files, need, scripts

UUID = "5d12f6fd-a196-4bf0-ae4c-1f639a523a52"
TOKEN = "abcdef.0123456789abcdef"
CERT_KEY = "0123456789abcdef" * 4
SECRET_FILES = ("/etc/magnum-lite/kubeadm-init.yaml", "/etc/magnum-lite/kubeadm-join.yaml")


def make(**overrides) -> NodeBootConfig:
    values = dict(
        role="master", cluster_uuid=UUID, cluster_name="k8s-test",
        kube_tag=userdata.DEFAULT_KUBE_TAG, network_driver="flannel",
        pod_network_cidr="10.100.0.0/16", service_cluster_ip_range="10.254.0.0/16",
        control_plane_endpoint="10.0.0.10:6443", api_public_address=None,
        join_token=TOKEN, certificate_key=CERT_KEY, master_count=1)
    values.update(overrides)
    return NodeBootConfig(**values)


LONG_PROXY = "http://user:p%40ss@" + "proxy." * 60 + "example.com:3128/" + "p" * 1600
CONFIGS = {
    "minimal-flannel": {},
    "ha-calico-everything": dict(
        master_count=3, network_driver="calico", kube_tag="v1.31.2",
        control_plane_endpoint="k8s-api.example.com:6443", api_public_address="172.24.4.10",
        prometheus_monitoring=True, docker_volume_size=50,
        http_proxy="http://proxy.example.com:3128", https_proxy="http://proxy.example.com:3128",
        no_proxy="10.0.0.0/24,.example.com", dns_cluster_domain="k8s.example",
        node_labels={"node.kubernetes.io/pool": "gpu", "example.com/team": "storage",
                     "empty": ""},
        node_taints=["dedicated=gpu:NoSchedule", "example.com/maintenance:NoExecute"]),
    "worst-case": dict(
        master_count=5, network_driver="calico", prometheus_monitoring=True,
        docker_volume_size=100, api_public_address="a" * 63 + ".example.com",
        http_proxy=LONG_PROXY, https_proxy=LONG_PROXY.replace("http:", "https:"),
        no_proxy=",".join(f"host{i:04d}.internal.example.com" for i in range(60)),
        node_labels={f"{'l' * 40}.example.com/{'k' * 50}{i:03d}": "v" * 63 for i in range(30)},
        node_taints=[f"example.com/taint{i}=value{i}:NoSchedule" for i in range(10)]),
}
NODES = [(name, role, index) for name in CONFIGS for role in ("master", "worker")
         for index in (0, 1)]
NODE_IDS = [f"{name}-{role}{index}" for name, role, index in NODES]


def config_of(name: str, role: str) -> NodeBootConfig:
    config = make(role=role, **CONFIGS[name])
    if role == "worker":  # the driver gives workers no certificate key
        config = dataclasses.replace(config, certificate_key="")
    return config


@pytest.fixture(scope="module")
def rendered() -> dict[tuple[str, str], str]:
    return {(name, role): render_user_data(config_of(name, role))
            for name in CONFIGS for role in ("master", "worker")}


# ------------------------------------------------------------------ cloud-init and shellcheck

@pytest.mark.service
@pytest.mark.parametrize(("name", "role", "index"), NODES, ids=NODE_IDS)
def test_cloud_config_passes_cloud_init_schema(rendered, tmp_path, name, role, index):
    boot_helpers.check_cloud_init_schema(boot(rendered[name, role], index), tmp_path)


@pytest.mark.service
def test_cloud_init_schema_catches_errors_here(tmp_path):
    """The schema check is not a rubber stamp: a mistyped permission fails it."""
    cloud_init = need("cloud-init")
    path = tmp_path / "bad.yaml"
    path.write_text("#cloud-config\nwrite_files:\n  - path: /etc/x\n    permissions: 600\n")
    done = subprocess.run([cloud_init, "schema", "--config-file", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "write_files.0.permissions" in done.stdout + done.stderr


@pytest.mark.service
@pytest.mark.parametrize("role", ["master", "worker"])
def test_cloud_init_reads_the_parts(rendered, tmp_path, role):
    """cloud-init's own user-data processor finds the parts, types and script names."""
    cloud_init = need("cloud-init")
    with open(cloud_init) as f:
        interpreter = f.readline().removeprefix("#!").split()
    data = tmp_path / "user-data"
    data.write_text(boot(rendered["minimal-flannel", role], 0))
    program = (
        "import sys\n"
        "from cloudinit import helpers, user_data\n"
        "msg = user_data.UserDataProcessor(helpers.Paths({})).process(open(sys.argv[1]).read())\n"
        "for p in msg.walk():\n"
        "    if not p.is_multipart():\n"
        "        print(p.get_content_type(), p.get_filename())\n")
    done = subprocess.run([*interpreter, "-c", program, str(data)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "text/cloud-config cloud-config.yaml",
        "text/x-shellscript 10-prepare-node.sh",
        f"text/x-shellscript 20-kubeadm-{role}.sh",
    ]


@pytest.mark.service
@pytest.mark.parametrize(("name", "role", "index"), NODES, ids=NODE_IDS)
def test_scripts_pass_shellcheck(rendered, tmp_path, name, role, index):
    boot_helpers.check_scripts_with_shellcheck(boot(rendered[name, role], index), tmp_path,
                                               ["10-prepare-node.sh", f"20-kubeadm-{role}.sh"])


@pytest.mark.service
def test_the_credentials_script_passes_shellcheck():
    """The rotation script reaches nodes as a Heat software config, not in the user data."""
    boot_helpers.shellcheck(userdata.BOOT_DIR / "apply-credentials.sh")


def test_boot_files_are_ascii_and_packaged():
    """7-bit MIME parts need ASCII; setup.cfg ships boot/*.yaml and boot/*.sh."""
    boot_helpers.check_boot_files(userdata.BOOT_DIR, [
        ".shellcheckrc", "apply-credentials.sh", "cloud-config.yaml", "kubeadm-master.sh",
        "kubeadm-worker.sh", "prepare-node.sh"])
    setup_cfg = (pathlib.Path(__file__).resolve().parents[4] / "setup.cfg").read_text()
    assert "magnum_lite.drivers.k8s_ubuntu_v1 = boot/*.yaml, boot/*.sh" in setup_cfg


# ------------------------------------------------------------------ structure

@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("role", ["master", "worker"])
def test_mime_layout_and_size(rendered, name, role):
    boot_helpers.check_layout_and_size(rendered[name, role],
                                       render_user_data(config_of(name, role)))


def test_too_large_names_the_field():
    many = {f"{'l' * 40}.example.com/{'k' * 50}{i:03d}": "v" * 63 for i in range(120)}
    with pytest.raises(ValueError, match=r"^node_labels: .*over Nova's limit of 65535"):
        render_user_data(make(node_labels=many))
    taints = [f"example.com/{'t' * 60}{i:03d}={'v' * 63}:NoSchedule" for i in range(400)]
    with pytest.raises(ValueError, match=r"^node_taints: "):
        render_user_data(make(node_taints=taints))


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("role", ["master", "worker"])
def test_cloud_config_structure(rendered, name, role):
    config = config_of(name, role)
    cc = cloud_config(boot(rendered[name, role], 0))
    assert ["swapoff", "-a"] in cc["bootcmd"]
    assert ["modprobe", "br_netfilter"] in cc["bootcmd"]
    written = files(boot(rendered[name, role], 0))
    assert "br_netfilter" in written["/etc/modules-load.d/magnum-lite-k8s.conf"]["content"]
    assert "net.ipv4.ip_forward = 1" in written["/etc/sysctl.d/90-magnum-lite-k8s.conf"][
        "content"]
    assert "SystemdCgroup = true" in written["/etc/containerd/config.toml"]["content"]
    for entry in written.values():
        assert entry["permissions"] in ("0644", "0600")
    minor = ".".join(config.kube_tag.split(".")[:2])
    assert cc["apt"]["sources"]["kubernetes.list"]["source"] == (
        f"deb [signed-by={userdata.K8S_KEYRING}] "
        f"https://pkgs.k8s.io/core:/stable:/{minor}/deb/ /")
    env = written["/etc/magnum-lite/node.env"]["content"]
    assert f"KUBE_VERSION='{config.kube_tag[1:]}'" in env
    assert f"KUBE_MINOR='{minor}'" in env
    assert f"POD_NETWORK_CIDR='{config.pod_network_cidr}'" in env
    assert f"DOCKER_VOLUME_SIZE='{config.docker_volume_size}'" in env
    assert f"PROMETHEUS_MONITORING='{str(config.prometheus_monitoring).lower()}'" in env
    if config.http_proxy:
        assert cc["apt"]["http_proxy"] == config.http_proxy
        assert cc["apt"]["https_proxy"] == config.https_proxy
        dropin = written["/etc/systemd/system/containerd.service.d/http-proxy.conf"]
        assert dropin["permissions"] == "0600"
        assert f'"HTTP_PROXY={config.http_proxy.replace("%", "%%")}"' in dropin["content"]
        no_proxy = dropin["content"].split('"NO_PROXY=')[1].split('"')[0].split(",")
        for entry in (config.pod_network_cidr, config.service_cluster_ip_range, "localhost",
                      config.control_plane_endpoint.rsplit(":", 1)[0], ".svc"):
            assert entry in no_proxy
        proxy_env = written["/etc/magnum-lite/proxy.env"]
        assert proxy_env["permissions"] == "0600"
        assert f"export https_proxy='{config.https_proxy}'" in proxy_env["content"]
    else:
        assert "http_proxy" not in cc["apt"]
        assert "/etc/magnum-lite/proxy.env" not in written


def kubeadm_docs(user_data: str, path: str) -> dict[str, dict]:
    entry = files(user_data)[path]
    assert entry["permissions"] == "0600"
    return {doc["kind"]: doc for doc in yaml.safe_load_all(entry["content"])}


@pytest.mark.parametrize("name", CONFIGS)
def test_master_kubeadm_configuration(rendered, name):
    config = config_of(name, "master")
    data = boot(rendered[name, "master"], 0)
    api = "kubeadm.k8s.io/v1beta4" if config.kube_tag >= "v1.31" else "kubeadm.k8s.io/v1beta3"
    init = kubeadm_docs(data, "/etc/magnum-lite/kubeadm-init.yaml")
    assert set(init) == {"InitConfiguration", "ClusterConfiguration"}
    assert {doc["apiVersion"] for doc in init.values()} == {api}
    [token] = init["InitConfiguration"]["bootstrapTokens"]
    assert token["token"] == TOKEN and token["ttl"] == "0s"
    assert init["InitConfiguration"]["certificateKey"] == CERT_KEY
    cluster = init["ClusterConfiguration"]
    assert cluster["kubernetesVersion"] == config.kube_tag
    assert cluster["controlPlaneEndpoint"] == config.control_plane_endpoint
    assert cluster["networking"] == {"podSubnet": config.pod_network_cidr,
                                     "serviceSubnet": config.service_cluster_ip_range,
                                     "dnsDomain": config.dns_cluster_domain}
    assert "local" in cluster["etcd"]  # stacked etcd
    sans = cluster["apiServer"]["certSANs"]
    if config.api_public_address:
        assert config.api_public_address in sans
    join = kubeadm_docs(data, "/etc/magnum-lite/kubeadm-join.yaml")["JoinConfiguration"]
    assert join["apiVersion"] == api
    assert join["discovery"]["bootstrapToken"] == {
        "apiServerEndpoint": config.control_plane_endpoint, "token": TOKEN,
        "unsafeSkipCAVerification": True}
    assert join["controlPlane"] == {"certificateKey": CERT_KEY}
    for registration in (init["InitConfiguration"]["nodeRegistration"],
                         join["nodeRegistration"]):
        check_registration(config, registration, api)
        assert registration["taints"][0] == {
            "key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}


@pytest.mark.parametrize("name", CONFIGS)
def test_worker_kubeadm_configuration(rendered, name):
    config = config_of(name, "worker")
    data = boot(rendered[name, "worker"], 1)
    assert "/etc/magnum-lite/kubeadm-init.yaml" not in files(data)
    join = kubeadm_docs(data, "/etc/magnum-lite/kubeadm-join.yaml")["JoinConfiguration"]
    assert join["discovery"]["bootstrapToken"]["token"] == TOKEN
    assert join["discovery"]["bootstrapToken"]["unsafeSkipCAVerification"] is True
    assert "controlPlane" not in join
    check_registration(config, join["nodeRegistration"], join["apiVersion"])
    assert all(t["key"] != "node-role.kubernetes.io/control-plane"
               for t in join["nodeRegistration"]["taints"])


def check_registration(config: NodeBootConfig, registration: dict, api: str) -> None:
    assert registration["criSocket"] == "unix:///run/containerd/containerd.sock"
    args = registration["kubeletExtraArgs"]
    if api.endswith("v1beta4"):
        [arg] = args
        assert arg["name"] == "node-labels"
        labels = arg["value"]
    else:
        labels = args["node-labels"]
    pairs = dict(item.split("=", 1) for item in labels.split(","))
    assert pairs == {"magnum.openstack.org/role": config.role, **config.node_labels}
    taints = [t for t in registration["taints"]
              if t["key"] != "node-role.kubernetes.io/control-plane"]
    expected = []
    for taint in config.node_taints:
        key_value, effect = taint.rsplit(":", 1)
        key, _, value = key_value.partition("=")
        expected.append({"key": key, **({"value": value} if value else {}), "effect": effect})
    assert taints == expected


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("role", ["master", "worker"])
def test_secrets_only_where_needed(rendered, name, role):
    data = rendered[name, role]
    written = files(data)
    holders = {path for path, f in written.items() if TOKEN in f["content"]}
    assert holders == ({*SECRET_FILES} if role == "master" else {SECRET_FILES[1]})
    assert data.count(TOKEN) == (2 if role == "master" else 1)
    assert data.count(CERT_KEY) == (2 if role == "master" else 0)
    for path in holders:
        assert written[path]["permissions"] == "0600"
    for text in scripts(data).values():
        assert TOKEN not in text and CERT_KEY not in text
        lines = [line.split("#")[0] for line in text.splitlines()]
        assert not any("set -x" in line or "xtrace" in line or "bash -x" in line
                       for line in lines)
        assert "set -euo pipefail" in text


# ------------------------------------------------------------------ the scripts' behaviour

STUB = r"""#!/bin/bash
name=${0##*/}
echo "$name $*" >>"$STUBS/calls"
count() { local n; n=$(cat "$STUBS/$1" 2>/dev/null || echo 0); echo $((n + 1)) >"$STUBS/$1"
          echo "$n"; }
case "$name" in
    dpkg) echo amd64 ;;
    curl)
        out=; prev=
        for arg in "$@"; do [ "$prev" = -o ] && out=$arg; prev=$arg; done
        case "${!#}" in
            */readyz) [ "$(count readyz)" -ge "${API_DOWN_TIMES:-0}" ] || exit 7 ;;
            */kube-flannel.yml) printf '%s\n' '  net-conf.json: |' '    {' \
                '      "Network": "10.244.0.0/16",' '    }' >"$out" ;;
            */calico.yaml) printf '%s\n' '            # - name: CALICO_IPV4POOL_CIDR' \
                '            #   value: "192.168.0.0/16"' >"$out" ;;
        esac ;;
    kubeadm)
        if [ "$1" = join ]; then [ "$(count join)" -ge "${JOIN_FAILURES:-0}" ] || exit 1; fi ;;
esac
exit 0
"""
STUBBED = ("curl", "kubeadm", "kubectl", "helm", "sleep", "dpkg", "sha256sum", "tar",
           "install", "apt-get", "systemctl")


def run_node(tmp_path: pathlib.Path, user_data: str, index: int | str, prepared: bool = True,
             **env: str) -> tuple[subprocess.CompletedProcess, list[str], pathlib.Path]:
    """Run the node's kubeadm script with its rendered files and stub commands."""
    done, calls, dirs = boot_helpers.run_node_script(tmp_path, user_data, index, stub=STUB,
                                                     commands=STUBBED, prepared=prepared, **env)
    return done, calls, dirs["etc"]


def kubeadm_calls(calls: list[str]) -> list[str]:
    return [c for c in calls if c.startswith("kubeadm ")]


@pytest.mark.parametrize("name", ["minimal-flannel", "ha-calico-everything"])
def test_master_0_creates_the_cluster(rendered, tmp_path, name):
    config = config_of(name, "master")
    done, calls, etc = run_node(tmp_path, rendered[name, "master"], 0)
    assert done.returncode == 0, done.stdout + done.stderr
    assert kubeadm_calls(calls) == [
        f"kubeadm init --config {etc}/kubeadm-init.yaml --upload-certs --skip-token-print "
        "--skip-certificate-key-print"]
    assert f"kubectl apply -f {tmp_path}/state/cni.yaml" in calls
    cni = (tmp_path / "state" / "cni.yaml").read_text()
    version = userdata.FLANNEL_VERSION if name == "minimal-flannel" else userdata.CALICO_VERSION
    assert any(c.startswith("curl ") and f"/{version}/" in c for c in calls)
    if config.network_driver == "flannel":
        assert f'"Network": "{config.pod_network_cidr}"' in cni
    else:
        assert "            - name: CALICO_IPV4POOL_CIDR\n" in cni
        assert f'              value: "{config.pod_network_cidr}"\n' in cni
    helm = [c for c in calls if c.startswith("helm ")]
    if config.prometheus_monitoring:
        assert helm == [
            "helm upgrade --install kube-prometheus-stack kube-prometheus-stack --repo "
            "https://prometheus-community.github.io/helm-charts --version "
            f"{userdata.KUBE_PROMETHEUS_STACK_VERSION} --namespace monitoring "
            "--create-namespace"]
    else:
        assert helm == []
    assert not (etc / "kubeadm-join.yaml").exists()  # the certificate key's other copy
    assert TOKEN not in done.stdout + done.stderr


def test_master_1_joins_the_control_plane_when_the_api_answers(rendered, tmp_path):
    done, calls, etc = run_node(tmp_path, rendered["ha-calico-everything", "master"], 1,
                                API_DOWN_TIMES="2", JOIN_FAILURES="1")
    assert done.returncode == 0, done.stdout + done.stderr
    join = f"kubeadm join --config {etc}/kubeadm-join.yaml"
    # API down twice (reset, wait), then a failed join (reset, wait), then success.
    assert kubeadm_calls(calls) == ["kubeadm reset --force", "kubeadm reset --force", join,
                                    "kubeadm reset --force", join]
    readyz = [c for c in calls if c.startswith("curl ") and c.endswith("/readyz")]
    assert len(readyz) == 4
    assert "https://k8s-api.example.com:6443/readyz" in readyz[0]
    assert not any(c.startswith(("kubectl ", "helm ")) for c in calls)
    assert not (etc / "kubeadm-init.yaml").exists()


@pytest.mark.parametrize("index", [0, 1])
def test_workers_join(rendered, tmp_path, index):
    done, calls, etc = run_node(tmp_path, rendered["minimal-flannel", "worker"], index,
                                API_DOWN_TIMES="1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert kubeadm_calls(calls) == ["kubeadm reset --force",
                                    f"kubeadm join --config {etc}/kubeadm-join.yaml"]
    assert f"worker {index} joined" in done.stdout


@pytest.mark.parametrize("role", ["master", "worker"])
def test_nothing_starts_on_an_unprepared_node(rendered, tmp_path, role):
    done, calls, _ = run_node(tmp_path, rendered["minimal-flannel", role], 0, prepared=False)
    assert done.returncode == 1
    assert "node preparation failed" in done.stdout
    assert kubeadm_calls(calls) == []


def test_master_refuses_an_unreplaced_placeholder(rendered, tmp_path):
    """Had Heat not substituted the index, no master may take it for "not 0" and join."""
    done, calls, _ = run_node(tmp_path, rendered["minimal-flannel", "master"],
                              NODE_INDEX_PLACEHOLDER)
    assert done.returncode == 1
    assert "is not a number" in done.stdout
    assert kubeadm_calls(calls) == []


# ------------------------------------------------------------------ validation

def test_valid_variants_are_accepted():
    for overrides in (
        {"control_plane_endpoint": "[fd00::10]:6443"},
        {"control_plane_endpoint": "api.k8s.example:443", "api_public_address": "fd00::1"},
        {"node_labels": {"kubernetes.io/os": "linux", "a.node.kubernetes.io/x": "y",
                         "kubelet.kubernetes.io/z": "", "A_b.c-D": "1"}},
        {"node_taints": ["only-key:PreferNoSchedule", "k=:NoExecute"]},
        {"role": "worker", "certificate_key": ""},
        {"no_proxy": " localhost , 10.0.0.0/8,.example.com,*"},
        {"kube_tag": "v1.28.0"}, {"kube_tag": "v1.34.1"},
    ):
        validate_config(make(**overrides))


BAD = [
    ("role", {"role": "minion"}),
    ("cluster_uuid", {"cluster_uuid": "not-a-uuid"}),
    ("cluster_uuid", {"cluster_uuid": UUID.upper()}),
    ("cluster_name", {"cluster_name": "1starts-with-digit"}),
    ("cluster_name", {"cluster_name": "has space"}),
    ("cluster_name", {"cluster_name": "caf\u00e9"}),
    ("cluster_name", {"cluster_name": "a" * 243}),
    ("cluster_name", {"cluster_name": "x__NODE_INDEX__"}),
    ("kube_tag", {"kube_tag": "1.30.4"}),
    ("kube_tag", {"kube_tag": "v1.30"}),
    ("kube_tag", {"kube_tag": "v1.30.4-rc.0"}),
    ("kube_tag", {"kube_tag": "v2.0.0"}),
    ("kube_tag", {"kube_tag": "v1.27.9"}),
    ("kube_tag", {"kube_tag": "v1.30.4\n"}),
    ("network_driver", {"network_driver": "weave"}),
    ("pod_network_cidr", {"pod_network_cidr": "10.100.0.0"}),
    ("pod_network_cidr", {"pod_network_cidr": "10.100.0.1/16"}),
    ("pod_network_cidr", {"pod_network_cidr": "10.100.0.0/24"}),
    ("pod_network_cidr", {"pod_network_cidr": "fd00::/48"}),
    ("pod_network_cidr", {"pod_network_cidr": "banana"}),
    ("pod_network_cidr", {"pod_network_cidr": 5}),
    ("service_cluster_ip_range", {"service_cluster_ip_range": "10.0.0.0/8"}),
    ("service_cluster_ip_range", {"service_cluster_ip_range": "10.254.0.0/30"}),
    ("service_cluster_ip_range", {"service_cluster_ip_range": "10.100.128.0/20"}),
    ("control_plane_endpoint", {"control_plane_endpoint": None}),
    ("control_plane_endpoint", {"control_plane_endpoint": "10.0.0.10"}),
    ("control_plane_endpoint", {"control_plane_endpoint": "10.0.0.10:0"}),
    ("control_plane_endpoint", {"control_plane_endpoint": "10.0.0.10:70000"}),
    ("control_plane_endpoint", {"control_plane_endpoint": "https://10.0.0.10:6443"}),
    ("control_plane_endpoint", {"control_plane_endpoint": "fd00::1:6443"}),
    ("control_plane_endpoint", {"control_plane_endpoint": "bad_host:6443"}),
    ("control_plane_endpoint", {"control_plane_endpoint": "10.0.0.10:6443\nx"}),
    ("api_public_address", {"api_public_address": "not an address"}),
    ("api_public_address", {"api_public_address": "1.2.3.4/32"}),
    ("join_token", {"join_token": "abcdef0123456789abcdef"}),
    ("join_token", {"join_token": "ABCDEF.0123456789abcdef"}),
    ("join_token", {"join_token": "abcdef.0123456789abcde"}),
    ("certificate_key", {"certificate_key": "0123"}),
    ("certificate_key", {"certificate_key": "g" * 64}),
    ("certificate_key", {"certificate_key": ""}),
    ("certificate_key", {"role": "worker", "certificate_key": "short"}),
    ("master_count", {"master_count": 0}),
    ("master_count", {"master_count": "3"}),
    ("master_count", {"master_count": True}),
    ("prometheus_monitoring", {"prometheus_monitoring": "yes"}),
    ("docker_volume_size", {"docker_volume_size": -1}),
    ("docker_volume_size", {"docker_volume_size": 1.5}),
    ("http_proxy", {"http_proxy": "proxy:3128"}),
    ("http_proxy", {"http_proxy": "http://proxy:3128\nX-Injected: 1"}),
    ("http_proxy", {"http_proxy": "http://proxy:3128'; reboot; '"}),
    ("http_proxy", {"http_proxy": "http://$(reboot):3128"}),
    ("https_proxy", {"https_proxy": "https://proxy with space:3128"}),
    ("https_proxy", {"https_proxy": "http://" + "p" * 2048}),
    ("no_proxy", {"no_proxy": "localhost\n127.0.0.1"}),
    ("no_proxy", {"no_proxy": "a;reboot"}),
    ("no_proxy", {"no_proxy": "x" * 2049}),
    ("node_labels", {"node_labels": ["a=b"]}),
    ("node_labels", {"node_labels": {"": "v"}}),
    ("node_labels", {"node_labels": {"-starts-with-dash": "v"}}),
    ("node_labels", {"node_labels": {"k" * 64: "v"}}),
    ("node_labels", {"node_labels": {"Example.COM/k": "v"}}),
    ("node_labels", {"node_labels": {"a/b/c": "v"}}),
    ("node_labels", {"node_labels": {"/k": "v"}}),
    ("node_labels", {"node_labels": {"k": "v" * 64}}),
    ("node_labels", {"node_labels": {"k": "has space"}}),
    ("node_labels", {"node_labels": {"k": "a,b=c"}}),
    ("node_labels", {"node_labels": {"k": 1}}),
    ("node_labels", {"node_labels": {"a__NODE_INDEX__b": "v"}}),
    ("node_labels", {"node_labels": {"node-role.kubernetes.io/worker": ""}}),
    ("node_labels", {"node_labels": {"k8s.io/x": "y"}}),
    ("node_labels", {"node_labels": {"foo.kubernetes.io/x": "y"}}),
    ("node_taints", {"node_taints": "a=b:NoSchedule"}),
    ("node_taints", {"node_taints": ["a=b"]}),
    ("node_taints", {"node_taints": ["a=b:NoWay"]}),
    ("node_taints", {"node_taints": ["a=b=c:NoSchedule"]}),
    ("node_taints", {"node_taints": ["bad key=v:NoSchedule"]}),
    ("node_taints", {"node_taints": ["k=bad value:NoSchedule"]}),
    ("node_taints", {"node_taints": [":NoSchedule"]}),
    ("dns_cluster_domain", {"dns_cluster_domain": "Cluster.Local"}),
    ("dns_cluster_domain", {"dns_cluster_domain": "cluster..local"}),
    ("dns_cluster_domain", {"dns_cluster_domain": "cluster.local."}),
]


@pytest.mark.parametrize(("field", "overrides"), BAD,
                         ids=[f"{f}-{i}" for i, (f, _) in enumerate(BAD)])
def test_bad_values_name_the_field(field, overrides):
    config = make(**overrides)
    with pytest.raises(ValueError, match=rf"^{field}: "):
        validate_config(config)
    with pytest.raises(ValueError, match=rf"^{field}: "):
        render_user_data(config)
