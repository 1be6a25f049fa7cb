"""magnum-lite-status upgrade check: each check, and the command as an operator runs it."""

import datetime
import os
import pathlib
import subprocess
import sys

from cryptography.fernet import Fernet
from oslo_policy import policy as oslo_policy
from oslo_upgradecheck import upgradecheck
from oslo_utils import timeutils
import pytest

from magnum_lite import objects
from magnum_lite.cmd import status
from magnum_lite.common import context as ml_context
from magnum_lite.common import encryption, policies
from magnum_lite.db import migration
from magnum_lite.db.sqlalchemy import api as db_api

Code = upgradecheck.Code
BIN = pathlib.Path(sys.executable).parent


@pytest.fixture
def database(config, tmp_path):
    """An empty SQLite database (no schema at all)."""
    db_api.dispose_engine()
    config.set_override("connection", f"sqlite:///{tmp_path}/status.sqlite", group="database")
    yield
    db_api.dispose_engine()
    config.clear_override("connection", group="database")


@pytest.fixture
def migrated(database):
    migration.upgrade()


@pytest.fixture
def policy_file(config, tmp_path):
    oslo_policy.Enforcer(config)  # registers [oslo_policy]
    path = tmp_path / "policy.yaml"
    config.set_override("policy_file", str(path), group="oslo_policy")
    yield path
    config.clear_override("policy_file", group="oslo_policy")


def test_schema_check_fails_on_a_database_never_migrated(database):
    result = status.Checks()._check_database_schema()
    assert result.code == Code.FAILURE
    assert "magnum-lite-manage db upgrade" in result.details


def test_schema_check_passes_at_head(migrated):
    assert status.Checks()._check_database_schema().code == Code.SUCCESS


def test_schema_check_says_what_to_do_when_the_database_is_unreachable(config, tmp_path):
    (tmp_path / "a-file").write_text("")
    db_api.dispose_engine()
    config.set_override("connection", f"sqlite:///{tmp_path}/a-file/x.sqlite", group="database")
    try:
        result = status.Checks()._check_database_schema()
    finally:
        db_api.dispose_engine()
        config.clear_override("connection", group="database")
    assert result.code == Code.FAILURE
    assert "[database] connection" in result.details


def test_conductor_check_fails_without_any_conductor(migrated):
    result = status.Checks()._check_conductor_alive()
    assert result.code == Code.FAILURE
    assert "Start magnum-lite-conductor" in result.details
    assert "none ever reported" in result.details


def test_conductor_check_passes_with_a_fresh_heartbeat(migrated):
    objects.MagnumService.heartbeat(ml_context.get_admin_context(), "c1",
                                    "magnum-lite-conductor")
    result = status.Checks()._check_conductor_alive()
    assert result.code == Code.SUCCESS
    assert "c1" in result.details


def test_conductor_check_fails_when_the_last_heartbeat_is_old(migrated, config):
    objects.MagnumService.heartbeat(ml_context.get_admin_context(), "c1",
                                    "magnum-lite-conductor")
    later = timeutils.utcnow(with_timezone=True) + datetime.timedelta(
        seconds=config.conductor.service_down_time + 5)
    timeutils.set_time_override(later)
    try:
        result = status.Checks()._check_conductor_alive()
    finally:
        timeutils.clear_time_override()
    assert result.code == Code.FAILURE
    assert "known hosts: c1" in result.details


def test_other_services_do_not_count_as_conductors(migrated):
    objects.MagnumService.heartbeat(ml_context.get_admin_context(), "a1", "magnum-lite-api")
    assert status.Checks()._check_conductor_alive().code == Code.FAILURE


def test_policy_check_passes_without_a_policy_file(policy_file):
    assert status.Checks()._check_policy_rules().code == Code.SUCCESS


def test_policy_check_passes_with_known_rules(policy_file):
    rule = policies.list_rules()[0].name
    policy_file.write_text(f'"{rule}": "role:admin"\n')
    assert status.Checks()._check_policy_rules().code == Code.SUCCESS


def test_policy_check_names_unknown_rules(policy_file):
    policy_file.write_text('"cluster:create_everything": "role:admin"\n')
    result = status.Checks()._check_policy_rules()
    assert result.code == Code.FAILURE
    assert "cluster:create_everything" in result.details


def test_policy_check_fails_on_a_file_that_does_not_parse(policy_file):
    policy_file.write_text("cluster:create: [unclosed\n")
    result = status.Checks()._check_policy_rules()
    assert result.code == Code.FAILURE
    assert "cannot be read or parsed" in result.details


def test_policy_directories_are_checked_too(policy_file, config, tmp_path):
    directory = tmp_path / "policy.d"
    directory.mkdir()
    (directory / "extra.yaml").write_text('"nope:nothing": "role:admin"\n')
    config.set_override("policy_dirs", [str(directory)], group="oslo_policy")
    try:
        result = status.Checks()._check_policy_rules()
    finally:
        config.clear_override("policy_dirs", group="oslo_policy")
    assert result.code == Code.FAILURE
    assert "nope:nothing" in result.details


