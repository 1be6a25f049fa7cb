"""The rotation script of mesos_ubuntu_v1 (boot/apply-credentials.sh), run against a scratch
root as Heat's script hook would run it: the deployment's inputs in the environment."""

from __future__ import annotations

from pathlib import Path
import shutil
import subprocess

import pytest

from magnum_lite.drivers.mesos_ubuntu_v1 import userdata
from tests.unit.drivers.boot_helpers import check_written, run_rotation

SCRIPT = userdata.BOOT_DIR / "apply-credentials.sh"

pytestmark = pytest.mark.skipif(shutil.which("python3") is None, reason="needs python3")


def _run(root: Path, credentials: dict[str, str]) -> subprocess.CompletedProcess:
    return run_rotation(SCRIPT, root, credentials)


def test_a_new_ca_is_written_with_its_modes_and_nothing_secret_is_printed(tmp_path):
    files = {userdata.CA_CERT_PATH: "CERT-1\n", userdata.CA_KEY_PATH: "KEY-1\n"}
    result = _run(tmp_path, files)
    assert result.returncode == 0, result.stderr
    assert "2 credential file(s) changed" in result.stdout
    assert "test run: nothing restarted" in result.stdout
    check_written(tmp_path, files)
    assert "KEY-1" not in result.stdout + result.stderr


def test_the_same_ca_again_changes_nothing(tmp_path):
    files = {userdata.CA_CERT_PATH: "CERT-1\n"}
    assert _run(tmp_path, files).returncode == 0
    again = _run(tmp_path, files)
    assert again.returncode == 0, again.stderr
    assert "0 credential file(s) changed" in again.stdout
    assert "nothing restarted" not in again.stdout  # the CA stayed: the script ends early


def test_missing_inputs_fail_naming_them(tmp_path):
    result = run_rotation(SCRIPT, tmp_path)
    assert result.returncode != 0
    assert "credentials" in result.stderr
