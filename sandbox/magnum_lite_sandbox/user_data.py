"""What a cluster node's guest reads from the files it is given: the cluster CA, node.env
(with the COE version it installs) and the names a master's API certificate would carry.

A real master learns its cluster from cloud-init: the user data's cloud-config writes the
cluster CA (where the COE keeps it: Kubernetes' ``/etc/kubernetes/pki``, a swarm-mode
manager's ``/etc/docker/tls``, a Mesos master's ``/etc/mesos/ssl``) and
``/etc/magnum-lite/node.env`` (the COE's version and settings), which the boot scripts source. A
credentials deployment later hands a master new files the same way (a JSON object of path:
content). The sandbox boots no guest, so the cluster APIs (``cluster_apis``) read those files
here, as cloud-init and the scripts would, to serve each cluster with the right COE (``coe_of``:
told by what only that COE's boot scripts read, never by a line written for the sandbox) and
CA, and with a serving certificate that names what a real master's would
(``certificate_names``); and every node's, to run it at the version its own boot installs
(``node_version``), as a rolling upgrade changes one node's user data at a time.
"""

import base64
import dataclasses
import email
import gzip
import json
import re
from typing import Any

import yaml

from magnum_lite.common import x509

#: Where a Kubernetes master holds the cluster CA (k8s_ubuntu_v1).
CA_CERT_PATH = "/etc/kubernetes/pki/ca.crt"
CA_KEY_PATH = "/etc/kubernetes/pki/ca.key"
#: Where a swarm-mode manager holds the cluster CA (swarm_fedora_v2).
DOCKER_CA_CERT_PATH = "/etc/docker/tls/ca.crt"
DOCKER_CA_KEY_PATH = "/etc/docker/tls/ca.key"
#: Where a Mesos master holds it (mesos_ubuntu_v1).
MESOS_CA_CERT_PATH = "/etc/mesos/ssl/ca.crt"
MESOS_CA_KEY_PATH = "/etc/mesos/ssl/ca.key"
CA_PATHS = ((CA_CERT_PATH, CA_KEY_PATH), (DOCKER_CA_CERT_PATH, DOCKER_CA_KEY_PATH),
            (MESOS_CA_CERT_PATH, MESOS_CA_KEY_PATH))
#: The COE a master runs (``coe_of``): Kubernetes unless its files configure another.
DEFAULT_COE = "kubernetes"
SWARM_MODE = "swarm-mode"
MESOS = "mesos"
NODE_ENV_PATH = "/etc/magnum-lite/node.env"
#: What only a Mesos node's boot reads (mesos_ubuntu_v1): its settings under /etc/mesos
#: (credentials, TLS) and the Mesos version mesos-master.sh and mesos-agent.sh install.
MESOS_DIR = "/etc/mesos/"
MESOS_ENV = "MESOS_VERSION"
#: What only a swarm-mode node's boot reads (swarm_fedora_v2): Docker's TLS directory, the
#: worker's join.env (``docker swarm join``) and the port of ``docker swarm init``/``join``.
DOCKER_TLS_DIR = "/etc/docker/tls/"
SWARM_JOIN_PATH = "/etc/magnum-lite/join.env"
SWARM_ENV = "SWARM_PORT"
#: kubeadm's configuration on a Kubernetes master (k8s_ubuntu_v1): its ClusterConfiguration's
#: ``apiServer.certSANs`` are the names kubeadm adds to the API server's certificate.
KUBEADM_INIT_PATH = "/etc/magnum-lite/kubeadm-init.yaml"
#: The principals and secrets a Mesos master authenticates (its HTTP read-write endpoints).
MESOS_CREDENTIALS_PATH = "/etc/mesos/credentials.json"
#: The node.env line with the COE version each COE's boot scripts install.
VERSION_ENV = {DEFAULT_COE: "KUBE_VERSION", SWARM_MODE: "DOCKER_VERSION", MESOS: MESOS_ENV}
#: The node.env hosts a swarm manager's or Mesos master's boot script puts in its API
#: certificate (swarm_fedora_v2's prepare-node.sh, mesos_ubuntu_v1's mesos-master.sh).
CERTIFICATE_HOSTS = ("CONTROL_PLANE_HOST", "API_PUBLIC_ADDRESS")
_ENV_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def _file_text(entry: dict) -> str:
    """A write_files entry's content decoded as cloud-init does (b64, gzip, or plain)."""
    content = entry.get("content", "")
    if isinstance(content, bytes):
        data = content
    else:
        data = str(content).encode()
    encoding = str(entry.get("encoding", "")).lower()
    if encoding in ("b64", "base64", "gz+b64", "gz+base64", "gzip+b64", "gzip+base64"):
        data = base64.b64decode(data)
    if encoding.startswith("gz"):
        data = gzip.decompress(data)
    return data.decode()


