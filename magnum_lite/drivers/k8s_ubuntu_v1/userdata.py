"""Cloud-init user data that turns an Ubuntu 22.04/24.04 cloud image into a kubeadm node.

The Heat driver renders one text per node role and passes it to Heat as a hidden parameter;
Heat's per-node template replaces NODE_INDEX_PLACEHOLDER with the node's index in its group and
boots the server with the result as RAW user data. So every node of a role gets the same text
but for its index: master 0 runs `kubeadm init`, the other masters join the control plane, and
workers join as workers.

The text is a multipart MIME message cloud-init understands: a text/cloud-config part (files,
apt source and proxies) and text/x-shellscript parts run in name order (prepare the node, then
kubeadm). The scripts in boot/ are static: everything cluster-specific reaches them through
files the cloud-config writes, so no value is ever pasted into shell code. Parts are 7-bit text,
not base64, so that Heat's placeholder substitution sees the placeholder.
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
import ipaddress
import pathlib
import re
from typing import Any

import yaml

from magnum_lite.drivers.heat.cloud_init import (
    DNS_NAME_RE,
    MAX_USER_DATA_BYTES,
    NODE_INDEX_PLACEHOLDER,
    apt_proxies,
    check_cluster,
    check_credential_files,
    check_host,
    check_int,
    check_proxies,
    check_str,
    cloud_config,
    credential_files,
    dump,
    fail,
    is_host,
    no_proxy_with,
    node_env_file,
    node_user_data,
    proxy_files,
    proxy_sizes,
)

__all__ = ["MAX_USER_DATA_BYTES", "NODE_INDEX_PLACEHOLDER", "NodeBootConfig",
           "render_user_data", "validate_config"]

DEFAULT_KUBE_TAG = "v1.30.4"
# The oldest minor with a pkgs.k8s.io repository still published; kubeadm's v1beta4
# configuration API (list-valued kubeletExtraArgs) exists from 1.31.
MIN_KUBE_MINOR = 28
V1BETA4_KUBE_MINOR = 31
# Pinned add-on versions, fetched from their upstream release locations at boot.
FLANNEL_VERSION = "v0.26.1"
CALICO_VERSION = "v3.28.2"
HELM_VERSION = "v3.16.3"
KUBE_PROMETHEUS_STACK_VERSION = "66.3.0"
# How long joining nodes wait for the control plane before giving up, in seconds.
JOIN_TIMEOUT = 3600

ROLES = ("master", "worker")
NETWORK_DRIVERS = ("flannel", "calico")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
CRI_SOCKET = "unix:///run/containerd/containerd.sock"
CONFIG_DIR = "/etc/magnum-lite"
K8S_KEYRING = "/etc/apt/keyrings/kubernetes-apt-keyring.gpg"
MIME_BOUNDARY = "==magnum-lite-k8s-ubuntu-v1=="
BOOT_DIR = pathlib.Path(__file__).resolve().parent / "boot"

_KUBE_TAG_RE = re.compile(r"v1\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
_TOKEN_RE = re.compile(r"[a-z0-9]{6}\.[a-z0-9]{16}")  # kubeadm's bootstrap token format
_CERT_KEY_RE = re.compile(r"[0-9a-f]{64}")
_CA_HASH_RE = re.compile(r"sha256:[0-9a-f]{64}")
# Where credential files may be written.
CREDENTIAL_DIRS = ("/etc/kubernetes/", "/etc/magnum-lite/")
_LABEL_NAME_RE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
# kubelet refuses --node-labels in the kubernetes.io and k8s.io namespaces but these.
_KUBELET_LABEL_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")
_KUBELET_LABELS = frozenset({
    "kubernetes.io/hostname", "kubernetes.io/arch", "kubernetes.io/os",
    "beta.kubernetes.io/instance-type", "beta.kubernetes.io/arch", "beta.kubernetes.io/os",
    "failure-domain.beta.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/region",
    "topology.kubernetes.io/zone", "topology.kubernetes.io/region",
})


@dataclasses.dataclass(frozen=True)
class NodeBootConfig:
    """Everything one node role of one cluster needs to boot into Kubernetes."""

    role: str                      # "master" or "worker"
    cluster_uuid: str
    cluster_name: str
    kube_tag: str                  # Kubernetes version, e.g. "v1.30.4"
    network_driver: str            # "flannel" or "calico"
    pod_network_cidr: str          # e.g. "10.100.0.0/16"
    service_cluster_ip_range: str  # e.g. "10.254.0.0/16"
    control_plane_endpoint: str    # "host:port" of the API every node reaches
    api_public_address: str | None  # extra SAN for the API certificate (floating IP)
    join_token: str                # kubeadm bootstrap token "abcdef.0123456789abcdef"
    certificate_key: str           # 64 hex chars: kubeadm --certificate-key (masters)
    master_count: int
    prometheus_monitoring: bool = False
    docker_volume_size: int = 0    # GiB; >0: /dev/vdb is mounted at /var/lib/containerd
    http_proxy: str = ""
    https_proxy: str = ""
    no_proxy: str = ""
    node_labels: dict[str, str] = field(default_factory=dict)
    node_taints: list[str] = field(default_factory=list)  # "key=value:Effect"
    dns_cluster_domain: str = "cluster.local"
    # Files the node is given at boot (the cluster's CAs on masters, the cloud provider's
    # config), by absolute path; root-only except certificates.
    credential_files: dict[str, str] = field(default_factory=dict)
    # kubeadm's hash of the cluster CA's public key ("sha256:<hex>"): workers check the API
    # they join with it. Empty: no CA yet, the join skips the check.
    ca_cert_hash: str = ""


# --------------------------------------------------------------------------- validation

def _network(name: str, value: Any) -> ipaddress.IPv4Network:
    check_str(name, value)
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise fail(name, f"{value!r} is not a network address in CIDR form ({exc})") from None
    if not isinstance(net, ipaddress.IPv4Network) or "/" not in value:
        raise fail(name, f"{value!r} is not an IPv4 network in CIDR form (a.b.c.d/n)")
    return net


def _split_endpoint(value: str) -> tuple[str, int]:
    """("host", port) from "host:port" or "[v6]:port"; ValueError when malformed."""
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:([0-9]{1,5})|([^:\[\]]+):([0-9]{1,5})", value)
    if not match:
        raise ValueError("must be host:port")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if match.group(1):
        ipaddress.IPv6Address(host)
    elif not is_host(host):
        raise ValueError(f"{host!r} is neither an IP address nor a DNS name")
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is out of range")
    return host, port


def _check_qualified_name(name: str, key: str) -> None:
    """Kubernetes' label key rule: [DNS-subdomain prefix/]name, name ≤ 63 characters."""
    prefix, _, local = key.rpartition("/")
    if "/" in prefix:
        raise fail(name, f"key {key!r} has more than one '/'")
    if key.startswith("/") or (prefix and (len(prefix) > 253
                                           or not DNS_NAME_RE.fullmatch(prefix))):
        raise fail(name, f"key {key!r}: the prefix must be a lowercase DNS subdomain")
    if not _LABEL_NAME_RE.fullmatch(local):
        raise fail(name, f"key {key!r}: the name must be 1-63 alphanumerics, '-', '_' or '.',"
                         " starting and ending with an alphanumeric")


