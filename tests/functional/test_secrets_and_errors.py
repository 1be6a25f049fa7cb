"""Fuzz findings of issue 13, held by real processes: no cluster secret is stored in clear by
default, and an error the conductor answers over RabbitMQ reaches the client as one line.

Clusters end CREATE_FAILED here (there is no Heat), but the conductor makes a cluster's CAs
before it calls Heat: their private keys are what is read back from the database.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import stat
import subprocess

from cryptography import fernet
import pytest
import sqlalchemy as sa

from tests.csr import make_csr
from tests.functional import deployment as dep

TEMPLATE = {"name": "k8s", "coe": "kubernetes", "image_id": "fedora-coreos-40",
            "external_network_id": "public", "flavor_id": "m1.small",
            "master_flavor_id": "m1.medium", "network_driver": "flannel",
            "labels": {"kube_tag": "v1.30.1"}}
PREFIX = "fernet:"


def _create_failed_cluster(cloud: dep.Deployment, name: str, template: str | None = None
                           ) -> tuple[str, dict]:
    """(template uuid, the cluster once CREATE_FAILED)."""
    if template is None:
        status, text = cloud.http("POST", "/v1/clustertemplates", TEMPLATE)
        assert status == 201, text
        template = json.loads(text)["uuid"]
    status, text = cloud.http("POST", "/v1/clusters", {
        "name": name, "cluster_template_id": template, "node_count": 1, "master_count": 1})
    assert status == 202, text
    uuid = json.loads(text)["uuid"]

    def failed() -> dict | None:
        status, text = cloud.http("GET", f"/v1/clusters/{uuid}")
        cluster = json.loads(text)
        return cluster if cluster["status"] == "CREATE_FAILED" else None

    return template, cloud.wait_for(failed, timeout=60)


def _stored_secrets(db_url: str, cluster_uuid: str) -> tuple[list[str], list[str | None]]:
    """(the private_key of each of the cluster's x509keypair rows, its cluster row's
    trustee_password and join_token), as the database holds them."""
    engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            keys = conn.execute(sa.text("SELECT private_key FROM x509keypair WHERE cluster_id = "
                                        ":uuid"), {"uuid": cluster_uuid}).scalars().all()
            row = conn.execute(sa.text("SELECT trustee_password, join_token FROM cluster "
                                       "WHERE uuid = :uuid"), {"uuid": cluster_uuid}).one()
    finally:
        engine.dispose()
    return list(keys), list(row)


def _assert_ciphertext_under(keys: list[str], key_file: pathlib.Path) -> None:
    """Every stored private key is a Fernet token of the key file's key, none in clear."""
    key = [line for line in key_file.read_text().splitlines() if not line.startswith("#")][0]
    assert len(keys) == 3, keys  # the cluster CA, etcd and front-proxy CAs of Kubernetes
    for stored in keys:
        assert stored.startswith(PREFIX) and "PRIVATE KEY" not in stored
        opened = fernet.Fernet(key).decrypt(stored[len(PREFIX):].encode()).decode()
        assert "-----BEGIN" in opened and "PRIVATE KEY-----" in opened


def _assert_key_file(path: pathlib.Path) -> None:
    assert path.exists(), f"no key file at {path}"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_fresh_magnum_lite_all_stores_no_private_key_in_clear(tmp_path):
    """As the README's quick start runs it: no configuration, an empty HOME."""
    cloud = dep.Deployment(tmp_path, dep.free_port())
    cloud.env["OS_API__PORT"] = str(cloud.port)  # the only setting: never collide on 9511
    state = tmp_path / ".local/share/magnum-lite"
    try:
        cloud.start("magnum-lite-all")
        cloud.wait_until_serving()
        _template, cluster = _create_failed_cluster(cloud, "c1")
        log = cloud.log("magnum-lite-all")
    finally:
        codes = cloud.stop()
    assert codes == {"magnum-lite-all": 0}, log
    assert f"Created the credentials encryption key {state / 'credentials.key'}" in log
    _assert_key_file(state / "credentials.key")
    keys, (trustee_password, join_token) = _stored_secrets(
        f"sqlite:///{state / 'magnum-lite.sqlite'}", cluster["uuid"])
    _assert_ciphertext_under(keys, state / "credentials.key")
    assert trustee_password is None and join_token is None  # no Keystone, no Heat
    # Nowhere in the database files, the write-ahead log included.
    for path in state.glob("magnum-lite.sqlite*"):
        assert b"PRIVATE KEY" not in path.read_bytes(), path


