"""At-rest encryption of stored secrets under [credentials] encryption_keys or the key file,
and the refusal to store them in clear without a key."""

import os
import stat

from cryptography import fernet
import pytest

from magnum_lite.common import encryption, exception

OLD_KEY = fernet.Fernet.generate_key().decode()
NEW_KEY = fernet.Fernet.generate_key().decode()


def use_keys(config, *keys: str) -> None:
    config.set_override("encryption_keys", list(keys), group="credentials")


def test_without_keys_values_pass_through_only_where_plaintext_is_allowed(config,
                                                                         no_credentials_key):
    assert config.credentials.encryption_keys == []
    assert config.credentials.allow_plaintext is False
    assert not encryption.enabled()
    with pytest.raises(encryption.PlaintextRefused):
        encryption.encrypt("s3cret")
    config.set_override("allow_plaintext", True, group="credentials")
    assert encryption.encrypt("s3cret") == "s3cret"
    assert encryption.decrypt("s3cret") == "s3cret"
    assert encryption.reencrypt("s3cret") == "s3cret"
    assert not encryption.is_encrypted("s3cret")
    assert encryption.is_current("s3cret")


def test_none_stays_none(config):
    for keys in ([], [NEW_KEY]):
        use_keys(config, *keys)
        assert encryption.encrypt(None) is None
        assert encryption.decrypt(None) is None
        assert encryption.reencrypt(None) is None
        assert not encryption.is_encrypted(None)
        assert encryption.is_current(None)


def test_round_trip(config):
    use_keys(config, NEW_KEY)
    assert encryption.enabled()
    stored = encryption.encrypt("pässword")
    assert stored.startswith(encryption.PREFIX)
    assert "pässword" not in stored
    assert encryption.is_encrypted(stored)
    assert encryption.is_current(stored)
    assert encryption.decrypt(stored) == "pässword"
    # The token is a real Fernet token of the configured key.
    token = stored[len(encryption.PREFIX):].encode()
    assert fernet.Fernet(NEW_KEY).decrypt(token) == "pässword".encode()
    # Each encryption uses a fresh IV.
    assert encryption.encrypt("pässword") != stored


def test_plaintext_stored_before_a_key_is_still_read(config):
    use_keys(config, NEW_KEY)
    assert encryption.decrypt("-----BEGIN PRIVATE KEY-----") == "-----BEGIN PRIVATE KEY-----"
    assert not encryption.is_current("plain")
    assert encryption.is_encrypted(encryption.reencrypt("plain"))
    assert encryption.decrypt(encryption.reencrypt("plain")) == "plain"


def test_rotation(config):
    use_keys(config, OLD_KEY)
    stored = encryption.encrypt("trustee-password")

    use_keys(config, NEW_KEY, OLD_KEY)
    assert encryption.decrypt(stored) == "trustee-password"  # the old key still decrypts
    assert not encryption.is_current(stored)
    rotated = encryption.reencrypt(stored)
    assert rotated != stored and encryption.is_current(rotated)

    # The rotated token opens with the new key alone.
    use_keys(config, NEW_KEY)
    assert encryption.decrypt(rotated) == "trustee-password"
    token = rotated[len(encryption.PREFIX):].encode()
    assert fernet.Fernet(NEW_KEY).decrypt(token) == b"trustee-password"
    with pytest.raises(fernet.InvalidToken):
        fernet.Fernet(OLD_KEY).decrypt(token)


def test_new_values_are_encrypted_with_the_first_key(config):
    use_keys(config, NEW_KEY, OLD_KEY)
    token = encryption.encrypt("x")[len(encryption.PREFIX):].encode()
    assert fernet.Fernet(NEW_KEY).decrypt(token) == b"x"


def test_a_value_no_key_opens_is_undecryptable_without_revealing_it(config):
    use_keys(config, OLD_KEY)
    stored = encryption.encrypt("s3cret")
    use_keys(config, NEW_KEY)
    for call in (encryption.decrypt, encryption.reencrypt):
        with pytest.raises(exception.CredentialsUndecryptable) as raised:
            call(stored)
        message = str(raised.value)
        assert "[credentials] encryption_keys" in message
        assert stored[len(encryption.PREFIX):] not in message
        assert NEW_KEY not in message and OLD_KEY not in message
        assert raised.value.__cause__ is None
    assert not encryption.is_current(stored)


def test_an_encrypted_value_without_any_key_is_undecryptable(config, no_credentials_key):
    use_keys(config, NEW_KEY)
    stored = encryption.encrypt("s3cret")
    use_keys(config)
    with pytest.raises(exception.CredentialsUndecryptable, match="is set nor"):
        encryption.decrypt(stored)
    assert not encryption.is_current(stored)


def test_a_corrupted_token_is_undecryptable(config):
    use_keys(config, NEW_KEY)
    with pytest.raises(exception.CredentialsUndecryptable):
        encryption.decrypt(encryption.PREFIX + "not-a-token")


