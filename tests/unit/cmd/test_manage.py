"""magnum-lite-manage credentials setup and reencrypt (and the key `db upgrade` makes), and the
two database methods reencrypt stands on."""

import os
import pathlib
import subprocess
import sys

from cryptography.fernet import Fernet
import pytest

from magnum_lite.cmd import manage
from magnum_lite.common import encryption
from magnum_lite.db.sqlalchemy import api as db_api
from magnum_lite.db.sqlalchemy import models

BIN = pathlib.Path(sys.executable).parent
OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


def _manage(config_file: pathlib.Path, home: pathlib.Path, *args: str
            ) -> subprocess.CompletedProcess:
    """`magnum-lite-manage --config-file config_file ARGS` with HOME=home."""
    return subprocess.run(
        [str(BIN / "magnum-lite-manage"), "--config-file", str(config_file), *args],
        env=dict(os.environ, HOME=str(home)), capture_output=True, text=True, timeout=120)


@pytest.fixture
def conn(db) -> db_api.Connection:
    return db_api.Connection()


def use_keys(config, *keys: str) -> None:
    config.set_override("encryption_keys", list(keys), group="credentials")


def add_keypair(conn, private_key: str | None):
    return conn.create_x509keypair({"name": "ca", "cluster_id": "c", "certificate": "cert",
                                    "private_key": private_key, "project_id": "p1"})


def add_cluster(conn, trustee_password: str | None, join_token: str | None = None):
    return conn.create_cluster({"name": "c", "project_id": "p1", "user_id": "u1",
                                "trustee_password": trustee_password,
                                "join_token": join_token})


def stored(table: str, uuid: str) -> dict:
    return next(values for t, u, values in db_api.Connection().list_secret_rows()
                if (t, u) == (table, uuid))


def under_key(value: str, key: str) -> str:
    """The plaintext of a stored value, opened with exactly this key."""
    assert value.startswith(encryption.PREFIX)
    return Fernet(key).decrypt(value[len(encryption.PREFIX):].encode()).decode()


# ---------------------------------------------------------------------- database methods

def test_list_secret_rows_returns_every_row_with_a_secret(conn):
    keypair = add_keypair(conn, "pem")
    cluster = add_cluster(conn, "pw", "tok")
    add_cluster(conn, None, None)  # nothing secret: not listed
    assert conn.list_secret_rows() == [
        ("x509keypair", keypair.uuid, {"private_key": "pem"}),
        ("cluster", cluster.uuid, {"trustee_password": "pw", "join_token": "tok"}),
    ]


def test_replace_secrets_is_a_compare_and_swap_that_keeps_revision_and_updated_at(conn):
    cluster = add_cluster(conn, "pw", "tok")
    with db_api._reader() as session:
        row = session.query(models.Cluster).filter_by(uuid=cluster.uuid).one()
        revision, updated_at = row.revision, row.updated_at

    assert conn.replace_secrets("cluster", cluster.uuid, {"trustee_password": "pw"},
                                {"trustee_password": "new"})
    # The old value no longer matches: a second writer with a stale read changes nothing.
    assert not conn.replace_secrets("cluster", cluster.uuid, {"trustee_password": "pw"},
                                    {"trustee_password": "stale"})
    assert not conn.replace_secrets("cluster", "no-such-uuid", {"join_token": "tok"},
                                    {"join_token": "x"})
    assert stored("cluster", cluster.uuid) == {"trustee_password": "new", "join_token": "tok"}
    with db_api._reader() as session:
        row = session.query(models.Cluster).filter_by(uuid=cluster.uuid).one()
        assert (row.revision, row.updated_at) == (revision, updated_at)


def test_replace_secrets_refuses_other_columns(conn):
    cluster = add_cluster(conn, "pw")
    with pytest.raises(ValueError):
        conn.replace_secrets("cluster", cluster.uuid, {"name": "c"}, {"name": "x"})
    with pytest.raises(ValueError):
        conn.replace_secrets("quota", cluster.uuid, {}, {})


# ---------------------------------------------------------------------- the command

