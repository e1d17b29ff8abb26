"""Blobs in an S3-compatible object store: one object per (domain, sha256).

Keys are ``<prefix>/<domain-key>/<sha[:2]>/<sha256>``, the local backend's layout below the
bucket's prefix. Staging is a local spool file as in every backend (``storage/staging.py``);
``commit`` uploads it and returns only once the store has acknowledged the object, so a blob is
durable before the catalog row that refers to it is written (the order the disk backend keeps
with fsync).

Content-addressed objects are created, never replaced: every upload is a conditional create
(``If-None-Match: *``; AWS S3 User Guide, "Add preconditions to S3 operations with conditional
requests"). When replicas race to store the same bytes, one creation wins and the others get
412 Precondition Failed, which means the same sha256, hence the same bytes, is there: success.
Files up to ``_SINGLE_PUT_MAX`` go in one PUT through obstore (``PutMode`` "create", which it
sends as that header, held in memory); larger ones as a multipart upload through botocore, part
by part from the spool file (memory: ``_PART_SIZE`` × ``_PARTS_IN_FLIGHT``), whose
CompleteMultipartUpload carries the condition (obstore's multipart uploads cannot).

Reads fetch ranges of at most ``_PIECE`` bytes, one request each: a slow client downloading a
large file holds no request open past the client's timeout, memory stays bounded, and a
``read(start, end)`` asks the store for exactly that range.

A store that cannot be reached (down, refusing connections, answering 5xx after the clients'
few retries) raises ``BlobStoreUnavailable``: a 503 with ``Retry-After`` on every surface, so an
upload fails cleanly and the client may retry; the staged file is discarded by the caller.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import obstore
from obstore.exceptions import AlreadyExistsError, GenericError

from packyard.errors import NotFound, Unavailable
from packyard.storage.blobs import (
    LIST_PAGE,
    Digests,
    ExpectedBlob,
    Hasher,
    StagedBlob,
    StoredBlob,
    blob_name,
    check_blob_key,
    is_blob_name,
    is_domain_key,
    listed_domains,
)
from packyard.storage.s3_connection import S3Clients
from packyard.storage.staging import StagedFile, StagingArea

if TYPE_CHECKING:
    from obstore import GetOptions

log = logging.getLogger(__name__)

_CHUNK = 1024 * 1024  # what read() yields at a time, as the local backend
_PIECE = 8 * 1024 * 1024  # bytes per ranged GET
_SINGLE_PUT_MAX = 16 * 1024 * 1024
_PART_SIZE = 8 * 1024 * 1024  # S3 parts are 5 MiB to 5 GiB, except the last
_PARTS_IN_FLIGHT = 4
_COMMIT_MANY_THREADS = 8
# A multipart upload begun this long ago belongs to a writer that is gone: the largest upload
# takes minutes, and several replicas may be uploading right now.
_STALE_UPLOAD = timedelta(hours=24)


def _precondition_failed(error: Any) -> bool:
    return bool(getattr(error, "response", {}).get("Error", {}).get("Code")
                == "PreconditionFailed")


class BlobStoreUnavailable(Unavailable):
    """The object store cannot be reached or answers with server errors."""


def _is_outage(error: BaseException) -> bool:
    """A failure of the store or the way to it, not of the request: obstore's catch-all (a
    connection error or a 5xx after its retries), botocore's connection errors, a 5xx."""
    if isinstance(error, GenericError):
        return True
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(error, ClientError):
        return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)) >= 500
    return isinstance(error, BotoCoreError)


@contextlib.contextmanager
def _outages_as_unavailable(action: str) -> Iterator[None]:
    try:
        yield
    except Exception as error:
        if not _is_outage(error):
            raise
        log.warning("object store unavailable: %s: %s", action,
                    (str(error).strip().splitlines() or [""])[0])
        raise BlobStoreUnavailable("The blob store is unavailable right now; try again "
                                   "shortly") from error


