"""Cloud-init user data that turns a Fedora cloud image into a Docker swarm-mode node.

Heat renders one text per node role (the per-node template replaces NODE_INDEX_PLACEHOLDER
with each node's index): manager 0 runs `docker swarm init`, the other managers join as
managers, the workers join as workers.

How the join secrets travel (Docker makes them; nobody can choose them):

- workers: once the masters are up, a software deployment on manager 0 (the shared cluster
  stack's optional `join_tokens` step, see templates/join_tokens.yaml) reads the worker token
  and reports it as a deployment output; the cluster stack passes it on as its
  `worker_join_token` output, and the driver writes it into the worker stacks' hidden user
  data. It never reaches Magnum's API.
- other managers: they hold the cluster CA's key (as every manager does, to issue its Docker
  API certificate), so they sign themselves a client certificate and ask the managers' TLS
  Docker API (through the API load balancer) for the manager token and a manager's address.
  Workers hold no CA key and listen on the unix socket only, so they need no certificate.

Like k8s_ubuntu_v1, everything cluster-specific reaches the static scripts in boot/ through
files the cloud-config writes, never pasted into shell code. The validation and rendering
helpers are shared with the other Heat-based plugins (magnum_lite.drivers.heat.cloud_init).
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
import ipaddress
import json
import pathlib
import re
from typing import Any

import yaml

from magnum_lite.drivers.heat.cloud_init import (
    MAX_USER_DATA_BYTES,
    NODE_INDEX_PLACEHOLDER,
    check_cluster,
    check_credential_files,
    check_host,
    check_int,
    check_proxies,
    check_str,
    cloud_config,
    credential_files,
    fail,
    no_proxy_with,
    node_env_file,
    node_user_data,
    proxy_files,
    proxy_sizes,
    shell_env,
)

__all__ = ["MAX_USER_DATA_BYTES", "NODE_INDEX_PLACEHOLDER", "NodeBootConfig",
           "render_user_data", "validate_config"]

DEFAULT_DOCKER_VERSION = "27.3.1"
MIN_DOCKER_MAJOR = 24  # the oldest major with docker-ce packages for current Fedora releases
STORAGE_DRIVERS = ("overlay2", "btrfs", "fuse-overlayfs", "vfs")
DEFAULT_STORAGE_DRIVER = "overlay2"
ROLES = ("master", "worker")
#: Docker's TLS API port and swarm's cluster management port (inside the cluster network).
DOCKER_TLS_PORT = 2376
SWARM_PORT = 2377
JOIN_TIMEOUT = 3600
CONFIG_DIR = "/etc/magnum-lite"
TLS_DIR = "/etc/docker/tls"
MIME_BOUNDARY = "==magnum-lite-swarm-fedora-v2=="
BOOT_DIR = pathlib.Path(__file__).resolve().parent / "boot"
#: Where credential files may be written.
CREDENTIAL_DIRS = (TLS_DIR + "/", CONFIG_DIR + "/")

_DOCKER_VERSION_RE = re.compile(r"([0-9]+)\.([0-9]+)\.([0-9]+)")
#: Docker's join token: SWMTKN-1-<CA digest, 50 base36>-<secret, 25 base36>.
SWARM_TOKEN_RE = re.compile(r"SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}")
#: Docker engine labels (daemon.json "labels"): key=value without quotes or spaces.
_ENGINE_LABEL_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_./-]{0,126}[A-Za-z0-9])?")
_ENGINE_VALUE_RE = re.compile(r"[A-Za-z0-9_./:-]{0,253}")


@dataclasses.dataclass(frozen=True)
class NodeBootConfig:
    """Everything one node role of one swarm-mode cluster needs to boot."""

    role: str                       # "master" (a swarm manager) or "worker"
    cluster_uuid: str
    cluster_name: str
    docker_version: str             # docker-ce version, e.g. "27.3.1"
    control_plane_host: str         # managers' API: the load balancer, else manager 0
    master_count: int
    api_port: int = DOCKER_TLS_PORT
    docker_storage_driver: str = DEFAULT_STORAGE_DRIVER
    docker_volume_size: int = 0     # GiB; >0: /dev/vdb is mounted at /var/lib/docker
    api_public_address: str | None = None  # extra SAN of the managers' API certificate
    # Workers: the managers' private addresses (swarm port) and the worker join token.
    manager_addresses: tuple[str, ...] = ()
    join_token: str = ""
    http_proxy: str = ""
    https_proxy: str = ""
    no_proxy: str = ""
    node_labels: dict[str, str] = field(default_factory=dict)  # Docker engine labels
    # Files the node is given (the CA certificate; on managers its key too), by path.
    credential_files: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- validation

def docker_major(version: str) -> int:
    match = _DOCKER_VERSION_RE.fullmatch(version)
    if not match:
        raise fail("docker_version", f"{version!r} is not a Docker version like 27.3.1")
    return int(match.group(1))


def validate_config(config: NodeBootConfig) -> None:
    """Refuse values that would break the boot or the files they are written into; raises
    ValueError("<field>: <reason>") naming the first bad field."""
    check_cluster(config.role, ROLES, config.cluster_uuid, config.cluster_name)
    if docker_major(check_str("docker_version", config.docker_version)) < MIN_DOCKER_MAJOR:
        raise fail("docker_version", f"{config.docker_version} is older than "
                                     f"{MIN_DOCKER_MAJOR}.0.0, the oldest packaged for Fedora")
    if check_str("docker_storage_driver", config.docker_storage_driver) \
            not in STORAGE_DRIVERS:
        raise fail("docker_storage_driver", f"must be one of {', '.join(STORAGE_DRIVERS)}, "
                                            f"got {config.docker_storage_driver!r}")
    master_count = check_int("master_count", config.master_count, 1)
    if master_count % 2 == 0:
        raise fail("master_count", "swarm-mode needs an odd number of managers for its Raft "
                                   "quorum")
    check_int("docker_volume_size", config.docker_volume_size, 0)
    port = check_int("api_port", config.api_port, 1)
    if port > 65535 or port == SWARM_PORT:
        raise fail("api_port", f"{port} is not a free TCP port (1-65535, not {SWARM_PORT})")
    check_host("control_plane_host", config.control_plane_host)
    if config.api_public_address is not None:
        check_host("api_public_address", config.api_public_address)
    if config.role == "worker":
        if not config.manager_addresses:
            raise fail("manager_addresses", "a worker needs at least one manager to join")
        if not SWARM_TOKEN_RE.fullmatch(check_str("join_token", config.join_token)):
            raise fail("join_token", "must be a Docker swarm token (SWMTKN-1-...)")
    elif config.join_token:
        raise fail("join_token", "managers fetch theirs from the swarm; none is given")
    for address in config.manager_addresses:
        try:
            ipaddress.ip_address(check_str("manager_addresses", address))
        except ValueError:
            raise fail("manager_addresses", f"{address!r} is not an IP address") from None
    check_proxies(config.http_proxy, config.https_proxy, config.no_proxy)
    if not isinstance(config.node_labels, dict):
        raise fail("node_labels", "must be a dict")
    for key, value in config.node_labels.items():
        if not _ENGINE_LABEL_RE.fullmatch(check_str("node_labels", key)):
            raise fail("node_labels", f"key {key!r} must be 1-128 letters, digits, '_', '.',"
                                      " '/' or '-', starting and ending with one of the first")
        if not _ENGINE_VALUE_RE.fullmatch(check_str("node_labels", value)):
            raise fail("node_labels", f"value {value!r} of {key!r} may hold letters, digits, "
                                      "'_', '.', '/', ':' or '-' only")
    for path, content in config.credential_files.items():
        check_credential_files({path: content}, CREDENTIAL_DIRS)
        if config.role == "worker" and path.endswith(".key"):
            raise fail("credential_files", f"{path}: workers hold no private key")


# --------------------------------------------------------------------------- rendering

def _daemon_json(config: NodeBootConfig) -> str:
    """dockerd's configuration: storage, labels, and on managers the TLS API."""
    hosts = ["unix:///var/run/docker.sock"]
    daemon: dict[str, Any] = {"storage-driver": config.docker_storage_driver,
                              "log-driver": "journald", "live-restore": False}
    if config.role == "master":
        hosts.append(f"tcp://0.0.0.0:{config.api_port}")
        daemon.update({"tls": True, "tlsverify": True, "tlscacert": f"{TLS_DIR}/ca.crt",
                       "tlscert": f"{TLS_DIR}/server.crt", "tlskey": f"{TLS_DIR}/server.key"})
    labels = {"magnum.openstack.org/role": config.role,
              "magnum.openstack.org/cluster": config.cluster_uuid, **config.node_labels}
    daemon["labels"] = [f"{k}={v}" for k, v in labels.items()]
    daemon["hosts"] = hosts
    return json.dumps(daemon, indent=2, sort_keys=True) + "\n"


