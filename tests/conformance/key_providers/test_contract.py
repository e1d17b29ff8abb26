"""The KeyProvider contract: every key provider must pass these.

Providers: ``local`` (the keyring, on a temporary file), ``transit`` (a real OpenBao server
started for the session: ``conftest.py``) and ``kms`` (a real boto3 client whose calls botocore's
``Stubber`` answers: ``kms_stubs.py`` says what that proves and what it cannot). Every ``kms`` case
is stub-based; the cases where the result is KMS's own doing (a wrong context or key refused, a
rotation) check our request and our handling of KMS's documented answer, not KMS.

A test talks to a harness with the provider's methods: for ``local`` and ``transit`` these are
the provider's own; for ``kms`` each first queues KMS's answer. A new provider is one more entry
in ``_HARNESSES``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from packyard.crypto.context import EncryptionContext
from packyard.crypto.errors import KeyUnavailable, TamperedKey, UnknownKey
from packyard.crypto.keyring import LocalKeyring
from packyard.crypto.keys import KeyProvider, WrappedKey
from packyard.crypto.kms import KmsKeyProvider
from packyard.crypto.transit import TransitKeyProvider
from tests.conformance.key_providers.kms_stubs import StubbedKms
from tests.openbao import OpenBao

CONTEXT = EncryptionContext("d1", "a1" * 32)


def _each_is_a_key_provider(local: LocalKeyring, transit: TransitKeyProvider,
                            kms: KmsKeyProvider) -> list[KeyProvider]:
    """Never called: mypy --strict checks here that every provider matches the Protocol."""
    return [local, transit, kms]


class Direct:
    """A real provider: the harness methods are the provider's."""

    def __init__(self, provider: Any, disable: Callable[[str], None] | None = None) -> None:
        self.provider = provider
        self._disable = disable

    def __getattr__(self, name: str) -> Any:
        return getattr(self.provider, name)

    def disable(self, key_ref: str) -> None:
        if self._disable is None:
            pytest.skip(f"{self.provider.name} keys cannot be disabled through Packyard")
        self._disable(key_ref)

    def close(self) -> None:
        pass


def _local(request: pytest.FixtureRequest, tmp_path: Path) -> Direct:
    keyring = LocalKeyring(tmp_path / "keyring.json")

    def disable(key_ref: str) -> None:
        keyring.set_enabled(key_ref, False)

    return Direct(keyring, disable)


def _transit(request: pytest.FixtureRequest, tmp_path: Path) -> Direct:
    server: OpenBao = request.getfixturevalue("openbao")
    provider = TransitKeyProvider(server.url, server.root_token)
    request.addfinalizer(provider.close)
    return Direct(provider)


def _kms(request: pytest.FixtureRequest, tmp_path: Path) -> StubbedKms:
    return StubbedKms()


_HARNESSES: dict[str, Callable[[pytest.FixtureRequest, Path], Any]] = {
    "local": _local, "transit": _transit, "kms": _kms}


