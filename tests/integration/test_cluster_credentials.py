"""A cluster's credentials end to end: its CA, `openstack coe cluster config` and the
official `kubernetes` client against the cluster's API (served by the sandbox's guest agent
at api_address with the cluster CA), `coe ca sign`, `coe ca rotate`, the trust rotation,
another project's 404s, and what is left after delete (no CA, no trustee user).

The secrets never show: no private key in any API answer, log line of the sandbox, or in
clear in the database.
"""

from __future__ import annotations

import configparser
from pathlib import Path
import time
from typing import Any

from cryptography import x509 as crypto_x509
from cryptography.x509.oid import NameOID
from keystoneauth1 import exceptions as ks_exceptions
from keystoneclient.v3 import client as ks_client
import pytest

from tests.csr import make_csr_and_key
from tests.integration import clusters

pytestmark = [pytest.mark.sandbox, pytest.mark.service]

kubernetes = pytest.importorskip("kubernetes", reason="the kubernetes client "
                                                       "(test-requirements.txt)")

PRIVATE_KEY_MARK = "PRIVATE KEY-----"
# How long the guest agent may take to serve a cluster it just saw complete.
SERVE_TIMEOUT = 30.0


def _nodes(kubeconfig: Path) -> list[Any]:
    """The cluster's nodes through the kubernetes client with `kubeconfig` (retried while
    the agent starts serving a cluster that just completed)."""
    deadline = time.monotonic() + SERVE_TIMEOUT
    while True:
        api = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
        try:
            return kubernetes.client.CoreV1Api(api).list_node().items
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
        finally:
            api.close()


def _refused(kubeconfig: Path) -> bool:
    """Whether the API refuses the kubeconfig's client certificate (TLS alert or 401)."""
    api = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    try:
        kubernetes.client.CoreV1Api(api).list_node(_request_timeout=10)
    except kubernetes.client.exceptions.ApiException as err:
        return err.status == 401
    except Exception as err:  # noqa: BLE001 - urllib3 wraps the TLS failure in its own types
        return "SSL" in repr(err) or "certificate" in repr(err).lower()
    finally:
        api.close()
    return False