class S3BlobStore:
    """Blobs under ``s3://bucket/prefix``; staged files under ``staging_dir`` on local disk."""

    def __init__(self, clients: S3Clients, staging_dir: Path) -> None:
        self._clients = clients
        self._objects = clients.objects
        self._staging = StagingArea(staging_dir)

    @property
    def location(self) -> str:
        return str(self._clients.location)

    def _name(self, domain_key: str, sha256: str) -> str:
        check_blob_key(domain_key, sha256)
        return blob_name(domain_key, sha256)

    # -- writing -------------------------------------------------------------------------------

    def stage(self, *, batched: bool = False, expected: ExpectedBlob | None = None,
              scratch: bool = False) -> StagedFile:
        # Never fsynced: the durable copy is the object, written on commit.
        return self._staging.new(sync=False)

    def commit(self, staged: StagedBlob, domain_key: str) -> Digests:
        digests = staged.digests()
        name = self._name(domain_key, digests.sha256)
        with _outages_as_unavailable(f"storing {name}"):
            if digests.size <= _SINGLE_PUT_MAX:
                self._create(name, staged.local_path)
            else:
                self._create_multipart(name, staged.local_path, digests.size)
        # Only now: on failure the caller discards the staged file.
        staged.local_path.unlink(missing_ok=True)
        return digests

    def commit_many(self, staged: Sequence[StagedBlob], domain_key: str) -> list[Digests]:
        # Each commit returns once its object is acknowledged, so when all have returned every
        # blob is durable; uploading several at once hides the round trips.
        if len(staged) <= 1:
            return [self.commit(blob, domain_key) for blob in staged]
        with ThreadPoolExecutor(min(_COMMIT_MANY_THREADS, len(staged))) as pool:
            return list(pool.map(lambda blob: self.commit(blob, domain_key), staged))

    def discard(self, staged: StagedBlob) -> None:
        staged.close()
        staged.local_path.unlink(missing_ok=True)

    def put_bytes(self, data: bytes, domain_key: str) -> Digests:
        hasher = Hasher()
        hasher.update(data)
        digests = hasher.digests()
        name = self._name(domain_key, digests.sha256)
        with _outages_as_unavailable(f"storing {name}"):
            self._create(name, data)
        return digests

    def _create(self, name: str, source: Path | bytes) -> None:
        """One conditional PUT; an object already there is the same bytes."""
        with contextlib.suppress(AlreadyExistsError):
            obstore.put(self._objects, name, source, mode="create", use_multipart=False)

    def _create_multipart(self, name: str, path: Path, size: int) -> None:
        """A multipart upload of a large spool file, created only if absent."""
        if self._exists(name):
            return  # a re-upload of a large file: skip sending it again
        client, bucket = self._clients.botocore, self._clients.location.bucket
        key = self._clients.location.key(name)
        upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        try:
            offsets = range(0, size, _PART_SIZE)

            def send(number_offset: tuple[int, int]) -> dict[str, Any]:
                number, offset = number_offset
                with path.open("rb") as source:
                    source.seek(offset)
                    body = source.read(_PART_SIZE)
                etag = client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id,
                                          PartNumber=number, Body=body)["ETag"]
                return {"PartNumber": number, "ETag": etag}

            # map() submits every part at once; the pool's size bounds those read into memory.
            with ThreadPoolExecutor(_PARTS_IN_FLIGHT) as pool:
                parts = list(pool.map(send, enumerate(offsets, start=1)))
            client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                             MultipartUpload={"Parts": parts}, IfNoneMatch="*")
        except Exception as error:
            self._abort(key, upload_id)
            if not _precondition_failed(error):
                raise
        # else: completed, and the parts are the object now

    def _abort(self, key: str, upload_id: str) -> None:
        try:
            self._clients.botocore.abort_multipart_upload(
                Bucket=self._clients.location.bucket, Key=key, UploadId=upload_id)
        except Exception as error:  # noqa: BLE001 - recover() retries stale uploads later
            log.warning("could not abort multipart upload %s of %s: %s", upload_id, key, error)

    # -- reading -------------------------------------------------------------------------------

    def _exists(self, name: str) -> bool:
        try:
            with _outages_as_unavailable(f"looking for {name}"):
                obstore.head(self._objects, name)
        except FileNotFoundError:
            return False
        return True

    def exists(self, domain_key: str, sha256: str) -> bool:
        return self._exists(self._name(domain_key, sha256))

    def size(self, domain_key: str, sha256: str) -> int:
        name = self._name(domain_key, sha256)
        try:
            with _outages_as_unavailable(f"looking for {name}"):
                return obstore.head(self._objects, name)["size"]
        except FileNotFoundError:
            raise NotFound(f"No blob {sha256}") from None

    def local_path(self, domain_key: str, sha256: str) -> Path | None:
        check_blob_key(domain_key, sha256)
        return None

    def read_small_now(self, domain_key: str, sha256: str, limit: int) -> bytes | None:
        check_blob_key(domain_key, sha256)
        return None  # every read is a round trip

    async def read(self, domain_key: str, sha256: str, start: int = 0,
                   end: int | None = None) -> AsyncIterator[bytes]:
        name = self._name(domain_key, sha256)
        position = start
        while end is None or position < end:
            stop = position + _PIECE if end is None else min(position + _PIECE, end)
            options: GetOptions = {"range": (position, stop)}
            try:
                result = await obstore.get_async(self._objects, name, options=options)
                piece = await result.bytes_async()
            except FileNotFoundError:
                raise NotFound(f"No blob {sha256}") from None
            except GenericError as error:
                # 416 Range Not Satisfiable: the range starts at or past the end (every range
                # of an empty object does). Nothing more to send, if the blob is there.
                if await self._size_async(name, sha256) > position:
                    with _outages_as_unavailable(f"reading {name}"):
                        raise error from None
                return
            view = memoryview(piece)
            for offset in range(0, len(view), _CHUNK):
                yield bytes(view[offset:offset + _CHUNK])
            position += len(view)
            if position >= result.meta["size"] or not view:
                return
        if position == start:
            # An empty range asked nothing of the store; a missing blob is still NotFound.
            await self._size_async(name, sha256)

    async def _size_async(self, name: str, sha256: str) -> int:
        try:
            with _outages_as_unavailable(f"looking for {name}"):
                return (await obstore.head_async(self._objects, name))["size"]
        except FileNotFoundError:
            raise NotFound(f"No blob {sha256}") from None

    # -- deleting and recovering ---------------------------------------------------------------

    def delete(self, domain_key: str, sha256: str) -> None:
        # S3 answers a DELETE of a missing key with success.
        name = self._name(domain_key, sha256)
        with _outages_as_unavailable(f"deleting {name}"):
            obstore.delete(self._objects, name)

    def delete_domain(self, domain_key: str) -> None:
        self._name(domain_key, "0" * 64)  # validates the key
        # Listed a page at a time and deleted with bulk DeleteObjects requests.
        for page in obstore.list(self._objects, prefix=f"{domain_key}/"):
            obstore.delete(self._objects, [meta["path"] for meta in page])

    # -- listing -------------------------------------------------------------------------------

    def _pages(self, what: str, **request: Any) -> Iterator[dict[str, Any]]:
        """ListObjectsV2's answers below the prefix, one request at a time."""
        client, location = self._clients.botocore, self._clients.location
        pages = iter(client.get_paginator("list_objects_v2").paginate(
            Bucket=location.bucket, **request))
        while True:
            with _outages_as_unavailable(what):
                page = next(pages, None)
            if page is None:
                return
            yield page

    def domain_keys(self) -> list[str]:
        below = self._clients.location.key("")
        keys = [common["Prefix"][len(below):].rstrip("/")
                for page in self._pages("listing the domains", Prefix=below, Delimiter="/")
                for common in page.get("CommonPrefixes", [])]
        return sorted(key for key in keys if is_domain_key(key))

    def list_blobs(self, domain_key: str | None = None, *,
                   page_size: int = LIST_PAGE) -> Iterator[StoredBlob]:
        # ListObjectsV2 answers in the keys' order (UTF-8 binary), which below a domain's
        # prefix is the sha256s' order. Multipart uploads under way are not objects yet.
        for key in listed_domains(self, domain_key):
            below = self._clients.location.key(f"{key}/")
            for page in self._pages(f"listing {key}", Prefix=below,
                                    PaginationConfig={"PageSize": page_size}):
                for found in page.get("Contents", []):
                    prefix, _, name = found["Key"][len(below):].partition("/")
                    if is_blob_name(name) and name.startswith(prefix):
                        yield StoredBlob(key, name, found["LastModified"].timestamp())

    def recover(self) -> int:
        """Remove dead writers' staged files, and abort multipart uploads older than a day
        (parts of an abandoned upload are stored, and billed, until aborted)."""
        return self._staging.recover() + self._abort_stale_uploads()

    def _abort_stale_uploads(self) -> int:
        client, location = self._clients.botocore, self._clients.location
        cutoff = datetime.now(UTC) - _STALE_UPLOAD
        aborted = 0
        try:
            for page in client.get_paginator("list_multipart_uploads").paginate(
                    Bucket=location.bucket, Prefix=location.key("")):
                for upload in page.get("Uploads", []):
                    if upload["Initiated"] < cutoff:
                        self._abort(upload["Key"], upload["UploadId"])
                        aborted += 1
        except Exception as error:  # noqa: BLE001 - a clean-up must not stop a start
            # E.g. credentials without s3:ListBucketMultipartUploads.
            log.warning("could not list multipart uploads in %s (%s); abandoned uploads stay "
                        "until a bucket lifecycle rule aborts them", location, error)
        return aborted


