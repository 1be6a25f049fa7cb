"""Every entry point selects oslo.service's threading backend before anything else."""

import ast
import importlib
import os
import pathlib
import subprocess
import sys

import pytest

ENTRY_POINT_MODULES = ["magnum_lite.cmd.api", "magnum_lite.cmd.conductor",
                       "magnum_lite.cmd.all", "magnum_lite.cmd.status", "magnum_lite.api.wsgi"]


@pytest.mark.parametrize("module", ENTRY_POINT_MODULES)
def test_the_first_import_is_magnum_lite(module):
    path = pathlib.Path(importlib.util.find_spec(module).origin)
    imports = [node for node in ast.parse(path.read_text()).body
               if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert isinstance(imports[0], ast.Import)
    assert imports[0].names[0].name == "magnum_lite"


@pytest.mark.parametrize("module", [m for m in ENTRY_POINT_MODULES
                                    if ".cmd." in m and m != "magnum_lite.cmd.api"])
def test_main_selects_the_threading_backend_first(module):
    path = pathlib.Path(importlib.util.find_spec(module).origin)
    main = next(node for node in ast.parse(path.read_text()).body
                if isinstance(node, ast.FunctionDef) and node.name == "main")
    source = ast.unparse(main)
    assert "backend.init_backend(backend.BackendType.THREADING)" in source
    # Whatever parses the configuration comes after the backend is chosen.
    parsing = [call for call in ("upgradecheck.main", "prepare_service", "main_over_message_bus")
               if call in source]
    assert parsing, "main() parses no configuration"
    assert all(source.index("init_backend") < source.index(call) for call in parsing)


def test_the_api_workers_load_the_threading_backend_before_the_application():
    """magnum-lite-api's main() is gunicorn's master, which loads no backend (import magnum_lite
    has chosen threading, tests/unit/cmd/test_api.py checks what the master imports); each
    worker loads it before the application."""
    path = pathlib.Path(importlib.util.find_spec("magnum_lite.cmd.api").origin)
    tree = ast.parse(path.read_text())
    main = next(node for node in tree.body
                if isinstance(node, ast.FunctionDef) and node.name == "main")
    assert "prepare_service" in ast.unparse(main) or "main_over_message_bus" in ast.unparse(main)
    load = ast.unparse(next(node for node in ast.walk(tree)
                            if isinstance(node, ast.FunctionDef) and node.name == "load"))
    assert "backend.init_backend(backend.BackendType.THREADING)" in load
    assert load.index("init_backend") < load.index("load_app")


def test_importing_magnum_lite_chooses_threading_without_loading_a_backend():
    script = ("import sys, magnum_lite\n"
              "from oslo_service import backend\n"
              "print(backend.get_backend_type(), 'eventlet' in sys.modules)\n"
              "backend.get_backend()\n"
              "print(backend.get_backend_type().value)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-2:] == ["None False", "threading"]


def test_wsgi_application_reads_the_file_from_the_environment_not_argv(tmp_path):
    config_file = tmp_path / "api.conf"
    config_file.write_text("[DEFAULT]\ntransport_url = rabbit://guest:guest@127.0.0.1:5672/\n"
                           f"state_path = {tmp_path}\n[api]\nauth_strategy = noauth\n")
    script = ("import sys; from magnum_lite.api import wsgi; from magnum_lite.conf import CONF;"
              "print(callable(wsgi.application), CONF.api.auth_strategy)")
    done = subprocess.run(
        [sys.executable, "-c", script, "--not-an-option-of-ours"],
        env=dict(os.environ, HOME=str(tmp_path), MAGNUM_LITE_CONFIG_FILE=str(config_file)),
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    # oslo.log writes to stdout when no log file is set: the answer is the last line.
    assert done.stdout.splitlines()[-1].split() == ["True", "noauth"]


def test_wsgi_application_refuses_to_load_without_a_transport_url(tmp_path):
    empty = tmp_path / "empty.conf"  # not the machine's /etc/magnum-lite (devstack's)
    empty.write_text("")
    done = subprocess.run(
        [sys.executable, "-c", "from magnum_lite.api import wsgi"],
        env=dict(os.environ, HOME=str(tmp_path), MAGNUM_LITE_CONFIG_FILE=str(empty)),
        capture_output=True, text=True, timeout=60)
    output = done.stdout + done.stderr  # oslo.log's excepthook may log it to stdout
    assert done.returncode != 0
    assert "transport_url is not set" in output
    assert "MAGNUM_LITE_CONFIG_FILE" in output
