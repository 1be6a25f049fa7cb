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


def test_the_transport_check_reads_the_files_the_configuration_was_parsed_from(tmp_path):
    from oslo_config import cfg

    from magnum_lite.common import transport_check

    conf_dir = tmp_path / "conf.d"
    conf_dir.mkdir()
    plain = tmp_path / "plain.conf"
    plain.write_text("[api]\nworkers = 1\n")
    empty_value = tmp_path / "empty-value.conf"
    empty_value.write_text("[DEFAULT]\ntransport_url =\n")
    answers = []
    for args in ([], ["--config-file", str(plain)], ["--config-file", str(empty_value)],
                 ["--config-file", str(plain), "--config-dir", str(conf_dir)]):
        if args and "--config-dir" in args:
            (conf_dir / "bus.conf").write_text("[DEFAULT]\ntransport_url = rabbit://h:5672/\n")
        conf = cfg.ConfigOpts()
        conf(args, project="magnum-lite", default_config_files=[], default_config_dirs=[])
        answers.append(transport_check.transport_url_configured(conf))
    plain.write_text("[DEFAULT]\ntransport_url = rabbit://h:5672/\n")
    conf = cfg.ConfigOpts()
    conf(["--config-file", str(plain)], project="magnum-lite", default_config_files=[],
         default_config_dirs=[])
    answers.append(transport_check.transport_url_configured(conf))
    assert answers == [False, False, False, True, True]


def test_the_gunicorn_master_imports_no_application(tmp_path):
    """What the master runs before gunicorn's arbiter forks: configuration, logging, the
    transport check and the gunicorn application; none of the application's modules (nor
    oslo.messaging, oslo.service's backend or the database layer), so that its RSS stays a
    bare gunicorn's and nothing is shared with the workers."""
    config_file = tmp_path / "api.conf"
    config_file.write_text("[DEFAULT]\ntransport_url = rabbit://guest:guest@127.0.0.1:5672/\n"
                           f"state_path = {tmp_path}\n[api]\nauth_strategy = noauth\n")
    script = (
        "import sys\n"
        "from magnum_lite.cmd import api\n"
        "from magnum_lite.common import service, transport_check\n"
        "from magnum_lite.conf import CONF\n"
        "service.prepare_service(sys.argv[1:], prog=api.BINARY)\n"
        "assert transport_check.transport_url_configured(CONF)\n"
        "api.make_application(CONF)\n"
        "service.log_process_report(api.BINARY)\n"
        "heavy = ('eventlet', 'oslo_messaging', 'oslo_service.service', 'sqlalchemy', 'pecan',\n"
        "         'magnum_lite.api.app', 'magnum_lite.objects', 'magnum_lite.db.api')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", script, "--config-file", str(config_file)],
                          env=dict(os.environ, HOME=str(tmp_path)), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"
