"""Tink is the oracle of ``packyard/crypto/stream.py``: what we write, Tink decrypts, and what Tink
writes, we decrypt (whole and by range), given the same raw data key and associated data.

Tink's Python API takes keysets, not raw keys, so the raw key is put into an
``AesGcmHkdfStreamingKey`` proto (``proto/aes_gcm_hkdf_streaming.proto``: ``key_value`` is the
HKDF input keying material; the params fix the segment size, the derived AES key size and the HKDF
hash) inside a one-key cleartext keyset, with the RAW output prefix (streaming AEAD has no key-id
prefix in its ciphertexts).
"""

from __future__ import annotations

import io
import os

import pytest

tink = pytest.importorskip("tink")
from tink import cleartext_keyset_handle, streaming_aead  # noqa: E402
from tink.proto import aes_gcm_hkdf_streaming_pb2, common_pb2, tink_pb2  # noqa: E402

from packyard.crypto.context import EncryptionContext  # noqa: E402
from packyard.crypto.stream import (  # noqa: E402
    HEADER_SIZE,
    SEGMENT_SIZE,
    TAG_SIZE,
    Layout,
    StreamDecryptor,
    StreamEncryptor,
    decrypt_bytes,
    encrypt_bytes,
)

streaming_aead.register()

AD = EncryptionContext("d7", "0f" * 32).blob_associated_data()
FIRST = SEGMENT_SIZE - TAG_SIZE - HEADER_SIZE
PLAIN = SEGMENT_SIZE - TAG_SIZE
SIZES = [0, 1, 1000, FIRST - 1, FIRST, FIRST + 1, FIRST + PLAIN, FIRST + 2 * PLAIN + 12345]


def _tink(raw_key: bytes, segment_size: int = SEGMENT_SIZE) -> streaming_aead.StreamingAead:
    key = aes_gcm_hkdf_streaming_pb2.AesGcmHkdfStreamingKey(
        version=0, key_value=raw_key,
        params=aes_gcm_hkdf_streaming_pb2.AesGcmHkdfStreamingParams(
            ciphertext_segment_size=segment_size, derived_key_size=32,
            hkdf_hash_type=common_pb2.SHA256))
    keyset = tink_pb2.Keyset(primary_key_id=1, key=[tink_pb2.Keyset.Key(
        key_data=tink_pb2.KeyData(
            type_url="type.googleapis.com/google.crypto.tink.AesGcmHkdfStreamingKey",
            value=key.SerializeToString(), key_material_type=tink_pb2.KeyData.SYMMETRIC),
        status=tink_pb2.ENABLED, key_id=1, output_prefix_type=tink_pb2.RAW)])
    return cleartext_keyset_handle.from_keyset(keyset).primitive(streaming_aead.StreamingAead)


class _Kept(io.BytesIO):
    """A BytesIO that keeps its bytes when Tink closes it."""

    value = b""

    def close(self) -> None:
        self.value = self.getvalue()
        super().close()


def _tink_encrypt(primitive: streaming_aead.StreamingAead, plaintext: bytes, ad: bytes,
                  chunk: int) -> bytes:
    sink = _Kept()
    with primitive.new_encrypting_stream(sink, ad) as stream:
        for i in range(0, len(plaintext), chunk):
            stream.write(plaintext[i:i + chunk])
    return sink.value


def _tink_decrypt(primitive: streaming_aead.StreamingAead, ciphertext: bytes, ad: bytes) -> bytes:
    with primitive.new_decrypting_stream(io.BytesIO(ciphertext), ad) as stream:
        return bytes(stream.read())


@pytest.mark.parametrize("size", SIZES)
def test_tink_decrypts_our_ciphertext(size: int) -> None:
    key, plaintext = os.urandom(32), os.urandom(size)
    out = bytearray()
    with StreamEncryptor(key, AD, out.extend) as encryptor:
        for i in range(0, size, 50000):
            encryptor.write(plaintext[i:i + 50000])
    ciphertext = bytes(out)
    assert _tink_decrypt(_tink(key), ciphertext, AD) == plaintext


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("chunk", [4096, 1 << 20])
def test_we_decrypt_tinks_ciphertext(size: int, chunk: int) -> None:
    key, plaintext = os.urandom(32), os.urandom(size)
    ciphertext = _tink_encrypt(_tink(key), plaintext, AD, chunk)
    assert decrypt_bytes(key, AD, ciphertext, plaintext_size=size) == plaintext


def test_we_read_ranges_of_tinks_ciphertext() -> None:
    key, plaintext = os.urandom(32), os.urandom(FIRST + 3 * PLAIN + 77)
    ciphertext = _tink_encrypt(_tink(key), plaintext, AD, 8192)
    decryptor = StreamDecryptor(key, AD, len(ciphertext), plaintext_size=len(plaintext))
    for start, end in [(0, 1), (FIRST - 1, FIRST + 1), (FIRST + 2 * PLAIN + 5, None),
                       (len(plaintext) - 1, len(plaintext))]:
        got = b"".join(decryptor.read(lambda o, n: ciphertext[o:o + n], start, end))
        assert got == plaintext[start:end]


def test_tink_refuses_our_ciphertext_under_other_associated_data() -> None:
    key = os.urandom(32)
    ciphertext = encrypt_bytes(key, AD, b"bound to d7")
    other = EncryptionContext("d8", "0f" * 32).blob_associated_data()
    with pytest.raises(tink.TinkError):
        _tink_decrypt(_tink(key), ciphertext, other)


@pytest.mark.parametrize("segment_size", [4096, 1 << 20])
def test_other_segment_sizes_interoperate_both_ways(segment_size: int) -> None:
    key, plaintext = os.urandom(32), os.urandom(3 * segment_size + 5)
    layout = Layout(segment_size)
    primitive = _tink(key, segment_size)
    ours = encrypt_bytes(key, AD, plaintext, layout=layout)
    assert _tink_decrypt(primitive, ours, AD) == plaintext
    theirs = _tink_encrypt(primitive, plaintext, AD, 10000)
    assert len(theirs) == len(ours) == layout.ciphertext_size(len(plaintext))
    assert decrypt_bytes(key, AD, theirs, layout=layout) == plaintext
