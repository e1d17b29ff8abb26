"""Encryption at rest through the app: no plaintext of an uploaded file anywhere under the data
directory, the API's hashes still the plaintext's, Range answers at the stream's segment edges,
and every kind of tampering answered 500 (never the bytes), with a log line naming the file."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from packyard.crypto.stream import LAYOUT, SEGMENT_SIZE
from packyard.encryption.sealed_while_written import SealedWhileWritten
from packyard.storage.blobs import StagedBlob
from tests.inprocess.conftest import PackyardFactory
from tests.inprocess.harness import ROOT_PRINCIPAL, InProcessPackyard, InProcessRepo
from tests.integration.helpers import Dist, DistFactory, DistSpec, upload, upload_ok

OWNER = "000000000000"
# Plaintext segment 0 holds 65480 bytes (64 KiB less the header and a tag), the others 65520.
EDGE = LAYOUT.plaintext_start(1)


def _marker(dist: Dist) -> list[bytes]:
    """Slices of the wheel's stored (undeflated) payload: its bytes appear as they are in the
    wheel file, so they would in a plain blob."""
    with zipfile.ZipFile(dist.path) as wheel:
        name = next(n for n in wheel.namelist() if n.endswith("_padding.bin"))
        payload = wheel.read(name)
    return [payload[i:i + 48] for i in (0, len(payload) // 2, len(payload) - 48)]


def _files_holding(root: Path, needles: list[bytes]) -> list[str]:
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            if any(needle in data for needle in needles):
                found.append(str(path.relative_to(root)))
    return found


def _ciphertext(packyard: InProcessPackyard, domain: str, sha256: str) -> Path:
    domain_id = packyard.container.catalog.get_domain(OWNER, domain).id
    return packyard.settings.data_dir / "blobs" / f"d{domain_id}.enc" / sha256[:2] / sha256


@pytest.fixture
def big(dists: DistFactory) -> Dist:
    # Four segments: 0 and 1 whole, 2 whole, 3 partial.
    return dists.wheel(DistSpec(name="secret", version="1.0", padding=3 * SEGMENT_SIZE))


def test_no_plaintext_of_an_uploaded_file_anywhere_under_the_data_directory(
        packyard: InProcessPackyard, repo: InProcessRepo, big: Dist) -> None:
    upload_ok(repo, big)
    assert repo.get(f"simple/secret/{big.filename}").content == big.data
    assert _files_holding(packyard.settings.data_dir, _marker(big)) == []
    assert _ciphertext(packyard, "acme", big.sha256).is_file()


def test_without_encryption_the_same_check_finds_the_plaintext(
        packyard_factory: PackyardFactory, dists: DistFactory, big: Dist) -> None:
    # The control: what the test above looks for is there when encryption is off.
    packyard = packyard_factory(encryption="off")
    upload_ok(packyard.pypi_repo(), big)
    assert _files_holding(packyard.settings.data_dir, _marker(big)) != []


def test_the_api_reports_the_plaintexts_hashes(packyard: InProcessPackyard,
                                              repo: InProcessRepo, big: Dist) -> None:
    upload_ok(repo, big)
    assets = packyard.codeartifact().list_package_version_assets(
        domain="acme", repository="shelf", format="pypi", package="secret",
        packageVersion="1.0")["assets"]
    wheel = next(a for a in assets if a["name"] == big.filename)
    assert wheel["size"] == len(big.data)
    assert wheel["hashes"] == {
        "MD5": hashlib.md5(big.data).hexdigest(), "SHA-1": hashlib.sha1(big.data).hexdigest(),
        "SHA-256": big.sha256, "SHA-512": hashlib.sha512(big.data).hexdigest()}
    # GetPackageVersionAsset decrypts too.
    asset = packyard.codeartifact().get_package_version_asset(
        domain="acme", repository="shelf", format="pypi", package="secret",
        packageVersion="1.0", asset=big.filename)
    assert asset["asset"].read() == big.data


def test_equal_files_are_stored_once_per_domain(packyard: InProcessPackyard,
                                                repo: InProcessRepo, big: Dist) -> None:
    upload_ok(repo, big)
    other = packyard.pypi_repo(repository="other")
    upload_ok(other, big)
    domain_id = packyard.container.catalog.get_domain(OWNER, "acme").id
    stored = packyard.settings.data_dir / "blobs" / f"d{domain_id}.enc"
    assert len([p for p in stored.rglob("*") if p.is_file() and p.name == big.sha256]) == 1
    assert other.get(f"simple/secret/{big.filename}").content == big.data


def test_an_upload_decides_its_data_keys_in_one_unflushed_write_each(
        packyard: InProcessPackyard, repo: InProcessRepo, dists: DistFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 14's upload figure: a new blob's key costs the catalog one write, not flushed on
    its own (the asset rows' commit flushes it), and no read before it."""
    catalog = packyard.container.catalog
    reads: list[str] = []
    writes: list[bool] = []
    real_read, real_add = catalog.data_key, catalog.add_data_key
    real_add_many = catalog.add_data_keys

    def data_key(domain_id: int, sha256: str) -> object:
        reads.append(sha256)
        return real_read(domain_id, sha256)

    def add_data_key(key: object, now: object, *, durable: bool = True) -> object:
        writes.append(durable)
        return real_add(key, now, durable=durable)  # type: ignore[arg-type]

    def add_data_keys(keys: list[object], now: object, *, durable: bool = True) -> object:
        writes.append(durable)  # the wheel's key, made while it arrived (decision 0020)
        return real_add_many(keys, now, durable=durable)  # type: ignore[arg-type]

    monkeypatch.setattr(catalog, "data_key", data_key)
    monkeypatch.setattr(catalog, "add_data_key", add_data_key)
    monkeypatch.setattr(catalog, "add_data_keys", add_data_keys)
    dist = dists.wheel(DistSpec(name="keyed", version="1.0"))
    upload_ok(repo, dist)
    assert writes == [False, False]  # the wheel and its metadata file
    assert reads == []
    assert repo.get(f"simple/keyed/{dist.filename}").content == dist.data


