"""magnum-lite-manage: operator commands that act on the database directly.

    magnum-lite-manage [--config-file FILE] db upgrade [--revision REV]
    magnum-lite-manage [--config-file FILE] db version
    magnum-lite-manage [--config-file FILE] credentials setup
    magnum-lite-manage [--config-file FILE] credentials reencrypt

Exit codes: 0 done, 1 the command failed (one line on stderr says why), 2 bad usage.
"""

import sys
from typing import Any

from alembic import util as alembic_util
from oslo_config import cfg
from oslo_db import exception as db_exc
from oslo_log import log as logging
import sqlalchemy as sa

from magnum_lite.common import encryption, exception
from magnum_lite.conf import CONF
from magnum_lite.db import api as db_api
from magnum_lite.db import migration

LOG = logging.getLogger(__name__)


def do_db_upgrade() -> int:
    """Bring the schema to --revision (head by default); at head, also make the credentials
    key when there is none (see do_credentials_setup), so a new deployment stores no secret
    in clear."""
    LOG.info("Upgrading the database schema from revision %s to %s", migration.version(),
             CONF.command.revision)
    migration.upgrade(CONF.command.revision)
    LOG.info("The database schema is at revision %s", migration.version())
    if CONF.command.revision == "head":
        from magnum_lite.objects import driver

        driver.seed_default_drivers()
        try:
            made = encryption.ensure_key()
        except (OSError, encryption.KeyFileUnreadable) as err:
            reason = err.strerror if isinstance(err, OSError) else str(err)
            sys.stderr.write(f"magnum-lite-manage: warning: the credentials key was not made "
                             f"({encryption.KEY_FILE_OPTION} {encryption.key_file()}: "
                             f"{reason or type(err).__name__}); run magnum-lite-manage "
                             "credentials setup as the conductor's user\n")
        else:
            if made:
                _key_file_made(made)
    return 0


def do_db_version() -> int:
    """Print the schema's revision, or `None` for a database never migrated."""
    sys.stdout.write(f"{migration.version()}\n")
    return 0


def _key_file_made(path: str) -> None:
    sys.stdout.write(f"Created the credentials encryption key {path} (mode 0600): every "
                     "conductor host needs this file (or its key in [credentials] "
                     "encryption_keys); keep a copy, the secrets it encrypts are lost with "
                     "it\n")


def do_credentials_setup() -> int:
    """Make the key that encrypts the stored secrets, unless there is one already.

    The key goes to a new file at [credentials] encryption_key_file (mode 0600); an existing
    file is never overwritten. Safe to re-run.
    """
    keys = encryption.validate_keys()
    if keys:
        sys.stdout.write(f"{keys} credentials encryption key(s) from "
                         f"{encryption.key_source()}: nothing to do\n")
        return 0
    path = encryption.key_file()
    try:
        made = encryption.create_key_file(path)
    except OSError as err:
        sys.stderr.write(f"magnum-lite-manage: error: cannot create {path}: "
                         f"{err.strerror or type(err).__name__}\n")
        return 1
    if not made:
        sys.stderr.write(f"magnum-lite-manage: error: {path} exists but holds no key: add a "
                         "Fernet key to it or remove it\n")
        return 1
    _key_file_made(path)
    return 0