@pytest.mark.parametrize("bad", ["not-a-key", "c2hvcnQ=", "é" * 44])
def test_an_invalid_key_is_named_by_position_not_value(config, bad):
    use_keys(config, NEW_KEY, bad)
    for call in (encryption.enabled, encryption.validate_keys, lambda: encryption.encrypt("x")):
        with pytest.raises(exception.CredentialsKeyInvalid) as raised:
            call()
        message = str(raised.value)
        assert "[credentials] encryption_keys" in message
        assert "number 2" in message
        assert bad not in message and NEW_KEY not in message
        assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_the_keys_are_rebuilt_when_the_option_changes(config):
    use_keys(config, OLD_KEY)
    old = encryption.encrypt("v")
    use_keys(config, NEW_KEY)
    new = encryption.encrypt("v")
    assert fernet.Fernet(NEW_KEY).decrypt(new[len(encryption.PREFIX):].encode()) == b"v"
    with pytest.raises(exception.CredentialsUndecryptable):
        encryption.decrypt(old)
    config.clear_override("encryption_keys", group="credentials")
    # Unset, the key file's key takes over (the test's own, from tests/unit/conftest.py).
    assert encryption.key_source().endswith(encryption.key_file())
    with pytest.raises(exception.CredentialsUndecryptable):
        encryption.decrypt(new)
    assert encryption.decrypt(encryption.encrypt("v")) == "v"


def test_blank_entries_are_ignored(config):
    use_keys(config, "", NEW_KEY, " ")
    assert encryption.validate_keys() == 1
    assert encryption.decrypt(encryption.encrypt("v")) == "v"


# -- the key file and the refusal of plaintext ------------------------------------------------

def file_key(path: str) -> str:
    with open(path) as keys:
        return [line for line in keys.read().splitlines() if not line.startswith("#")][0]


def test_the_default_key_file_is_beside_the_sqlite_file(config, tmp_path):
    assert encryption.key_file() == str(tmp_path / "credentials.key")


def test_without_the_option_the_key_file_encrypts(config, credentials_key):
    assert encryption.validate_keys() == 1
    assert encryption.key_source() == f"[credentials] encryption_key_file {credentials_key}"
    stored = encryption.encrypt("pem")
    token = stored[len(encryption.PREFIX):].encode()
    assert fernet.Fernet(file_key(credentials_key)).decrypt(token) == b"pem"


def test_the_option_wins_over_the_key_file(config, credentials_key):
    use_keys(config, NEW_KEY)
    assert encryption.key_source() == "[credentials] encryption_keys"
    token = encryption.encrypt("pem")[len(encryption.PREFIX):].encode()
    assert fernet.Fernet(NEW_KEY).decrypt(token) == b"pem"


def test_a_key_file_rotates_like_the_option(config, tmp_path):
    path = tmp_path / "keys"
    config.set_override("encryption_key_file", str(path), group="credentials")
    path.write_text(f"# old key\n{OLD_KEY}\n")
    old = encryption.encrypt("pw")
    path.write_text(f"{NEW_KEY}\n\n# the old one, until reencrypt\n{OLD_KEY}\n")
    assert encryption.validate_keys() == 2
    assert encryption.decrypt(old) == "pw" and not encryption.is_current(old)
    rotated = encryption.reencrypt(old)
    assert fernet.Fernet(NEW_KEY).decrypt(rotated[len(encryption.PREFIX):].encode()) == b"pw"


def test_a_bad_key_in_the_file_is_named_by_position_not_value(config, tmp_path):
    path = tmp_path / "keys"
    config.set_override("encryption_key_file", str(path), group="credentials")
    path.write_text(f"{NEW_KEY}\nnot-a-key\n")
    with pytest.raises(exception.CredentialsKeyInvalid) as raised:
        encryption.encrypt("x")
    message = str(raised.value)
    assert f"[credentials] encryption_key_file {path}: key number 2" in message
    assert "not-a-key" not in message and NEW_KEY not in message


def test_an_unreadable_key_file_is_an_error_not_plaintext(config, tmp_path):
    path = tmp_path / "keys"
    config.set_override("encryption_key_file", str(path / "below-a-file"), group="credentials")
    path.write_text(NEW_KEY)
    with pytest.raises(encryption.KeyFileUnreadable, match="cannot be read"):
        encryption.encrypt("x")


def test_writing_a_secret_without_any_key_is_refused_naming_the_options(config,
                                                                         no_credentials_key):
    with pytest.raises(encryption.PlaintextRefused) as raised:
        encryption.encrypt("-----BEGIN PRIVATE KEY-----")
    message = str(raised.value)
    assert isinstance(raised.value, exception.MagnumLiteException)
    for named in ("[credentials] encryption_keys", "[credentials] encryption_key_file",
                  "[credentials] allow_plaintext = true",
                  "magnum-lite-manage credentials setup"):
        assert named in message
    assert "\n" not in message
    # Reading what was stored in clear before stays possible.
    assert encryption.decrypt("plain") == "plain"


def test_create_key_file_makes_a_private_file_once(tmp_path):
    path = str(tmp_path / "new-dir" / "credentials.key")
    assert encryption.create_key_file(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    key = file_key(path)
    fernet.Fernet(key.encode())  # a real Fernet key
    assert not encryption.create_key_file(path)  # never overwritten
    assert file_key(path) == key


def test_ensure_key_makes_the_file_only_when_there_is_no_key(config, no_credentials_key):
    made = encryption.ensure_key()
    assert made == encryption.key_file()
    assert encryption.validate_keys() == 1
    assert encryption.ensure_key() is None  # there is one now


def test_ensure_key_leaves_an_explicit_opt_out_alone(config, no_credentials_key):
    config.set_override("allow_plaintext", True, group="credentials")
    assert encryption.ensure_key() is None
    assert not os.path.exists(encryption.key_file())


def test_ensure_key_makes_nothing_when_the_option_holds_keys(config, no_credentials_key):
    use_keys(config, NEW_KEY)
    assert encryption.ensure_key() is None
    assert not os.path.exists(encryption.key_file())
