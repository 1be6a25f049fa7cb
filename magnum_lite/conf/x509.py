"""[x509] and [credentials]: the clusters' certificate authorities and how their secrets are
stored.

Every cluster gets its own CA (and, for Kubernetes, etcd and front-proxy CAs) at create. The
private keys, the password of each cluster's trustee user and join tokens are stored encrypted
with the first key of `[credentials] encryption_keys` (or of the key file); the other keys still
decrypt, so a key is rotated by putting a new one first and running `magnum-lite-manage
credentials reencrypt`. Without a key, secrets are stored in clear only where
`allow_plaintext` says so.
"""

from oslo_config import cfg

X509 = "x509"
CREDENTIALS = "credentials"

x509_group = cfg.OptGroup(X509, title="Cluster certificate authorities")
credentials_group = cfg.OptGroup(CREDENTIALS, title="Encryption of stored secrets")

X509_OPTS = [
    cfg.StrOpt("key_type", default="rsa", choices=[("rsa", "RSA keys (rsa_key_size bits)"),
                                                   ("ec", "elliptic-curve keys (ec_curve)")],
               help="Key type of the CAs and of the certificates magnum-lite issues."),
    cfg.IntOpt("rsa_key_size", default=2048, min=2048, max=8192,
               help="Bits of an RSA key (Kubernetes accepts 2048 and more)."),
    cfg.StrOpt("ec_curve", default="secp256r1",
               choices=[("secp256r1", "NIST P-256"), ("secp384r1", "NIST P-384")],
               help="Curve of an elliptic-curve key."),
    cfg.IntOpt("ca_validity_days", default=3650, min=1,
               help="Days a cluster CA is valid."),
    cfg.IntOpt("certificate_validity_days", default=365, min=1,
               help="Days a certificate signed from a user's CSR is valid."),
]

CREDENTIALS_OPTS = [
    cfg.ListOpt("encryption_keys", default=[], secret=True,
                help="Fernet keys (urlsafe base64 of 32 bytes, e.g. from `python -c "
                     "'from cryptography.fernet import Fernet; print(Fernet.generate_key()"
                     ".decode())'`) that encrypt the clusters' private keys, trustee "
                     "passwords and join tokens in the database. The first encrypts, every one "
                     "decrypts: rotate by putting a new key first, then run `magnum-lite-manage "
                     "credentials reencrypt`, then drop the old key. Unset, the keys are read "
                     "from encryption_key_file."),
    cfg.StrOpt("encryption_key_file", default="$state_path/credentials.key",
               help="File of Fernet keys, one a line (the first encrypts, every one decrypts; "
                    "# starts a comment), used when encryption_keys is unset. "
                    "`magnum-lite-manage credentials setup` and `magnum-lite-manage db "
                    "upgrade` create it (mode 0600) when there is no key at all, and so does "
                    "the first start of magnum-lite-all. Every conductor host needs the same "
                    "keys."),
    cfg.BoolOpt("allow_plaintext", default=False,
                help="Store the secrets unencrypted when there is no key (neither "
                     "encryption_keys nor a key file). False: the conductor refuses to write a "
                     "secret in clear, and a cluster being created fails saying so."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(x509_group)
    conf.register_opts(X509_OPTS, group=x509_group)
    conf.register_group(credentials_group)
    conf.register_opts(CREDENTIALS_OPTS, group=credentials_group)


def list_opts() -> dict:
    return {x509_group: X509_OPTS, credentials_group: CREDENTIALS_OPTS}
