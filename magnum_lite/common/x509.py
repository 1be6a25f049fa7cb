"""Per-cluster certificate authorities: create a CA, issue certificates, sign users' CSRs.

Every cluster gets its own CA at create; its private key is stored encrypted (see
`magnum_lite.common.encryption`). A user gets a client certificate by sending a CSR: only the
CSR's public key is used, never its subject, because the subject (CN = user, O = groups) is
what the cluster's API server authorizes on, so it must come from the caller's identity.

Everything is PEM text in and out, so callers store and pass strings. Private keys never appear
in a repr or a log line; log `fingerprint()` of a certificate instead of its content.
"""

from collections.abc import Sequence
import dataclasses
import datetime
import hashlib
import ipaddress

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from magnum_lite.common import exception
from magnum_lite.conf import CONF

# Backdate not_valid_before so a node whose clock is a little behind accepts a new certificate.
CLOCK_SKEW = datetime.timedelta(minutes=5)

# RSA keys accepted in a CSR; the upper bound keeps signature checks of hostile input cheap.
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 8192
# Elliptic curves accepted in a CSR (the ones Kubernetes clients generate).
ACCEPTED_CURVES = ("secp256r1", "secp384r1")
# A CSR is a few KiB at most; anything much larger is not one.
MAX_CSR_CHARS = 64 * 1024
# X.520 upper bound of a CN or O value.
MAX_NAME_CHARS = 64

_CURVES = {"secp256r1": ec.SECP256R1, "secp384r1": ec.SECP384R1}
_SHORT_NAMES = {NameOID.COMMON_NAME: "CN", NameOID.ORGANIZATION_NAME: "O"}

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


@dataclasses.dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, both PEM text (the key PKCS#8, unencrypted)."""

    certificate: str
    private_key: str = dataclasses.field(repr=False)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _validity(validity_days: int | None, default: int) -> int:
    """validity_days, or the configured default when None; a positive int either way."""
    days = default if validity_days is None else validity_days
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"validity_days must be a positive number of days, not {days!r}")
    return days


def _generate_key(key_type: str | None, key_size: int | None) -> PrivateKey:
    """A new private key; unset arguments come from [x509] so every CA follows the config."""
    key_type = key_type or CONF.x509.key_type
    if key_type == "rsa":
        bits = key_size or CONF.x509.rsa_key_size
        if bits < MIN_RSA_BITS or bits > MAX_RSA_BITS:
            raise ValueError(f"RSA key size must be {MIN_RSA_BITS}..{MAX_RSA_BITS} bits, "
                             f"not {bits}")
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if key_type == "ec":
        curve = CONF.x509.ec_curve
        if key_size is not None:
            curve = {256: "secp256r1", 384: "secp384r1"}.get(key_size, "")
            if not curve:
                raise ValueError(f"EC key size must be 256 or 384 bits, not {key_size}")
        return ec.generate_private_key(_CURVES[curve]())
    raise ValueError(f"key type must be 'rsa' or 'ec', not {key_type!r}")


def _hash_for(key: PrivateKey) -> hashes.HashAlgorithm:
    """SHA-384 for a P-384 key (matching strength), SHA-256 otherwise."""
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1":
        return hashes.SHA384()
    return hashes.SHA256()


