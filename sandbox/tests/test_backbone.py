"""The sandbox backbone's pure logic: sandbox.json, generated configs, idempotence decisions."""

from __future__ import annotations

import base64
import configparser
import json
import os
from pathlib import Path
import stat
import sys

from oslo_config import cfg
import pytest
import yaml

from magnum_lite.conf import conductor as conductor_opts
from magnum_lite_sandbox import cli, config, heat, keystone, magnum, processes, services, venv

DB = "postgresql+psycopg2://u:p@127.0.0.1:5432/d"
TRANSPORT = "rabbit://u:p@127.0.0.1:5672/magnum-lite-sandbox"


def _ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parser


# ---------------------------------------------------------------------- sandbox.json

def test_build_has_the_contract_keys(tmp_path):
    data = config.build(tmp_path)
    assert data["state_dir"] == str(tmp_path)
    assert data["keystone_url"] == "http://127.0.0.1:5000/v3"
    assert data["heat_url"] == "http://127.0.0.1:8004/v1/%(tenant_id)s"
    assert data["magnum_lite_url"] == "http://127.0.0.1:9511/v1"
    assert data["region"] == "RegionOne"
    assert set(data["cloud_api"]) == {"image", "compute", "network", "load-balancer"}
    assert set(data["users"]) == {"admin", "demo", "alt_demo", "heat", "magnum-lite",
                                  "sandbox-cloud"}
    for name, user in data["users"].items():
        assert set(user) == {"username", "password", "project_name", "user_domain_name",
                             "project_domain_name"}
        assert user["username"] == name
        assert len(user["password"]) >= 32
    assert data["users"]["heat"]["project_name"] == "service"
    assert data["users"]["alt_demo"]["project_name"] == "alt_demo"


def test_build_keeps_every_password(tmp_path):
    first = config.build(tmp_path)
    assert config.build(tmp_path, first) == first
    # A fresh build makes new ones: passwords are never a constant.
    assert config.build(tmp_path)["users"]["demo"]["password"] != first["users"]["demo"][
        "password"]


def test_build_makes_and_keeps_the_secrets(tmp_path):
    first = config.build(tmp_path)
    assert set(first["secrets"]) == {"rabbit", "heat_db", "magnum_db", "stack_domain_admin",
                                     "trustee_domain_admin", "credentials_key"}
    # A Fernet key: 32 bytes in URL-safe base64.
    assert len(base64.urlsafe_b64decode(first["secrets"]["credentials_key"])) == 32
    # A sandbox.json from before these secrets existed gets them, and keeps the others.
    old = json.loads(json.dumps(first))
    del old["secrets"]["trustee_domain_admin"], old["secrets"]["credentials_key"]
    upgraded = config.build(tmp_path, old)
    assert upgraded["secrets"]["rabbit"] == first["secrets"]["rabbit"]
    assert upgraded["secrets"]["credentials_key"] != first["secrets"]["credentials_key"]
    assert config.build(tmp_path, upgraded) == upgraded
    assert config.build(tmp_path)["secrets"]["credentials_key"] != first["secrets"][
        "credentials_key"]


def test_ensure_writes_0600_and_is_stable(tmp_path):
    first = config.ensure(tmp_path)
    path = tmp_path / "sandbox.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    mtime = path.stat().st_mtime_ns
    assert config.ensure(tmp_path) == first
    assert path.stat().st_mtime_ns == mtime
    assert json.loads(path.read_text()) == first


def test_write_private_reports_changes(tmp_path):
    path = tmp_path / "sub" / "f.conf"
    assert config.write_private(path, "a") is True
    assert config.write_private(path, "a") is False
    os.chmod(path, 0o644)
    assert config.write_private(path, "a") is False
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert config.write_private(path, "b") is True
    assert path.read_text() == "b"


def test_state_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MAGNUM_LITE_SANDBOX_DIR", str(tmp_path / "x"))
    assert config.default_state_dir() == tmp_path / "x"
    monkeypatch.delenv("MAGNUM_LITE_SANDBOX_DIR")
    assert config.default_state_dir() == Path.home() / ".local/share/magnum-lite/sandbox"


def test_render_ini():
    text = config.render_ini({"DEFAULT": {"a": True, "b": ["x", "y"], "c": None},
                              "s": {"d": 4}})
    parsed = _ini(text)
    assert parsed.defaults() == {"a": "true", "b": "x,y"}
    assert parsed.get("s", "d") == "4"


