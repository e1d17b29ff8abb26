"""Streaming the legacy upload API's multipart form: fields in memory, the file straight into a staged blob.

Memory stays flat whatever the file size: each chunk is hashed and written as it arrives. The
form's ``name`` field is handed to the caller's check as soon as it is read, and the file is
not staged before that check passed: twine (like every upload client) sends the metadata
fields before ``content``, so a caller who may not publish the project is refused before a
byte of the file is stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import partial

from python_multipart.multipart import MultipartParser, parse_options_header

from packyard.errors import Invalid, PackyardError, TooLarge
from packyard.formats.pypi.archive import format_size
from packyard.storage.blobs import StagedBlob, is_blob_name
from packyard.write_behind import WriteBehind

MAX_FIELDS_BYTES = 16 * 1024 * 1024  # long descriptions are the largest fields
MAX_FIELDS = 500

# The legacy API's signature part, which PyPI ignores (``_FormBuilder.on_headers_finished``).
_SIGNATURE = "gpg_signature"

NameCheck = Callable[[str], None]
"""Judges the form's ``name`` field (the project) before the file is read; raises to refuse."""

_NAME_FIRST = ("The upload form must send the 'name' field before the file ('content'), as "
               "twine does: the server checks the project may be published before storing it")


@dataclass
class UploadForm:
    """What the form carried: text fields (multi-valued) and at most one file."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    filename: str | None = None
    staged: StagedBlob | None = None

    def first(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[0] if values else None


Stage = Callable[[str | None], StagedBlob]
"""Makes the staged write for the file, told the sha256 the form declared before it (twine's
``sha256_digest``: an encrypted store then encrypts the file as it arrives, decision 0020) or
None. Only a hint: what is published is named by the bytes' own sha256."""


class _FormBuilder:
    """Callbacks for python-multipart's parser, building an UploadForm."""

    def __init__(self, stage: Stage, max_file_bytes: int,
                 check_name: NameCheck | None) -> None:
        self.form = UploadForm()
        self._stage = stage
        self._max_file = max_file_bytes
        self._check_name = check_name
        self._name_checked = check_name is None
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, bytes] = {}
        self._name: str | None = None
        self._is_file = False
        self._is_dropped = False
        self._value = bytearray()
        self._field_bytes = 0

    def on_part_begin(self) -> None:
        self._headers = {}
        self._name = None
        self._is_file = False
        self._is_dropped = False
        self._value = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_field.decode("latin-1").lower()] = bytes(self._header_value)
        self._header_field = bytearray()
        self._header_value = bytearray()

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get("content-disposition", b""))
        name = params.get(b"name")
        if name is None:
            raise Invalid("A form part has no name")
        self._name = name.decode("utf-8", "replace")
        filename = params.get(b"filename")
        if filename is not None and self._name == _SIGNATURE:
            # twine sends a PGP signature (--sign, or a .asc file among the dists) as a file
            # part. PyPI has ignored it since it stopped taking signatures in 2023 (warehouse:
            # "we don't care about the legacy gpg_signature field"), so the upload goes on
            # without it, here too.
            self._is_dropped = True
        elif filename is not None:
            if self._name != "content":
                raise Invalid(f"Unexpected file in form field {self._name!r}")
            if self.form.staged is not None:
                raise Invalid("Only one file can be uploaded per request")
            if not self._name_checked:
                raise Invalid(_NAME_FIRST)
            self._is_file = True
            self.form.filename = filename.decode("utf-8", "replace")
            declared = (self.form.first("sha256_digest") or "").strip().lower()
            self.form.staged = self._stage(declared if is_blob_name(declared) else None)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file:
            staged = self.form.staged
            assert staged is not None
            if staged.size + (end - start) > self._max_file:
                # Refused while it streams, so its whole size is not known: say which file and
                # the limit, as the check on a complete file does (upload_checks.check_size).
                raise TooLarge(f"File too large: {self.form.filename} is larger than "
                               f"{format_size(self._max_file)}, the limit.")
            staged.write(data[start:end])
        elif self._is_dropped:
            # Read and dropped, but bounded as the fields are.
            self._count_field_bytes(end - start)
        else:
            self._count_field_bytes(end - start)
            self._value += data[start:end]

    def _count_field_bytes(self, size: int) -> None:
        self._field_bytes += size
        if self._field_bytes > MAX_FIELDS_BYTES:
            raise Invalid(f"Form fields too large: at most {format_size(MAX_FIELDS_BYTES)} "
                          "in all")

    def on_part_end(self) -> None:
        if not self._is_file and not self._is_dropped and self._name is not None:
            if sum(len(v) for v in self.form.fields.values()) >= MAX_FIELDS:
                raise Invalid(f"Too many form fields (at most {MAX_FIELDS})")
            try:
                text = self._value.decode("utf-8")
            except UnicodeDecodeError:
                raise Invalid(f"Form field {self._name!r} is not valid UTF-8") from None
            self.form.fields.setdefault(self._name, []).append(text)
            if self._name == "name" and not self._name_checked:
                assert self._check_name is not None
                self._check_name(text)
                self._name_checked = True


_QUEUED = 1024 * 1024


async def read_upload_form(content_type: str | None, body: AsyncIterator[bytes],
                           stage: Stage, discard: Callable[[StagedBlob], None],
                           max_file_bytes: int, check_name: NameCheck | None = None
                           ) -> UploadForm:
    """Parse a multipart upload; on any error the staged file is discarded.

    With ``check_name``, the first ``name`` field is passed to it as soon as it is read, and a
    file part before it is refused; whatever it raises ends the upload.
    """
    media, params = parse_options_header(content_type or "")
    if media != b"multipart/form-data" or b"boundary" not in params:
        raise Invalid("Uploads must be multipart/form-data (the legacy upload API)")
    builder = _FormBuilder(stage, max_file_bytes, check_name)
    parser = MultipartParser(params[b"boundary"], callbacks={
        "on_part_begin": builder.on_part_begin,
        "on_header_field": builder.on_header_field,
        "on_header_value": builder.on_header_value,
        "on_header_end": builder.on_header_end,
        "on_headers_finished": builder.on_headers_finished,
        "on_part_data": builder.on_part_data,
        "on_part_end": builder.on_part_end,
    })
    try:
        # Parsing, hashing and writing happen in a worker thread, off the event loop, while
        # the next pieces are read; the last is done before the staged file is discarded.
        # At most _QUEUED bytes wait for it: uploads run by the dozen.
        async with WriteBehind(limit=_QUEUED) as writes:
            async for chunk in body:
                if chunk:
                    await writes.put(partial(parser.write, chunk), size=len(chunk))
            await writes.drain()
        parser.finalize()
    except BaseException as exc:
        if builder.form.staged is not None:
            discard(builder.form.staged)
        if isinstance(exc, PackyardError):
            raise
        if isinstance(exc, Exception) and not isinstance(exc, OSError):
            raise Invalid(f"The upload is not a valid multipart form: {exc}") from None
        raise
    return builder.form