def _no_proxy(config: NodeBootConfig) -> str:
    """The user's no_proxy plus what must never go through a proxy inside the cluster."""
    return no_proxy_with(config.no_proxy, ("localhost", "127.0.0.1", config.control_plane_host,
                                           *config.manager_addresses))


def _cloud_config(config: NodeBootConfig) -> str:
    data = yaml.safe_load((BOOT_DIR / "cloud-config.yaml").read_text())
    node_env = {
        "ROLE": config.role,
        "NODE_INDEX": NODE_INDEX_PLACEHOLDER,
        "CLUSTER_UUID": config.cluster_uuid,
        "CLUSTER_NAME": config.cluster_name,
        "MASTER_COUNT": config.master_count,
        "DOCKER_VERSION": config.docker_version,
        "DOCKER_STORAGE_DRIVER": config.docker_storage_driver,
        "DOCKER_VOLUME_SIZE": config.docker_volume_size,
        "CONTROL_PLANE_HOST": config.control_plane_host,
        "API_PORT": config.api_port,
        "API_PUBLIC_ADDRESS": config.api_public_address or "",
        "SWARM_PORT": SWARM_PORT,
        "MANAGER_ADDRESSES": " ".join(config.manager_addresses),
        "JOIN_TIMEOUT": JOIN_TIMEOUT,
    }
    files = [node_env_file(CONFIG_DIR, node_env),
             {"path": "/etc/docker/daemon.json", "permissions": "0644",
              "content": _daemon_json(config)}]
    if config.join_token:
        # The swarm's worker secret: root only.
        files.append({"path": f"{CONFIG_DIR}/join.env", "permissions": "0600",
                      "content": shell_env({"WORKER_JOIN_TOKEN": config.join_token})})
    files += proxy_files(CONFIG_DIR, "docker", config.http_proxy, config.https_proxy,
                         _no_proxy(config))
    files += credential_files(config.credential_files)
    return cloud_config(data, files, "swarm_fedora_v2", config.role, config.cluster_name,
                        config.cluster_uuid)


def render_user_data(config: NodeBootConfig) -> str:
    """Multipart MIME user data for one node role (deterministic, so re-rendering changes no
    Heat parameter); ValueError naming the field when a value is bad or the result is over
    Nova's limit."""
    validate_config(config)
    script = "swarm-manager.sh" if config.role == "master" else "swarm-worker.sh"
    sizes = {"node_labels": sum(len(k) + len(v) + 2 for k, v in config.node_labels.items()),
             **proxy_sizes(config.http_proxy, config.https_proxy, config.no_proxy)}
    return node_user_data(_cloud_config(config), BOOT_DIR, script, MIME_BOUNDARY, sizes)
