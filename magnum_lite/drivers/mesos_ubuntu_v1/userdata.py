"""Cloud-init user data that turns an Ubuntu 22.04/24.04 cloud image into a Mesos node.

Masters run ZooKeeper, mesos-master and Marathon; workers run mesos-agent. Every daemon runs
as a pinned container image on the Ubuntu `docker.io` engine with host networking (Ubuntu ships
no Mesos packages and Mesosphere's apt repository is gone), so the boot scripts only write
configuration and start containers.

Like k8s_ubuntu_v1 the text is a multipart MIME message (a cloud-config part writing every
cluster-specific file, then static shell scripts run in name order), rendered once per role;
Heat replaces NODE_INDEX_PLACEHOLDER with each node's index and CONTROL_PLANE_HOST with the
API load balancer's VIP (or master 0's address).

The ZooKeeper ensemble. Masters are members of one ResourceGroup, so none knows the others'
private addresses when its user data is rendered, and the API load balancer forwards only the
Mesos port (5050). The ensemble therefore grows by ZooKeeper's dynamic reconfiguration
(3.5+): master 0 starts a one-member ensemble (`standaloneEnabled=false`); every other master
asks `https://<control_plane_host>:5050/master/redirect` (through the load balancer, which
reaches only masters whose Mesos is up, i.e. members) for the leading master's address, reads
the current ensemble from that master's ZooKeeper (`config`), starts its own ZooKeeper with
that ensemble plus itself, and adds itself with `reconfig -add`. Masters talk to their local
ZooKeeper; workers are rendered once every master's port exists and get every master's
address, so agents use `zk://m1:2181,m2:2181,.../mesos`.
Limitations, stated plainly: masters join one after another and each waits for a leader to be
elected (the Mesos replicated log needs a quorum of `master_count // 2 + 1` masters, so the
first leader appears once that many have joined); a master that cannot reach the API load
balancer never joins. Reconfiguration needs ACL checks off (`zookeeper.skipACL`): ZooKeeper's
port is reachable from the cluster network only (the security group opens nothing but SSH and
5050 to the outside), and any node there can change the ensemble.

Marathon serves its REST API over HTTPS only (MARATHON_PORT, with the master's certificate in
a PKCS#12 keystore) and asks every client for HTTP basic authentication as the operator
principal (`--http_credentials`): a drain kills tasks through it. Its maintenance mode (from
v1.6, the oldest accepted: a feature to enable in v1.6, the default from v1.7) makes it
decline the offers of machines in a maintenance window, so a killed task's replacement never
lands on a draining agent.

TLS: every libprocess endpoint speaks TLS only (no downgrade). Masters issue themselves a
server certificate from the cluster CA at boot (they hold its key), so clients of the API
(api_address `https://<host>:5050`) verify it with the cluster CA; agents, which hold only
the CA certificate, use a self-signed certificate. Peer certificates are not verified between
Mesos components (Mesos' legacy hostname validation relies on reverse DNS, which OpenStack
private networks do not guarantee); instead agents and frameworks authenticate to the masters
with CRAM-MD5 secrets derived from the cluster's join token, and the read-write HTTP API needs
basic authentication. The read-only HTTP endpoints (`/master/state`) stay open, as Magnum's
status checks read them.

Not verified on a real cloud here: the pinned images' tags, and the agent's Docker
containerizer on Ubuntu 22.04+, which boots with cgroups v2 only (Mesos before 1.11 knows
cgroups v1 only; the agents use Mesos' POSIX isolation and let dockerd limit containers).
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
import hashlib
import hmac
import json
import pathlib
import re
from typing import Any

import yaml

# Generic checks and writers shared by the Heat-based plugins (same rules, same file forms).
from magnum_lite.drivers.heat.cloud_init import (
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
    fail,
    no_proxy_with,
    node_env_file,
    node_user_data,
    proxy_files,
    proxy_sizes,
)

__all__ = ["MAX_USER_DATA_BYTES", "NODE_INDEX_PLACEHOLDER", "MesosBootConfig",
           "render_user_data", "validate_config"]

DEFAULT_MESOS_VERSION = "1.7.1"
DEFAULT_MARATHON_VERSION = "v1.6.322"
DEFAULT_ZOOKEEPER_VERSION = "3.9.2"
# The container images (Docker Hub); tags are the versions above.
MESOS_MASTER_IMAGE = "mesosphere/mesos-master"
MESOS_AGENT_IMAGE = "mesosphere/mesos-slave"
MARATHON_IMAGE = "mesosphere/marathon"
ZOOKEEPER_IMAGE = "zookeeper"

API_PORT = 5050
ZOOKEEPER_PORT = 2181
#: Marathon's HTTPS port (its plain HTTP port is disabled): how a drain reaches it.
MARATHON_PORT = 8443
ROLES = ("master", "worker")
CONFIG_DIR = "/etc/magnum-lite"
MESOS_DIR = "/etc/mesos"
SSL_DIR = f"{MESOS_DIR}/ssl"
#: Where nodes hold the cluster CA (masters also its key, to issue their certificate).
CA_CERT_PATH = f"{SSL_DIR}/ca.crt"
CA_KEY_PATH = f"{SSL_DIR}/ca.key"
CREDENTIAL_DIRS = (f"{MESOS_DIR}/", f"{CONFIG_DIR}/")
#: Principals that authenticate to the masters; each secret is derived from the join token.
AGENT_PRINCIPAL = "magnum-agent"
MARATHON_PRINCIPAL = "marathon"
ADMIN_PRINCIPAL = "magnum-admin"
#: What the password of Marathon's keystore derives from (no principal: a file's password).
MARATHON_KEYSTORE = "marathon-keystore"
#: Marathon's HTTP credentials and keystore password, as an environment file (root only).
MARATHON_HTTP_ENV = f"{MESOS_DIR}/marathon-http.env"
#: The agent attribute naming the node's server (mesos-agent.sh sets it; agents register by
#: their IP): how magnum-lite finds a node's agent to drain it. No node label may take it.
NODE_NAME_ATTRIBUTE = "magnum_lite_node"
# How long a master waits to join the ZooKeeper ensemble, in seconds.
JOIN_TIMEOUT = 3600
MIME_BOUNDARY = "==magnum-lite-mesos-ubuntu-v1=="
BOOT_DIR = pathlib.Path(__file__).resolve().parent / "boot"

_VERSION_RE = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
_MARATHON_RE = re.compile(r"v1\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
_TOKEN_RE = re.compile(r"[0-9a-f]{32,128}")
# Mesos agent attributes "name:value;...": keep both sides free of the separators.
_ATTRIBUTE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}")
# The oldest Mesos release accepted (the flags the scripts set exist from 1.4 on).
MIN_MESOS = (1, 4)
# The oldest Marathon accepted (minor, patch of v1.x): maintenance mode came with v1.6.
MIN_MARATHON = (6, 0)


@dataclasses.dataclass(frozen=True)
class MesosBootConfig:
    """Everything one node role of one Mesos cluster needs to boot."""

    role: str                       # "master" or "worker"
    cluster_uuid: str
    cluster_name: str
    control_plane_host: str         # the API load balancer's VIP or master 0's address
    join_token: str                 # 32-128 lowercase hex: the secrets derive from it
    master_count: int
    mesos_version: str = DEFAULT_MESOS_VERSION
    marathon_version: str = DEFAULT_MARATHON_VERSION
    zookeeper_version: str = DEFAULT_ZOOKEEPER_VERSION
    # Workers: every master's private address (the ZooKeeper ensemble agents connect to).
    zookeeper_hosts: tuple[str, ...] = ()
    api_public_address: str | None = None  # extra SAN of the masters' certificate
    docker_volume_size: int = 0     # GiB; >0: /dev/vdb is mounted at /var/lib/mesos
    http_proxy: str = ""
    https_proxy: str = ""
    no_proxy: str = ""
    # Mesos agent attributes of the nodegroup (Magnum's node labels).
    attributes: dict[str, str] = field(default_factory=dict)
    # The cluster CA (masters: certificate and key; workers: certificate), by absolute path.
    credential_files: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- validation

def _version(name: str, value: Any, pattern: re.Pattern[str], example: str) -> tuple[int, ...]:
    match = pattern.fullmatch(check_str(name, value))
    if not match:
        raise fail(name, f"{value!r} is not a version like {example}")
    return tuple(int(g) for g in match.groups())


def validate_config(config: MesosBootConfig) -> None:
    """Refuse values that would break the boot or the files they are written into.

    Raises ValueError("<field>: <reason>") for the first bad field, so the API can name the
    template or cluster attribute to fix before any server is created.
    """
    check_cluster(config.role, ROLES, config.cluster_uuid, config.cluster_name)
    check_host("control_plane_host", config.control_plane_host)
    if not _TOKEN_RE.fullmatch(check_str("join_token", config.join_token)):
        raise fail("join_token", "must be 32 to 128 lowercase hex characters")
    count = check_int("master_count", config.master_count, 1)
    if count % 2 == 0:
        raise fail("master_count", "mesos needs an odd number of masters for its ZooKeeper "
                                   "quorum")
    mesos = _version("mesos_version", config.mesos_version, _VERSION_RE, "1.7.1")
    if mesos[:2] < MIN_MESOS or mesos[0] != 1:
        raise fail("mesos_version", f"{config.mesos_version} is not a Mesos 1.x release "
                                    f"from 1.{MIN_MESOS[1]} on")
    marathon = _version("marathon_version", config.marathon_version, _MARATHON_RE, "v1.6.322")
    if marathon < MIN_MARATHON:
        raise fail("marathon_version", f"{config.marathon_version} is older than "
                                       f"v1.{MIN_MARATHON[0]}, the first Marathon that "
                                       "declines the offers of machines in maintenance (a "
                                       "drain relies on it)")
    zookeeper = _version("zookeeper_version", config.zookeeper_version, _VERSION_RE, "3.9.2")
    if zookeeper[:2] < (3, 5):
        raise fail("zookeeper_version", "dynamic reconfiguration needs ZooKeeper 3.5 or later")
    if not isinstance(config.zookeeper_hosts, tuple | list):
        raise fail("zookeeper_hosts", "must be a list of addresses")
    for host in config.zookeeper_hosts:
        check_host("zookeeper_hosts", host)
    if config.role == "worker" and not config.zookeeper_hosts:
        raise fail("zookeeper_hosts", "a worker needs the masters' addresses")
    if config.api_public_address is not None:
        check_host("api_public_address", config.api_public_address)
    check_int("docker_volume_size", config.docker_volume_size, 0)
    check_proxies(config.http_proxy, config.https_proxy, config.no_proxy)
    if not isinstance(config.attributes, dict):
        raise fail("attributes", "must be a dict")
    for key, value in config.attributes.items():
        if key == NODE_NAME_ATTRIBUTE:
            raise fail("attributes", f"{key!r} is magnum-lite's own attribute (the node's "
                                     "server name)")
        for text in (key, value):
            if not _ATTRIBUTE_RE.fullmatch(check_str("attributes", text)):
                raise fail("attributes", f"{text!r} must be 1-63 letters, digits, '_', '.' "
                                         "or '-' (Mesos attributes separate with ':' and ';')")
    check_credential_files(config.credential_files, CREDENTIAL_DIRS)


# --------------------------------------------------------------------------- rendering

def secret(join_token: str, principal: str) -> str:
    """The principal's secret: an HMAC of the join token, so an agent's leaked secret does
    not give the framework's or the operator's."""
    return hmac.new(join_token.encode(), principal.encode(), hashlib.sha256).hexdigest()


def _zookeeper_url(hosts: tuple[str, ...] | list[str], path: str) -> str:
    return "zk://" + ",".join(f"{h}:{ZOOKEEPER_PORT}" for h in hosts) + path


def _no_proxy(config: MesosBootConfig) -> str:
    """The user's no_proxy plus what must never go through a proxy inside the cluster."""
    return no_proxy_with(config.no_proxy, ("localhost", "127.0.0.1", config.control_plane_host,
                                           *config.zookeeper_hosts))