def _check_label_value(name: str, key: str, value: Any) -> None:
    if not isinstance(value, str) or (value and not _LABEL_NAME_RE.fullmatch(value)):
        raise fail(name, f"value {value!r} of {key!r} must be empty or 1-63 alphanumerics, "
                         "'-', '_' or '.', starting and ending with an alphanumeric")


def _parse_taint(taint: str) -> tuple[str, str, str]:
    """(key, value, effect) from "key=value:Effect" or "key:Effect"."""
    match = re.fullmatch(r"([^=:]+)(?:=([^=:]*))?:([A-Za-z]+)", taint)
    if not match:
        raise fail("node_taints", f"{taint!r} is not key=value:Effect or key:Effect")
    key, value, effect = match.group(1), match.group(2) or "", match.group(3)
    _check_qualified_name("node_taints", key)
    _check_label_value("node_taints", key, value)
    if effect not in TAINT_EFFECTS:
        raise fail("node_taints", f"{taint!r}: the effect must be one of {TAINT_EFFECTS}")
    return key, value, effect


def _in_namespace(namespace: str, domain: str) -> bool:
    return namespace == domain or namespace.endswith("." + domain)


def _kubelet_may_not_set(key: str) -> bool:
    """kubelet refuses to start with these in --node-labels (the NodeRestriction rule)."""
    namespace = key.rpartition("/")[0]
    return (any(_in_namespace(namespace, d) for d in ("kubernetes.io", "k8s.io"))
            and key not in _KUBELET_LABELS
            and not any(_in_namespace(namespace, d) for d in _KUBELET_LABEL_NAMESPACES))