def _key_pem(key: PrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


def _cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _load_certificate(certificate_pem: str, what: str = "certificate") -> x509.Certificate:
    """Parse PEM text, turning the library's various errors into one clear ValueError."""
    if not isinstance(certificate_pem, str) or "-----BEGIN CERTIFICATE-----" not in \
            certificate_pem:
        raise ValueError(f"{what} is not a PEM certificate")
    try:
        return x509.load_pem_x509_certificate(certificate_pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as e:
        raise ValueError(f"{what} is not a valid PEM certificate") from e


def _load_ca(ca: KeyPair) -> tuple[x509.Certificate, PrivateKey]:
    """The CA's certificate and key, checked to belong together and to be a CA."""
    if not isinstance(ca, KeyPair):
        raise ValueError("ca must be a KeyPair")
    cert = _load_certificate(ca.certificate, "CA certificate")
    if not isinstance(ca.private_key, str) or "PRIVATE KEY-----" not in ca.private_key:
        raise ValueError("CA private key is not a PEM private key")
    try:
        # The key is one magnum-lite made and stored (authenticated by its encryption):
        # OpenSSL's RSA consistency check, ~35 ms of a 40 ms signature, is skipped.
        key = serialization.load_pem_private_key(ca.private_key.encode("ascii"),
                                                 password=None,
                                                 unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError, UnicodeEncodeError, UnsupportedAlgorithm) as e:
        # Never include the key text, nor the library's message (it may quote it).
        raise ValueError("CA private key is not a valid unencrypted PEM private key") from e
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError("CA private key must be an RSA or EC key")
    pub_der = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, pub_der) != \
            cert.public_key().public_bytes(serialization.Encoding.DER, pub_der):
        raise ValueError("CA private key does not match the CA certificate")
    try:
        basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        basic = None
    if basic is None or not basic.ca:
        raise ValueError("CA certificate is not a CA (BasicConstraints ca=False or missing)")
    return cert, key


def _name(common_name: str, organizations: Sequence[str]) -> x509.Name:
    """CN then one O per organization; checked here so the caller gets a plain message."""
    if isinstance(organizations, str):
        # A bare string would become one O per character.
        raise ValueError("organizations must be a sequence of strings, not a string")
    attributes = []
    for oid, value in [(NameOID.COMMON_NAME, common_name)] + \
            [(NameOID.ORGANIZATION_NAME, org) for org in organizations]:
        label = _SHORT_NAMES[oid]
        if not isinstance(value, str) or not value or len(value) > MAX_NAME_CHARS:
            raise ValueError(f"{label} must be a string of 1..{MAX_NAME_CHARS} characters, "
                             f"not {value!r}")
        attributes.append(x509.NameAttribute(oid, value))
    return x509.Name(attributes)


def _leaf_window(ca_cert: x509.Certificate,
                 validity_days: int) -> tuple[datetime.datetime, datetime.datetime]:
    """Validity of a certificate signed by the CA: never past the CA's own expiry."""
    now = _now()
    not_after = min(now + datetime.timedelta(days=validity_days), ca_cert.not_valid_after_utc)
    if not_after <= now:
        expired = ca_cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
        raise ValueError(f"the CA certificate expired at {expired}")
    not_before = max(now - CLOCK_SKEW, ca_cert.not_valid_before_utc)
    return not_before, not_after


def _authority_key_id(ca_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    try:
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key())
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _leaf_key_usage(rsa_key: bool) -> x509.KeyUsage:
    # key_encipherment only makes sense for RSA key transport (TLS < 1.3 with RSA).
    return x509.KeyUsage(digital_signature=True, content_commitment=False,
                         key_encipherment=rsa_key, data_encipherment=False,
                         key_agreement=False, key_cert_sign=False, crl_sign=False,
                         encipher_only=False, decipher_only=False)


def generate_ca(common_name: str, *, key_type: str | None = None, key_size: int | None = None,
                validity_days: int | None = None) -> KeyPair:
    """A new self-signed CA for one cluster; unset arguments come from [x509].

    key_size is RSA bits for "rsa", and 256/384 for "ec" (default [x509] ec_curve).
    path_length=0: the CA signs end-entity certificates only, never another CA.
    """
    days = _validity(validity_days, CONF.x509.ca_validity_days)
    key = _generate_key(key_type, key_size)
    name = _name(common_name, ())
    now = _now()
    public_key = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False),
                       critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(key, _hash_for(key))
    )
    return KeyPair(certificate=_cert_pem(cert), private_key=_key_pem(key))


def _invalid_csr(reason: str) -> exception.InvalidParameterValue:
    return exception.InvalidParameterValue(err=f"csr: {reason}")


def _load_csr(csr_pem: str) -> x509.CertificateSigningRequest:
    """The user's CSR, parsed and checked: a 400 with the reason when it is not acceptable."""
    if not isinstance(csr_pem, str) or not csr_pem.strip():
        raise _invalid_csr("must be a PEM certificate signing request")
    if len(csr_pem) > MAX_CSR_CHARS:
        raise _invalid_csr(f"longer than {MAX_CSR_CHARS} characters")
    if "-----BEGIN CERTIFICATE REQUEST-----" not in csr_pem:
        raise _invalid_csr("not a PEM certificate signing request "
                           "(no -----BEGIN CERTIFICATE REQUEST----- line)")
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise _invalid_csr("cannot be parsed as a PEM certificate signing request") from None
    try:
        public_key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise _invalid_csr("its public key cannot be read") from None
    # Check the key before the signature: verifying with a huge RSA key is the costly part.
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < MIN_RSA_BITS:
            raise _invalid_csr(f"RSA key of {public_key.key_size} bits is too small "
                               f"(at least {MIN_RSA_BITS})")
        if public_key.key_size > MAX_RSA_BITS:
            raise _invalid_csr(f"RSA key of {public_key.key_size} bits is too large "
                               f"(at most {MAX_RSA_BITS})")
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        if public_key.curve.name not in ACCEPTED_CURVES:
            raise _invalid_csr(f"elliptic curve {public_key.curve.name} is not accepted "
                               "(P-256 or P-384)")
    else:
        raise _invalid_csr("key type is not accepted (RSA of at least 2048 bits, or EC "
                           "P-256/P-384)")
    try:
        valid = csr.is_signature_valid
    except (ValueError, UnsupportedAlgorithm):
        valid = False
    if not valid:
        raise _invalid_csr("signature is not valid (the request was altered or is not "
                           "signed by its key)")
    return csr


