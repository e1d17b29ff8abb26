"""Validation of one legacy-API upload (what ``twine upload`` sends), as a sequence of checks.

Each check refuses with the one-line message the publisher sees (twine prints it after the
status code), modelled on PyPI's upload API so that the wording is familiar. The file's own core
metadata is authoritative; of the form's many fields only ``:action``, ``protocol_version``,
``name``, ``version``, ``filetype``, ``metadata_version``, ``pyversion`` and the digests are
read, and the name and version must agree with the file; PEP 740 ``attestations`` are refused.

Use ``check_request`` before opening the archive (cheap checks, in the right order) and
``validate_upload`` once it has been inspected (it runs every check again, then builds what the
registry stores). A file that comes without a form (``packyard import``) goes through
``validate_file``: the same checks, on the form twine would have sent for it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from packaging.metadata import Metadata
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from packyard.errors import Invalid, TooLarge
from packyard.formats.pypi.archive import DistInspection, format_size, serves_core_metadata
from packyard.formats.pypi.filenames import DistFilename, DistKind, parse_distribution_filename
from packyard.formats.pypi.names import (
    PROJECT_NAME_RULE,
    is_valid_project_name,
    normalize_name,
    normalize_version,
    parse_version,
)

SUPPORTED_ACTION = "file_upload"

FILETYPES: tuple[DistKind, ...] = ("bdist_wheel", "sdist")

CORE_METADATA_SPEC = "https://packaging.python.org/specifications/core-metadata"

# bdist_wheel wrote "Metadata-Version: 2.0" for years although no 2.0 spec exists (it meant
# 1.2 plus extensions); PyPI accepted it, and wheels carrying it are still around.
_LEGACY_METADATA_VERSIONS = frozenset({"2.0"})

# Other actions of the old PyPI API, and what to do instead.
_RETIRED_ACTIONS = {
    "submit": "projects need no registration, upload the files instead",
    "doc_upload": "documentation uploads are not supported",
    "remove_pkg": "delete package versions with the CodeArtifact API instead",
}

# (form field, FileDigests attribute, algorithm name for messages, hex length)
_DIGEST_FIELDS = (
    ("md5_digest", "md5", "MD5", 32),
    ("sha256_digest", "sha256", "SHA-256", 64),
    ("blake2_256_digest", "blake2_256", "BLAKE2b-256", 64),
)
_HEX_RE = re.compile(r"[0-9a-fA-F]+")

# PEP 753 label normalization: lower case, no punctuation or whitespace.
_LABEL_JUNK_RE = re.compile(r"[^a-z0-9]")
# Labels naming the source repository, best first: Source, Repository, Source Code, Code and
# PEP 753's GitHub alias.
_SOURCE_LABELS = ("source", "repository", "sourcecode", "code", "github")
_HOMEPAGE_LABELS = ("homepage", "home")

_FATAL_FIELDS = frozenset({"name", "version", "requires-python", "requires-dist"})

_NO_FILE = "Upload payload does not have a file: send it in the multipart 'content' field."


class FileDigests(Protocol):
    """The digests and size computed from the stored bytes (``storage.blobs.Digests`` fits)."""

    @property
    def size(self) -> int: ...
    @property
    def md5(self) -> str | None: ...
    @property
    def sha256(self) -> str: ...
    @property
    def blake2_256(self) -> str | None: ...


def _computed(digest: str | None) -> str:
    # An upload's staged write computes every digest (only a pull leaves some for later).
    assert digest is not None, "an upload's digests are all computed"
    return digest.lower()


@dataclass(frozen=True)
class ValidatedUpload:
    """An upload that passed every check: what the registry stores about the file."""

    normalized_name: str
    """The PEP 503 project name: the package's key."""
    display_name: str
    """The Name field as the author wrote it."""
    version: str
    """The Version field as the author wrote it (shown to users)."""
    version_key: str
    """The canonical version (``names.normalize_version``): equal keys are one release."""
    filename: str
    kind: DistKind
    python_version: str
    """``source`` for sdists, the wheel's Python tag otherwise (the form's pyversion)."""
    size: int
    md5: str
    sha256: str
    blake2_256: str
    metadata_bytes: bytes
    """The core metadata file exactly as in the archive."""
    metadata_sha256: str
    """Hex SHA-256 of ``metadata_bytes`` (PEP 658/714 ``data-dist-info-metadata``)."""
    serves_metadata: bool
    """Whether ``metadata_bytes`` is served as PEP 658 ``.metadata``: always for a wheel, for
    an sdist only when PEP 643 makes it reliable (``archive.serves_core_metadata``)."""
    metadata_version: str
    summary: str | None
    description: str | None
    description_content_type: str | None
    requires_python: str | None
    requires_dist: tuple[str, ...]
    home_page: str | None
    source_code_repository: str | None
    licenses: tuple[str, ...]
    project_urls: Mapping[str, str]
    author: str | None
    keywords: tuple[str, ...]
    classifiers: tuple[str, ...]
    warnings: tuple[str, ...]
    """Metadata problems that were tolerated; worth showing to the publisher."""
    info: Mapping[str, Any]
    """The version attributes keeping the fields the JSON API shows (``release_info.py``)."""