def _kube_minor(kube_tag: str) -> int:
    match = _KUBE_TAG_RE.fullmatch(kube_tag)
    if not match:
        raise fail("kube_tag", f"{kube_tag!r} is not a Kubernetes version like v1.30.4")
    return int(match.group(1))


def validate_config(config: NodeBootConfig) -> None:
    """Refuse values that would break the boot or the files they are written into.

    Raises ValueError("<field>: <reason>") for the first bad field, so the API can tell the
    user which template or cluster attribute to fix before any server is created.
    """
    check_cluster(config.role, ROLES, config.cluster_uuid, config.cluster_name)
    minor = _kube_minor(check_str("kube_tag", config.kube_tag))
    if minor < MIN_KUBE_MINOR:
        raise fail("kube_tag", f"{config.kube_tag} is older than v1.{MIN_KUBE_MINOR}, the "
                               "oldest with packages on pkgs.k8s.io")
    if config.network_driver not in NETWORK_DRIVERS:
        raise fail("network_driver",
                   f"must be one of {NETWORK_DRIVERS}, got {config.network_driver!r}")
    pods = _network("pod_network_cidr", config.pod_network_cidr)
    if pods.prefixlen >= 24:
        raise fail("pod_network_cidr", "must be larger than a /24, the pod range of one node")
    services = _network("service_cluster_ip_range", config.service_cluster_ip_range)
    if not 12 <= services.prefixlen <= 28:
        raise fail("service_cluster_ip_range",
                   "the prefix length must be between /12 (kube-apiserver's limit) and /28")
    if services.overlaps(pods):
        raise fail("service_cluster_ip_range", f"overlaps pod_network_cidr {pods}")
    check_str("control_plane_endpoint", config.control_plane_endpoint)
    try:
        _split_endpoint(config.control_plane_endpoint)
    except ValueError as exc:
        raise fail("control_plane_endpoint", f"{config.control_plane_endpoint!r}: {exc}") \
            from None
    if config.api_public_address is not None:
        check_host("api_public_address", config.api_public_address)
    if not _TOKEN_RE.fullmatch(check_str("join_token", config.join_token)):
        raise fail("join_token", "must match [a-z0-9]{6}.[a-z0-9]{16}")
    cert_key = check_str("certificate_key", config.certificate_key)
    if not _CERT_KEY_RE.fullmatch(cert_key) and (config.role == "master" or cert_key):
        raise fail("certificate_key", "must be 64 lowercase hex characters")
    check_int("master_count", config.master_count, 1)
    if not isinstance(config.prometheus_monitoring, bool):
        raise fail("prometheus_monitoring", "must be a boolean")
    check_int("docker_volume_size", config.docker_volume_size, 0)
    check_proxies(config.http_proxy, config.https_proxy, config.no_proxy)
    if not isinstance(config.node_labels, dict):
        raise fail("node_labels", "must be a dict")
    for key, value in config.node_labels.items():
        _check_qualified_name("node_labels", check_str("node_labels", key))
        _check_label_value("node_labels", key, check_str("node_labels", value))
        if _kubelet_may_not_set(key):
            raise fail("node_labels", f"kubelet may not set {key!r}: in the kubernetes.io and "
                                      "k8s.io namespaces only node.kubernetes.io/ and "
                                      "kubelet.kubernetes.io/ labels are allowed")
    if not isinstance(config.node_taints, list | tuple):
        raise fail("node_taints", "must be a list")
    for taint in config.node_taints:
        _parse_taint(check_str("node_taints", taint))
    domain = check_str("dns_cluster_domain", config.dns_cluster_domain)
    if len(domain) > 253 or not DNS_NAME_RE.fullmatch(domain):
        raise fail("dns_cluster_domain", f"{domain!r} is not a lowercase DNS name")
    check_credential_files(config.credential_files, CREDENTIAL_DIRS)
    if config.ca_cert_hash and not _CA_HASH_RE.fullmatch(check_str("ca_cert_hash",
                                                                   config.ca_cert_hash)):
        raise fail("ca_cert_hash", "must be sha256: and 64 lowercase hex characters")