def _mesos_files(config: MesosBootConfig) -> dict[str, str]:
    """The authentication files of the role (root only; they hold the secrets)."""
    token = config.join_token
    if config.role == "worker":
        return {f"{MESOS_DIR}/agent-credential.json": json.dumps(
            {"principal": AGENT_PRINCIPAL, "secret": secret(token, AGENT_PRINCIPAL)}) + "\n"}
    principals = (AGENT_PRINCIPAL, MARATHON_PRINCIPAL, ADMIN_PRINCIPAL)
    credentials = {"credentials": [{"principal": p, "secret": secret(token, p)}
                                   for p in principals]}
    # Marathon's REST API: the operator's credentials (a drain kills tasks through it) and
    # the password of the keystore mesos-master.sh makes from the master's certificate.
    marathon_env = (f"MARATHON_HTTP_CREDENTIALS={ADMIN_PRINCIPAL}:"
                    f"{secret(token, ADMIN_PRINCIPAL)}\n"
                    f"MARATHON_SSL_KEYSTORE_PASSWORD={secret(token, MARATHON_KEYSTORE)}\n")
    return {f"{MESOS_DIR}/credentials.json": json.dumps(credentials, indent=2) + "\n",
            f"{MESOS_DIR}/marathon.secret": secret(token, MARATHON_PRINCIPAL),
            MARATHON_HTTP_ENV: marathon_env}


