"""magnum-lite-status upgrade check: is this deployment ready to run (or upgrade)?

    magnum-lite-status [--config-file FILE ...] upgrade check [--json]

Exit code 0: every check passed; 1: warnings; 2: a check failed (it says what to do).
"""

import magnum_lite  # noqa: F401, I001  (selects oslo.service's threading backend first)

import os
import sys
from typing import Any

from oslo_upgradecheck import common_checks, upgradecheck
from oslo_utils import strutils

from magnum_lite.conf import CONF

BINARY = "magnum-lite-status"
CONDUCTOR_BINARY = "magnum-lite-conductor"


def _first_line(err: BaseException) -> str:
    """An error's first line (database drivers append SQL below it), passwords masked."""
    text = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return strutils.mask_password(f"{type(err).__name__}: {text}")


def _policy_files(conf: Any) -> list[str]:
    """The operator's policy file and the files of the policy directories, where present."""
    files = []
    policy_file = conf.find_file(conf.oslo_policy.policy_file)
    if policy_file:
        files.append(policy_file)
    for directory in conf.oslo_policy.policy_dirs:
        found = conf.find_file(directory)  # finds directories too
        if found and os.path.isdir(found):
            files.extend(os.path.join(found, name) for name in sorted(os.listdir(found))
                         if name.endswith((".yaml", ".yml", ".json")))
    return files


