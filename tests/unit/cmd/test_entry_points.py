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


@pytest.mark.parametrize("module", [m for m in ENTRY_POINT_MODULES if ".cmd." in m])
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
