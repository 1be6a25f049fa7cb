"""magnum-lite-api: gunicorn's settings, and the refusal to start without a message bus."""

import os
import pathlib
import subprocess
import sys

from magnum_lite.cmd import api

BIN = pathlib.Path(sys.executable).parent


def test_gunicorn_runs_gthread_workers_from_the_api_options(config):
    config.set_override("workers", 3, group="api")
    config.set_override("threads", 5, group="api")
    config.set_override("port", 9999, group="api")
    app = api.make_application(config)
    assert app.cfg.workers == 3
    assert app.cfg.threads == 5
    assert app.cfg.worker_class_str == "gthread"
    assert app.cfg.bind == ["127.0.0.1:9999"]


def test_gunicorn_loads_the_app_in_each_worker_without_access_log_or_control_socket(config):
    app = api.make_application(config)
    assert app.cfg.preload_app is False
    assert app.cfg.accesslog is None
    assert app.cfg.control_socket_disable is True
    assert app.cfg.graceful_timeout == api.GRACEFUL_TIMEOUT
    assert app.cfg.post_worker_init is api._post_worker_init


def test_ipv6_addresses_are_bracketed(config):
    config.set_override("host", "::1", group="api")
    assert api.gunicorn_options(config)["bind"] == ["[::1]:9511"]


def test_every_option_is_a_gunicorn_setting(config):
    from gunicorn.config import Config

    assert set(api.gunicorn_options(config)) <= set(Config().settings)


def _run(binary, home):
    """The binary with an empty configuration file (a machine's /etc/magnum-lite, such as
    devstack writes, is not read then)."""
    env = dict(os.environ, HOME=str(home))
    env.pop("MAGNUM_LITE_ALL_ROLE", None)
    empty = home / "empty.conf"
    empty.write_text("")
    return subprocess.run([str(BIN / binary), "--config-file", str(empty)], env=env,
                          capture_output=True, text=True, timeout=60, cwd=home)


def test_api_refuses_to_start_without_a_transport_url(tmp_path):
    done = _run("magnum-lite-api", tmp_path)
    assert done.returncode == 2
    assert "transport_url is not set" in done.stderr
    assert "magnum-lite-all" in done.stderr


def test_conductor_refuses_to_start_without_a_transport_url(tmp_path):
    done = _run("magnum-lite-conductor", tmp_path)
    assert done.returncode == 2
    assert "transport_url is not set" in done.stderr
