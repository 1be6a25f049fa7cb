"""sandbox.json and the other generated files of the sandbox: paths, passwords, ini writing.

sandbox.json is the contract between the sandbox pieces (see `magnum_lite_sandbox`): it is
written before any process starts, and it holds generated passwords, so it is created 0600 and
its passwords are kept across runs (a changed password would revoke every token issued with it).
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
import secrets
from typing import Any

KEYSTONE_URL = "http://127.0.0.1:5000/v3"
REGION = "RegionOne"
HEAT_URL = "http://127.0.0.1:8004/v1/%(tenant_id)s"
MAGNUM_LITE_URL = "http://127.0.0.1:9511/v1"
CLOUD_API = {
    "image": "http://127.0.0.1:9292",
    "compute": "http://127.0.0.1:8774/v2.1",
    "network": "http://127.0.0.1:9696",
    "load-balancer": "http://127.0.0.1:9876",
}
RABBIT_VHOST = "magnum-lite-sandbox"
RABBIT_USER = "magnum-lite-sandbox"
HEAT_DB = "heat_sandbox"
HEAT_DB_USER = "heat_sandbox"
MAGNUM_DB = "magnum_lite_sandbox"
MAGNUM_DB_USER = "magnum_lite_sandbox"
STACK_DOMAIN = "heat"
STACK_DOMAIN_ADMIN = "heat_domain_admin"
# magnum-lite's trustee domain ([trust]): one trustee user per cluster, made by its admin.
TRUSTEE_DOMAIN = "magnum"
TRUSTEE_DOMAIN_ADMIN = "magnum_domain_admin"

# name -> project of the Keystone users the sandbox owns; service users are in "service".
PROJECT_USERS = {"admin": "admin", "demo": "demo", "alt_demo": "alt_demo"}
SERVICE_USERS = ("heat", "magnum-lite", "sandbox-cloud")


def default_state_dir() -> Path:
    """The state directory: MAGNUM_LITE_SANDBOX_DIR, else ~/.local/share/magnum-lite/sandbox."""
    env = os.environ.get("MAGNUM_LITE_SANDBOX_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return Path.home() / ".local" / "share" / "magnum-lite" / "sandbox"


def new_password() -> str:
    """A random password, URL- and ini-safe (it goes into transport URLs and DB URLs)."""
    return secrets.token_hex(16)


def new_fernet_key() -> str:
    """A Fernet key (32 random bytes, URL-safe base64): magnum-lite's [credentials] key."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _user(name: str, project: str, password: str) -> dict[str, str]:
    return {"username": name, "password": password, "project_name": project,
            "user_domain_name": "Default", "project_domain_name": "Default"}


def build(state_dir: Path, old: dict[str, Any] | None = None) -> dict[str, Any]:
    """The sandbox.json content, keeping every password of `old` (a previous sandbox.json).

    Pure: the same old content gives the same result, so re-running start changes nothing.
    """
    old = old or {}
    old_users = old.get("users", {})
    old_secrets = old.get("secrets", {})

    def password(name: str) -> str:
        return old_users.get(name, {}).get("password") or new_password()

    users = {name: _user(name, project, password(name))
             for name, project in PROJECT_USERS.items()}
    users.update({name: _user(name, "service", password(name)) for name in SERVICE_USERS})
    secret_names = ("rabbit", "heat_db", "magnum_db", "stack_domain_admin",
                    "trustee_domain_admin")
    kept = {name: old_secrets.get(name) or new_password() for name in secret_names}
    # Kept like the passwords: a new key could not decrypt what the old one encrypted.
    kept["credentials_key"] = old_secrets.get("credentials_key") or new_fernet_key()
    return {
        "state_dir": str(state_dir),
        "keystone_url": KEYSTONE_URL,
        "region": REGION,
        "heat_url": HEAT_URL,
        "magnum_lite_url": MAGNUM_LITE_URL,
        "cloud_api": dict(CLOUD_API),
        "users": users,
        # Not part of the shared contract: credentials of the backing services.
        "secrets": kept,
    }


def sandbox_json(state_dir: Path) -> Path:
    return state_dir / "sandbox.json"


def load(state_dir: Path) -> dict[str, Any] | None:
    """The current sandbox.json, or None when there is none yet."""
    path = sandbox_json(state_dir)
    if not path.exists():
        return None
    return json.loads(path.read_text())


def write_private(path: Path, text: str) -> bool:
    """Write `text` to `path` with mode 0600 when it differs; True when the file changed.

    Created with 0600 from the start (never briefly world-readable): these files hold passwords.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text() == text:
        os.chmod(path, 0o600)
        return False
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return True


def ensure(state_dir: Path) -> dict[str, Any]:
    """Create or refresh sandbox.json (keeping its passwords) and return its content."""
    state_dir.mkdir(parents=True, exist_ok=True)
    data = build(state_dir, load(state_dir))
    write_private(sandbox_json(state_dir), json.dumps(data, indent=2, sort_keys=True) + "\n")
    return data


def _ini_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def render_ini(sections: dict[str, dict[str, Any]]) -> str:
    """An oslo.config ini file from {section: {key: value}}, in the given order.

    Lists become comma separated, booleans lower case; `None` values are left out.
    """
    lines: list[str] = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {_ini_value(value)}" for key, value in values.items()
                     if value is not None)
        lines.append("")
    return "\n".join(lines)


def clouds_yaml(data: dict[str, Any]) -> str:
    """clouds.yaml with the clouds `sandbox` (demo), `sandbox-alt` (alt_demo), `sandbox-admin`.

    Written by hand rather than with a YAML library: the values are plain tokens (hex passwords,
    names, URLs), and JSON strings are valid YAML scalars.
    """
    lines = ["clouds:"]
    for cloud, user in (("sandbox", "demo"), ("sandbox-alt", "alt_demo"),
                        ("sandbox-admin", "admin")):
        u = data["users"][user]
        lines += [
            f"  {cloud}:",
            "    auth:",
            f"      auth_url: {json.dumps(data['keystone_url'])}",
            f"      username: {json.dumps(u['username'])}",
            f"      password: {json.dumps(u['password'])}",
            f"      project_name: {json.dumps(u['project_name'])}",
            f"      user_domain_name: {json.dumps(u['user_domain_name'])}",
            f"      project_domain_name: {json.dumps(u['project_domain_name'])}",
            f"    region_name: {json.dumps(data['region'])}",
            "    interface: public",
            "    identity_api_version: 3",
        ]
    return "\n".join(lines) + "\n"