@contextlib.contextmanager
def _production(tmp_path, *, setup: bool = True):
    """The README's production steps: PostgreSQL and RabbitMQ, `magnum-lite-manage
    credentials setup` and `db upgrade`, then magnum-lite-conductor and magnum-lite-api (noauth
    here: there is no Keystone). Yields the deployment, its database URL and key file."""
    with dep.postgresql_database() as db_url, dep.rabbitmq_vhost() as transport_url:
        cloud = dep.Deployment(tmp_path, dep.free_port())
        key_file = tmp_path / "etc" / "credentials.key"
        cloud.write_config({
            "DEFAULT": {"transport_url": transport_url, "host": "secrets-test"},
            "database": {"connection": db_url},
            "api": {"host": "127.0.0.1", "port": str(cloud.port), "auth_strategy": "noauth",
                    "workers": "1"},
            "conductor": {"heartbeat_interval": "1"},
            "credentials": {"encryption_key_file": str(key_file)},
        })
        if setup:
            made = cloud.manage("credentials", "setup")
            assert f"Created the credentials encryption key {key_file}" in made.stdout
        cloud.manage("db", "upgrade")
        if not setup:
            os.remove(key_file)  # made by `db upgrade` when there is none: lost since
        cloud.start("magnum-lite-conductor")
        cloud.start("magnum-lite-api")
        try:
            cloud.wait_until_serving()
            yield cloud, db_url, key_file
        finally:
            codes = cloud.stop()
        assert codes == {"magnum-lite-conductor": 0, "magnum-lite-api": 0}, codes


@pytest.mark.service
def test_the_production_setup_stores_no_private_key_in_clear_and_csr_errors_are_one_line(
        tmp_path):
    with _production(tmp_path) as (cloud, db_url, key_file):
        _template, cluster = _create_failed_cluster(cloud, "c1")
        keys, _others = _stored_secrets(db_url, cluster["uuid"])
        _assert_ciphertext_under(keys, key_file)
        _assert_key_file(key_file)

        # An unparsable CSR: the conductor refuses it over RabbitMQ (an oslo.messaging
        # remote exception); the client gets its reason on one line, no traceback.
        broken = make_csr().replace("-----BEGIN CERTIFICATE REQUEST-----\nMI",
                                    "-----BEGIN CERTIFICATE REQUEST-----\nXX")
        status, text = cloud.http("POST", "/v1/certificates",
                                  {"cluster_uuid": cluster["uuid"], "csr": broken})
        assert status == 400, text
        assert "Traceback" not in text and ".py" not in text
        error = json.loads(text)["errors"][0]
        assert error["detail"].startswith("csr:"), error
        assert "\n" not in error["detail"] and "\n" not in error["title"]
        # The same path signs a good one with the encrypted CA key.
        status, text = cloud.http("POST", "/v1/certificates",
                                  {"cluster_uuid": cluster["uuid"], "csr": make_csr()})
        assert status == 201, text
        checked = subprocess.run(
            [str(dep.BIN / "magnum-lite-status"), "--config-file", str(cloud.config_file),
             "upgrade", "check", "--json"], env=cloud.env, capture_output=True, text=True,
            timeout=120)
    results = {check["check"]: check for check in json.loads(checked.stdout)["checks"]}
    credentials = results["Credentials encryption"]
    assert credentials["result"] == 0, credentials
    assert str(key_file) in credentials["details"]


@pytest.mark.service
def test_a_conductor_without_a_key_refuses_to_store_secrets_until_one_is_set_up(tmp_path):
    with _production(tmp_path, setup=False) as (cloud, db_url, key_file):
        template, cluster = _create_failed_cluster(cloud, "c1")
        reason = cluster["status_reason"]
        assert "Refusing to store a secret unencrypted" in reason, reason
        assert "[credentials] allow_plaintext" in reason
        assert "magnum-lite-manage credentials setup" in reason
        keys, _others = _stored_secrets(db_url, cluster["uuid"])
        assert keys == []  # nothing stored, in clear or otherwise
        conductor_log = cloud.log("magnum-lite-conductor")
        assert "Traceback" not in conductor_log

        # The operator makes the key; the running conductor uses it from the next cluster on.
        cloud.manage("credentials", "setup")
        _template, second = _create_failed_cluster(cloud, "c2", template)
        keys, _others = _stored_secrets(db_url, second["uuid"])
        _assert_ciphertext_under(keys, key_file)