def _kubeconfig(openstack_cli, cluster: dict, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    result = openstack_cli("sandbox", "coe", "cluster", "config", cluster["uuid"], "--dir",
                           str(directory), "--force")
    assert f"KUBECONFIG={directory}/config" in result.stdout
    return directory / "config"


def _kubeconfig_with(base: Path, cert_pem: str, key_pem: str, path: Path) -> Path:
    """A copy of `base` whose user authenticates with another certificate."""
    import base64

    import yaml

    config = yaml.safe_load(base.read_text())
    user = config["users"][0]["user"]
    user["client-certificate-data"] = base64.b64encode(cert_pem.encode()).decode()
    user["client-key-data"] = base64.b64encode(key_pem.encode()).decode()
    path.write_text(yaml.safe_dump(config))
    return path


def _db_rows(sandbox: dict, cluster_uuid: str) -> tuple[list[tuple], tuple]:
    """(x509keypair rows, the cluster's secret columns) straight from magnum-lite's DB."""
    import sqlalchemy

    conf = configparser.ConfigParser(interpolation=None)
    conf.read(Path(sandbox["state_dir"]) / "magnum-lite" / "magnum-lite.conf")
    engine = sqlalchemy.create_engine(conf["database"]["connection"])
    try:
        with engine.connect() as conn:
            pairs = conn.execute(sqlalchemy.text(
                "SELECT kind, certificate, private_key FROM x509keypair "
                "WHERE cluster_id = :c"), {"c": cluster_uuid}).fetchall()
            secrets = conn.execute(sqlalchemy.text(
                "SELECT trustee_user_id, trustee_password, join_token, trust_id FROM cluster "
                "WHERE uuid = :c"), {"c": cluster_uuid}).fetchone()
    finally:
        engine.dispose()
    return pairs, secrets


def _rest(sandbox: dict, user: str, method: str, path: str, version: str = "latest",
          **kwargs: Any) -> Any:
    return clusters.rest(sandbox, method, path, user=user, version=version, **kwargs)


def _keystone_admin(sandbox: dict) -> Any:
    return ks_client.Client(session=clusters.session(sandbox, "admin"), interface="public")


def _scan_logs(sandbox: dict) -> list[str]:
    """Lines of the sandbox's logs (magnum-lite, Heat, Keystone, the agent) showing a key."""
    found = []
    for path in sorted((Path(sandbox["state_dir"]) / "log").glob("**/*.log")):
        with open(path, encoding="utf-8", errors="replace") as f:
            found += [f"{path.name}: {line[:120]}" for line in f if PRIVATE_KEY_MARK in line]
    return found


def test_cluster_credentials_end_to_end(openstack_cli, heat, make_template, sandbox,
                                        tmp_path):
    template = make_template()
    name = clusters.create(openstack_cli, template, "--master-count", "1", "--node-count", "2")
    cluster = clusters.settle(openstack_cli, name)
    assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
    uuid = cluster["uuid"]

    # The kubeconfig from `openstack coe cluster config` lists the nodes: master + workers.
    kubeconfig = _kubeconfig(openstack_cli, cluster, tmp_path / "first")
    nodes = _nodes(kubeconfig)
    assert len(nodes) == 3
    assert all(any(c.type == "Ready" and c.status == "True" for c in n.status.conditions)
               for n in nodes)

    # The CA, and a CSR signed with `openstack coe ca sign`: its subject names the caller,
    # whatever the CSR asked, and it works against the cluster's API.
    ca_pem = clusters.pem_of(openstack_cli("sandbox", "coe", "ca", "show", uuid).stdout)
    csr, key_pem = make_csr_and_key("somebody-else", ("system:masters",))
    (tmp_path / "user.csr").write_text(csr)
    signed = clusters.pem_of(openstack_cli("sandbox", "coe", "ca", "sign", uuid,
                                   str(tmp_path / "user.csr")).stdout)
    cert = crypto_x509.load_pem_x509_certificate(signed.encode())
    cert.verify_directly_issued_by(crypto_x509.load_pem_x509_certificate(ca_pem.encode()))
    demo_id = clusters.session(sandbox).get_user_id()
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == demo_id
    signed_config = _kubeconfig_with(kubeconfig, signed, key_pem, tmp_path / "signed")
    assert len(_nodes(signed_config)) == 3

    # No answer of the certificate calls, seen raw, carries a private key or ciphertext.
    answers = [_rest(sandbox, "demo", "GET", f"v1/certificates/{uuid}"),
               _rest(sandbox, "demo", "GET", f"v1/certificates/{uuid}?ca_cert_type=etcd"),
               _rest(sandbox, "demo", "GET",
                     f"v1/certificates/{uuid}?ca_cert_type=front_proxy"),
               _rest(sandbox, "demo", "POST", "v1/certificates",
                     json={"cluster_uuid": uuid, "csr": csr}),
               _rest(sandbox, "demo", "GET", f"v1/clusters/{uuid}")]
    assert [a.status_code for a in answers] == [200, 200, 200, 201, 200]
    assert len({a.json()["pem"] for a in answers[:3]}) == 3  # three distinct CAs
    for answer in answers:
        assert PRIVATE_KEY_MARK not in answer.text and "fernet:" not in answer.text

    # Another project's user finds no such cluster: 404 for each call naming it in the URL,
    # and Magnum's 400 for a signing request naming it in the body.
    for method, path, body, status in (
            ("GET", f"v1/certificates/{uuid}", None, 404),
            ("POST", "v1/certificates", {"cluster_uuid": uuid, "csr": csr}, 400),
            ("PATCH", f"v1/certificates/{uuid}", None, 404),
            ("PATCH", f"v1/credentials/{uuid}", None, 404)):
        answer = _rest(sandbox, "alt_demo", method, path, json=body)
        assert answer.status_code == status, (method, path, answer.text)
        assert "could not be found" in answer.json()["errors"][0]["detail"], answer.text

    # The database holds ciphertext only.
    pairs, secrets = _db_rows(sandbox, uuid)
    assert sorted(kind for kind, _, _ in pairs) == ["ca", "etcd_ca", "front_proxy_ca"]
    assert all(key.startswith("fernet:") and PRIVATE_KEY_MARK not in key
               for _, _, key in pairs)
    trustee_id, password, join_token, trust_id = secrets
    assert trustee_id and trust_id
    assert password.startswith("fernet:") and join_token.startswith("fernet:")
    keystone = _keystone_admin(sandbox)
    trustee_user = keystone.users.get(trustee_id)
    assert trustee_user.name == f"{uuid}_{cluster['project_id']}"

    # `openstack coe ca rotate`: the old certificates stop working, new ones work.
    openstack_cli("sandbox", "coe", "ca", "rotate", uuid)
    cluster = clusters.settle(openstack_cli, uuid)
    assert cluster["status"] == "UPDATE_COMPLETE", cluster["status_reason"]
    new_ca = clusters.pem_of(openstack_cli("sandbox", "coe", "ca", "show", uuid).stdout)
    assert new_ca != ca_pem
    deadline = time.monotonic() + SERVE_TIMEOUT
    while not (_refused(kubeconfig) and _refused(signed_config)):
        assert time.monotonic() < deadline, "the old client certificates still work"
        time.sleep(0.5)
    assert len(_nodes(_kubeconfig(openstack_cli, cluster, tmp_path / "rotated"))) == 3

    # The trust rotates too (1.12): a new trustee user, the old one gone from Keystone.
    answer = _rest(sandbox, "demo", "PATCH", f"v1/credentials/{uuid}")
    assert answer.status_code == 202, answer.text
    cluster = clusters.settle(openstack_cli, uuid)
    assert cluster["status"] == "UPDATE_COMPLETE", cluster["status_reason"]
    _, (new_trustee_id, _, _, new_trust_id) = _db_rows(sandbox, uuid)
    assert new_trustee_id != trustee_id and new_trust_id != trust_id
    with pytest.raises(ks_exceptions.NotFound):
        keystone.users.get(trustee_id)

    # Delete: the CA is gone (404) and so is the trustee user.
    clusters.delete(openstack_cli, heat, cluster)
    answer = _rest(sandbox, "demo", "GET", f"v1/certificates/{uuid}")
    assert answer.status_code == 404, answer.text
    with pytest.raises(ks_exceptions.NotFound):
        keystone.users.get(new_trustee_id)
    assert _db_rows(sandbox, uuid)[0] == []

    # No private key in any log line of the sandbox (magnum-lite, Heat, Keystone, agent).
    assert _scan_logs(sandbox) == []
