"""Kubernetes on Ubuntu VMs with kubeadm: the `k8s_ubuntu_v1` driver plugin.

The shared Heat driver builds the stacks; this plugin says what the nodes boot with
(userdata.py), which of a cluster's labels and which Driver-version config it reads, which
Kubernetes version a cluster runs, and which version steps an upgrade may take.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from typing import Any

from magnum_lite.common import exception, x509
from magnum_lite.drivers import base
from magnum_lite.drivers.heat import driver as heat_driver
from magnum_lite.drivers.k8s_ubuntu_v1 import coe, userdata

# The Driver-version config keys and their defaults; labels of the same name override them.
DEFAULT_CONFIG: dict[str, Any] = {
    "kube_tag": userdata.DEFAULT_KUBE_TAG,
    "network_driver": "flannel",
    "pod_network_cidr": "10.100.0.0/16",
    "service_cluster_ip_range": "10.254.0.0/16",
    "dns_cluster_domain": "cluster.local",
    "prometheus_monitoring": False,
}

# Magnum's label names for the settings above.
LABELS = {
    "kube_tag": "kube_tag",
    "prometheus_monitoring": "prometheus_monitoring",
    "flannel_network_cidr": "pod_network_cidr",
    "calico_ipv4pool": "pod_network_cidr",
    "service_cluster_ip_range": "service_cluster_ip_range",
    "dns_cluster_domain": "dns_cluster_domain",
}

# Where kubeadm looks for each CA (it uses a CA it finds instead of making one).
PKI = "/etc/kubernetes/pki"
CA_FILES = {"ca": f"{PKI}/ca", "etcd": f"{PKI}/etcd/ca", "front_proxy": f"{PKI}/front-proxy-ca"}
# The OpenStack cloud provider's configuration: the cluster's trustee acting through its trust.
CLOUD_CONFIG = "/etc/kubernetes/cloud.conf"

# The major and minor of a Kubernetes version: "v1.30.4", "1.30.4", "v1.31.0-rc.1".
_KUBE_MINOR_RE = re.compile(r"v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?")

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def _major_minor(version: str) -> tuple[int, int] | None:
    match = _KUBE_MINOR_RE.fullmatch(version.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise exception.InvalidParameterValue(err=f"{name}: {value!r} is not a boolean")


class K8sUbuntuV1(heat_driver.HeatDriver):
    """Kubernetes (kubeadm) on Ubuntu VMs; etcd runs on the masters."""

    provides = [("vm", "ubuntu", "kubernetes"), ("bm", "ubuntu", "kubernetes")]
    boot_dir = userdata.BOOT_DIR
    default_config = DEFAULT_CONFIG
    api_port = 6443
    public_tcp_ports = (22,)
    workers_name_public_host = False  # only the masters' API certificate names it

    @classmethod
    def check_config(cls, settings: dict[str, Any]) -> None:
        cls._boot_config(settings, role="worker")

    @classmethod
    def check_upgrade(cls, from_version: str | None, to_version: str | None) -> None:
        """kubeadm's rule: an upgrade goes up at most one minor version (patch versions
        freely), never to an older minor; a version not known on the cluster's side cannot
        be judged and is let through."""
        if to_version is None:
            return
        target = _major_minor(to_version)
        if target is None:
            raise exception.InvalidParameterValue(
                err=f"cluster_template: its Kubernetes version {to_version!r} is not a "
                    f"version like v1.30.4.")
        current = _major_minor(from_version) if from_version else None
        if current is None:
            return
        if target < current:
            raise exception.InvalidParameterValue(
                err=f"cluster_template: its Kubernetes version {to_version} is older than "
                    f"the cluster's {from_version}: kubeadm upgrades to newer versions only.")
        if target[0] != current[0] or target[1] > current[1] + 1:
            raise exception.InvalidParameterValue(
                err=f"cluster_template: its Kubernetes version {to_version} is more than one "
                    f"minor version ahead of the cluster's {from_version}: kubeadm upgrades "
                    f"one minor version at a time (to v{current[0]}.{current[1] + 1} "
                    f"first).")

    # -- settings ------------------------------------------------------------------------------

    def _settings(self, cluster: Any, cluster_template: Any) -> dict[str, Any]:
        """Config of the Driver version, then the template's network driver, then labels."""
        settings = {**DEFAULT_CONFIG, **self.config}
        if cluster_template.network_driver:
            settings["network_driver"] = cluster_template.network_driver
        labels = {**(cluster_template.labels or {}), **(cluster.labels or {})}
        for label, key in LABELS.items():
            if label in labels:
                settings[key] = labels[label]
        settings["prometheus_monitoring"] = _as_bool("labels.prometheus_monitoring",
                                                     settings["prometheus_monitoring"])
        return settings

    @staticmethod
    def _boot_config(settings: dict[str, Any], role: str, **values: Any
                     ) -> userdata.NodeBootConfig:
        values = {"cluster_uuid": "00000000-0000-4000-8000-000000000000",
                  "cluster_name": "validate", "control_plane_endpoint": "192.0.2.1:6443",
                  "api_public_address": None, "join_token": "abcdef.0123456789abcdef",
                  "certificate_key": "0" * 64, "master_count": 1, **values}
        try:
            config = userdata.NodeBootConfig(
                role=role, kube_tag=str(settings["kube_tag"]),
                network_driver=str(settings["network_driver"]),
                pod_network_cidr=str(settings["pod_network_cidr"]),
                service_cluster_ip_range=str(settings["service_cluster_ip_range"]),
                dns_cluster_domain=str(settings["dns_cluster_domain"]),
                prometheus_monitoring=bool(settings["prometheus_monitoring"]), **values)
            userdata.validate_config(config)
        except (TypeError, ValueError) as err:
            raise exception.InvalidParameterValue(err=str(err)) from err
        return config

    # -- the COE API ---------------------------------------------------------------------------

    def coe_client(self, cluster: Any, credentials: base.CredentialsLoader) -> base.CoeNodes:
        """The cluster's Kubernetes nodes through its API server (coe.py)."""
        return coe.KubernetesNodes(cluster.api_address, credentials)

    # -- HeatDriver hooks ------------------------------------------------------------------------

    def make_join_token(self) -> str:
        alphabet = string.ascii_lowercase + string.digits
        pick = "".join(secrets.choice(alphabet) for _ in range(22))
        return f"{pick[:6]}.{pick[6:]}"

    def coe_version(self, cluster: Any, cluster_template: Any) -> str | None:
        return str(self._settings(cluster, cluster_template)["kube_tag"])

    def _certificate_key(self, cluster: Any) -> str:
        # kubeadm's --certificate-key (32 bytes, hex) for masters joining the control plane,
        # derived from the join token so it needs no storage of its own.
        token = self.join_token(cluster)
        return hashlib.sha256(f"{cluster.uuid}:{token}".encode()).hexdigest()

    def credential_files(self, cluster: Any, role: str,
                         credentials: base.ClusterCredentials) -> dict[str, str]:
        """Masters hold every CA with its key (kubeadm signs the control plane's certificates
        with them); workers the cluster CA's certificate only. Every node gets the cloud
        provider's configuration when the cluster has a trustee."""
        files: dict[str, str] = {}
        for kind, pair in credentials.cas.items():
            if kind in CA_FILES and (role == "master" or kind == "ca"):
                files[CA_FILES[kind] + ".crt"] = pair.certificate
                if role == "master":
                    files[CA_FILES[kind] + ".key"] = pair.private_key
        if credentials.trustee is not None and credentials.auth_url:
            files[CLOUD_CONFIG] = _cloud_config(credentials)
        return files

    def render_user_data(self, cluster: Any, cluster_template: Any, nodegroup: Any,
                         control_plane_host: str, public_address: str | None,
                         credentials: base.ClusterCredentials) -> str:
        settings = self._settings(cluster, cluster_template)
        role = "master" if nodegroup.role == "master" else "worker"
        volume = self._node_volume_size(cluster, cluster_template, nodegroup)
        files = self.credential_files(cluster, role, credentials)
        if role == "worker":
            # kubeadm join writes the CA it checked; one already there fails its preflight.
            files.pop(CA_FILES["ca"] + ".crt", None)
        ca = credentials.cas.get("ca")
        config = self._boot_config(
            settings, role, cluster_uuid=cluster.uuid, cluster_name=cluster.name,
            control_plane_endpoint=f"{control_plane_host}:{self.api_port}",
            api_public_address=public_address, join_token=self.join_token(cluster),
            certificate_key=self._certificate_key(cluster),
            master_count=cluster.master_count or 1, docker_volume_size=volume,
            http_proxy=cluster_template.http_proxy or "",
            https_proxy=cluster_template.https_proxy or "",
            no_proxy=cluster_template.no_proxy or "",
            node_labels=dict(nodegroup.node_labels or {}),
            node_taints=list(nodegroup.node_taints or []), credential_files=files,
            ca_cert_hash=x509.ca_public_key_hash(ca.certificate) if ca else "")
        try:
            return userdata.render_user_data(config)
        except ValueError as err:
            raise exception.InvalidParameterValue(err=str(err)) from err


def _cloud_config(credentials: base.ClusterCredentials) -> str:
    """cloud.conf of the OpenStack cloud provider: the trustee, its password and trust."""
    trustee = credentials.trustee
    lines = ["[Global]", f'auth-url="{credentials.auth_url}"',
             f'user-id="{trustee.user_id}"', f'password="{trustee.password}"']
    if trustee.trust_id:
        lines.append(f'trust-id="{trustee.trust_id}"')
    if credentials.region_name:
        lines.append(f'region="{credentials.region_name}"')
    return "\n".join(lines) + "\n"
