"""The rotation script of swarm_fedora_v2 (boot/apply-credentials.sh), run against a scratch
root as Heat's script hook would: a manager re-issues its Docker API certificate from the new
CA with the same names; a worker only takes the new CA certificate."""

from __future__ import annotations

from pathlib import Path
import shutil
import stat
import subprocess

from cryptography import x509 as crypto_x509
import pytest

from magnum_lite.common import x509
from magnum_lite.drivers.swarm_fedora_v2 import userdata
from tests.unit.drivers.boot_helpers import run_rotation

SCRIPT = userdata.BOOT_DIR / "apply-credentials.sh"
TLS = "/etc/docker/tls"

pytestmark = pytest.mark.skipif(shutil.which("python3") is None or shutil.which("openssl")
                                is None, reason="needs python3 and openssl")


def _run(root: Path, credentials: dict[str, str]) -> subprocess.CompletedProcess:
    return run_rotation(SCRIPT, root, credentials)


def _pair(ca: x509.KeyPair) -> dict[str, str]:
    return {f"{TLS}/ca.crt": ca.certificate, f"{TLS}/ca.key": ca.private_key}


def test_a_manager_reissues_its_api_certificate_from_the_new_ca(tmp_path):
    old, new = x509.generate_ca("old"), x509.generate_ca("new")
    assert _run(tmp_path, _pair(old)).returncode == 0
    serving = x509.issue_certificate(old, "swarm-manager-0",
                                     sans=["127.0.0.1", "localhost", "10.0.0.5"], server=True)
    tls = tmp_path / TLS.lstrip("/")
    (tls / "server.crt").write_text(serving.certificate)
    (tls / "server.key").write_text(serving.private_key)

    result = _run(tmp_path, _pair(new))
    assert result.returncode == 0, result.stderr
    assert "2 credential file(s) changed" in result.stdout
    assert "dockerd not restarted" in result.stdout
    assert new.private_key not in result.stdout + result.stderr
    cert = crypto_x509.load_pem_x509_certificate((tls / "server.crt").read_bytes())
    issuer = crypto_x509.load_pem_x509_certificate(new.certificate.encode())
    cert.verify_directly_issued_by(issuer)
    assert cert.subject.rfc4514_string() == "CN=swarm-manager-0"
    sans = cert.extensions.get_extension_for_class(crypto_x509.SubjectAlternativeName).value
    assert sorted(str(v) for v in sans.get_values_for_type(crypto_x509.IPAddress)) == [
        "10.0.0.5", "127.0.0.1"]
    assert sans.get_values_for_type(crypto_x509.DNSName) == ["localhost"]
    assert stat.S_IMODE((tls / "server.key").stat().st_mode) == 0o600
    assert (tls / "server.key").read_text() != serving.private_key


def test_a_worker_takes_the_new_ca_certificate_only(tmp_path):
    ca = x509.generate_ca("new")
    result = _run(tmp_path, {f"{TLS}/ca.crt": ca.certificate})
    assert result.returncode == 0, result.stderr
    assert "nothing to re-issue here" in result.stdout
    target = tmp_path / TLS.lstrip("/") / "ca.crt"
    assert target.read_text() == ca.certificate
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    again = _run(tmp_path, {f"{TLS}/ca.crt": ca.certificate})
    assert "0 credential file(s) changed" in again.stdout


def test_missing_inputs_fail_naming_them(tmp_path):
    result = run_rotation(SCRIPT, tmp_path)
    assert result.returncode != 0 and "credentials" in result.stderr
