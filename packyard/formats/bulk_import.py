"""Publishing files from disk in bulk: the service behind ``packyard import``, for any format.

Which files: a directory is searched for the names the formats import (``find_files``), and
each file goes to the format that claims its name. Each file then gets every check its upload
would (its format's ``check_file``: PyPI's ``twine upload``, npm's ``npm publish``); the files
that pass are stored a batch at a time (``publish_checked``): one flush of the blobs and one
metadata transaction per batch instead of per file, which is what makes 100,000 files a matter
of minutes. A refused file is reported and the rest carry on.

A format may also read a package document beside its files (npm: the ``package.json``
registry document Verdaccio keeps per package, whose dist-tags, deprecations and publish times
no tarball holds; PyPI: the ``index.json`` ``packyard export`` writes, a PEP 691 project page
with each file's upload time and yank): the documents are found by their whole names. Before
its files, each is read for its times (``PackageDocuments.times``, once the first file of its
folder comes: one folder's times are held at a time): a version or file the import adds is
dated as the document in its folder says, as a file kept from an upstream is
dated as the upstream says, never later than the import (a version already there keeps its
time). Once every file is imported, each is handed to the format's ``PackageDocuments``
(``apply_documents``: tags, deprecations, yanks).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from packyard.auth.principal import Principal
from packyard.errors import Invalid, PackyardError, TooLarge
from packyard.formats.plugin import DocumentResult, FileResult, PublishTimes
from packyard.model import Domain, Repository
from packyard.storage.blobs import BlobStore, StagedBlob

_CHUNK = 1024 * 1024


def find_files(paths: Iterable[Path], suffixes: Sequence[str],
               names: Sequence[str] = ()) -> list[Path]:
    """The files to import: each file named, and every file named ``*<suffix>`` (or one of
    ``names`` exactly) under each directory.

    Directories are searched recursively, in sorted order, for regular files (or links to them)
    whose names end with one of ``suffixes`` or are one of ``names``; a file named explicitly
    is taken whatever its name or kind (the checks then say what is wrong with it).
    """
    endings = tuple(suffixes)
    whole = frozenset(names)
    found: list[Path] = []
    for path in paths:
        if not path.is_dir():
            found.append(path)
            continue
        for folder, subfolders, names in os.walk(path):
            subfolders.sort()
            # Regular files only: a FIFO or a device named like a wheel is no distribution
            # (and reading a FIFO waits for a writer for ever).
            found.extend(Path(folder, name) for name in sorted(names)
                         if (name.endswith(endings) or name in whole)
                         and Path(folder, name).is_file())
    return found


class CheckedFile(Protocol):
    """A file that passed its format's checks, staged and waiting to be stored."""

    @property
    def staged(self) -> StagedBlob: ...


class Outcome(Protocol):
    @property
    def created(self) -> bool:
        """False: the identical file was there already."""
        ...


Checked = TypeVar("Checked", bound=CheckedFile)


class BatchPublisher(Protocol[Checked]):
    """A format's publish service, as the import drives it."""

    def check_size(self, filename: str, size: int) -> None:
        """Refuse a file by its size alone, before it is copied."""
        ...

    def check_file(self, principal: Principal, domain: Domain, repo: Repository,
                   staged: StagedBlob, filename: str, times: PublishTimes | None = None
                   ) -> Checked:
        """Every check an upload of the staged file gets; the staged bytes are discarded when
        it is refused. ``times``: the package document beside it says when its package's
        versions and files were published (used when they are this file's package's)."""
        ...

    def publish_checked(self, domain: Domain, repo: Repository, files: Sequence[Checked]
                        ) -> Sequence[Outcome | PackyardError]:
        """Store checked files in one flush and one transaction; each answered in order."""
        ...


class PackageDocuments(Protocol):
    """A format's reading of the package documents beside its files (npm's registry
    documents), applied as its own commands would apply them."""

    def apply(self, principal: Principal, domain: Domain, repo: Repository,
              path: Path) -> DocumentResult | None:
        """Read one document and apply it; None when the file is no such document (it is
        passed over). Whatever is wrong with it is its ``refused`` result, nothing of it
        applied; an ``OSError`` writing the staging area is not its fault and is raised."""
        ...

    def times(self, path: Path) -> PublishTimes | None:
        """When the document at ``path`` says its package's versions and files were
        published; None when it is no such document, or says nothing of them, or is
        unreadable or wrong (``apply`` then says what is wrong with it)."""
        ...