def _field(fields: Mapping[str, str], name: str) -> str:
    """A form field's value, with blank values treated as absent."""
    return fields.get(name, "").strip()


# -- the checks, in the order they run ---------------------------------------------------------


def check_action(fields: Mapping[str, str]) -> None:
    """Refuse anything but a protocol 1 ``file_upload``."""
    action = _field(fields, ":action")
    if not action:
        raise Invalid(
            "Missing ':action' field: send ':action=file_upload' as twine does "
            "(the legacy upload API)."
        )
    if action != SUPPORTED_ACTION:
        hint = _RETIRED_ACTIONS.get(action)
        suffix = f" ({hint})" if hint else ""
        raise Invalid(
            f"Unsupported ':action' {action!r}: only 'file_upload' is supported{suffix}."
        )
    protocol_version = _field(fields, "protocol_version")
    if protocol_version and protocol_version != "1":
        raise Invalid(
            f"Unknown protocol_version {protocol_version!r}: only protocol_version 1 is supported."
        )


def check_name(name: str) -> str:
    """Refuse a missing or invalid ``name`` field; return it without surrounding blanks."""
    name = name.strip()
    if not name:
        raise Invalid("Missing 'name' field: the upload must say which project it is for.")
    if not is_valid_project_name(name):
        raise Invalid(
            f"{name!r} is an invalid value for Name. Error: {PROJECT_NAME_RULE}. "
            f"See {CORE_METADATA_SPEC} for more information."
        )
    return name


def check_form(fields: Mapping[str, str]) -> None:
    """Check the form's own fields, before anything is read from the file."""
    check_action(fields)
    check_name(_field(fields, "name"))
    version = _field(fields, "version")
    if not version:
        raise Invalid("Missing 'version' field: the upload must say which version it is.")
    parse_version(version)
    filetype = _field(fields, "filetype")
    if filetype and filetype not in FILETYPES:
        raise Invalid(
            f"Unsupported filetype {filetype!r}: use 'bdist_wheel' or 'sdist' (eggs and other "
            "formats are no longer accepted, see https://peps.python.org/pep-0527/)."
        )
    metadata_version = _field(fields, "metadata_version")
    if metadata_version and not is_supported_metadata_version(metadata_version):
        raise Invalid(_unsupported_metadata_version(metadata_version, "metadata_version"))
    if _field(fields, "attestations"):
        # PEP 740: an index "MUST reject the upload" when it fails to verify an attestation
        # sent with it. Packyard verifies none (no Sigstore, no Trusted Publishing), so storing
        # the file without them would let the publisher believe they were published. The
        # wording starts as PyPI's does (warehouse's forklift/legacy.py).
        raise Invalid(
            "Invalid attestations supplied during upload: this server does not support PEP "
            "740 attestations (it cannot verify them, so it does not store them); upload "
            "without them (twine: leave out --attestations; uv publish: --no-attestations).")
    for field, _, algorithm, length in _DIGEST_FIELDS:
        value = _field(fields, field)
        if value and (len(value) != length or not _HEX_RE.fullmatch(value)):
            raise Invalid(
                f"Invalid {field}: use a hex-encoded {algorithm} digest ({length} hex digits)."
            )


def check_file_present(filename: str | None) -> str:
    """Refuse an upload without a file; return its filename."""
    if not filename:
        raise Invalid(_NO_FILE)
    return filename


def check_filetype(fields: Mapping[str, str], dist: DistFilename) -> None:
    """Refuse a filetype that contradicts the file's extension (an sdist named .whl)."""
    filetype = _field(fields, "filetype")
    if filetype and filetype != dist.kind:
        raise Invalid(
            f"Invalid file extension: extension {dist.extension} is invalid for filetype "
            f"{filetype}. See https://peps.python.org/pep-0527/ for more information."
        )


