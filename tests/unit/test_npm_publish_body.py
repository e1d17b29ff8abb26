"""npm's publish body read as a stream: real bodies from npm 11 and yarn 4, and hostile ones."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import tracemalloc
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest

from packyard.errors import Invalid, TooLarge
from packyard.formats.npm.publish import ReceivedBody, receive
from packyard.formats.npm.publish_body import PublishBody, PublishBodyParser, PublishLimits
from packyard.storage.memory import MemoryBlobStore
from tests.unit.npm_samples import (
    ACME_UTIL_TGZ,
    DEMO_LIB_TGZ,
    NPM11_ACME_UTIL_BODY,
    NPM11_DEMO_LIB_BODY,
    YARN4_ACME_UTIL_BODY,
    load_body,
    publish_document,
    without_data,
)

MiB = 1024 * 1024


def parse(body: bytes, chunk: int = 65536, limits: PublishLimits | None = None,
          ) -> tuple[PublishBody, bytes]:
    out = bytearray()
    parser = PublishBodyParser(out.extend, limits or PublishLimits())
    for at in range(0, len(body), chunk):
        parser.feed(body[at:at + chunk])
    return parser.close(), bytes(out)


def refusal(body: bytes | Iterable[bytes], limits: PublishLimits | None = None,
            error: type[Exception] = Invalid) -> str:
    chunks = [body] if isinstance(body, bytes) else body
    parser = PublishBodyParser(lambda data: None, limits or PublishLimits())
    with pytest.raises(error) as caught:
        for chunk in chunks:
            parser.feed(chunk)
        parser.close()
    return str(caught.value)


@pytest.mark.parametrize(("path", "tarball", "attachment"), [
    (NPM11_DEMO_LIB_BODY, DEMO_LIB_TGZ, "demo-lib-1.0.0.tgz"),
    (NPM11_ACME_UTIL_BODY, ACME_UTIL_TGZ, "@acme/util-1.0.0.tgz"),
    (YARN4_ACME_UTIL_BODY, None, "@acme/util-1.0.0.tgz"),  # _attachments before versions
])
@pytest.mark.parametrize("chunk", [1, 3, 64, 65536])
def test_real_bodies(path: Path, tarball: Path | None, attachment: str, chunk: int) -> None:
    original = load_body(path)
    data = base64.b64decode(original["_attachments"][attachment]["data"])
    parsed, decoded = parse(path.read_bytes(), chunk)
    assert decoded == data
    if tarball is not None:
        assert decoded == tarball.read_bytes()  # the body carries what npm pack makes
    assert parsed.document == without_data(original)
    assert parsed.attachment == attachment
    assert parsed.decoded_length == len(data)
    assert parsed.sha512 == hashlib.sha512(data).hexdigest()
    assert parsed.sha1 == hashlib.sha1(data).hexdigest()


def test_any_json_spelling() -> None:
    tarball = os.urandom(3000)
    document = publish_document("demo", "1.0.0", tarball, manifest={
        "description": 'quotes " and \\ and \u00e9 and \u2028', "nested": [[{"a": [1, -2.5e3]}]],
        "flags": [True, False, None], "tricky": "}]{[\","})
    for spelled in (json.dumps(document), json.dumps(document, indent=2, ensure_ascii=False)):
        parsed, decoded = parse(spelled.encode(), chunk=7)
        assert decoded == tarball
        assert parsed.document == without_data(document)


def test_escaped_slashes_and_line_breaks_in_base64() -> None:
    # Some JSON encoders write "\/" and break base64 lines; both still decode.
    tarball = os.urandom(600)
    encoded = base64.encodebytes(tarball).decode()  # 76-column lines
    assert "/" in encoded
    body = json.dumps({"name": "demo", "_attachments": {"demo-1.0.0.tgz": {"data": encoded}}})
    body = body.replace("/", "\\/")
    parsed, decoded = parse(body.encode(), chunk=5)
    assert decoded == tarball and parsed.decoded_length == 600


def test_a_document_without_attachments() -> None:
    # npm deprecate PUTs the whole document back, without _attachments.
    document = {"_id": "demo", "_rev": "1-abc", "name": "demo",
                "versions": {"1.0.0": {"deprecated": "use 2"}}}
    parsed, decoded = parse(json.dumps(document).encode())
    assert parsed.document == document
    assert (parsed.attachment, parsed.decoded_length, decoded) == (None, 0, b"")


def test_attachment_data_that_is_not_a_string_is_left_to_the_checks() -> None:
    parsed, decoded = parse(b'{"_attachments": {"demo-1.0.0.tgz": {"data": 42}}}')
    assert parsed.document == {"_attachments": {"demo-1.0.0.tgz": {"data": 42}}}
    assert parsed.attachment == "demo-1.0.0.tgz" and decoded == b""


# -- refused, early, with the message npm prints -----------------------------------------------


def test_50_mb_of_json_garbage_is_refused_early_in_bounded_memory() -> None:
    junk = b'{"junk": "' + b"A" * (50 * MiB) + b'"}'
    fed = 0

    def chunks() -> Iterable[bytes]:
        nonlocal fed
        for at in range(0, len(junk), 65536):
            fed += 65536
            yield junk[at:at + 65536]

    tracemalloc.start()
    try:
        message = refusal(chunks(), error=TooLarge)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert message == ("The publish document (the body without its tarball) is larger than "
                       "32 MiB.")
    assert fed <= 33 * MiB
    assert peak < 40 * MiB


def test_50_mb_of_binary_garbage_is_refused_at_the_first_byte() -> None:
    chunks = (os.urandom(65536) for _ in range(800))
    parser = PublishBodyParser(lambda data: None)
    with pytest.raises(Invalid) as caught:
        for chunk in chunks:
            parser.feed(chunk if chunk[:1] != b"{" else b"!" + chunk[1:])
    assert caught.value.message == (
        "The publish body must be a JSON object (npm's publish document).")


@pytest.mark.parametrize(("body", "message"), [
    (b"[1, 2]", "The publish body must be a JSON object (npm's publish document)."),
    (b"", "The publish body is not valid JSON: it ends before the document does."),
    (b'{"name": "demo"', "The publish body is not valid JSON: it ends before the document does."),
    (b'{"name": "demo"} {}', "The publish body is not valid JSON: data after the document at "
                             "byte 17."),
    (b'{"name" "demo"}', "The publish body is not valid JSON: unexpected '\"' at byte 8."),
    (b'{"name": tru}', "The publish body is not valid JSON: unexpected 't' at byte 9."),
    (b'{"a": 1,}', "The publish body is not valid JSON: unexpected '}' at byte 8."),
    (b'{"a": [1, 2,, 3]}', "The publish body is not valid JSON (Expecting value)."),
    (b'{"a": "\xff"}', "The publish body is not valid JSON (not UTF-8)."),
    (b'{"_attachments": {"a.tgz": {"data": "QUJD!"}}}',
     "The tarball attachment's data is not valid base64."),
    (b'{"_attachments": {"a.tgz": {"data": "QUI="}}}', None),
    (b'{"_attachments": {"a.tgz": {"data": "QUI=QUJD"}}}',
     "The tarball attachment's data is not valid base64."),
    (b'{"_attachments": {"a.tgz": {"data": "QUJ"}}}',
     "The tarball attachment's data is not valid base64."),
    (b'{"_attachments": {"a.tgz": {"data": "QU\\u0042"}}}',
     "The tarball attachment's data is not valid base64."),
    (b'{"_attachments": {"a.tgz": {"data": ""}, "a.sigstore": {"data": "{}"}}}',
     'Packyard stores one tarball per publish, and this body has a second attachment, '
     '"a.sigstore" (npm publish --provenance is not supported).'),
    (b'{"_attachments": {"a.tgz": {}}, "_attachments": {}}',
     'The publish body has the key "_attachments" twice.'),
    (b'{"_attachments": {"a.tgz": {"data": "", "data": "QUJD"}}}',
     'The publish body has the key "data" twice.'),
    (b'{"a": ' + b"[" * 100 + b"]" * 100 + b"}",
     "The publish body is not valid JSON: nesting too deep at byte 69."),
])
def test_malformed_bodies(body: bytes, message: str | None) -> None:
    if message is None:
        parse(body)
        return
    for chunk in (1, len(body) or 1):
        parser = PublishBodyParser(lambda data: None)
        with pytest.raises(Invalid) as caught:
            for at in range(0, len(body), chunk):
                parser.feed(body[at:at + chunk])
            parser.close()
        assert caught.value.message == message


def test_body_size_cap() -> None:
    document: dict[str, Any] = publish_document("demo", "1.0.0", os.urandom(4000))
    body = json.dumps(document).encode()
    message = refusal([body[:3000], body[3000:]], PublishLimits(max_body_bytes=4096),
                      error=TooLarge)
    assert message == "The publish body is larger than 4096 bytes."


def test_the_tarball_does_not_count_against_the_document_cap() -> None:
    tarball = os.urandom(200_000)
    body = json.dumps(publish_document("demo", "1.0.0", tarball)).encode()
    parsed, decoded = parse(body, limits=PublishLimits(max_document_bytes=4096))
    assert decoded == tarball


# -- receive: the body from the server's chunks to a staged blob -------------------------------


def _received(body: bytes, chunk: int, tmp_path: Path) -> tuple[ReceivedBody, bytes]:
    blobs = MemoryBlobStore(tmp_path)

    async def chunks() -> AsyncIterator[bytes]:
        for at in range(0, len(body), chunk):
            yield body[at:at + chunk]

    received = asyncio.run(receive(chunks(), blobs, PublishLimits()))
    staged = received.staged.local_path.read_bytes() if received.staged else b""
    return received, staged


@pytest.mark.parametrize("chunk", [1000, 65536, 3 * MiB])
def test_receive_stages_the_tarball_with_the_digests_the_checks_compare(
        chunk: int, tmp_path: Path) -> None:
    # The parser leaves the hashing to the staged blob (one pass over a large tarball, not
    # two); what the checks compare against dist.integrity and dist.shasum must still be the
    # tarball's, whichever way the server cut the body.
    tarball = os.urandom(2 * MiB + 5)
    document = publish_document("demo", "1.0.0", tarball)
    received, staged = _received(json.dumps(document).encode(), chunk, tmp_path)
    assert staged == tarball
    assert received.body.document == without_data(document)
    assert received.body.decoded_length == len(tarball)
    assert received.body.sha512 == hashlib.sha512(tarball).hexdigest()
    assert received.body.sha1 == hashlib.sha1(tarball).hexdigest()


def test_receive_of_a_body_without_a_tarball_stages_nothing(tmp_path: Path) -> None:
    document = {"_id": "demo", "name": "demo", "versions": {"1.0.0": {"deprecated": "no"}}}
    received, _ = _received(json.dumps(document).encode(), 7, tmp_path)
    assert received.staged is None
    assert received.body.document == document
    assert received.body.sha512 == hashlib.sha512(b"").hexdigest()