def do_credentials_reencrypt() -> int:
    """Encrypt every stored secret with the first key of [credentials] encryption_keys.

    The second step of a key rotation (and how secrets stored in plaintext get encrypted once
    a key is set). Rows already under the first key are left alone, so it is safe to re-run.
    A value no configured key opens is named (table and uuid, never the value) and the
    command exits 1 after doing the rest.
    """
    if not encryption.enabled():
        sys.stderr.write(f"magnum-lite-manage: error: {encryption.KEYS_OPTION} is not set and "
                         f"{encryption.key_source()} holds no key: there is no key to encrypt "
                         "with; run magnum-lite-manage credentials setup first\n")
        return 1
    dbapi = db_api.get_instance()
    changed = current = 0
    undecryptable: list[str] = []
    raced: list[str] = []
    for table, uuid, stored in dbapi.list_secret_rows():
        expected: dict[str, str | None] = {}
        values: dict[str, str | None] = {}
        stale = False
        for column, value in stored.items():
            if encryption.is_current(value):
                continue
            stale = True
            try:
                values[column] = encryption.reencrypt(value)
            except exception.CredentialsUndecryptable:
                undecryptable.append(f"{table} {uuid} ({column})")
                continue
            expected[column] = value
        if not stale:
            current += 1
        elif not values:
            continue
        elif dbapi.replace_secrets(table, uuid, expected, values):
            changed += 1
        else:
            raced.append(f"{table} {uuid}")
    sys.stdout.write(f"{changed} row(s) re-encrypted with the first key, {current} already "
                     "were\n")
    failed = False
    if raced:
        failed = True
        sys.stderr.write(f"magnum-lite-manage: {len(raced)} row(s) changed while re-encrypting "
                         f"and were left as they are; run the command again: "
                         f"{', '.join(raced)}\n")
    if undecryptable:
        failed = True
        sys.stderr.write(f"magnum-lite-manage: error: no key of [credentials] encryption_keys "
                         f"decrypts: {', '.join(undecryptable)}; put back the key that "
                         "encrypted them and run the command again\n")
    return 1 if failed else 0


def _add_command_parsers(subparsers: Any) -> None:
    """The commands and their actions (oslo.config hands us argparse's subparsers)."""
    db = subparsers.add_parser("db", help="database schema")
    db_actions = db.add_subparsers(title="db commands", dest="db_command")
    db_actions.required = True

    upgrade = db_actions.add_parser("upgrade", help="migrate the schema forward")
    upgrade.add_argument("--revision", default="head",
                         help="revision to migrate to (default: head)")
    upgrade.set_defaults(func=do_db_upgrade)

    version = db_actions.add_parser("version", help="print the schema's revision")
    version.set_defaults(func=do_db_version)

    credentials = subparsers.add_parser("credentials", help="stored secrets")
    credentials_actions = credentials.add_subparsers(title="credentials commands",
                                                     dest="credentials_command")
    credentials_actions.required = True
    setup = credentials_actions.add_parser(
        "setup", help="create the key file of [credentials] encryption_key_file when no key "
                      "is configured (mode 0600; never overwritten)")
    setup.set_defaults(func=do_credentials_setup)
    reencrypt = credentials_actions.add_parser(
        "reencrypt", help="encrypt every stored secret with the first key of [credentials] "
                          "encryption_keys (after adding a new key first)")
    reencrypt.set_defaults(func=do_credentials_reencrypt)


_COMMAND_OPT = cfg.SubCommandOpt("command", title="commands", handler=_add_command_parsers,
                                 help="available commands")


def _one_line(err: BaseException) -> str:
    """The first line of an error (database drivers add SQL and hint lines below it)."""
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]


def main(argv: list[str] | None = None) -> int:
    """Entry point of `magnum-lite-manage`; returns the process exit code."""
    CONF.register_cli_opt(_COMMAND_OPT)
    logging.register_options(CONF)
    # alembic logs its dialect choice at INFO on every connection: keep stdout for results.
    logging.set_defaults(default_log_levels=logging.get_default_log_levels()
                         + ["alembic.runtime.migration=WARN"])
    CONF(sys.argv[1:] if argv is None else argv, project="magnum-lite",
         prog="magnum-lite-manage")
    logging.setup(CONF, "magnum-lite-manage")
    try:
        return CONF.command.func()
    except db_exc.DBConnectionError as err:
        sys.stderr.write(f"magnum-lite-manage: cannot connect to the database: "
                         f"{_one_line(err)}\n")
    except (db_exc.DBError, sa.exc.SQLAlchemyError, alembic_util.CommandError,
            migration.MigrationScriptsNotFound, exception.MagnumLiteException,
            TimeoutError) as err:
        sys.stderr.write(f"magnum-lite-manage: error: {_one_line(err)}\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
