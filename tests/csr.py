"""Certificate signing requests as a user's client makes them (python-magnumclient's
`cluster config` asks for CN=admin, O=system:masters)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID


def make_csr_and_key(common_name: str = "someone-else",
                     organizations: Sequence[str] = ("system:masters",),
                     key: Any = None) -> tuple[str, str]:
    """(CSR, private key) in PEM; a new P-256 key unless `key` is given."""
    key = key if key is not None else ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
                        + [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o)
                           for o in organizations])
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, algorithm)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return csr.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def make_csr(common_name: str = "someone-else",
             organizations: Sequence[str] = ("system:masters",), key: Any = None) -> str:
    return make_csr_and_key(common_name, organizations, key)[0]