def test_an_upload_whose_form_declares_its_sha256_is_kept_as_the_ciphertext_made_as_it_arrived(
        packyard: InProcessPackyard, repo: InProcessRepo, dists: DistFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """twine sends ``sha256_digest`` before the file: the file is encrypted as it is written
    (decision 0020) and that ciphertext is what the commit keeps, with no second pass over the
    staged file. A form declaring other bytes' sha256 is refused and leaves nothing staged; a
    form declaring none is encrypted at the commit, as before."""
    taken: list[bool] = []
    real_take = SealedWhileWritten.take_ciphertext

    def take_ciphertext(self: SealedWhileWritten, data_key: bytes) -> StagedBlob | None:
        ciphertext = real_take(self, data_key)
        taken.append(ciphertext is not None)
        return ciphertext

    monkeypatch.setattr(SealedWhileWritten, "take_ciphertext", take_ciphertext)
    declared, lying, silent = (dists.wheel(DistSpec(name=name, version="1.0", padding=300_000))
                               for name in ("declared", "lying", "silent"))
    upload_ok(repo, declared)
    assert taken == [True]
    refused = upload(repo, lying, fields={"sha256_digest": declared.sha256})
    assert refused.status_code == 400 and "digest" in refused.text.lower()
    assert refused.text.strip() == ("The sha256_digest supplied does not match the SHA-256 "
                                    "digest calculated from the uploaded file.")
    assert taken == [True]
    assert list((packyard.settings.data_dir / "blobs" / ".staging").iterdir()) == []
    response = upload(repo, silent, fields={"sha256_digest": None})
    assert response.status_code == 200, response.text
    assert taken == [True]  # encrypted by the commit: nothing made while it arrived
    for dist in (declared, silent):
        assert repo.get(f"simple/{dist.spec.name}/{dist.filename}").content == dist.data


def test_a_batch_decides_its_new_data_keys_in_one_write(
        packyard: InProcessPackyard, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pulled wheel and its metadata file are committed together (``commit_many``): their
    new keys in one unflushed catalog write; each blob reads back as its plaintext, and bytes
    the domain holds already keep their key."""
    container = packyard.container
    domain = container.registry.create_domain(ROOT_PRINCIPAL, "acme")
    catalog, blobs = container.catalog, container.registry.blobs
    writes: list[tuple[int, bool]] = []
    real_add = catalog.add_data_keys

    def add_data_keys(keys: Any, now: object, *, durable: bool = True) -> Any:
        writes.append((len(keys), durable))
        return real_add(keys, now, durable=durable)

    monkeypatch.setattr(catalog, "add_data_keys", add_data_keys)
    held = blobs.put_bytes(b"already here", domain.blob_key)
    payloads = [b"Metadata-Version: 2.1\n" * 50, b"wheel bytes " * 20_000, b"already here"]
    staged = []
    for data in payloads:
        blob = blobs.stage(batched=True)
        blob.write(data)
        staged.append(blob)
    digests = blobs.commit_many(staged, domain.blob_key)
    assert writes == [(2, False)]  # the key of "already here" was known: not asked again
    assert digests[2].sha256 == held.sha256
    for data, digest in zip(payloads, digests, strict=True):
        assert catalog.data_key(domain.id, digest.sha256) is not None

        async def read(sha256: str = digest.sha256) -> bytes:
            return b"".join([chunk async for chunk in blobs.read(domain.blob_key, sha256)])

        assert asyncio.run(read()) == data


@pytest.mark.parametrize(("first", "last"), [
    pytest.param(0, 0, id="first-byte"),
    pytest.param(-1, -1, id="last-byte"),
    pytest.param(EDGE - 10, EDGE + 9, id="across-two-segments"),
    pytest.param(EDGE, EDGE, id="first-byte-of-segment-1"),
    pytest.param(EDGE - 1, EDGE - 1, id="last-byte-of-segment-0"),
    pytest.param(LAYOUT.plaintext_start(3), -1, id="the-final-partial-segment"),
    pytest.param(LAYOUT.plaintext_start(1), LAYOUT.plaintext_start(3) - 1,
                 id="whole-segments-1-and-2"),
])
def test_ranges_at_segment_edges_answer_206(repo: InProcessRepo, big: Dist, first: int,
                                            last: int) -> None:
    upload_ok(repo, big)
    size = len(big.data)
    start, end = first % size, last % size
    response = repo.get(f"simple/secret/{big.filename}", Range=f"bytes={start}-{end}")
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {start}-{end}/{size}"
    assert response.content == big.data[start:end + 1]


def test_several_ranges_in_one_request(repo: InProcessRepo, big: Dist) -> None:
    upload_ok(repo, big)
    response = repo.get(f"simple/secret/{big.filename}", Range=f"bytes=0-9,{EDGE}-{EDGE + 9}")
    assert response.status_code == 206
    assert response.headers["content-type"].startswith("multipart/byteranges")
    assert big.data[:10] in response.content and big.data[EDGE:EDGE + 10] in response.content


# -- tampering ---------------------------------------------------------------------------------

def _flip(offset: int) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        return data[:offset] + bytes([data[offset] ^ 1]) + data[offset + 1:]
    return change


def _segments(data: bytes) -> list[bytes]:
    bounds = [0] + [LAYOUT.ciphertext_start(i) for i in range(1, 5)] + [len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if a < len(data)]


_TAMPERING: dict[str, Callable[[bytes], bytes]] = {
    "a-flipped-header-bit": _flip(3),
    "a-flipped-byte-in-segment-1": _flip(SEGMENT_SIZE + 100),
    "truncated-at-a-segment-boundary": lambda d: d[:LAYOUT.ciphertext_start(3)],
    "segments-1-and-2-swapped": lambda d: b"".join(
        [(s := _segments(d))[0], s[2], s[1], *s[3:]]),
    "segment-2-dropped": lambda d: b"".join([(s := _segments(d))[0], s[1], *s[3:]]),
    "segment-1-duplicated": lambda d: b"".join([(s := _segments(d))[0], s[1], *s[1:]]),
    "bytes-appended": lambda d: d + b"\0" * 16,
}


@pytest.mark.parametrize("how", sorted(_TAMPERING))
def test_a_tampered_file_is_never_served(packyard: InProcessPackyard, repo: InProcessRepo,
                                         big: Dist, how: str,
                                         caplog: pytest.LogCaptureFixture) -> None:
    upload_ok(repo, big)
    path = _ciphertext(packyard, "acme", big.sha256)
    path.write_bytes(_TAMPERING[how](path.read_bytes()))
    with caplog.at_level(logging.ERROR):
        response = repo.get(f"simple/secret/{big.filename}")
    assert response.status_code == 500
    assert big.data[:1000] not in response.content
    assert "failed its integrity check" in response.text
    assert any(big.filename in r.getMessage() and big.sha256 in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]
    # So does the API's download of the asset.
    with caplog.at_level(logging.ERROR):
        status = packyard.codeartifact()
        with pytest.raises(status.exceptions.InternalServerException):
            status.get_package_version_asset(
                domain="acme", repository="shelf", format="pypi", package="secret",
                packageVersion="1.0", asset=big.filename)["asset"].read()
    assert any(big.filename in r.getMessage() and "GetPackageVersionAsset" in r.getMessage()
               for r in caplog.records)


def test_regression_a_first_read_of_a_tampered_file_logs_it_under_the_request_id(
        packyard: InProcessPackyard, repo: InProcessRepo, dists: DistFactory,
        caplog: pytest.LogCaptureFixture) -> None:
    """A small file is answered by the first-read path (``services/first_reads.py``), ahead of
    the middleware that binds the request id: its integrity-error line said ``-`` where every
    other request's lines name the x-amzn-RequestId the client got."""
    small = dists.wheel(DistSpec(name="secret", version="1.0"))
    upload_ok(repo, small)
    path = _ciphertext(packyard, "acme", small.sha256)
    path.write_bytes(_flip(100)(path.read_bytes()))
    with caplog.at_level(logging.ERROR):
        response = repo.get(f"simple/secret/{small.filename}")
    assert response.status_code == 500 and "failed its integrity check" in response.text
    [line] = [r for r in caplog.records if "failed its integrity check" in r.getMessage()]
    assert small.sha256 in line.getMessage()
    assert getattr(line, "request_id", None) == response.headers["x-amzn-requestid"]


def test_regression_a_first_read_handed_on_to_the_routes_keeps_its_request_id(
        repo: InProcessRepo, big: Dist) -> None:
    """The first-read path takes an id before it reads (so its log lines name the request);
    a request it hands on to the routes (a large file) was given a second one there, so lines
    logged before the hand-off named an id the client never saw. One id now: consecutive
    requests' ids follow each other."""
    upload_ok(repo, big)
    ids = [repo.get(f"simple/secret/{big.filename}").headers["x-amzn-requestid"]
           for _ in range(2)]
    first, second = (int(i.rsplit("-", 1)[1], 16) for i in ids)
    assert ids[0].rsplit("-", 1)[0] == ids[1].rsplit("-", 1)[0]
    assert second == first + 1


def test_a_range_over_a_tampered_segment_is_refused(packyard: InProcessPackyard,
                                                   repo: InProcessRepo, big: Dist) -> None:
    upload_ok(repo, big)
    path = _ciphertext(packyard, "acme", big.sha256)
    path.write_bytes(_flip(2 * SEGMENT_SIZE + 5)(path.read_bytes()))
    bad = LAYOUT.plaintext_start(2)
    assert repo.get(f"simple/secret/{big.filename}",
                    Range=f"bytes={bad}-{bad + 10}").status_code == 500
    # The segments that still authenticate are served.
    good = repo.get(f"simple/secret/{big.filename}", Range="bytes=0-99")
    assert (good.status_code, good.content) == (206, big.data[:100])


def test_a_file_moved_to_another_domain_does_not_decrypt(packyard: InProcessPackyard,
                                                         repo: InProcessRepo,
                                                         big: Dist) -> None:
    upload_ok(repo, big)
    other = packyard.pypi_repo(domain="rival", repository="shelf")
    upload_ok(other, big)
    # The same plaintext, the same sha256, but the other domain's ciphertext put in its place.
    _ciphertext(packyard, "rival", big.sha256).write_bytes(
        _ciphertext(packyard, "acme", big.sha256).read_bytes())
    assert other.get(f"simple/secret/{big.filename}").status_code == 500
    assert repo.get(f"simple/secret/{big.filename}").content == big.data


def test_a_file_moved_to_another_sha256_does_not_decrypt(packyard: InProcessPackyard,
                                                         repo: InProcessRepo,
                                                         dists: DistFactory) -> None:
    first = dists.wheel(DistSpec(name="secret", version="1.0", padding=100_000))
    second = dists.wheel(DistSpec(name="secret", version="2.0", padding=100_000))
    upload_ok(repo, first, second)
    moved = _ciphertext(packyard, "acme", first.sha256).read_bytes()
    _ciphertext(packyard, "acme", second.sha256).write_bytes(moved)
    assert repo.get(f"simple/secret/{second.filename}").status_code == 500


def test_a_small_tampered_file_is_refused_too(packyard: InProcessPackyard, repo: InProcessRepo,
                                             dists: DistFactory) -> None:
    # Files up to 64 KiB are read whole into memory on their first request.
    small = dists.wheel(DistSpec(name="secret", version="1.0"))
    upload_ok(repo, small)
    path = _ciphertext(packyard, "acme", small.sha256)
    path.write_bytes(_flip(len(path.read_bytes()) - 3)(path.read_bytes()))
    assert repo.get(f"simple/secret/{small.filename}").status_code == 500