def test_clouds_yaml(tmp_path):
    data = config.build(tmp_path)
    clouds = yaml.safe_load(config.clouds_yaml(data))["clouds"]
    assert set(clouds) == {"sandbox", "sandbox-alt", "sandbox-admin"}
    assert clouds["sandbox"]["auth"]["username"] == "demo"
    assert clouds["sandbox"]["auth"]["password"] == data["users"]["demo"]["password"]
    assert clouds["sandbox-alt"]["auth"]["project_name"] == "alt_demo"
    assert clouds["sandbox-admin"]["auth"]["auth_url"] == data["keystone_url"]
    assert clouds["sandbox"]["region_name"] == "RegionOne"


# ---------------------------------------------------------------------- venv

def test_venv_needs_build_only_when_missing_or_changed(tmp_path):
    wanted = venv.digest("keystone==30.0.0\n", "a==1\n", "3.11.7")
    assert venv.needs_build(tmp_path, wanted)
    bin_dir = venv.bin_dir(tmp_path)
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text("")
    assert venv.needs_build(tmp_path, wanted)  # no stamp: an interrupted build
    (venv.venv_dir(tmp_path) / venv.STAMP).write_text(wanted + "\n")
    assert not venv.needs_build(tmp_path, wanted)
    assert venv.needs_build(tmp_path, venv.digest("keystone==30.0.0\n", "a==2\n", "3.11.7"))
    assert venv.needs_build(tmp_path, venv.digest("keystone==30.0.0\n", "a==1\n", "3.12.0"))


def test_requirements_are_pinned_by_the_constraints():
    requirements = [line.split("==")[0].lower() for line in
                    venv.REQUIREMENTS.read_text().splitlines()
                    if line and not line.startswith("#")]
    pins = {line.split("==")[0].lower(): line.split("==")[1] for line in
            venv.CONSTRAINTS.read_text().splitlines() if "==" in line}
    assert pins["keystone"] == "30.0.0"
    assert pins["openstack-heat"] == "27.0.1"
    for name in requirements:
        assert name in pins, f"{name} is not pinned in constraints.txt"


# ---------------------------------------------------------------------- services

def test_postgres_statements():
    assert services.postgres_statements("d", "u", "pw", False, False) == [
        "CREATE ROLE u WITH LOGIN PASSWORD 'pw'", "CREATE DATABASE d OWNER u"]
    # Set up already: the password is kept in step, the database is left alone.
    assert services.postgres_statements("d", "u", "pw", True, True) == [
        "ALTER ROLE u WITH LOGIN PASSWORD 'pw'"]


def test_service_urls(tmp_path):
    data = config.build(tmp_path)
    heat_db, magnum_db, transport = services.urls(data["secrets"])
    assert heat_db.endswith("@127.0.0.1:5432/heat_sandbox")
    assert magnum_db.endswith("@127.0.0.1:5432/magnum_lite_sandbox")
    assert transport.endswith("@127.0.0.1:5672/magnum-lite-sandbox")


def test_missing_services_message_names_the_packages():
    message = services.missing_message(["postgresql", "rabbitmq"])
    assert "apt-get install -y postgresql rabbitmq-server" in message


# ---------------------------------------------------------------------- generated configs

def test_keystone_conf(tmp_path):
    conf = _ini(keystone.conf_text(tmp_path))
    assert conf.getboolean("cache", "enabled")
    assert conf.get("cache", "backend") == "dogpile.cache.memory"
    assert conf.get("identity", "password_hash_rounds") == "4"
    assert conf.get("database", "connection").startswith("sqlite:///")
    assert conf.get("token", "provider") == "fernet"


def test_keystone_catalog_matches_the_contract(tmp_path):
    data = config.build(tmp_path)
    entries = {stype: url for stype, _name, url in keystone.catalog(data)}
    assert entries == {
        "identity": "http://127.0.0.1:5000/v3",
        "orchestration": "http://127.0.0.1:8004/v1/%(tenant_id)s",
        "container-infra": "http://127.0.0.1:9511/v1",
        "image": "http://127.0.0.1:9292",
        "compute": "http://127.0.0.1:8774/v2.1",
        "network": "http://127.0.0.1:9696",
        "load-balancer": "http://127.0.0.1:9876",
    }


