"""What a cluster's credentials cost the conductor: making its CAs at create, signing a
user's CSR, and reading a stored private key back (Fernet).

In process, no services: each operation runs `--repeat` times per key type and the table
gives the median and the slowest run in ms. A Kubernetes cluster's create makes three CAs
(cluster, etcd, front-proxy) with `[x509] key_type` keys.

    .venv/bin/python -m benchmarks.credentials [--repeat 20]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import statistics
import time

from cryptography.fernet import Fernet

from magnum_lite.common import encryption, x509
from magnum_lite.conf import CONF
from tests.csr import make_csr

KEY_TYPES = (("rsa 2048", {"key_type": "rsa", "key_size": 2048}),
             ("rsa 4096", {"key_type": "rsa", "key_size": 4096}),
             ("ec P-256", {"key_type": "ec"}))


def _times(operation: Callable[[], object], repeat: int) -> tuple[float, float]:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        operation()
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs), max(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    CONF([], project="magnum-lite")
    CONF.set_override("encryption_keys", [Fernet.generate_key().decode()], "credentials")
    csr = make_csr()
    print("| key type | operation | median ms | slowest ms |")
    print("|---|---|---|---|")
    for label, options in KEY_TYPES:
        ca = x509.generate_ca("bench CA", **options)
        stored = encryption.encrypt(ca.private_key)
        rows = [
            ("make a CA", lambda o=options: x509.generate_ca("bench CA", **o)),
            ("make the 3 CAs of a Kubernetes cluster",
             lambda o=options: [x509.generate_ca("bench CA", **o) for _ in range(3)]),
            ("sign a CSR (P-256 key)", lambda c=ca: x509.sign_csr(
                c, csr, common_name="user", organizations=["system:masters"])),
            ("decrypt a stored CA key", lambda s=stored: encryption.decrypt(s)),
        ]
        for name, operation in rows:
            median, slowest = _times(operation, args.repeat)
            print(f"| {label} | {name} | {median:.2f} | {slowest:.2f} |")


if __name__ == "__main__":
    main()