def test_reencrypt_without_a_key_fails_and_changes_nothing(conn, capsys, no_credentials_key):
    keypair = add_keypair(conn, "plain pem")
    assert manage.do_credentials_reencrypt() == 1
    err = capsys.readouterr().err
    assert "[credentials] encryption_keys is not set" in err
    assert "magnum-lite-manage credentials setup" in err
    assert stored("x509keypair", keypair.uuid) == {"private_key": "plain pem"}


def test_reencrypt_encrypts_plaintext_and_rotates_old_tokens(conn, config, capsys):
    use_keys(config, OLD_KEY)
    old_pem = encryption.encrypt("old pem")
    use_keys(config, NEW_KEY, OLD_KEY)
    current = encryption.encrypt("current pem")
    rotated_keypair = add_keypair(conn, old_pem)
    current_keypair = add_keypair(conn, current)
    cluster = add_cluster(conn, "trustee pw", "abcdef.0123456789abcdef")

    assert manage.do_credentials_reencrypt() == 0
    out = capsys.readouterr().out
    assert "2 row(s) re-encrypted" in out and "1 already" in out

    assert under_key(stored("x509keypair", rotated_keypair.uuid)["private_key"],
                     NEW_KEY) == "old pem"
    assert stored("x509keypair", current_keypair.uuid)["private_key"] == current  # untouched
    secrets = stored("cluster", cluster.uuid)
    assert under_key(secrets["trustee_password"], NEW_KEY) == "trustee pw"
    assert under_key(secrets["join_token"], NEW_KEY) == "abcdef.0123456789abcdef"

    # Safe to re-run: nothing left to do, and nothing changes.
    snapshot = db_api.Connection().list_secret_rows()
    assert manage.do_credentials_reencrypt() == 0
    assert "0 row(s) re-encrypted" in capsys.readouterr().out
    assert db_api.Connection().list_secret_rows() == snapshot


def test_reencrypt_names_what_it_cannot_decrypt_and_does_the_rest(conn, config, capsys):
    use_keys(config, OLD_KEY)
    lost = encryption.encrypt("lost pw")
    use_keys(config, NEW_KEY)
    cluster = add_cluster(conn, lost, "plain token")
    keypair = add_keypair(conn, "plain pem")

    assert manage.do_credentials_reencrypt() == 1
    captured = capsys.readouterr()
    assert f"cluster {cluster.uuid} (trustee_password)" in captured.err
    assert lost not in captured.err and "lost pw" not in captured.err
    assert lost not in captured.out
    secrets = stored("cluster", cluster.uuid)
    assert secrets["trustee_password"] == lost  # left as it was
    assert under_key(secrets["join_token"], NEW_KEY) == "plain token"
    assert under_key(stored("x509keypair", keypair.uuid)["private_key"], NEW_KEY) == "plain pem"


def test_reencrypt_leaves_a_row_changed_meanwhile_and_says_run_again(conn, config, capsys,
                                                                      monkeypatch):
    use_keys(config, NEW_KEY)
    keypair = add_keypair(conn, "plain pem")
    fresh = encryption.encrypt("fresh pem")
    real_list = db_api.Connection.list_secret_rows

    def list_then_someone_writes(self):
        rows = real_list(self)
        self.replace_secrets("x509keypair", keypair.uuid, {"private_key": "plain pem"},
                             {"private_key": fresh})
        return rows

    monkeypatch.setattr(db_api.Connection, "list_secret_rows", list_then_someone_writes)
    assert manage.do_credentials_reencrypt() == 1
    assert "run the command again" in capsys.readouterr().err
    monkeypatch.undo()
    assert stored("x509keypair", keypair.uuid) == {"private_key": fresh}


