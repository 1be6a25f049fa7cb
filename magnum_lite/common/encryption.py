"""At-rest encryption of secrets in the database (CA private keys, trustee passwords, tokens).

Values are Fernet tokens, stored as "fernet:" + token so a value written before any key was
configured (plaintext) is told apart and still read. The keys are `[credentials]
encryption_keys` when set, otherwise the lines of `[credentials] encryption_key_file` (by default
`$state_path/credentials.key`, which `magnum-lite-manage credentials setup`, `magnum-lite-manage
db upgrade` and the first start of `magnum-lite-all` create, mode 0600). The first key
encrypts, every key decrypts: a key is rotated by putting a new one first, running
`magnum-lite-manage credentials reencrypt`, then dropping the old one.

With no key at all, a secret is not written in clear unless `[credentials] allow_plaintext` says
so: encrypt() raises PlaintextRefused, whose message names the options (the conductor makes it
the cluster's status_reason).

Neither keys nor secrets appear in any message raised from here.
"""

import os
import threading

from cryptography import fernet

from magnum_lite.common import exception
from magnum_lite.conf import CONF

PREFIX = "fernet:"
KEYS_OPTION = "[credentials] encryption_keys"
KEY_FILE_OPTION = "[credentials] encryption_key_file"
PLAINTEXT_OPTION = "[credentials] allow_plaintext"
KEY_FILE_MODE = 0o600


class PlaintextRefused(exception.MagnumLiteException):
    """A secret was to be written with no key to encrypt it and plaintext not allowed."""

    message = (f"Refusing to store a secret unencrypted: no key in {KEYS_OPTION} or in "
               f"{KEY_FILE_OPTION}. Run `magnum-lite-manage credentials setup` (or set "
               f"{PLAINTEXT_OPTION} = true to store secrets in clear).")


class KeyFileUnreadable(exception.MagnumLiteException):
    message = f"{KEY_FILE_OPTION} %(path)s cannot be read: %(reason)s."


_lock = threading.Lock()
# (the key strings it was built from, the MultiFernet, the first key's Fernet) — rebuilt when
# the option or the key file changes, so set_override in tests and a config reload take effect.
_cache: tuple[tuple[str, ...], fernet.MultiFernet, fernet.Fernet] | None = None
# ((path, inode, size, mtime), the keys read from it): the file is read again when it changes.
_file_cache: tuple[tuple, tuple[str, ...]] | None = None


def key_file() -> str:
    """The path of the key file (`~` expanded)."""
    return os.path.expanduser(CONF.credentials.encryption_key_file)


def _read_key_file(path: str) -> tuple[str, ...]:
    """The keys of the key file, one a line (blank lines and # comments skipped); none when
    there is no file."""
    global _file_cache
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return ()
    except OSError as err:
        raise KeyFileUnreadable(path=path, reason=err.strerror or type(err).__name__) from None
    stamp = (path, info.st_ino, info.st_size, info.st_mtime_ns)
    cached = _file_cache
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        with open(path, encoding="ascii", errors="replace") as keys_file:
            lines = keys_file.read().splitlines()
    except OSError as err:
        raise KeyFileUnreadable(path=path, reason=err.strerror or type(err).__name__) from None
    keys = tuple(line.strip() for line in lines
                 if line.strip() and not line.strip().startswith("#"))
    _file_cache = (stamp, keys)
    return keys


def _configured_keys() -> tuple[tuple[str, ...], str]:
    """(the keys, the option they come from): encryption_keys when set, else the key file."""
    # Blank entries ("a,,b" or a trailing comma) are slips of the pen, not keys.
    keys = tuple(key.strip() for key in CONF.credentials.encryption_keys or () if key.strip())
    if keys:
        return keys, KEYS_OPTION
    path = key_file()
    return _read_key_file(path), f"{KEY_FILE_OPTION} {path}"


def _fernets() -> tuple[fernet.MultiFernet, fernet.Fernet] | None:
    """The MultiFernet and the first key's Fernet for the current keys, or None if none."""
    global _cache
    keys, source = _configured_keys()
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
                raise exception.CredentialsKeyInvalid(
                    message=f"{source}: key number {position} is not a Fernet key (urlsafe "
                            f"base64 of 32 bytes).") from None
        _cache = (keys, fernet.MultiFernet(built), built[0])
        return _cache[1], _cache[2]


def key_source() -> str:
    """Where the keys come from (the option, or the key file and its path)."""
    return _configured_keys()[1]


def plaintext_allowed() -> bool:
    """Whether secrets may be stored in clear when there is no key (an explicit opt-out)."""
    return bool(CONF.credentials.allow_plaintext)


def create_key_file(path: str) -> bool:
    """Write a new Fernet key to `path` (mode 0600, its directory made 0700 if missing).

    False when the file exists already (another process may have just made it): a key file
    is never overwritten, since the secrets it encrypted would be lost with it.
    """
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w", encoding="ascii") as keys_file:
        keys_file.write("# magnum-lite [credentials] encryption key: the first line encrypts, "
                        "every line decrypts\n")
        keys_file.write(fernet.Fernet.generate_key().decode("ascii") + "\n")
    return True


def ensure_key() -> str | None:
    """Create the key file when there is no key at all and plaintext is not allowed.

    Returns the path of the file made, or None when nothing was needed. Made by the commands
    that set a deployment up (never by a conductor, whose hosts must share one key).
    """
    keys, _source = _configured_keys()
    if keys or plaintext_allowed():
        return None
    path = key_file()
    return path if create_key_file(path) else None


def enabled() -> bool:
    """Whether secrets are encrypted (a key is configured); raises if a key is invalid."""
    return _fernets() is not None


def validate_keys() -> int:
    """Check every configured key; returns how many there are (for the status check)."""
    _fernets()
    return len(_configured_keys()[0])


def is_encrypted(stored: str | None) -> bool:
    """Whether a stored value is a token (with any key), as opposed to plaintext or None."""
    return isinstance(stored, str) and stored.startswith(PREFIX)


def encrypt(text: str | None) -> str | None:
    """PREFIX + a token under the first key; unchanged when no key is configured and
    `[credentials] allow_plaintext` is set, PlaintextRefused when it is not."""
    if text is None:
        return None
    fernets = _fernets()
    if fernets is None:
        if plaintext_allowed():
            return text
        raise PlaintextRefused()
    multi, _first = fernets
    return PREFIX + multi.encrypt(text.encode("utf-8")).decode("ascii")


def decrypt(stored: str | None) -> str | None:
    """The plaintext of a stored value; a value without PREFIX was stored plaintext as is."""
    if stored is None or not stored.startswith(PREFIX):
        return stored
    fernets = _fernets()
    if fernets is None:
        raise exception.CredentialsUndecryptable(
            f"A stored secret is encrypted but neither {KEYS_OPTION} is set nor "
            f"{KEY_FILE_OPTION} holds a key: configure the key that encrypted it.")
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
    plaintext value is returned unchanged where plaintext is allowed (PlaintextRefused else).
    """
    return encrypt(decrypt(stored))
