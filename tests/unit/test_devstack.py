"""The devstack plugin and its check script pass shellcheck.

The proof that they work is tools/devstack-check.sh itself (devstack's stack.sh with the
plugin, minutes long, its own tier of tools/run-tests.sh); this catches a broken script in the
fast gate.
"""

import pathlib
import shutil
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def shellcheck(*args: str) -> subprocess.CompletedProcess:
    command = shutil.which("shellcheck")
    if command is None:
        pytest.skip("the shellcheck command is missing: run tools/install-tools.sh")
    return subprocess.run([command, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def test_plugin_and_its_library():
    # SC2154: devstack's own variables ($DEST, $SERVICE_PASSWORD, ...) are set by devstack.
    done = shellcheck("--external-sources", "--check-sourced", "--source-path=SCRIPTDIR",
                      "--exclude=SC2154", "devstack/plugin.sh")
    assert done.returncode == 0, done.stdout + done.stderr


def test_settings():
    done = shellcheck("--exclude=SC2154", "devstack/settings")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("script", ["tools/devstack-check.sh", "tools/run-tests.sh"])
def test_check_script_and_test_command(script):
    done = shellcheck(script)
    assert done.returncode == 0, done.stdout + done.stderr
