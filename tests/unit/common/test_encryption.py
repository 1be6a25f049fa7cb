"""At-rest encryption of stored secrets under [credentials] encryption_keys."""

from cryptography import fernet
import pytest

from magnum_lite.common import encryption, exception

OLD_KEY = fernet.Fernet.generate_key().decode()
NEW_KEY = fernet.Fernet.generate_key().decode()


def use_keys(config, *keys: str) -> None:
    config.set_override("encryption_keys", list(keys), group="credentials")


def test_without_keys_values_pass_through(config):
    assert config.credentials.encryption_keys == []
    assert not encryption.enabled()
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


def test_an_encrypted_value_without_any_key_is_undecryptable(config):
    use_keys(config, NEW_KEY)
    stored = encryption.encrypt("s3cret")
    use_keys(config)
    with pytest.raises(exception.CredentialsUndecryptable, match="not set"):
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
    assert not encryption.enabled()
    assert encryption.encrypt("v") == "v"


def test_blank_entries_are_ignored(config):
    use_keys(config, "", NEW_KEY, " ")
    assert encryption.validate_keys() == 1
    assert encryption.decrypt(encryption.encrypt("v")) == "v"