def check_size(filename: str, size: int, max_size: int) -> None:
    """Refuse an empty file, or one over the configured limit (TooLarge)."""
    if size > max_size:
        raise TooLarge(
            f"File too large: {filename} is {format_size(size)}, "
            f"the limit is {format_size(max_size)}."
        )
    if size == 0:
        raise Invalid(f"The uploaded file {filename} is empty.")


# Warehouse's rule (forklift/legacy.py, _is_valid_dist_file, for every zip: wheels and .zip
# sdists): a zip whose members unpack to more than 64 MiB and to more than 50 times its own
# size is a decompression bomb (an installer writes all of it out). Data that compresses well
# (JSON, interface descriptions) stays well below 50 (pypi/warehouse#13962).
COMPRESSION_RATIO_MIN_BYTES = 64 * 1024 * 1024
COMPRESSION_RATIO_LIMIT = 50


def check_compression(dist: DistFilename, size: int, inspection: DistInspection) -> None:
    """Refuse a zip that unpacks to far more than it weighs, as PyPI does."""
    unpacked = inspection.unpacked_bytes
    if (unpacked is not None and unpacked > COMPRESSION_RATIO_MIN_BYTES
            and unpacked > COMPRESSION_RATIO_LIMIT * max(size, 1)):
        raise Invalid(
            f"Invalid distribution file. {dist.filename} exceeds the compression ratio of "
            f"{COMPRESSION_RATIO_LIMIT} (a decompression bomb, refused as PyPI refuses it): "
            f"its members unpack to {format_size(unpacked)} from {format_size(size)}.")


def check_digests(fields: Mapping[str, str], computed: FileDigests) -> None:
    """Refuse an upload whose declared digests differ from the stored bytes' digests.

    Digests are optional, as on PyPI: FIPS builds of twine cannot compute BLAKE2 and twine 6
    stopped sending MD5, so a missing digest is simply computed and not compared.
    """
    for field, attribute, algorithm, _ in _DIGEST_FIELDS:
        declared = _field(fields, field)
        if not declared:
            continue
        actual: str = getattr(computed, attribute)
        # compare_digest: no timing signal, even if these are not secrets.
        if not hmac.compare_digest(declared.lower(), actual.lower()):
            raise Invalid(
                f"The {field} supplied does not match the {algorithm} digest calculated "
                "from the uploaded file."
            )


def is_supported_metadata_version(metadata_version: str) -> bool:
    """Tell whether a Metadata-Version is accepted: any that packaging knows, and legacy 2.0."""
    if metadata_version in _LEGACY_METADATA_VERSIONS:
        return True
    # Whatever packaging validates is a version of the core metadata specification.
    try:
        Metadata.from_raw(
            {"metadata_version": metadata_version, "name": "probe", "version": "0"},
            validate=True,
        )
    except ExceptionGroup:
        return False
    return True


def _unsupported_metadata_version(metadata_version: str, where: str) -> str:
    return (
        f"Unsupported Metadata-Version {metadata_version!r} in {where}: use a version of the "
        f"core metadata specification, 1.0 or later. See {CORE_METADATA_SPEC}."
    )


def _invalid_metadata(inspection: DistInspection, message: str) -> Invalid:
    return Invalid(
        f"Invalid {inspection.metadata_path} in {inspection.filename}: {message}. "
        f"See {CORE_METADATA_SPEC} for more information."
    )


def _problem_about(inspection: DistInspection, field: str) -> str | None:
    for problem in inspection.problems:
        if problem.field == field:
            return problem.message
    return None