def _leaf(ca_cert: x509.Certificate, ca_key: PrivateKey, subject: x509.Name,
          public_key: PublicKey, days: int, usages: list[x509.ObjectIdentifier],
          names: list[x509.GeneralName] | None = None) -> x509.Certificate:
    """A certificate for `public_key` signed by the CA: not a CA itself, for `usages`."""
    not_before, not_after = _leaf_window(ca_cert, days)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_key_usage(isinstance(public_key, rsa.RSAPublicKey)),
                       critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(_authority_key_id(ca_cert), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, _hash_for(ca_key))


def sign_csr(ca: KeyPair, csr_pem: str, *, common_name: str, organizations: Sequence[str] = (),
             validity_days: int | None = None) -> str:
    """A client certificate (PEM) for the CSR's public key, with the caller's identity.

    The CSR's subject and extensions are ignored: the subject becomes CN=common_name plus one
    O per organization, so a user cannot ask for someone else's name or group (for example
    O=system:masters). Bad CSRs raise InvalidParameterValue with a message starting "csr: ".
    """
    days = _validity(validity_days, CONF.x509.certificate_validity_days)
    ca_cert, ca_key = _load_ca(ca)
    csr = _load_csr(csr_pem)
    cert = _leaf(ca_cert, ca_key, _name(common_name, organizations), csr.public_key(), days,
                 [ExtendedKeyUsageOID.CLIENT_AUTH])
    return _cert_pem(cert)


def _san(entry: str) -> x509.GeneralName:
    """An IP address literal becomes an IPAddress entry (TLS clients match IPs only there)."""
    if not isinstance(entry, str) or not entry:
        raise ValueError(f"subject alternative name must be a non-empty string, not {entry!r}")
    try:
        return x509.IPAddress(ipaddress.ip_address(entry))
    except ValueError:
        return x509.DNSName(entry)


def issue_certificate(ca: KeyPair, common_name: str, *, sans: Sequence[str] = (),
                      organizations: Sequence[str] = (), server: bool = True,
                      client: bool = False, validity_days: int | None = None) -> KeyPair:
    """A new key and a certificate for it signed by the CA (serving or client identity).

    Used for what magnum-lite itself deploys into a cluster (an API server, etcd, the
    conductor's admin client), so the key is generated here with the [x509] key type.
    """
    if not server and not client:
        raise ValueError("a certificate must be for a server, a client or both")
    if isinstance(sans, str):
        raise ValueError("sans must be a sequence of strings, not a string")
    days = _validity(validity_days, CONF.x509.certificate_validity_days)
    ca_cert, ca_key = _load_ca(ca)
    names = [_san(entry) for entry in dict.fromkeys(sans)]
    key = _generate_key(None, None)
    usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + \
        ([ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])
    cert = _leaf(ca_cert, ca_key, _name(common_name, organizations), key.public_key(), days,
                 usages, names)
    return KeyPair(certificate=_cert_pem(cert), private_key=_key_pem(key))


def ca_public_key_hash(certificate_pem: str) -> str:
    """kubeadm's --discovery-token-ca-cert-hash: "sha256:" + hex SHA-256 of the DER SPKI.

    Joining nodes pin the CA with it, so it must be byte-for-byte what kubeadm computes.
    """
    cert = _load_certificate(certificate_pem)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def fingerprint(certificate_pem: str) -> str:
    """Hex SHA-256 of the DER certificate: what a log line names instead of the content."""
    return _load_certificate(certificate_pem).fingerprint(hashes.SHA256()).hex()


def subject_of(certificate_pem: str) -> dict[str, list[str]]:
    """The subject as {"CN": [...], "O": [...], ...} (CN and O always present) for display."""
    subject: dict[str, list[str]] = {"CN": [], "O": []}
    for attribute in _load_certificate(certificate_pem).subject:
        value = attribute.value
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        subject.setdefault(attribute.rfc4514_attribute_name, []).append(value)
    return subject
