"""The rotation script of k8s_ubuntu_v1 (boot/apply-credentials.sh), run against a scratch
root as Heat's script hook would run it: the deployment's inputs in the environment."""

from __future__ import annotations

from pathlib import Path
import shutil
import subprocess

import pytest

from magnum_lite.drivers.k8s_ubuntu_v1 import userdata
from tests.unit.drivers.boot_helpers import check_written, run_rotation

SCRIPT = userdata.BOOT_DIR / "apply-credentials.sh"

pytestmark = pytest.mark.skipif(shutil.which("python3") is None, reason="needs python3")


def _run(root: Path, credentials: dict[str, str], **env: str) -> subprocess.CompletedProcess:
    return run_rotation(SCRIPT, root, credentials, **env)


def test_writes_the_files_with_their_modes_and_says_how_many_changed(tmp_path):
    files = {"/etc/kubernetes/pki/ca.crt": "CERT-1\n", "/etc/kubernetes/pki/ca.key": "KEY-1\n",
             "/etc/kubernetes/cloud.conf": "[Global]\n"}
    result = _run(tmp_path, files)
    assert result.returncode == 0, result.stderr
    assert "3 credential file(s) changed" in result.stdout
    assert "test run: nothing restarted" in result.stdout
    check_written(tmp_path, files)
    # Nothing secret is printed.
    assert "KEY-1" not in result.stdout + result.stderr


def test_the_same_credentials_again_change_nothing(tmp_path):
    files = {"/etc/kubernetes/pki/ca.crt": "CERT-1\n"}
    assert _run(tmp_path, files).returncode == 0
    again = _run(tmp_path, files)
    assert again.returncode == 0, again.stderr
    assert "0 credential file(s) changed" in again.stdout


def test_a_new_trustee_alone_restarts_nothing(tmp_path):
    assert _run(tmp_path, {"/etc/kubernetes/pki/ca.crt": "C\n"}).returncode == 0
    result = _run(tmp_path, {"/etc/kubernetes/pki/ca.crt": "C\n",
                             "/etc/kubernetes/cloud.conf": "[Global]\nuser-id=\"u2\"\n"})
    assert result.returncode == 0, result.stderr
    assert "1 credential file(s) changed" in result.stdout
    assert "nothing restarted" not in result.stdout  # the CA stayed: the script ends early


def test_missing_inputs_fail_naming_them(tmp_path):
    result = run_rotation(SCRIPT, tmp_path)
    assert result.returncode != 0
    assert "credentials" in result.stderr