class Checks(upgradecheck.UpgradeCommands):
    """The checks; each failure names the command or setting that fixes it."""

    def _check_database_schema(self) -> upgradecheck.Result:
        from magnum_lite.db import migration

        try:
            at_head = migration.is_at_head()
        except Exception as err:
            return upgradecheck.Result(
                upgradecheck.Code.FAILURE,
                f"Cannot read the database schema ({_first_line(err)}). Check [database] "
                "connection and that the database server is up.")
        if not at_head:
            return upgradecheck.Result(
                upgradecheck.Code.FAILURE,
                f"The database schema is at revision {migration.version()}, not "
                f"{migration.head()}. Run: magnum-lite-manage db upgrade")
        return upgradecheck.Result(upgradecheck.Code.SUCCESS)

    def _check_conductor_alive(self) -> upgradecheck.Result:
        from magnum_lite import objects
        from magnum_lite.common import context
        from magnum_lite.objects import fields

        down_after = CONF.conductor.service_down_time
        try:
            services = objects.MagnumService.list(context.get_admin_context())
        except Exception as err:
            return upgradecheck.Result(
                upgradecheck.Code.FAILURE,
                f"Cannot read the service table ({_first_line(err)}). Check [database] "
                "connection and run: magnum-lite-manage db upgrade")
        conductors = [s for s in services if s.binary == CONDUCTOR_BINARY]
        up = [s for s in conductors if s.state(down_after) == fields.MagnumServiceState.UP]
        if not up:
            known = ", ".join(sorted(s.host for s in conductors)) or "none ever reported"
            return upgradecheck.Result(
                upgradecheck.Code.FAILURE,
                f"No {CONDUCTOR_BINARY} has reported in the last {down_after}s (known hosts: "
                f"{known}). Start {CONDUCTOR_BINARY} (or magnum-lite-all) with the same "
                "[database] and transport_url as the API; without one, clusters stay "
                "IN_PROGRESS.")
        return upgradecheck.Result(
            upgradecheck.Code.SUCCESS,
            f"{len(up)} conductor(s) up: {', '.join(sorted(s.host for s in up))}")

    def _check_policy_rules(self) -> upgradecheck.Result:
        from oslo_policy import policy as oslo_policy

        from magnum_lite.common import policies

        oslo_policy.Enforcer(CONF)  # registers the [oslo_policy] options
        known = {rule.name for rule in policies.list_rules()}
        problems = []
        for path in _policy_files(CONF):
            try:
                with open(path, encoding="utf-8") as policy_file:
                    rules = oslo_policy.parse_file_contents(policy_file.read())
            except (OSError, ValueError) as err:
                problems.append(f"{path} cannot be read or parsed ({_first_line(err)}); "
                                "fix its YAML syntax (oslopolicy-sample-generator "
                                "--namespace magnum_lite shows the format)")
                continue
            unknown = sorted(set(rules or {}) - known)
            if unknown:
                problems.append(f"{path} names rules magnum-lite does not have: "
                                f"{', '.join(unknown)}; remove or rename them "
                                "(oslopolicy-list-redundant and the sample from "
                                "oslopolicy-sample-generator --namespace magnum_lite help)")
        if problems:
            return upgradecheck.Result(upgradecheck.Code.FAILURE, " ".join(problems))
        return upgradecheck.Result(upgradecheck.Code.SUCCESS)

    def _check_credentials_encryption(self) -> upgradecheck.Result:
        from magnum_lite.common import encryption, exception
        from magnum_lite.db import api as db_api

        try:
            keys = encryption.validate_keys()
        except exception.CredentialsKeyInvalid as err:
            return upgradecheck.Result(upgradecheck.Code.FAILURE,
                                       f"{err} Generate keys with: python -c 'from "
                                       "cryptography.fernet import Fernet; "
                                       "print(Fernet.generate_key().decode())'")
        except encryption.KeyFileUnreadable as err:
            return upgradecheck.Result(upgradecheck.Code.FAILURE,
                                       f"{err} The conductor runs as a user that must read it.")
        try:
            rows = db_api.get_instance().list_secret_rows()
        except Exception:
            rows = None  # unreachable or not migrated: the database schema check says so
        values = [value for _, _, stored in rows or () for value in stored.values()]
        if not keys:
            encrypted = sum(1 for value in values if encryption.is_encrypted(value))
            if encrypted:
                return upgradecheck.Result(
                    upgradecheck.Code.FAILURE,
                    f"{encrypted} stored secret(s) are encrypted but no key is configured "
                    f"({encryption.KEYS_OPTION} is not set and {encryption.key_source()} "
                    "does not exist or is empty): configure the keys that encrypted them.")
            if encryption.plaintext_allowed():
                return upgradecheck.Result(
                    upgradecheck.Code.WARNING,
                    "Private keys of cluster CAs, trustee passwords and join tokens are "
                    f"stored unencrypted ({encryption.PLAINTEXT_OPTION} = true). Run "
                    "magnum-lite-manage credentials setup, set allow_plaintext = false, then "
                    "run magnum-lite-manage credentials reencrypt.")
            return upgradecheck.Result(
                upgradecheck.Code.FAILURE,
                f"No credentials encryption key: {encryption.KEYS_OPTION} is not set and "
                f"{encryption.key_source()} does not exist, so the conductor refuses to store "
                "the secrets of new clusters. Run: magnum-lite-manage credentials setup (and "
                "give every conductor host the same key).")
        if rows is None:
            return upgradecheck.Result(
                upgradecheck.Code.SUCCESS,
                f"{keys} key(s) from {encryption.key_source()}; stored secrets not checked "
                "(no database).")
        stale = [value for value in values if not encryption.is_current(value)]
        lost = 0
        for value in stale:
            try:
                encryption.decrypt(value)
            except exception.CredentialsUndecryptable:
                lost += 1
        if lost:
            return upgradecheck.Result(
                upgradecheck.Code.FAILURE,
                f"{lost} stored secret(s) cannot be decrypted with any key of "
                f"{encryption.key_source()}: put back the key that encrypted them "
                "(magnum-lite-manage credentials reencrypt names the rows).")
        if stale:
            return upgradecheck.Result(
                upgradecheck.Code.WARNING,
                f"{len(stale)} stored secret(s) are not encrypted with the first key of "
                f"{encryption.key_source()}; run magnum-lite-manage credentials reencrypt")
        return upgradecheck.Result(upgradecheck.Code.SUCCESS,
                                   f"{keys} key(s) from {encryption.key_source()}")

    _upgrade_checks = (
        ("Database schema", _check_database_schema),
        ("Conductor alive", _check_conductor_alive),
        ("Policy file rules", _check_policy_rules),
        ("Credentials encryption", _check_credentials_encryption),
        ("Policy File JSON to YAML Migration", (common_checks.check_policy_json,
                                                {"conf": CONF})),
    )


def main(argv: list[str] | None = None) -> int:
    from oslo_service import backend

    backend.init_backend(backend.BackendType.THREADING)
    return upgradecheck.main(CONF, project="magnum-lite", upgrade_command=Checks(),
                             argv=sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