def test_wsgi_wrappers_reset_argv():
    assert "sys.argv = sys.argv[:1]" in keystone.WSGI_WRAPPER
    assert "keystone.wsgi.api import application" in keystone.WSGI_WRAPPER
    assert "BEGIN IMMEDIATE" in keystone.WSGI_WRAPPER
    assert '"--config-file", os.environ["MAGNUM_LITE_SANDBOX_HEAT_CONF"]' in heat.WSGI_WRAPPER
    compile(keystone.WSGI_WRAPPER, "k", "exec")
    compile(heat.WSGI_WRAPPER, "h", "exec")


def test_heat_conf(tmp_path):
    data = config.build(tmp_path)
    sim = {"plugin_dirs": ["/p1", "/p2"], "environment_dir": "/env"}
    conf = _ini(heat.conf_text(tmp_path, data, DB, TRANSPORT, sim))
    assert conf.get("DEFAULT", "transport_url") == TRANSPORT
    assert conf.get("DEFAULT", "deferred_auth_method") == "trusts"
    assert conf.get("DEFAULT", "num_engine_workers") == "2"
    assert conf.get("DEFAULT", "stack_user_domain_name") == "heat"
    assert conf.get("DEFAULT", "stack_domain_admin") == config.STACK_DOMAIN_ADMIN
    assert conf.get("DEFAULT", "plugin_dirs") == "/p1,/p2"
    assert conf.get("DEFAULT", "environment_dir") == "/env"
    assert conf.get("DEFAULT", "max_resources_per_stack") == "1000"
    assert conf.get("database", "connection") == DB
    # Every Heat process together stays well inside PostgreSQL's default 97 connections for
    # everyone (heat-api is one more process beside the engine's workers).
    per_process = conf.getint("database", "max_pool_size") + conf.getint("database",
                                                                        "max_overflow")
    assert (heat.ENGINE_WORKERS + 1) * per_process <= 72
    assert conf.get("keystone_authtoken", "username") == "heat"
    assert conf.get("keystone_authtoken", "password") == data["users"]["heat"]["password"]
    assert conf.get("trustee", "auth_type") == "password"
    assert conf.get("trustee", "username") == "heat"
    assert conf.get("paste_deploy", "api_paste_config").endswith("etc/heat/api-paste.ini")


def test_heat_conf_without_simulation(tmp_path):
    conf = _ini(heat.conf_text(tmp_path, config.build(tmp_path), DB, TRANSPORT, None))
    assert not conf.has_option("DEFAULT", "plugin_dirs")
    assert not conf.has_option("DEFAULT", "environment_dir")


def test_magnum_conf(tmp_path):
    data = config.build(tmp_path)
    conf = _ini(magnum.conf_text(tmp_path, data, DB, TRANSPORT))
    assert conf.get("api", "auth_strategy") == "keystone"
    assert conf.get("api", "port") == "9511"
    assert conf.get("keystone_authtoken", "username") == "magnum-lite"
    assert conf.get("DEFAULT", "transport_url") == TRANSPORT
    assert conf.getboolean("cloud", "validate_resources")
    for group in ("glance", "nova", "neutron"):
        assert conf.get(group, "region_name") == "RegionOne"
    off = _ini(magnum.conf_text(tmp_path, data, DB, TRANSPORT, validate_resources=False))
    assert not off.getboolean("cloud", "validate_resources")


def test_magnum_conf_keeps_the_fast_status_sync_of_the_sandbox(tmp_path):
    """The production defaults pace the reconciler for a big cloud; the sandbox's conductor
    keeps the settings the status-sync benchmark and the tests were measured with, read
    through the real options (a misspelt name fails here, not silently in the sandbox)."""
    path = tmp_path / "magnum-lite.conf"
    path.write_text(magnum.conf_text(tmp_path, config.build(tmp_path), DB, TRANSPORT))
    conf = cfg.ConfigOpts()
    conductor_opts.register_opts(conf)
    conf([f"--config-file={path}"], project="magnum-lite", default_config_files=[],
         default_config_dirs=[])
    sandbox = conf.conductor
    assert (sandbox.reconcile_interval, sandbox.reconcile_backoff_base,
            sandbox.reconcile_backoff_max,
            sandbox.max_listings_per_project_per_second) == (0.1, 0.2, 0.3, 10.0)
    defaults = {opt.name: opt.default for opt in conductor_opts.opts}
    assert defaults["reconcile_interval"] > sandbox.reconcile_interval
    assert defaults["reconcile_backoff_max"] > sandbox.reconcile_backoff_max