def cloud_config_files(user_data: str) -> dict[str, str]:
    """The files the user data's cloud-config writes (path: text): from the text/cloud-config
    part of a multipart MIME message, or from a plain ``#cloud-config`` text."""
    message = email.message_from_string(user_data or "")
    parts = [p for p in message.walk() if not p.is_multipart()] if message.is_multipart() \
        else []
    texts = []
    for part in parts:
        if part.get_content_type() == "text/cloud-config":
            payload = part.get_payload(decode=True) or b""
            texts.append(payload.decode(part.get_content_charset() or "utf-8"))
    if not parts and (user_data or "").lstrip().startswith("#cloud-config"):
        texts.append(user_data)
    files: dict[str, str] = {}
    for text in texts:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            continue
        entries = data.get("write_files") if isinstance(data, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and entry.get("path"):
                files[str(entry["path"])] = _file_text(entry)
    return files


def parse_env(text: str) -> dict[str, str]:
    """KEY='value' lines of a file the boot scripts source (node.env)."""
    env = {}
    for line in text.splitlines():
        match = _ENV_LINE.match(line.strip())
        if match:
            value = match.group(2).strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            env[match.group(1)] = value
    return env


def ca_of(files: dict[str, str]) -> x509.KeyPair | None:
    """The cluster CA among written files (PEM, in any COE's place), or None when they do
    not hold one."""
    for cert_path, key_path in CA_PATHS:
        cert, key = files.get(cert_path), files.get(key_path)
        if cert and key and "BEGIN CERTIFICATE" in cert and "PRIVATE KEY" in key:
            return x509.KeyPair(certificate=cert, private_key=key)
    return None


def _kubeadm_cert_sans(text: str) -> list[str]:
    """``apiServer.certSANs`` of the ClusterConfiguration among kubeadm's YAML documents."""
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        return []
    for doc in documents:
        if isinstance(doc, dict) and doc.get("kind") == "ClusterConfiguration":
            server = doc.get("apiServer")
            sans = server.get("certSANs") if isinstance(server, dict) else None
            return [str(s) for s in sans] if isinstance(sans, list) else []
    return []


def coe_of(files: dict[str, str], env: dict[str, str]) -> str:
    """The COE a node's files configure, told as its boot scripts would be: Mesos by its
    settings under /etc/mesos or the Mesos version, swarm-mode by Docker's TLS directory, the
    swarm join file or the swarm port, Kubernetes otherwise (kubeadm's configuration)."""
    if MESOS_ENV in env or any(path.startswith(MESOS_DIR) for path in files):
        return MESOS
    if (SWARM_ENV in env or SWARM_JOIN_PATH in files
            or any(path.startswith(DOCKER_TLS_DIR) for path in files)):
        return SWARM_MODE
    return DEFAULT_COE


def certificate_names(files: dict[str, str], env: dict[str, str]) -> tuple[str, ...]:
    """The names the boot configuration puts in a master's API certificate, besides those
    the COE adds itself (the node's own address, localhost, kubeadm's service names):
    kubeadm's certSANs on a Kubernetes master, else node.env's CONTROL_PLANE_HOST and
    API_PUBLIC_ADDRESS (each when set). Empty when the files name none (older user data)."""
    if KUBEADM_INIT_PATH in files:
        names = _kubeadm_cert_sans(files[KUBEADM_INIT_PATH])
    else:
        names = [env.get(key, "") for key in CERTIFICATE_HOSTS]
    return tuple(dict.fromkeys(n.strip() for n in names if n and n.strip()))


def mesos_credentials(files: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """(principal, secret) pairs of a Mesos master's credentials.json (() when none)."""
    try:
        data = json.loads(files.get(MESOS_CREDENTIALS_PATH, "") or "{}")
    except ValueError:
        return ()
    entries = data.get("credentials") if isinstance(data, dict) else None
    return tuple((str(c["principal"]), str(c.get("secret", "")))
                 for c in entries if isinstance(c, dict) and c.get("principal")
                 ) if isinstance(entries, list) else ()


@dataclasses.dataclass(frozen=True)
class BootInfo:
    """What a node's guest learns from its user data: the cluster CA, node.env, the names
    its API certificate would carry (`certificate_names`; empty when unknown), its COE
    (`coe_of`) and, on a Mesos master, who may use the read-write HTTP endpoints."""

    ca: x509.KeyPair | None
    env: dict[str, str]
    certificate_names: tuple[str, ...] = ()
    coe: str = DEFAULT_COE
    credentials: tuple[tuple[str, str], ...] = ()


def boot_info(user_data: str) -> BootInfo:
    """The CA, node.env, certificate names, COE and credentials of a node's user data
    (empty, and Kubernetes, when it writes none)."""
    files = cloud_config_files(user_data)
    env = parse_env(files.get(NODE_ENV_PATH, ""))
    return BootInfo(ca=ca_of(files), env=env, certificate_names=certificate_names(files, env),
                    coe=coe_of(files, env), credentials=mesos_credentials(files))


def node_version(boot: BootInfo, coe: str) -> str | None:
    """The COE version the node's boot installs (node.env; the cluster's COE names the line):
    Kubernetes' as kubelet reports it ("v1.30.4"), Docker's and Mesos' as written; None when
    the user data does not say."""
    value = boot.env.get(VERSION_ENV.get(coe, ""), "").strip()
    if not value:
        return None
    return f"v{value.lstrip('v')}" if coe == DEFAULT_COE else value


def credentials_ca(credentials: Any) -> x509.KeyPair | None:
    """The cluster CA in a credentials deployment's ``credentials`` input (a JSON object of
    path: content, or that object decoded): a master's files hold its certificate and key.
    None for a worker's (the certificate only) or files without the CA (a trustee change):
    nothing the sandbox serves changes then. ValueError, naming no secret, for input the
    script could not read."""
    if isinstance(credentials, str):
        try:
            credentials = json.loads(credentials)
        except ValueError:
            raise ValueError("credentials is not a JSON object") from None
    if not isinstance(credentials, dict):
        raise ValueError("credentials is not a JSON object")
    files = {str(k): str(v) for k, v in credentials.items()}
    ca = ca_of(files)
    for cert_path, key_path in CA_PATHS:
        if ca is None and key_path in files and cert_path in files:
            raise ValueError(f"{cert_path} and {key_path} must be PEM")
    return ca