class S3SharedFiles:
    """``SharedFiles`` in the bucket, under ``<prefix>/.packyard/`` (no domain key starts with
    a dot, so no blob is ever there): created with a conditional PUT, so the first replica's
    file wins."""

    _DIRECTORY = ".packyard"

    def __init__(self, clients: S3Clients) -> None:
        self._clients = clients

    @property
    def where(self) -> str:
        return f"{self._clients.location}/{self._DIRECTORY}"

    def read(self, name: str) -> bytes | None:
        try:
            with _outages_as_unavailable(f"reading {self._DIRECTORY}/{name}"):
                return bytes(obstore.get(self._clients.objects,
                                         f"{self._DIRECTORY}/{name}").bytes())
        except FileNotFoundError:
            return None

    def get_or_create(self, name: str, make: Callable[[], bytes]) -> bytes:
        found = self.read(name)
        if found is not None:
            return found
        data = make()
        try:
            with _outages_as_unavailable(f"storing {self._DIRECTORY}/{name}"):
                obstore.put(self._clients.objects, f"{self._DIRECTORY}/{name}", data,
                            mode="create", use_multipart=False)
        except AlreadyExistsError:
            found = self.read(name)  # another replica was first
            assert found is not None
            return found
        return data

    def replace(self, name: str, data: bytes) -> None:
        with _outages_as_unavailable(f"storing {self._DIRECTORY}/{name}"):
            obstore.put(self._clients.objects, f"{self._DIRECTORY}/{name}", data,
                        use_multipart=False)

    def remove(self, name: str) -> None:
        with _outages_as_unavailable(f"removing {self._DIRECTORY}/{name}"):
            obstore.delete(self._clients.objects, f"{self._DIRECTORY}/{name}")
