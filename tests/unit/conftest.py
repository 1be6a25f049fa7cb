"""Fixtures of the unit tier.

Every test has a credentials key, as a deployment has after `magnum-lite-manage credentials
setup`: a key file at the default `[credentials] encryption_key_file` under the test's
state_path. Without one the conductor refuses to store a cluster's secrets. A test about the
missing key removes the file (`no_credentials_key`).
"""

import os

import pytest

from magnum_lite.common import encryption


@pytest.fixture(autouse=True)
def credentials_key(config) -> str:
    """The path of the test's key file (made before the test, under its state_path)."""
    path = encryption.key_file()
    encryption.create_key_file(path)
    return path


@pytest.fixture
def no_credentials_key(credentials_key) -> None:
    """No key anywhere: the key file removed, encryption_keys unset."""
    os.remove(credentials_key)