def test_the_command_exits_2_and_explains_on_an_empty_database(tmp_path):
    config_file = tmp_path / "magnum-lite.conf"
    config_file.write_text(f"[database]\nconnection = sqlite:///{tmp_path}/x.sqlite\n")
    done = subprocess.run(
        [str(BIN / "magnum-lite-status"), "--config-file", str(config_file), "upgrade",
         "check"], env=dict(os.environ, HOME=str(tmp_path)), capture_output=True, text=True,
        timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Database schema" in done.stdout
    assert "magnum-lite-manage db" in done.stdout


# ---------------------------------------------------------------------- credentials encryption

KEY = Fernet.generate_key().decode()
OTHER_KEY = Fernet.generate_key().decode()


def store_secret_rows(private_key: str, trustee_password: str | None = None) -> None:
    conn = db_api.Connection()
    conn.create_x509keypair({"name": "ca", "cluster_id": "c", "certificate": "cert",
                             "private_key": private_key, "project_id": "p1"})
    conn.create_cluster({"name": "c", "project_id": "p1", "user_id": "u1",
                         "trustee_password": trustee_password})


def test_credentials_check_fails_without_any_key(database, no_credentials_key):
    """The conductor would refuse to store a new cluster's secrets: a failure, saying how to
    make the key."""
    result = status.Checks()._check_credentials_encryption()
    assert result.code == Code.FAILURE
    assert "[credentials] encryption_keys is not set" in result.details
    assert encryption.key_file() in result.details
    assert "magnum-lite-manage credentials setup" in result.details


def test_credentials_check_warns_when_plaintext_is_allowed(database, config,
                                                           no_credentials_key):
    config.set_override("allow_plaintext", True, group="credentials")
    result = status.Checks()._check_credentials_encryption()
    assert result.code == Code.WARNING
    assert "stored unencrypted" in result.details
    assert "[credentials] allow_plaintext = true" in result.details


def test_credentials_check_passes_with_the_key_file(migrated, credentials_key):
    store_secret_rows(encryption.encrypt("pem"), encryption.encrypt("pw"))
    result = status.Checks()._check_credentials_encryption()
    assert result.code == Code.SUCCESS
    assert f"1 key(s) from [credentials] encryption_key_file {credentials_key}" == \
        result.details


def test_credentials_check_fails_on_an_unreadable_key_file(database, config, tmp_path):
    (tmp_path / "a-file").write_text("")
    config.set_override("encryption_key_file", str(tmp_path / "a-file" / "key"),
                        group="credentials")
    result = status.Checks()._check_credentials_encryption()
    assert result.code == Code.FAILURE
    assert "cannot be read" in result.details


def test_credentials_check_fails_on_an_invalid_key(database, config):
    config.set_override("encryption_keys", [KEY, "not-a-fernet-key"], group="credentials")
    result = status.Checks()._check_credentials_encryption()
    assert result.code == Code.FAILURE
    assert "key number 2" in result.details
    assert "not-a-fernet-key" not in result.details and KEY not in result.details


def test_credentials_check_passes_when_every_secret_is_under_the_first_key(migrated, config):
    config.set_override("encryption_keys", [KEY, OTHER_KEY], group="credentials")
    store_secret_rows(encryption.encrypt("pem"), encryption.encrypt("pw"))
    result = status.Checks()._check_credentials_encryption()
    assert result.code == Code.SUCCESS
    assert "2 key(s)" in result.details


def test_credentials_check_warns_about_plaintext_and_old_key_values(migrated, config):
    config.set_override("encryption_keys", [OTHER_KEY], group="credentials")
    old = encryption.encrypt("pw")
    config.set_override("encryption_keys", [KEY, OTHER_KEY], group="credentials")
    store_secret_rows("plain pem", old)
    result = status.Checks()._check_credentials_encryption()
    assert result.code == Code.WARNING
    assert "2 stored secret(s)" in result.details
    assert "magnum-lite-manage credentials reencrypt" in result.details


def test_credentials_check_fails_when_a_secret_cannot_be_decrypted(migrated, config):
    config.set_override("encryption_keys", [OTHER_KEY], group="credentials")
    lost = encryption.encrypt("pw")
    config.set_override("encryption_keys", [KEY], group="credentials")
    store_secret_rows(encryption.encrypt("pem"), lost)
    result = status.Checks()._check_credentials_encryption()
    assert result.code == Code.FAILURE
    assert "1 stored secret(s) cannot be decrypted" in result.details
    assert lost not in result.details


def test_credentials_check_fails_when_keys_were_removed(migrated, config, no_credentials_key):
    config.set_override("encryption_keys", [KEY], group="credentials")
    store_secret_rows(encryption.encrypt("pem"))
    config.clear_override("encryption_keys", group="credentials")
    result = status.Checks()._check_credentials_encryption()
    assert result.code == Code.FAILURE
    assert "encryption_keys is not set" in result.details
    assert "1 stored secret(s) are encrypted" in result.details


def test_credentials_check_skips_the_database_part_when_unreachable(database, config):
    config.set_override("encryption_keys", [KEY], group="credentials")
    result = status.Checks()._check_credentials_encryption()  # no schema: table missing
    assert result.code == Code.SUCCESS
    assert "not checked" in result.details


def test_credentials_check_is_registered():
    assert "Credentials encryption" in [name for name, _ in status.Checks._upgrade_checks]