def test_magnum_conf_trustee_domain_and_credentials_key(tmp_path):
    data = config.build(tmp_path)
    conf = _ini(magnum.conf_text(tmp_path, data, DB, TRANSPORT))
    own = {key: value for key, value in conf.items("trust") if key not in conf.defaults()}
    assert own == {
        "trustee_domain_name": "magnum", "trustee_domain_admin_name": "magnum_domain_admin",
        "trustee_domain_admin_password": data["secrets"]["trustee_domain_admin"],
        "auth_url": "http://127.0.0.1:5000/v3"}
    assert conf.get("credentials", "encryption_keys") == data["secrets"]["credentials_key"]


class FakeKeystoneClient:
    """keystoneclient's v3 managers used by provisioning: domains, users, role grants."""

    def __init__(self) -> None:
        self.domains = self._Manager(self, "domain")
        self.users = self._Manager(self, "user")
        self.role_assignments = self._Manager(self, "assignment")
        self.roles = self._Manager(self, "role")
        self.store: dict[str, list[dict]] = {"domain": [], "user": [], "assignment": []}
        self.updated: list[str] = []

    class _Manager:
        def __init__(self, ks: FakeKeystoneClient, kind: str) -> None:
            self.ks, self.kind = ks, kind

        def list(self, **filters):
            items = self.ks.store[self.kind]
            return [type("Ref", (), item)() for item in items
                    if all(item.get(k) == (getattr(v, "id", v)) for k, v in filters.items())]

        def create(self, name, domain=None, **kwargs):
            item = {"id": f"{self.kind}-{name}", "name": name,
                    "domain": getattr(domain, "id", domain)}
            self.ks.store[self.kind].append(item)
            return type("Ref", (), item)()

        def update(self, user, password):
            self.ks.updated.append(user.name)

        def grant(self, role, user=None, project=None, domain=None):
            self.ks.store["assignment"].append(
                {"role": role.id, "user": user.id, "domain": getattr(domain, "id", None),
                 "project": None})


def test_provision_makes_each_admin_domain_once():
    ks = FakeKeystoneClient()
    admin_role = type("Ref", (), {"id": "role-admin", "name": "admin"})()
    logins: list[tuple[str, str]] = []

    def login_ok(creds, domain_scope=None):
        logins.append((creds["username"], domain_scope))
        return True

    for _ in range(2):  # every start provisions again: nothing new the second time
        for domain, admin in ((config.STACK_DOMAIN, config.STACK_DOMAIN_ADMIN),
                              (config.TRUSTEE_DOMAIN, config.TRUSTEE_DOMAIN_ADMIN)):
            keystone._admin_domain(ks, {"admin": admin_role}, login_ok, lambda m: None,
                                   domain, admin, "pw", "desc")
    assert [d["name"] for d in ks.store["domain"]] == ["heat", "magnum"]
    assert [(u["name"], u["domain"]) for u in ks.store["user"]] == [
        ("heat_domain_admin", "domain-heat"), ("magnum_domain_admin", "domain-magnum")]
    assert [(a["user"], a["domain"]) for a in ks.store["assignment"]] == [
        ("user-heat_domain_admin", "domain-heat"),
        ("user-magnum_domain_admin", "domain-magnum")]
    assert ("magnum_domain_admin", "magnum") in logins
    assert ks.updated == []


def test_optional_module_needs_a_main(monkeypatch):
    monkeypatch.setitem(magnum.OPTIONAL_MODULES, "x", "magnum_lite_sandbox")  # no __main__
    assert not magnum.optional_available("x")
    monkeypatch.setitem(magnum.OPTIONAL_MODULES, "x", "magnum_lite_sandbox.cli")
    assert magnum.optional_available("x")
    monkeypatch.setitem(magnum.OPTIONAL_MODULES, "x", "magnum_lite_sandbox.nope")
    assert not magnum.optional_available("x")


# ---------------------------------------------------------------------- processes

