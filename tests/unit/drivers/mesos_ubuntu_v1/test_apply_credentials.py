"""The rotation script of mesos_ubuntu_v1 (boot/apply-credentials.sh), run against a scratch
root as Heat's script hook would run it: the deployment's inputs in the environment."""

from __future__ import annotations

import json
import os
from pathlib import Path
import shutil
import stat
import subprocess

import pytest

from magnum_lite.drivers.mesos_ubuntu_v1 import userdata

SCRIPT = userdata.BOOT_DIR / "apply-credentials.sh"

pytestmark = pytest.mark.skipif(shutil.which("python3") is None, reason="needs python3")


def _run(root: Path, credentials: dict[str, str]) -> subprocess.CompletedProcess:
    environ = {"PATH": os.environ["PATH"], "MAGNUM_LITE_ROOT": str(root),
               "credentials": json.dumps(credentials), "cluster_uuid": "c-1"}
    return subprocess.run(["bash", str(SCRIPT)], env=environ, capture_output=True, text=True,
                          check=False)


def test_a_new_ca_is_written_with_its_modes_and_nothing_secret_is_printed(tmp_path):
    files = {userdata.CA_CERT_PATH: "CERT-1\n", userdata.CA_KEY_PATH: "KEY-1\n"}
    result = _run(tmp_path, files)
    assert result.returncode == 0, result.stderr
    assert "2 credential file(s) changed" in result.stdout
    assert "test run: nothing restarted" in result.stdout
    for path, content in files.items():
        target = tmp_path / path.lstrip("/")
        assert target.read_text() == content
        mode = stat.S_IMODE(target.stat().st_mode)
        assert mode == (0o644 if path.endswith(".crt") else 0o600), path
    assert "KEY-1" not in result.stdout + result.stderr


def test_the_same_ca_again_changes_nothing(tmp_path):
    files = {userdata.CA_CERT_PATH: "CERT-1\n"}
    assert _run(tmp_path, files).returncode == 0
    again = _run(tmp_path, files)
    assert again.returncode == 0, again.stderr
    assert "0 credential file(s) changed" in again.stdout
    assert "nothing restarted" not in again.stdout  # the CA stayed: the script ends early


def test_missing_inputs_fail_naming_them(tmp_path):
    result = subprocess.run(["bash", str(SCRIPT)], env={"PATH": os.environ["PATH"],
                                                        "MAGNUM_LITE_ROOT": str(tmp_path)},
                            capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "credentials" in result.stderr