def _cloud_config(config: MesosBootConfig) -> str:
    data = yaml.safe_load((BOOT_DIR / "cloud-config.yaml").read_text())
    if apt := apt_proxies(config.http_proxy, config.https_proxy):
        data["apt"] = apt
    attributes = ";".join(f"{k}:{v}" for k, v in config.attributes.items())
    node_env = {
        "ROLE": config.role,
        "NODE_INDEX": NODE_INDEX_PLACEHOLDER,
        "CLUSTER_UUID": config.cluster_uuid,
        "CLUSTER_NAME": config.cluster_name,
        "MASTER_COUNT": config.master_count,
        "QUORUM": config.master_count // 2 + 1,
        "CONTROL_PLANE_HOST": config.control_plane_host,
        "API_PORT": API_PORT,
        "API_PUBLIC_ADDRESS": config.api_public_address or "",
        "MESOS_VERSION": config.mesos_version,
        "MARATHON_VERSION": config.marathon_version,
        "ZOOKEEPER_VERSION": config.zookeeper_version,
        "MESOS_MASTER_IMAGE": f"{MESOS_MASTER_IMAGE}:{config.mesos_version}",
        "MESOS_AGENT_IMAGE": f"{MESOS_AGENT_IMAGE}:{config.mesos_version}",
        "MARATHON_IMAGE": f"{MARATHON_IMAGE}:{config.marathon_version}",
        "ZOOKEEPER_IMAGE": f"{ZOOKEEPER_IMAGE}:{config.zookeeper_version}",
        "ZOOKEEPER_URL": _zookeeper_url(config.zookeeper_hosts, "/mesos")
        if config.zookeeper_hosts else "",
        "AGENT_ATTRIBUTES": attributes,
        "DOCKER_VOLUME_SIZE": config.docker_volume_size,
        "JOIN_TIMEOUT": JOIN_TIMEOUT,
        "MARATHON_PORT": MARATHON_PORT,
    }
    files = [node_env_file(CONFIG_DIR, node_env)]
    # dockerd pulls every image.
    files += proxy_files(CONFIG_DIR, "docker", config.http_proxy, config.https_proxy,
                         _no_proxy(config))
    for path, content in _mesos_files(config).items():
        files.append({"path": path, "permissions": "0600", "content": content})
    # The CA's private key: root only; certificates are public.
    files += credential_files(config.credential_files)
    return cloud_config(data, files, "mesos_ubuntu_v1", config.role, config.cluster_name,
                        config.cluster_uuid)


def _input_sizes(config: MesosBootConfig) -> dict[str, int]:
    """The variable inputs' sizes, the largest named when the user data is too large."""
    return {
        "attributes": sum(len(k) + len(v) + 2 for k, v in config.attributes.items()),
        **proxy_sizes(config.http_proxy, config.https_proxy, config.no_proxy),
    }


def render_user_data(config: MesosBootConfig) -> str:
    """Multipart MIME user data for one node role, ready for Heat's substitutions.

    Deterministic (a fixed MIME boundary), so re-rendering an unchanged cluster leaves the
    Heat parameter as it was. Raises ValueError naming the field when a value is invalid or
    when the result, base64-encoded as Nova receives it, would be over MAX_USER_DATA_BYTES.
    """
    validate_config(config)
    script = "mesos-master.sh" if config.role == "master" else "mesos-agent.sh"
    return node_user_data(_cloud_config(config), BOOT_DIR, script, MIME_BOUNDARY,
                          _input_sizes(config))