# --------------------------------------------------------------------------- rendering

def _no_proxy(config: NodeBootConfig) -> str:
    """The user's no_proxy plus what must never go through a proxy inside the cluster."""
    host, _ = _split_endpoint(config.control_plane_endpoint)
    return no_proxy_with(config.no_proxy, (
        "localhost", "127.0.0.1", host, config.pod_network_cidr,
        config.service_cluster_ip_range, ".svc", f".{config.dns_cluster_domain}"))


def _node_registration(config: NodeBootConfig, v1beta4: bool) -> dict[str, Any]:
    labels = {"magnum.openstack.org/role": config.role, **config.node_labels}
    node_labels = ",".join(f"{k}={v}" for k, v in labels.items())
    taints = [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}] \
        if config.role == "master" else []
    for key, value, effect in map(_parse_taint, config.node_taints):
        taints.append({"key": key, **({"value": value} if value else {}), "effect": effect})
    extra_args: Any = ([{"name": "node-labels", "value": node_labels}] if v1beta4
                       else {"node-labels": node_labels})
    # An explicit list replaces kubeadm's default control-plane taint, so it is included above.
    return {"criSocket": CRI_SOCKET, "kubeletExtraArgs": extra_args, "taints": taints}


def _kubeadm_configs(config: NodeBootConfig) -> dict[str, str]:
    """kubeadm configuration files by path: init and control-plane join, or worker join."""
    v1beta4 = _kube_minor(config.kube_tag) >= V1BETA4_KUBE_MINOR
    api_version = "kubeadm.k8s.io/v1beta4" if v1beta4 else "kubeadm.k8s.io/v1beta3"
    registration = _node_registration(config, v1beta4)
    join: dict[str, Any] = {
        "apiVersion": api_version,
        "kind": "JoinConfiguration",
        "discovery": {"bootstrapToken": {
            "apiServerEndpoint": config.control_plane_endpoint,
            "token": config.join_token,
            # The API a node joins must show a certificate of the cluster's CA; only a
            # cluster without a CA (TLS disabled) skips the check.
            **({"caCertHashes": [config.ca_cert_hash]} if config.ca_cert_hash
               else {"unsafeSkipCAVerification": True}),
        }},
        "nodeRegistration": registration,
    }
    if config.role == "worker":
        return {f"{CONFIG_DIR}/kubeadm-join.yaml": dump(join)}
    join["controlPlane"] = {"certificateKey": config.certificate_key}
    init = {
        "apiVersion": api_version,
        "kind": "InitConfiguration",
        "bootstrapTokens": [{
            "token": config.join_token,
            "description": f"magnum-lite: nodes of cluster {config.cluster_uuid} join with it",
            "ttl": "0s",  # never expires: workers added by a later resize join with it
            "usages": ["signing", "authentication"],
            "groups": ["system:bootstrappers:kubeadm:default-node-token"],
        }],
        "certificateKey": config.certificate_key,
        "nodeRegistration": registration,
    }
    host, _ = _split_endpoint(config.control_plane_endpoint)
    sans = [host] + ([config.api_public_address] if config.api_public_address else [])
    cluster = {
        "apiVersion": api_version,
        "kind": "ClusterConfiguration",
        "kubernetesVersion": config.kube_tag,
        "controlPlaneEndpoint": config.control_plane_endpoint,
        "networking": {"podSubnet": config.pod_network_cidr,
                       "serviceSubnet": config.service_cluster_ip_range,
                       "dnsDomain": config.dns_cluster_domain},
        "apiServer": {"certSANs": list(dict.fromkeys(sans))},
        "etcd": {"local": {"dataDir": "/var/lib/etcd"}},  # stacked etcd on every master
    }
    return {f"{CONFIG_DIR}/kubeadm-init.yaml": dump(init) + "---\n" + dump(cluster),
            f"{CONFIG_DIR}/kubeadm-join.yaml": dump(join)}