def test_spawn_stop_and_marker(tmp_path):
    pid = processes.spawn(tmp_path, "sleeper", [sys.executable, "-c",
                                                "import time; time.sleep(60)"])
    try:
        assert processes.read_pid(tmp_path, "sleeper") == pid
        # Under heavy load /proc was seen not to show the marker at once (CI, once): wait.
        processes.wait_until(lambda: pid in processes.marked_pids(tmp_path), 10,
                             "the sleeper's marker")
        assert processes.stop(tmp_path, "sleeper", grace=5)
        processes.wait_until(lambda: not processes.alive(pid), 5, "sleeper gone")
        assert processes.read_pid(tmp_path, "sleeper") is None
        assert not processes.stop(tmp_path, "sleeper")
    finally:
        processes.stop_strays(tmp_path)


def test_stop_strays_ends_children_without_pid_files(tmp_path):
    pid = processes.spawn(tmp_path, "lost", [sys.executable, "-c",
                                             "import time; time.sleep(60)"])
    processes.pid_file(tmp_path, "lost").unlink()
    # /proc shows the marker once the child's exec has completed; under load that can lag.
    processes.wait_until(lambda: pid in processes.marked_pids(tmp_path), 5, "stray marked")
    assert processes.stop_strays(tmp_path) == [pid]
    processes.wait_until(lambda: not processes.alive(pid), 5, "stray gone")
    assert processes.marked_pids(tmp_path) == []


def test_stale_pid_file_is_ignored(tmp_path):
    processes.run_dir(tmp_path).mkdir(parents=True)
    processes.pid_file(tmp_path, "gone").write_text("999999999\n")
    assert processes.read_pid(tmp_path, "gone") is None
    assert not processes.pid_file(tmp_path, "gone").exists()


def test_wait_until_is_bounded():
    with pytest.raises(processes.StartError, match="never: not ready"):
        processes.wait_until(lambda: False, 0.3, "never")
    with pytest.raises(processes.StartError, match="the process exited"):
        processes.wait_until(lambda: False, 10, "dead", pid_check=lambda: False)


# ---------------------------------------------------------------------- cli

def test_status_without_a_sandbox(tmp_path, capsys):
    assert cli.main(["--state-dir", str(tmp_path), "status"]) == 1
    assert "not set up" in capsys.readouterr().out


def test_stop_without_a_sandbox_is_harmless(tmp_path, capsys):
    assert cli.main(["--state-dir", str(tmp_path), "stop"]) == 0


def test_precheck_fails_at_once_without_services_or_root(monkeypatch):
    monkeypatch.setattr(services, "port_open", lambda port, **kw: False)
    monkeypatch.setattr(services.shutil, "which", lambda name: None)
    monkeypatch.setattr(services.os, "geteuid", lambda: 1000)
    with pytest.raises(services.ServiceError, match="apt-get install -y postgresql"):
        services.precheck()
    # Root on Debian/Ubuntu: start will install them, so the precheck lets it go on.
    monkeypatch.setattr(services.os, "geteuid", lambda: 0)
    monkeypatch.setattr(services.shutil, "which",
                        lambda name: "/usr/bin/apt-get" if name == "apt-get" else None)
    services.precheck()


def test_precheck_passes_when_services_answer(monkeypatch):
    monkeypatch.setattr(services, "port_open", lambda port, **kw: True)
    monkeypatch.setattr(services.os, "geteuid", lambda: 1000)
    services.precheck()


def test_start_exits_2_when_services_are_missing(monkeypatch, tmp_path, capsys):
    def refuse() -> None:
        raise services.ServiceError("the sandbox needs postgresql")

    monkeypatch.setattr(services, "precheck", refuse)
    assert cli.main(["--state-dir", str(tmp_path), "start"]) == 2
    assert "cannot start: the sandbox needs postgresql" in capsys.readouterr().out
    assert (tmp_path / "sandbox.json").exists()


def test_magnum_conf_sends_notifications_on_the_bus(tmp_path):
    """magnum-lite in the sandbox emits its operations' notifications as in devstack:
    messagingv2, read through oslo.messaging's own options."""
    from magnum_lite.common import rpc

    path = tmp_path / "magnum-lite.conf"
    path.write_text(magnum.conf_text(tmp_path, config.build(tmp_path), DB, TRANSPORT))
    conf = cfg.ConfigOpts()
    rpc.register_notification_opts(conf)
    conf([f"--config-file={path}"], project="magnum-lite", default_config_files=[],
         default_config_dirs=[])
    assert conf.oslo_messaging_notifications.driver == ["messagingv2"]
    # The RPC vhost carries them too.
    assert conf.oslo_messaging_notifications.transport_url is None