@pytest.fixture(params=sorted(_HARNESSES))
def h(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    harness = _HARNESSES[request.param](request, tmp_path)
    yield harness
    harness.close()


def _altered(wrapped: WrappedKey) -> WrappedKey:
    """The same wrapped key with one byte changed near its end (still printable for transit's
    base64 text, so the server reads it and finds the tag wrong)."""
    raw = bytearray(wrapped.ciphertext)
    raw[-6] = ord("A") if raw[-6] != ord("A") else ord("B")
    return WrappedKey(wrapped.key_id, wrapped.key_version, bytes(raw))


# -- keys -------------------------------------------------------------------------------------

def test_a_new_key_is_enabled_and_described_by_its_id(h: Any) -> None:
    created = h.create_key(description="domain d1")
    described = h.describe_key(created.key_id)
    assert described.key_id == created.key_id
    assert described.provider == h.name
    assert described.enabled
    assert described.current_version in (1, None)  # None: KMS keeps versions to itself
    assert described.versions in ((1,), ())


def test_an_unknown_key_is_unknown(h: Any) -> None:
    with pytest.raises(UnknownKey):
        h.describe_key("packyard-no-such-key")
    with pytest.raises(UnknownKey):
        h.generate_data_key("packyard-no-such-key", CONTEXT)


def test_an_alias_names_its_key(h: Any) -> None:
    if not h.supports_aliases:
        pytest.skip(f"{h.name} keys have no aliases")
    created = h.create_key(alias="alias/team-a")
    described = h.describe_key("alias/team-a")
    assert described.key_id == created.key_id
    assert described.aliases == ("alias/team-a",)


# -- data keys --------------------------------------------------------------------------------

def test_a_data_key_is_256_bits_wrapped_by_the_current_version(h: Any) -> None:
    key = h.create_key()
    data_key = h.generate_data_key(key.key_id, CONTEXT)
    assert len(data_key.plaintext) == 32
    assert data_key.plaintext not in data_key.wrapped.ciphertext
    assert data_key.wrapped.key_id == key.key_id
    assert data_key.wrapped.key_version == key.current_version
    assert repr(data_key.plaintext) not in repr(data_key)


def test_a_data_key_unwraps_for_its_context(h: Any) -> None:
    key = h.create_key()
    data_key = h.generate_data_key(key.key_id, CONTEXT)
    assert h.decrypt_data_key(data_key.wrapped, CONTEXT) == data_key.plaintext


def test_a_data_key_made_elsewhere_is_wrapped_for_its_context_only(h: Any) -> None:
    # migrate-storage moving data keys off the local keyring (services/storage_migration.py)
    key = h.create_key()
    plaintext = bytes(range(32))
    wrapped = h.wrap_data_key(key.key_id, plaintext, CONTEXT)
    assert plaintext not in wrapped.ciphertext
    assert wrapped.key_id == key.key_id and wrapped.key_version == key.current_version
    assert h.decrypt_data_key(wrapped, CONTEXT) == plaintext
    with pytest.raises(TamperedKey):
        h.decrypt_data_key(wrapped, EncryptionContext("d2", CONTEXT.sha256))


def test_only_a_256_bit_key_is_wrapped(h: Any) -> None:
    if h.name == "kms":
        pytest.skip("refused before any call: the same check_data_key as the others")
    key = h.create_key()
    with pytest.raises(KeyUnavailable, match="16-byte data key"):
        h.wrap_data_key(key.key_id, bytes(16), CONTEXT)


def test_each_data_key_is_new(h: Any) -> None:
    if h.name == "kms":
        pytest.skip("the stub makes the keys: nothing of ours to test")
    key = h.create_key()
    one, two = (h.generate_data_key(key.key_id, CONTEXT) for _ in range(2))
    assert one.plaintext != two.plaintext and one.wrapped != two.wrapped


def test_a_wrapped_key_does_not_unwrap_for_another_domain(h: Any) -> None:
    key = h.create_key()
    data_key = h.generate_data_key(key.key_id, CONTEXT)
    with pytest.raises(TamperedKey):
        h.decrypt_data_key(data_key.wrapped, EncryptionContext("d2", CONTEXT.sha256))


def test_a_wrapped_key_does_not_unwrap_for_another_blob(h: Any) -> None:
    key = h.create_key()
    data_key = h.generate_data_key(key.key_id, CONTEXT)
    with pytest.raises(TamperedKey):
        h.decrypt_data_key(data_key.wrapped, EncryptionContext(CONTEXT.domain, "b2" * 32))


def test_an_altered_wrapped_key_does_not_unwrap(h: Any) -> None:
    key = h.create_key()
    data_key = h.generate_data_key(key.key_id, CONTEXT)
    with pytest.raises(TamperedKey):
        h.decrypt_data_key(_altered(data_key.wrapped), CONTEXT)


def test_a_wrapped_key_does_not_unwrap_with_another_key(h: Any) -> None:
    one, two = h.create_key(), h.create_key()
    data_key = h.generate_data_key(one.key_id, CONTEXT)
    moved = WrappedKey(two.key_id, data_key.wrapped.key_version, data_key.wrapped.ciphertext)
    with pytest.raises(TamperedKey):
        h.decrypt_data_key(moved, CONTEXT)


def test_a_disabled_key_neither_wraps_nor_unwraps(h: Any) -> None:
    key = h.create_key()
    data_key = h.generate_data_key(key.key_id, CONTEXT)
    h.disable(key.key_id)
    with pytest.raises(KeyUnavailable, match="disabled"):
        h.generate_data_key(key.key_id, CONTEXT)
    with pytest.raises(KeyUnavailable, match="disabled"):
        h.decrypt_data_key(data_key.wrapped, CONTEXT)
    with pytest.raises(KeyUnavailable, match="disabled"):
        h.wrap_data_key(key.key_id, data_key.plaintext, CONTEXT)


# -- rotation ---------------------------------------------------------------------------------

def test_rotation_wraps_new_keys_with_a_new_version_and_old_ones_still_unwrap(h: Any) -> None:
    key = h.create_key()
    before = h.generate_data_key(key.key_id, CONTEXT)
    rotated = h.rotate(key.key_id)
    after = h.generate_data_key(key.key_id, CONTEXT)
    if rotated.current_version is not None:
        assert rotated.current_version == 2 and rotated.versions == (1, 2)
        assert (before.wrapped.key_version, after.wrapped.key_version) == (1, 2)
    assert h.decrypt_data_key(before.wrapped, CONTEXT) == before.plaintext
    assert h.decrypt_data_key(after.wrapped, CONTEXT) == after.plaintext


def test_rewrap_moves_a_wrapped_key_to_the_current_version_keeping_the_data_key(h: Any) -> None:
    key = h.create_key()
    data_key = h.generate_data_key(key.key_id, CONTEXT)
    h.rotate(key.key_id)
    rewrapped = h.rewrap(data_key.wrapped, CONTEXT)
    assert rewrapped.key_id == key.key_id
    assert rewrapped.ciphertext != data_key.wrapped.ciphertext
    if rewrapped.key_version is not None:
        assert rewrapped.key_version == 2
    assert h.decrypt_data_key(rewrapped, CONTEXT) == data_key.plaintext


def test_retired_versions_no_longer_unwrap_and_the_rewrapped_key_does(h: Any) -> None:
    # Rotation's last step (encryption/rotation.py), where the provider keeps versions.
    if not hasattr(h, "provider") or not hasattr(h.provider, "retire_versions_below"):
        pytest.skip("AWS KMS keeps its key versions to itself: nothing to retire")
    key = h.create_key()
    data_key = h.generate_data_key(key.key_id, CONTEXT)
    h.rotate(key.key_id)
    rewrapped = h.rewrap(data_key.wrapped, CONTEXT)
    h.retire_versions_below(key.key_id, 2)
    assert h.decrypt_data_key(rewrapped, CONTEXT) == data_key.plaintext
    with pytest.raises((TamperedKey, KeyUnavailable)):
        h.decrypt_data_key(data_key.wrapped, CONTEXT)


def test_rewrap_checks_the_context_too(h: Any) -> None:
    key = h.create_key()
    data_key = h.generate_data_key(key.key_id, CONTEXT)
    with pytest.raises(TamperedKey):
        h.rewrap(data_key.wrapped, EncryptionContext("d9", CONTEXT.sha256))