def _cloud_config(config: NodeBootConfig) -> str:
    base = (BOOT_DIR / "cloud-config.yaml").read_text()
    data = yaml.safe_load(base)
    minor = f"v1.{_kube_minor(config.kube_tag)}"
    data["apt"] = {"sources": {"kubernetes.list": {
        "source": f"deb [signed-by={K8S_KEYRING}] https://pkgs.k8s.io/core:/stable:/{minor}/deb/ /",
    }}, **apt_proxies(config.http_proxy, config.https_proxy)}
    node_env = {
        "ROLE": config.role,
        "NODE_INDEX": NODE_INDEX_PLACEHOLDER,
        "CLUSTER_UUID": config.cluster_uuid,
        "CLUSTER_NAME": config.cluster_name,
        "MASTER_COUNT": config.master_count,
        "KUBE_VERSION": config.kube_tag[1:],
        "KUBE_MINOR": minor,
        "CONTROL_PLANE_ENDPOINT": config.control_plane_endpoint,
        "NETWORK_DRIVER": config.network_driver,
        "POD_NETWORK_CIDR": config.pod_network_cidr,
        "DOCKER_VOLUME_SIZE": config.docker_volume_size,
        "PROMETHEUS_MONITORING": config.prometheus_monitoring,
        "FLANNEL_VERSION": FLANNEL_VERSION,
        "CALICO_VERSION": CALICO_VERSION,
        "HELM_VERSION": HELM_VERSION,
        "KUBE_PROMETHEUS_STACK_VERSION": KUBE_PROMETHEUS_STACK_VERSION,
        "JOIN_TIMEOUT": JOIN_TIMEOUT,
    }
    files = [node_env_file(CONFIG_DIR, node_env)]
    # containerd pulls every image.
    files += proxy_files(CONFIG_DIR, "containerd", config.http_proxy, config.https_proxy,
                         _no_proxy(config))
    for path, content in _kubeadm_configs(config).items():
        # The bootstrap token (and on masters the certificate key): root only.
        files.append({"path": path, "permissions": "0600", "content": content})
    # Private keys and the trustee's password: root only; certificates are public.
    files += credential_files(config.credential_files)
    return cloud_config(data, files, "k8s_ubuntu_v1", config.role, config.cluster_name,
                        config.cluster_uuid)


def _input_sizes(config: NodeBootConfig) -> dict[str, int]:
    """The variable inputs' sizes, the largest named when the user data is too large."""
    return {
        "node_labels": sum(len(k) + len(v) + 2 for k, v in config.node_labels.items()),
        "node_taints": sum(len(t) + 1 for t in config.node_taints),
        **proxy_sizes(config.http_proxy, config.https_proxy, config.no_proxy),
    }


def render_user_data(config: NodeBootConfig) -> str:
    """Multipart MIME user data for one node role, ready for Heat's index substitution.

    Deterministic (a fixed MIME boundary), so that re-rendering the same cluster does not
    change the Heat parameter and replace servers. Raises ValueError naming the field when
    a value is invalid or when the result, base64-encoded as Nova receives it, would be longer
    than MAX_USER_DATA_BYTES (the error names the largest variable input).
    """
    validate_config(config)
    script = "kubeadm-master.sh" if config.role == "master" else "kubeadm-worker.sh"
    return node_user_data(_cloud_config(config), BOOT_DIR, script, MIME_BOUNDARY,
                          _input_sizes(config))