def check_metadata(inspection: DistInspection) -> tuple[str, ...]:
    """Refuse metadata that installers cannot use; return the tolerated problems as warnings.

    Fatal: an unsupported Metadata-Version, a missing or invalid Name or Version, an invalid
    Requires-Python or Requires-Dist (resolvers would fail on them). Everything else packaging
    complains about (an unknown field, License-File under Metadata-Version 2.1 as older
    setuptools writes it, ...) is stored as written and reported as a warning, as CodeArtifact
    is lenient there.
    """
    metadata_version = inspection.metadata_version.strip()
    if not metadata_version:
        raise _invalid_metadata(inspection, "the Metadata-Version field is missing")
    if not is_supported_metadata_version(metadata_version):
        raise Invalid(_unsupported_metadata_version(metadata_version, inspection.metadata_path))
    for field, value in (("name", inspection.name), ("version", inspection.version)):
        if not value:
            # An empty value may be a duplicated field that the parser set aside.
            reason = _problem_about(inspection, field)
            raise _invalid_metadata(inspection, reason or f"the {field.title()} field is missing")
    if not is_valid_project_name(inspection.name):
        raise _invalid_metadata(
            inspection, f"Name {inspection.name!r} is invalid: {PROJECT_NAME_RULE}"
        )
    try:
        parse_version(inspection.version)
    except Invalid as exc:
        raise _invalid_metadata(inspection, f"Version {exc.message.rstrip('.')}") from None
    if inspection.requires_python is not None:
        try:
            SpecifierSet(inspection.requires_python)
        except InvalidSpecifier:
            raise _invalid_metadata(
                inspection,
                f"Requires-Python {inspection.requires_python!r} is not a valid version "
                "specifier (PEP 440), e.g. '>=3.9'",
            ) from None
    for requirement in inspection.requires_dist:
        try:
            Requirement(requirement)
        except InvalidRequirement as exc:
            first_line = str(exc).splitlines()[0] if str(exc) else "invalid requirement"
            raise _invalid_metadata(
                inspection,
                f"Requires-Dist {requirement!r} is not a valid requirement (PEP 508): "
                f"{first_line}",
            ) from None
    # Anything else packaging says about these fields (a duplicated Requires-Python, say) is
    # fatal too, except a field newer than the declared Metadata-Version: older tools wrote
    # those and installers read them anyway.
    for problem in inspection.problems:
        if problem.field in _FATAL_FIELDS and "introduced in metadata version" not in problem.message:
            raise _invalid_metadata(inspection, problem.message)
    # Metadata-Version was judged above (packaging does not know the legacy 2.0).
    return tuple(
        f"{inspection.metadata_path}: {problem.message}"
        for problem in inspection.problems
        if problem.field != "metadata-version"
    )


def check_filename_matches_form(fields: Mapping[str, str], dist: DistFilename) -> None:
    """Refuse a filename whose project or version differs from the form's (normalized)."""
    name = _field(fields, "name")
    if normalize_name(name) != dist.normalized_name:
        prefix = normalize_name(name).replace("-", "_")
        raise Invalid(
            f"Start filename for {name!r} with {prefix!r}: {dist.filename!r} is for "
            f"project {dist.project!r}."
        )
    version = _field(fields, "version")
    if parse_version(version) != dist.version:
        raise Invalid(f"Version in filename should be {version!r} not {dist.version_text!r}.")


def check_metadata_matches_form(fields: Mapping[str, str], inspection: DistInspection) -> None:
    """Refuse a file whose own Name or Version differs from the form's (normalized)."""
    name = _field(fields, "name")
    if normalize_name(inspection.name) != normalize_name(name):
        raise Invalid(
            f"Name {inspection.name!r} in {inspection.metadata_path} does not match the "
            f"name {name!r} given in the upload."
        )
    version = _field(fields, "version")
    if parse_version(inspection.version) != parse_version(version):
        raise Invalid(
            f"Version {inspection.version!r} in {inspection.metadata_path} does not match "
            f"the version {version!r} given in the upload."
        )


def check_consistency(
    fields: Mapping[str, str], dist_filename: DistFilename, inspection: DistInspection
) -> None:
    """Refuse an upload whose form, filename and metadata do not name one project version."""
    check_filename_matches_form(fields, dist_filename)
    check_metadata_matches_form(fields, inspection)


# -- running them ----------------------------------------------------------------------------


def check_request(
    fields: Mapping[str, str], filename: str | None, digests: FileDigests | None, max_size: int
) -> DistFilename:
    """Run every check that does not need the archive opened; return the parsed filename."""
    check_form(fields)
    dist = parse_distribution_filename(check_file_present(filename))
    check_filetype(fields, dist)
    check_filename_matches_form(fields, dist)
    if digests is not None:
        check_size(dist.filename, digests.size, max_size)
        check_digests(fields, digests)
    return dist


def validate_upload(
    fields: Mapping[str, str],
    upload: DistFilename | str | None,
    digests: FileDigests | None,
    inspection: DistInspection | None,
    max_size: int,
) -> ValidatedUpload:
    """Run every check on one upload, in order, and return what the registry stores.

    ``upload`` is the uploaded file's name (parsed or not); None, like a missing ``digests``
    or ``inspection``, means the request carried no file. Raises Invalid or TooLarge.
    """
    check_form(fields)
    if upload is None or digests is None or inspection is None:
        raise Invalid(_NO_FILE)
    if isinstance(upload, str):
        upload = parse_distribution_filename(check_file_present(upload))
    dist = upload
    check_filetype(fields, dist)
    check_filename_matches_form(fields, dist)
    check_size(dist.filename, digests.size, max_size)
    check_digests(fields, digests)
    check_compression(dist, digests.size, inspection)
    warnings = check_metadata(inspection)
    check_metadata_matches_form(fields, inspection)
    return _validated(fields, dist, digests, inspection, warnings)


