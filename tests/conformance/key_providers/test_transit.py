"""The transit provider's own rules against the suite's real OpenBao server (``conftest.py``):
what transit answers that is not in the shared contract (``test_contract.py``)."""

from __future__ import annotations

import base64
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from packyard.crypto.context import EncryptionContext
from packyard.crypto.errors import KeyUnavailable, TamperedKey, UnknownKey, UnusableKey
from packyard.crypto.keys import WrappedKey
from packyard.crypto.transit import TransitKeyProvider
from packyard.errors import Invalid
from tests.openbao import OpenBao

CONTEXT = EncryptionContext("d1", "9a" * 32)


def test_a_bad_token_is_key_unavailable(openbao: OpenBao) -> None:
    key = TransitKeyProvider(openbao.url, openbao.root_token).create_key()
    with pytest.raises(KeyUnavailable, match="403 permission denied"):
        TransitKeyProvider(openbao.url, "not-a-token").generate_data_key(key.key_id, CONTEXT)


def test_an_unreachable_server_is_key_unavailable() -> None:
    provider = TransitKeyProvider("http://127.0.0.1:9", "token", timeout_seconds=2)
    with pytest.raises(KeyUnavailable, match="did not answer"):
        provider.describe_key("packyard-any")


def test_a_key_that_is_not_derived_is_refused(openbao: OpenBao) -> None:
    httpx.post(f"{openbao.url}/v1/transit/keys/plain-key", json={"type": "aes256-gcm96"},
               headers={"X-Vault-Token": openbao.root_token}).raise_for_status()
    provider = TransitKeyProvider(openbao.url, openbao.root_token)
    with pytest.raises(UnusableKey, match="not a derived key"):
        provider.describe_key("plain-key")


def test_aliases_are_refused_with_the_reason(openbao: OpenBao) -> None:
    with pytest.raises(Invalid, match="no aliases"):
        TransitKeyProvider(openbao.url, openbao.root_token).create_key(alias="alias/a")


def test_a_wrapped_key_carries_its_version_and_a_mismatch_is_tampering(
        openbao: OpenBao) -> None:
    provider = TransitKeyProvider(openbao.url, openbao.root_token)
    key = provider.create_key()
    data_key = provider.generate_data_key(key.key_id, CONTEXT)
    assert data_key.wrapped.ciphertext.startswith(b"vault:v1:")
    lying = WrappedKey(key.key_id, 2, data_key.wrapped.ciphertext)
    with pytest.raises(TamperedKey):
        provider.decrypt_data_key(lying, CONTEXT)
    with pytest.raises(TamperedKey):
        provider.decrypt_data_key(WrappedKey(key.key_id, None, b"\xff" * 20), CONTEXT)


def test_the_context_sent_is_the_blobs_binding(openbao: OpenBao) -> None:
    provider = TransitKeyProvider(openbao.url, openbao.root_token)
    key = provider.create_key()
    data_key = provider.generate_data_key(key.key_id, CONTEXT)
    # Transit itself, asked directly with the documented context, unwraps the same key.
    answer = httpx.post(f"{openbao.url}/v1/transit/decrypt/{key.key_id}",
                        json={"ciphertext": data_key.wrapped.ciphertext.decode(),
                              "context": CONTEXT.transit_context()},
                        headers={"X-Vault-Token": openbao.root_token}).json()
    assert base64.b64decode(answer["data"]["plaintext"]) == data_key.plaintext


def test_unsafe_key_names_never_reach_the_url(openbao: OpenBao) -> None:
    with pytest.raises(UnknownKey):
        TransitKeyProvider(openbao.url, openbao.root_token).describe_key("../sys/mounts")


def test_regression_calls_queued_behind_a_hung_transit_fail_after_one_timeout() -> None:
    # Was: every call waited out its own timeout, so with transit hung (SIGSTOP, a stalled
    # network) fifty downloads on the server's 16 read threads answered after 10, 20, 30 and
    # 40 s: one timeout per turn of the pool, past pip's own 15 s.
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)  # accepts, never answers
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        provider = TransitKeyProvider(url, "token", timeout_seconds=0.5)

        def call(_: int) -> float:
            started = time.monotonic()
            with pytest.raises(KeyUnavailable, match="did not answer"):
                provider.describe_key("packyard-any")
            return time.monotonic() - started

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=4) as pool:
            waits = list(pool.map(call, range(16)))
        assert max(waits) < 1.5
        assert time.monotonic() - started < 1.5  # not 16 / 4 turns of 0.5 s
    finally:
        listener.close()


def test_a_transit_that_answers_again_is_asked_again(openbao: OpenBao) -> None:
    provider = TransitKeyProvider(openbao.url, openbao.root_token, timeout_seconds=0.2)
    key = provider.create_key().key_id
    real = provider._base
    provider._base = "http://127.0.0.1:9/v1/transit"
    with pytest.raises(KeyUnavailable, match="did not answer"):
        provider.describe_key(key)
    provider._base = real
    with pytest.raises(KeyUnavailable, match="did not answer"):
        provider.describe_key(key)  # still within the quiet seconds
    time.sleep(0.3)  # the quiet seconds (0.2 here) are over
    assert provider.describe_key(key).key_id == key
