"""Per-cluster CAs: what they issue, that it chains, and what a hostile CSR gets."""

import datetime
import hashlib
import ipaddress
import shutil
import subprocess

from cryptography import x509 as cx509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
import pytest

from magnum_lite.common import exception, x509
from tests.csr import make_csr


@pytest.fixture(scope="module")
def rsa_client_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def ca() -> x509.KeyPair:
    return x509.generate_ca("cluster-1 CA")


def load(pem: str) -> cx509.Certificate:
    return cx509.load_pem_x509_certificate(pem.encode())


def csr_pem(key, common_name: str = "admin", organizations=("system:masters",)) -> str:
    return make_csr(common_name, organizations, key=key)


def ext(cert: cx509.Certificate, cls):
    return cert.extensions.get_extension_for_class(cls)


def csr_error(ca: x509.KeyPair, pem: str) -> str:
    with pytest.raises(exception.InvalidParameterValue) as raised:
        x509.sign_csr(ca, pem, common_name="alice")
    message = str(raised.value)
    assert message.startswith("csr: ")
    assert raised.value.code == 400
    return message


# ---------------------------------------------------------------------- the CA

def test_ca_is_a_self_signed_ca_that_verifies(ca):
    cert = load(ca.certificate)
    assert cert.subject == cert.issuer
    cert.verify_directly_issued_by(cert)  # raises if the self-signature is wrong
    basic = ext(cert, cx509.BasicConstraints)
    assert basic.critical and basic.value.ca is True and basic.value.path_length == 0
    usage = ext(cert, cx509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and usage.digital_signature
    ski = ext(cert, cx509.SubjectKeyIdentifier).value
    assert ski == cx509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    assert x509.subject_of(ca.certificate)["CN"] == ["cluster-1 CA"]


def test_ca_defaults_come_from_config(ca, config):
    cert = load(ca.certificate)
    assert isinstance(cert.public_key(), rsa.RSAPublicKey)
    assert cert.public_key().key_size == config.x509.rsa_key_size == 2048
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    # ca_validity_days from now, plus the backdating for clock skew.
    assert lifetime == datetime.timedelta(days=config.x509.ca_validity_days) + x509.CLOCK_SKEW
    assert cert.not_valid_before_utc < datetime.datetime.now(datetime.UTC)


def test_ca_private_key_is_unencrypted_pkcs8_matching_the_certificate(ca):
    assert ca.private_key.startswith("-----BEGIN PRIVATE KEY-----")
    key = serialization.load_pem_private_key(ca.private_key.encode(), password=None)
    der = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert key.public_key().public_bytes(*der) == load(ca.certificate).public_key() \
        .public_bytes(*der)


def test_the_private_key_is_not_in_the_repr(ca):
    assert "PRIVATE KEY" not in repr(ca)
    assert ca.private_key not in repr(ca)


def test_serial_numbers_are_random(ca):
    other = x509.generate_ca("cluster-1 CA")
    assert load(ca.certificate).serial_number != load(other.certificate).serial_number


def test_ec_key_type_from_config(config):
    config.set_override("key_type", "ec", group="x509")
    config.set_override("ec_curve", "secp384r1", group="x509")
    ca = x509.generate_ca("ec CA")
    key = load(ca.certificate).public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.curve.name == "secp384r1"
    served = x509.issue_certificate(ca, "apiserver", sans=["10.0.0.5"])
    assert isinstance(load(served.certificate).public_key(), ec.EllipticCurvePublicKey)
    load(served.certificate).verify_directly_issued_by(load(ca.certificate))


def test_explicit_arguments_override_config():
    ca = x509.generate_ca("c", key_type="ec", key_size=256, validity_days=10)
    cert = load(ca.certificate)
    assert cert.public_key().curve.name == "secp256r1"
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == \
        datetime.timedelta(days=10) + x509.CLOCK_SKEW


@pytest.mark.parametrize("kwargs", [{"key_type": "dsa"}, {"key_type": "rsa", "key_size": 1024},
                                    {"key_type": "ec", "key_size": 521},
                                    {"validity_days": -1}, {"validity_days": 0}])
def test_bad_ca_arguments_are_rejected(kwargs):
    with pytest.raises(ValueError):
        x509.generate_ca("c", **kwargs)


# ---------------------------------------------------------------------- signing CSRs

def test_signed_certificate_chains_to_the_ca_with_client_extensions(ca, rsa_client_key):
    pem = x509.sign_csr(ca, csr_pem(rsa_client_key), common_name="alice",
                        organizations=["project-a"])
    cert, ca_cert = load(pem), load(ca.certificate)
    cert.verify_directly_issued_by(ca_cert)
    assert cert.issuer == ca_cert.subject
    assert ext(cert, cx509.BasicConstraints).value.ca is False
    usage = ext(cert, cx509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment and not usage.key_cert_sign
    assert list(ext(cert, cx509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    aki = ext(cert, cx509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ext(ca_cert, cx509.SubjectKeyIdentifier).value.digest
    # The certificate is for the CSR's key, not a new one.
    der = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert cert.public_key().public_bytes(*der) == \
        rsa_client_key.public_key().public_bytes(*der)


def test_the_csr_subject_is_replaced_by_the_callers_identity(ca, rsa_client_key):
    pem = x509.sign_csr(ca, csr_pem(rsa_client_key, "admin", ["system:masters"]),
                        common_name="alice", organizations=["project-a", "readers"])
    assert x509.subject_of(pem) == {"CN": ["alice"], "O": ["project-a", "readers"]}
    names = [a.value for a in load(pem).subject]
    assert "admin" not in names and "system:masters" not in names


def test_ec_csr_gets_no_key_encipherment(ca):
    pem = x509.sign_csr(ca, csr_pem(ec.generate_private_key(ec.SECP256R1())),
                        common_name="bob")
    usage = ext(load(pem), cx509.KeyUsage).value
    assert usage.digital_signature and not usage.key_encipherment
    assert x509.subject_of(pem) == {"CN": ["bob"], "O": []}


def test_validity_is_from_config_and_never_past_the_ca(rsa_client_key, config):
    ca = x509.generate_ca("short CA", validity_days=30)
    pem = x509.sign_csr(ca, csr_pem(rsa_client_key), common_name="alice")
    assert config.x509.certificate_validity_days == 365
    assert load(pem).not_valid_after_utc == load(ca.certificate).not_valid_after_utc

    long_ca = x509.generate_ca("long CA")
    config.set_override("certificate_validity_days", 7, group="x509")
    cert = load(x509.sign_csr(long_ca, csr_pem(rsa_client_key), common_name="alice"))
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == \
        datetime.timedelta(days=7) + x509.CLOCK_SKEW


def test_garbage_is_not_a_csr(ca):
    assert "PEM" in csr_error(ca, "hello")
    assert csr_error(ca, "")


def test_a_broken_pem_body_is_not_a_csr(ca):
    message = csr_error(ca, "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
                            "-----END CERTIFICATE REQUEST-----\n")
    assert "cannot be parsed" in message


def test_a_certificate_is_not_a_csr(ca):
    csr_error(ca, ca.certificate)


def test_a_tampered_csr_is_rejected(ca, rsa_client_key):
    # Swap in another key after signing: the signature no longer matches the request.
    original = cx509.load_pem_x509_csr(csr_pem(rsa_client_key).encode())
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tbs = original.tbs_certrequest_bytes
    own_spki = rsa_client_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    other_spki = other.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    der = original.public_bytes(serialization.Encoding.DER)
    assert own_spki in tbs and len(own_spki) == len(other_spki)
    tampered = cx509.load_der_x509_csr(der.replace(own_spki, other_spki))
    assert not tampered.is_signature_valid
    message = csr_error(ca, tampered.public_bytes(serialization.Encoding.PEM).decode())
    assert "signature" in message


def test_a_1024_bit_rsa_csr_is_rejected(ca):
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    assert "1024 bits" in csr_error(ca, csr_pem(weak))


def test_other_curves_and_key_types_are_rejected(ca):
    assert "secp521r1" in csr_error(ca, csr_pem(ec.generate_private_key(ec.SECP521R1())))
    assert "key type" in csr_error(ca, csr_pem(ed25519.Ed25519PrivateKey.generate()))


def test_a_malformed_ca_is_a_clear_value_error(ca, rsa_client_key):
    csr = csr_pem(rsa_client_key)
    other = x509.generate_ca("other")
    cases = {
        "not a PEM certificate": x509.KeyPair("nope", ca.private_key),
        "not a PEM private key": x509.KeyPair(ca.certificate, "nope"),
        "not a valid unencrypted PEM private key": x509.KeyPair(
            ca.certificate, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
        "does not match": x509.KeyPair(ca.certificate, other.private_key),
    }
    for expected, broken in cases.items():
        with pytest.raises(ValueError, match=expected) as raised:
            x509.sign_csr(broken, csr, common_name="alice")
        assert "AAAA" not in str(raised.value)


def test_a_leaf_certificate_cannot_act_as_ca(ca):
    leaf = x509.issue_certificate(ca, "apiserver")
    with pytest.raises(ValueError, match="not a CA"):
        x509.issue_certificate(leaf, "x")


# ---------------------------------------------------------------------- issued certificates

def test_server_certificate_with_sans(ca):
    served = x509.issue_certificate(ca, "kube-apiserver",
                                    sans=["10.0.0.1", "kubernetes.default", "fd00::1"])
    cert = load(served.certificate)
    cert.verify_directly_issued_by(load(ca.certificate))
    sans = ext(cert, cx509.SubjectAlternativeName).value
    assert sans.get_values_for_type(cx509.IPAddress) == [ipaddress.ip_address("10.0.0.1"),
                                                         ipaddress.ip_address("fd00::1")]
    assert sans.get_values_for_type(cx509.DNSName) == ["kubernetes.default"]
    assert list(ext(cert, cx509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    key = serialization.load_pem_private_key(served.private_key.encode(), password=None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()


def test_client_certificate_with_organizations(ca):
    issued = x509.issue_certificate(ca, "admin", organizations=["system:masters"],
                                    server=False, client=True)
    cert = load(issued.certificate)
    assert list(ext(cert, cx509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert x509.subject_of(issued.certificate) == {"CN": ["admin"], "O": ["system:masters"]}
    with pytest.raises(cx509.ExtensionNotFound):
        ext(cert, cx509.SubjectAlternativeName)


def test_a_certificate_for_nothing_or_with_bad_names_is_refused(ca):
    with pytest.raises(ValueError, match="server, a client"):
        x509.issue_certificate(ca, "x", server=False, client=False)
    with pytest.raises(ValueError, match="sequence"):
        x509.issue_certificate(ca, "x", sans="10.0.0.1")
    with pytest.raises(ValueError, match="CN"):
        x509.issue_certificate(ca, "")
    with pytest.raises(ValueError, match="O must"):
        x509.issue_certificate(ca, "x", organizations=["o" * 65])
    with pytest.raises(ValueError, match="validity_days"):
        x509.issue_certificate(ca, "x", validity_days=0)


# ---------------------------------------------------------------------- digests

def test_ca_public_key_hash_is_sha256_of_the_spki(ca):
    value = x509.ca_public_key_hash(ca.certificate)
    spki = load(ca.certificate).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert value == "sha256:" + hashlib.sha256(spki).hexdigest()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_ca_public_key_hash_matches_openssl(ca):
    # What the kubeadm docs tell an operator to run to compute the same hash.
    pubkey = subprocess.run(["openssl", "x509", "-pubkey", "-noout"], input=ca.certificate,
                            capture_output=True, text=True, check=True, timeout=60).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"],
                         input=pubkey.encode(), capture_output=True, check=True,
                         timeout=60).stdout
    assert x509.ca_public_key_hash(ca.certificate) == \
        "sha256:" + hashlib.sha256(der).hexdigest()


def test_fingerprint_is_sha256_of_the_der_certificate(ca):
    der = load(ca.certificate).public_bytes(serialization.Encoding.DER)
    assert x509.fingerprint(ca.certificate) == hashlib.sha256(der).hexdigest()


@pytest.mark.parametrize("helper", [x509.ca_public_key_hash, x509.fingerprint,
                                    x509.subject_of])
def test_digest_helpers_reject_non_certificates(helper):
    with pytest.raises(ValueError, match="certificate"):
        helper("not a certificate")