def form_from_metadata(dist: DistFilename, inspection: DistInspection) -> dict[str, str]:
    """The form fields twine sends for a file: it reads them from the file's own metadata."""
    return {
        ":action": SUPPORTED_ACTION,
        "protocol_version": "1",
        "name": inspection.name,
        "version": inspection.version,
        "filetype": dist.kind,
        "metadata_version": inspection.metadata_version,
        "pyversion": "source" if dist.kind == "sdist" else "",
    }


def validate_file(
    dist: DistFilename, digests: FileDigests, inspection: DistInspection, max_size: int
) -> ValidatedUpload:
    """Run every upload check on a file that comes without a form, and return what is stored.

    The form is the one twine would send (``form_from_metadata``), so a file passes exactly
    when its twine upload would. The metadata is judged first: with no form to blame, its
    problems are what the publisher needs to hear about.
    """
    check_metadata(inspection)
    return validate_upload(form_from_metadata(dist, inspection), dist, digests, inspection,
                           max_size)


# -- what gets stored --------------------------------------------------------------------------


def _label(label: str) -> str:
    return _LABEL_JUNK_RE.sub("", label.lower())


def _url_for(project_urls: Mapping[str, str], labels: tuple[str, ...]) -> str | None:
    by_label = {_label(label): url for label, url in project_urls.items()}
    for label in labels:
        if by_label.get(label):
            return by_label[label]
    return None


def _licenses(inspection: DistInspection) -> tuple[str, ...]:
    """License names for CodeArtifact's ``licenses``: the expression or a short License field,
    else the names in ``License ::`` classifiers."""
    license_text = (inspection.license or "").strip()
    # The License field sometimes holds a whole license text: only a short line is a name.
    # "UNKNOWN" is the placeholder distutils wrote.
    is_a_name = "\n" not in license_text and len(license_text) <= 200
    if license_text and is_a_name and license_text.upper() != "UNKNOWN":
        return (license_text,)
    names: list[str] = []
    for classifier in inspection.classifiers:
        parts = [part.strip() for part in classifier.split("::")]
        is_license = len(parts) > 1 and parts[0] == "License" and parts[-1] != "OSI Approved"
        if is_license and parts[-1] not in names:
            names.append(parts[-1])
    return tuple(names)


def _python_version(fields: Mapping[str, str], dist: DistFilename) -> str:
    if dist.kind == "sdist":
        return "source"
    return _field(fields, "pyversion") or ".".join(sorted({tag.interpreter for tag in dist.tags}))


def _validated(
    fields: Mapping[str, str],
    dist: DistFilename,
    digests: FileDigests,
    inspection: DistInspection,
    warnings: tuple[str, ...],
) -> ValidatedUpload:
    return ValidatedUpload(
        normalized_name=normalize_name(inspection.name),
        display_name=inspection.name,
        version=inspection.version,
        version_key=normalize_version(inspection.version),
        filename=dist.filename,
        kind=dist.kind,
        python_version=_python_version(fields, dist),
        size=digests.size,
        md5=_computed(digests.md5),
        sha256=digests.sha256.lower(),
        blake2_256=_computed(digests.blake2_256),
        metadata_bytes=inspection.metadata_bytes,
        metadata_sha256=hashlib.sha256(inspection.metadata_bytes).hexdigest(),
        serves_metadata=serves_core_metadata(inspection),
        metadata_version=inspection.metadata_version,
        summary=inspection.summary,
        description=inspection.description,
        description_content_type=inspection.description_content_type,
        requires_python=inspection.requires_python,
        requires_dist=inspection.requires_dist,
        home_page=inspection.home_page or _url_for(inspection.project_urls, _HOMEPAGE_LABELS),
        source_code_repository=_url_for(inspection.project_urls, _SOURCE_LABELS),
        licenses=_licenses(inspection),
        project_urls=inspection.project_urls,
        author=inspection.author,
        keywords=inspection.keywords,
        classifiers=inspection.classifiers,
        warnings=warnings,
        info=inspection.info,
    )