def read_document(path: Path, limit: int) -> bytes:
    """A document's bytes, read as a file to import is (a FIFO or a device is refused without
    waiting for it); ``TooLarge`` over ``limit`` bytes (``PACKYARD_NPM_MAX_DOCUMENT_BYTES``,
    the limit of every format's package documents), before it is read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise _unreadable(path, exc) from None
    with open(fd, "rb") as source:
        described = os.fstat(fd)
        if not stat.S_ISREG(described.st_mode):
            raise Invalid(f"cannot read {path}: not a regular file")
        if described.st_size > limit:
            raise TooLarge(f"{path.name} is larger than the {limit:,} bytes a package document "
                           "may have (PACKYARD_NPM_MAX_DOCUMENT_BYTES)")
        try:
            data = source.read(limit + 1)
        except OSError as exc:
            raise _unreadable(path, exc) from None
    if len(data) > limit:  # it grew meanwhile
        raise TooLarge(f"{path.name} is larger than the {limit:,} bytes a package document "
                       "may have (PACKYARD_NPM_MAX_DOCUMENT_BYTES)")
    return data


def _batches(paths: Sequence[Path], size: int) -> Iterator[Sequence[Path]]:
    for start in range(0, len(paths), size):
        yield paths[start:start + size]


class BulkImporter(Generic[Checked]):
    """Publishes files from disk into one repository, as ``principal``, a batch at a time."""

    def __init__(self, publisher: BatchPublisher[Checked], blobs: BlobStore, principal: Principal,
                 domain: Domain, repository: Repository, batch_size: int,
                 documents: PackageDocuments | None = None) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._publisher = publisher
        self._blobs = blobs
        self._principal = principal
        self._domain = domain
        self._repository = repository
        self._batch_size = batch_size
        self._documents = documents
        self._beside: dict[Path, Path] = {}  # a folder -> its document
        self._read: tuple[Path, PublishTimes | None] | None = None  # the last folder's times

    def run(self, paths: Sequence[Path], documents: Sequence[Path] = ()
            ) -> Iterator[list[FileResult]]:
        """Import ``paths`` in order; yields each batch's results once the batch is stored.
        Each file new to the repository is dated as the package document of ``documents`` in
        its own folder says (one document per folder: a package's, as Verdaccio and
        ``packyard export`` lay them out)."""
        # Read when a file of its folder comes (the files come folder by folder), one folder's
        # at a time: a registry's storage may hold 100,000 documents.
        self._beside = {_folder(path): path for path in documents}
        for batch in _batches(paths, self._batch_size):
            yield self._import_batch(batch)

    def apply_documents(self, paths: Sequence[Path]) -> Iterator[DocumentResult]:
        """Apply the package documents of ``paths`` in order (once ``run`` has imported the
        files they name); the files that are no such document are passed over."""
        if self._documents is None:
            return
        for path in paths:
            result = self._documents.apply(self._principal, self._domain, self._repository,
                                           path)
            if result is not None:
                yield result

    def _import_batch(self, batch: Sequence[Path]) -> list[FileResult]:
        results: list[FileResult | None] = [None] * len(batch)
        checked: list[tuple[int, Checked]] = []
        try:
            for index, path in enumerate(batch):
                try:
                    staged = self._stage(path)
                    checked.append((index, self._publisher.check_file(
                        self._principal, self._domain, self._repository, staged, path.name,
                        self._times(path))))
                except PackyardError as refused:
                    results[index] = FileResult(path, "refused", refused.message)
        except BaseException:
            for _, file in checked:
                self._blobs.discard(file.staged)
            raise
        answers = self._publisher.publish_checked(self._domain, self._repository,
                                                  [file for _, file in checked])
        for (index, _), answer in zip(checked, answers, strict=True):
            results[index] = _result(batch[index], answer)
        return [result for result in results if result is not None]

    def _times(self, path: Path) -> PublishTimes | None:
        """The times the document in the folder of ``path`` gives (None: none, or a document
        that is refused: its ``apply`` says why)."""
        folder = _folder(path)
        if self._read is None or self._read[0] != folder:
            document = self._beside.get(folder)
            self._read = (folder, None if document is None or self._documents is None
                          else self._documents.times(document))
        return self._read[1]

    def _stage(self, path: Path) -> StagedBlob:
        """Copy a file into the blob store's staging area, hashing it on the way.

        A file that cannot be read is refused (Invalid); a failure to write the staging area
        (a full disk) is not the file's fault and stops the import.
        """
        try:
            # Without blocking: opening a FIFO waits for a writer, for ever.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            raise _unreadable(path, exc) from None
        described = os.fstat(fd)
        if not stat.S_ISREG(described.st_mode):
            os.close(fd)
            raise Invalid(f"cannot read {path}: not a regular file")
        size = described.st_size
        with open(fd, "rb") as source:
            # The size limit first, so an oversized file is refused without being copied.
            self._publisher.check_size(path.name, size)
            staged = self._blobs.stage(batched=True)
            try:
                while True:
                    try:
                        chunk = source.read(_CHUNK)
                    except OSError as exc:
                        raise _unreadable(path, exc) from None
                    if not chunk:
                        return staged
                    staged.write(chunk)
            except BaseException:
                self._blobs.discard(staged)
                raise


def _folder(path: Path) -> Path:
    """The folder a file or document is in, as one name however the paths were given."""
    return Path(os.path.abspath(path)).parent


def _unreadable(path: Path, error: OSError) -> Invalid:
    return Invalid(f"cannot read {path}: {error.strerror or error}")


def _result(path: Path, answer: Outcome | PackyardError) -> FileResult:
    if isinstance(answer, PackyardError):
        return FileResult(path, "refused", answer.message)
    return FileResult(path, "imported" if answer.created else "present")
