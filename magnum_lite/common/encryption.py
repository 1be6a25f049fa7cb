"""At-rest encryption of secrets in the database (CA private keys, trustee passwords, tokens).

Values are Fernet tokens under `[credentials] encryption_keys`, stored as "fernet:" + token so a
value written before any key was configured (plaintext) is told apart and still read. The first
key encrypts, every key decrypts: a key is rotated by putting a new one first, running
`magnum-lite-manage credentials reencrypt`, then dropping the old one.

Neither keys nor secrets appear in any message raised from here.
"""

import threading

from cryptography import fernet

from magnum_lite.common import exception
from magnum_lite.conf import CONF

PREFIX = "fernet:"

_lock = threading.Lock()
# (the key strings it was built from, the MultiFernet, the first key's Fernet) — rebuilt when
# the option changes, so set_override in tests and a config reload take effect.
_cache: tuple[tuple[str, ...], fernet.MultiFernet, fernet.Fernet] | None = None


def _configured_keys() -> tuple[str, ...]:
    # Blank entries ("a,,b" or a trailing comma) are slips of the pen, not keys.
    return tuple(key.strip() for key in CONF.credentials.encryption_keys or () if key.strip())


def _fernets() -> tuple[fernet.MultiFernet, fernet.Fernet] | None:
    """The MultiFernet and the first key's Fernet for the current option, or None if unset."""
    global _cache
    keys = _configured_keys()
    if not keys:
        return None
    cached = _cache
    if cached is not None and cached[0] == keys:
        return cached[1], cached[2]
    with _lock:
        built = []
        for position, key in enumerate(keys, start=1):
            try:
                built.append(fernet.Fernet(key.encode("ascii")))
            except (ValueError, UnicodeEncodeError, TypeError):
                # `from None`: the library's error could carry the key in its context.
                raise exception.CredentialsKeyInvalid(position=position) from None
        _cache = (keys, fernet.MultiFernet(built), built[0])
        return _cache[1], _cache[2]


def enabled() -> bool:
    """Whether secrets are encrypted (a key is configured); raises if a key is invalid."""
    return _fernets() is not None


def validate_keys() -> int:
    """Check every configured key; returns how many there are (for the status check)."""
    _fernets()
    return len(_configured_keys())


def is_encrypted(stored: str | None) -> bool:
    """Whether a stored value is a token (with any key), as opposed to plaintext or None."""
    return isinstance(stored, str) and stored.startswith(PREFIX)


def encrypt(text: str | None) -> str | None:
    """PREFIX + a token under the first key; unchanged when no key is configured."""
    if text is None:
        return None
    fernets = _fernets()
    if fernets is None:
        return text
    multi, _first = fernets
    return PREFIX + multi.encrypt(text.encode("utf-8")).decode("ascii")


def decrypt(stored: str | None) -> str | None:
    """The plaintext of a stored value; a value without PREFIX was stored plaintext as is."""
    if stored is None or not stored.startswith(PREFIX):
        return stored
    fernets = _fernets()
    if fernets is None:
        raise exception.CredentialsUndecryptable(
            "A stored secret is encrypted but [credentials] encryption_keys is not set: "
            "configure the key that encrypted it.")
    multi, _first = fernets
    try:
        return multi.decrypt(stored[len(PREFIX):].encode("ascii")).decode("utf-8")
    except (fernet.InvalidToken, UnicodeError):
        raise exception.CredentialsUndecryptable() from None


def is_current(stored: str | None) -> bool:
    """Whether a value needs no re-encryption: None, or a token the first key opens.

    Plaintext counts as current only while no key is configured (nothing to encrypt with).
    """
    if stored is None:
        return True
    fernets = _fernets()
    if fernets is None:
        return not is_encrypted(stored)
    if not is_encrypted(stored):
        return False
    _multi, first = fernets
    try:
        first.decrypt(stored[len(PREFIX):].encode("ascii"))
    except (fernet.InvalidToken, UnicodeError):
        return False
    return True


def reencrypt(stored: str | None) -> str | None:
    """The value encrypted with the first key (rotation); plaintext gets encrypted.

    Raises CredentialsUndecryptable when no configured key opens it; with no key configured a
    plaintext value is returned unchanged.
    """
    return encrypt(decrypt(stored))