def test_the_command_line(tmp_path, config):
    """As an operator runs it: the exit codes and what it prints."""
    db_file = tmp_path / "manage.sqlite"
    config_file = tmp_path / "magnum-lite.conf"
    # An explicit opt-out of encryption: `db upgrade` then makes no key.
    config_file.write_text(f"[database]\nconnection = sqlite:///{db_file}\n"
                           "[credentials]\nallow_plaintext = true\n")

    def run(*args: str) -> subprocess.CompletedProcess:
        return _manage(config_file, tmp_path, *args)

    done = run("db", "upgrade")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / ".local/share/magnum-lite/credentials.key").exists()
    db_api.dispose_engine()
    config.set_override("connection", f"sqlite:///{db_file}", group="database")
    config.set_override("allow_plaintext", True, group="credentials")
    try:
        keypair = add_keypair(db_api.Connection(), "plain pem")

        done = run("credentials", "reencrypt")
        assert done.returncode == 1
        assert "encryption_keys is not set" in done.stderr

        config_file.write_text(f"[database]\nconnection = sqlite:///{db_file}\n"
                               f"[credentials]\nencryption_keys = {NEW_KEY},{OLD_KEY}\n")
        done = run("credentials", "reencrypt")
        assert done.returncode == 0, done.stderr
        assert "1 row(s) re-encrypted" in done.stdout
        assert NEW_KEY not in done.stdout + done.stderr
        assert under_key(stored("x509keypair", keypair.uuid)["private_key"],
                         NEW_KEY) == "plain pem"

        config_file.write_text(f"[database]\nconnection = sqlite:///{db_file}\n"
                               "[credentials]\nencryption_keys = not-a-key\n")
        done = run("credentials", "reencrypt")
        assert done.returncode == 1
        assert "key number 1" in done.stderr and "not-a-key" not in done.stderr
    finally:
        db_api.dispose_engine()
        config.clear_override("connection", group="database")


# ---------------------------------------------------------------------- credentials setup

def test_setup_makes_the_key_file_once(config, capsys, no_credentials_key):
    path = encryption.key_file()
    assert manage.do_credentials_setup() == 0
    out = capsys.readouterr().out
    assert f"Created the credentials encryption key {path} (mode 0600)" in out
    assert os.stat(path).st_mode & 0o777 == 0o600
    key = pathlib.Path(path).read_text()
    assert encryption.validate_keys() == 1
    assert manage.do_credentials_setup() == 0  # safe to re-run: the key stays
    assert "1 credentials encryption key(s) from [credentials] encryption_key_file" in \
        capsys.readouterr().out
    assert pathlib.Path(path).read_text() == key


def test_setup_with_keys_in_the_option_writes_no_file(config, capsys, no_credentials_key):
    use_keys(config, NEW_KEY)
    assert manage.do_credentials_setup() == 0
    assert "from [credentials] encryption_keys: nothing to do" in capsys.readouterr().out
    assert not os.path.exists(encryption.key_file())


def test_setup_refuses_to_overwrite_a_key_file_without_keys(config, capsys,
                                                            no_credentials_key):
    pathlib.Path(encryption.key_file()).write_text("# nothing yet\n")
    assert manage.do_credentials_setup() == 1
    assert "exists but holds no key" in capsys.readouterr().err
    assert pathlib.Path(encryption.key_file()).read_text() == "# nothing yet\n"


def test_db_upgrade_makes_the_key_and_setup_then_finds_it(tmp_path):
    """As an operator sets a deployment up: no key configured, none is stored in clear."""
    state = tmp_path / "state"
    config_file = tmp_path / "magnum-lite.conf"
    config_file.write_text(f"[DEFAULT]\nstate_path = {state}\n")

    def run(*args: str) -> subprocess.CompletedProcess:
        return _manage(config_file, tmp_path, *args)

    done = run("db", "upgrade")
    assert done.returncode == 0, done.stderr
    key_file = state / "credentials.key"
    assert f"Created the credentials encryption key {key_file}" in done.stdout
    assert key_file.stat().st_mode & 0o777 == 0o600
    key = key_file.read_text()
    assert key.splitlines()[-1] not in done.stdout + done.stderr
    done = run("db", "upgrade")  # again: the key stays as it is
    assert done.returncode == 0 and "Created" not in done.stdout
    done = run("credentials", "setup")
    assert done.returncode == 0, done.stderr
    assert "nothing to do" in done.stdout
    assert key_file.read_text() == key
