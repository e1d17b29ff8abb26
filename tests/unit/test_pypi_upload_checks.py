"""Validation of legacy-API uploads: every refusal and the message the publisher sees."""

from __future__ import annotations

import dataclasses
import hashlib
import zipfile
from collections.abc import Iterable
from pathlib import Path

import pytest

from packyard.errors import Invalid, TooLarge
from packyard.formats.pypi.archive import DistInspection, inspect_distribution
from packyard.formats.pypi.filenames import parse_distribution_filename
from packyard.formats.pypi.upload_checks import (
    check_action,
    check_compression,
    check_consistency,
    check_digests,
    check_form,
    check_metadata,
    check_request,
    form_from_metadata,
    is_supported_metadata_version,
    validate_file,
    validate_upload,
)
from tests.unit.pypi_samples import Computed, build_sdist, build_wheel, metadata_text

MiB = 1024 * 1024
MAX = 100 * MiB
WHEEL = "sample-1.0-py3-none-any.whl"
SPEC = "https://packaging.python.org/specifications/core-metadata"


def form(**overrides: str | None) -> dict[str, str]:
    """The non-file fields twine sends for sample 1.0, with some replaced or removed (None)."""
    fields = {
        ":action": "file_upload",
        "protocol_version": "1",
        "name": "sample",
        "version": "1.0",
        "filetype": "bdist_wheel",
        "pyversion": "py3",
        "metadata_version": "2.1",
        "summary": "A sample",
    }
    for key, value in overrides.items():
        key = key.replace("__", ":")  # __action -> :action
        if value is None:
            fields.pop(key, None)
        else:
            fields[key] = value
    return fields


@dataclasses.dataclass
class Upload:
    path: Path
    computed: Computed
    inspection: DistInspection


def wheel_upload(tmp_path: Path, metadata: str | None = None, *, name: str = "sample",
                 version: str = "1.0", filename: str | None = None) -> Upload:
    path = build_wheel(tmp_path, filename, name=name, version=version,
                       metadata=metadata if metadata is not None else metadata_text(name, version))
    inspection = inspect_distribution(path, parse_distribution_filename(path.name))
    return Upload(path, Computed.of(path), inspection)


def with_metadata(tmp_path: Path, headers: Iterable[tuple[str, str]] = (), *,
                  metadata_version: str = "2.1", body: str | None = None) -> Upload:
    metadata = metadata_text("sample", "1.0", metadata_version=metadata_version,
                             headers=headers, body=body)
    return wheel_upload(tmp_path, metadata)


def refusal(fields: dict[str, str], upload: Upload, *, max_size: int = MAX,
            filename: str | None = None) -> str:
    with pytest.raises(Invalid) as caught:
        validate_upload(fields, filename or upload.path.name, upload.computed, upload.inspection,
                        max_size)
    return caught.value.message


@pytest.fixture
def good(tmp_path: Path) -> Upload:
    return wheel_upload(tmp_path)


# -- the form -----------------------------------------------------------------------------------


def test_missing_action_is_refused(good: Upload) -> None:
    assert refusal(form(__action=None), good) == (
        "Missing ':action' field: send ':action=file_upload' as twine does "
        "(the legacy upload API)."
    )


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ("file_remove", "Unsupported ':action' 'file_remove': only 'file_upload' is supported."),
        ("submit", "Unsupported ':action' 'submit': only 'file_upload' is supported "
                   "(projects need no registration, upload the files instead)."),
        ("doc_upload", "Unsupported ':action' 'doc_upload': only 'file_upload' is supported "
                       "(documentation uploads are not supported)."),
    ],
)
def test_unsupported_action_is_refused(good: Upload, action: str, message: str) -> None:
    assert refusal(form(__action=action), good) == message


def test_unknown_protocol_version_is_refused(good: Upload) -> None:
    assert refusal(form(protocol_version="2"), good) == (
        "Unknown protocol_version '2': only protocol_version 1 is supported."
    )


def test_missing_protocol_version_is_accepted() -> None:
    check_action({":action": "file_upload"})


def test_missing_name_is_refused(good: Upload) -> None:
    assert refusal(form(name=None), good) == (
        "Missing 'name' field: the upload must say which project it is for."
    )


def test_blank_name_counts_as_missing(good: Upload) -> None:
    assert refusal(form(name="  "), good).startswith("Missing 'name' field")


def test_invalid_name_is_refused(good: Upload) -> None:
    assert refusal(form(name="-sample"), good) == (
        "'-sample' is an invalid value for Name. Error: a name must start and end with an ASCII "
        "letter or digit and contain only ASCII letters, digits, '.', '_' and '-'. "
        f"See {SPEC} for more information."
    )


def test_missing_version_is_refused(good: Upload) -> None:
    assert refusal(form(version=None), good) == (
        "Missing 'version' field: the upload must say which version it is."
    )


def test_invalid_version_is_refused(good: Upload) -> None:
    assert refusal(form(version="one"), good) == (
        "'one' is not a valid version: see PEP 440 (https://peps.python.org/pep-0440/) for the "
        "version format."
    )


@pytest.mark.parametrize("filetype", ["bdist_egg", "bdist_wininst", "wheel"])
def test_unknown_filetype_is_refused(good: Upload, filetype: str) -> None:
    assert refusal(form(filetype=filetype), good) == (
        f"Unsupported filetype {filetype!r}: use 'bdist_wheel' or 'sdist' (eggs and other "
        "formats are no longer accepted, see https://peps.python.org/pep-0527/)."
    )


@pytest.mark.parametrize("metadata_version", ["0.9", "3.0", "banana"])
def test_unsupported_form_metadata_version_is_refused(good: Upload, metadata_version: str) -> None:
    assert refusal(form(metadata_version=metadata_version), good) == (
        f"Unsupported Metadata-Version {metadata_version!r} in metadata_version: use a version "
        f"of the core metadata specification, 1.0 or later. See {SPEC}."
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("sha256_digest", "abc",
         "Invalid sha256_digest: use a hex-encoded SHA-256 digest (64 hex digits)."),
        ("sha256_digest", "z" * 64,
         "Invalid sha256_digest: use a hex-encoded SHA-256 digest (64 hex digits)."),
        ("blake2_256_digest", "0" * 63,
         "Invalid blake2_256_digest: use a hex-encoded BLAKE2b-256 digest (64 hex digits)."),
        ("md5_digest", "0" * 64,
         "Invalid md5_digest: use a hex-encoded MD5 digest (32 hex digits)."),
    ],
)
def test_malformed_digest_is_refused(good: Upload, field: str, value: str, message: str) -> None:
    assert refusal(form(**{field: value}), good) == message


def test_form_check_accepts_what_twine_sends() -> None:
    check_form(form(sha256_digest="a" * 64, blake2_256_digest="B" * 64))


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2", "2.0", "2.1", "2.2", "2.3", "2.4"])
def test_known_metadata_versions_are_supported(version: str) -> None:
    assert is_supported_metadata_version(version)


# -- the file -----------------------------------------------------------------------------------


def test_missing_file_is_refused() -> None:
    with pytest.raises(Invalid) as caught:
        validate_upload(form(), None, None, None, MAX)
    assert caught.value.message == (
        "Upload payload does not have a file: send it in the multipart 'content' field."
    )


def test_missing_file_is_refused_by_check_request() -> None:
    with pytest.raises(Invalid) as caught:
        check_request(form(), "", None, MAX)
    assert caught.value.message == (
        "Upload payload does not have a file: send it in the multipart 'content' field."
    )


def test_form_errors_come_before_the_missing_file() -> None:
    with pytest.raises(Invalid) as caught:
        validate_upload(form(__action="submit"), None, None, None, MAX)
    assert caught.value.message.startswith("Unsupported ':action' 'submit'")


def test_bad_filename_is_refused(good: Upload) -> None:
    assert refusal(form(), good, filename="sample-1.0.exe").startswith(
        "Invalid file extension for 'sample-1.0.exe'"
    )


@pytest.mark.parametrize(
    ("filetype", "extension"), [("sdist", ".whl"), ("bdist_wheel", ".tar.gz"),
                                ("bdist_wheel", ".zip")]
)
def test_filetype_that_contradicts_the_extension_is_refused(
    tmp_path: Path, filetype: str, extension: str
) -> None:
    upload = wheel_upload(tmp_path) if extension == ".whl" else None
    filename = "sample-1.0-py3-none-any.whl" if extension == ".whl" else f"sample-1.0{extension}"
    with pytest.raises(Invalid) as caught:
        check_request(form(filetype=filetype), filename,
                      upload.computed if upload else None, MAX)
    assert caught.value.message == (
        f"Invalid file extension: extension {extension} is invalid for filetype {filetype}. "
        "See https://peps.python.org/pep-0527/ for more information."
    )


def test_file_over_the_limit_is_too_large(good: Upload) -> None:
    big = dataclasses.replace(good.computed, size=150 * MiB + 1)
    with pytest.raises(TooLarge) as caught:
        validate_upload(form(), good.path.name, big, good.inspection, MAX)
    assert caught.value.message == (
        "File too large: sample-1.0-py3-none-any.whl is 150.0 MiB, the limit is 100 MiB."
    )


def test_file_at_the_limit_is_accepted(good: Upload) -> None:
    validate_upload(form(), good.path.name, good.computed, good.inspection, good.computed.size)


def test_empty_file_is_refused(good: Upload) -> None:
    empty = dataclasses.replace(good.computed, size=0)
    with pytest.raises(Invalid) as caught:
        validate_upload(form(), good.path.name, empty, good.inspection, MAX)
    assert caught.value.message == "The uploaded file sample-1.0-py3-none-any.whl is empty."


@pytest.mark.parametrize(
    ("field", "algorithm"),
    [("md5_digest", "MD5"), ("sha256_digest", "SHA-256"), ("blake2_256_digest", "BLAKE2b-256")],
)
def test_digest_mismatch_is_refused_naming_the_digest(
    good: Upload, field: str, algorithm: str
) -> None:
    wrong = "0" * (32 if field == "md5_digest" else 64)
    assert refusal(form(**{field: wrong}), good) == (
        f"The {field} supplied does not match the {algorithm} digest calculated from the "
        "uploaded file."
    )


def test_matching_digests_are_accepted_in_any_case(good: Upload) -> None:
    fields = form(md5_digest=good.computed.md5.upper(), sha256_digest=good.computed.sha256.upper(),
                  blake2_256_digest=good.computed.blake2_256)
    check_digests(fields, good.computed)
    validate_upload(fields, good.path.name, good.computed, good.inspection, MAX)


def test_no_digest_at_all_is_accepted(good: Upload) -> None:
    upload = validate_upload(form(), good.path.name, good.computed, good.inspection, MAX)
    assert upload.sha256 == good.computed.sha256


# -- consistency --------------------------------------------------------------------------------


def test_filename_for_another_project_is_refused(tmp_path: Path) -> None:
    upload = wheel_upload(tmp_path, name="other")
    assert refusal(form(), upload) == (
        "Start filename for 'sample' with 'sample': 'other-1.0-py3-none-any.whl' is for "
        "project 'other'."
    )


def test_filename_for_another_version_is_refused(tmp_path: Path) -> None:
    upload = wheel_upload(tmp_path, version="2.0")
    assert refusal(form(), upload) == "Version in filename should be '1.0' not '2.0'."


def test_names_and_versions_are_compared_normalized(tmp_path: Path) -> None:
    upload = wheel_upload(tmp_path, metadata_text("Sample_Pkg", "1.0.0"), name="sample_pkg",
                          version="1.0")
    result = validate_upload(form(name="Sample.Pkg", version="1"), upload.path.name,
                             upload.computed, upload.inspection, MAX)
    assert result.normalized_name == "sample-pkg"
    assert result.display_name == "Sample_Pkg"
    assert result.version == "1.0.0"
    assert result.version_key == "1"


def test_metadata_for_another_project_is_refused(tmp_path: Path) -> None:
    upload = wheel_upload(tmp_path, metadata_text("other", "1.0"))
    assert refusal(form(), upload) == (
        "Name 'other' in sample-1.0.dist-info/METADATA does not match the name 'sample' given "
        "in the upload."
    )


def test_metadata_for_another_version_is_refused(tmp_path: Path) -> None:
    upload = wheel_upload(tmp_path, metadata_text("sample", "1.1"))
    assert refusal(form(), upload) == (
        "Version '1.1' in sample-1.0.dist-info/METADATA does not match the version '1.0' given "
        "in the upload."
    )


def test_check_consistency_checks_filename_and_metadata(tmp_path: Path) -> None:
    upload = wheel_upload(tmp_path, metadata_text("sample", "1.1"))
    dist = parse_distribution_filename(upload.path.name)
    with pytest.raises(Invalid) as caught:
        check_consistency(form(), dist, upload.inspection)
    assert caught.value.message.startswith("Version '1.1' in sample-1.0.dist-info/METADATA")


# -- the file's metadata ------------------------------------------------------------------------


def test_unsupported_metadata_version_in_file_is_refused(tmp_path: Path) -> None:
    upload = with_metadata(tmp_path, metadata_version="0.9")
    assert refusal(form(metadata_version=None), upload) == (
        "Unsupported Metadata-Version '0.9' in sample-1.0.dist-info/METADATA: use a version of "
        f"the core metadata specification, 1.0 or later. See {SPEC}."
    )


def test_missing_metadata_version_in_file_is_refused(tmp_path: Path) -> None:
    upload = wheel_upload(tmp_path, "Name: sample\nVersion: 1.0\n")
    assert refusal(form(), upload) == (
        "Invalid sample-1.0.dist-info/METADATA in sample-1.0-py3-none-any.whl: the "
        f"Metadata-Version field is missing. See {SPEC} for more information."
    )


def test_missing_name_in_file_is_refused(tmp_path: Path) -> None:
    upload = wheel_upload(tmp_path, "Metadata-Version: 2.1\nVersion: 1.0\n")
    assert refusal(form(), upload) == (
        "Invalid sample-1.0.dist-info/METADATA in sample-1.0-py3-none-any.whl: 'name' is a "
        f"required field. See {SPEC} for more information."
    )


def test_duplicated_version_in_file_is_refused(tmp_path: Path) -> None:
    upload = wheel_upload(tmp_path, metadata_text() + "Version: 2.0\n")
    assert refusal(form(), upload) == (
        "Invalid sample-1.0.dist-info/METADATA in sample-1.0-py3-none-any.whl: 'version' has "
        f"invalid data. See {SPEC} for more information."
    )


def test_invalid_name_in_file_is_refused(tmp_path: Path) -> None:
    upload = wheel_upload(tmp_path, metadata_text("sample!", "1.0"))
    assert refusal(form(), upload).startswith(
        "Invalid sample-1.0.dist-info/METADATA in sample-1.0-py3-none-any.whl: "
        "Name 'sample!' is invalid: a name must start"
    )


def test_invalid_version_in_file_is_refused(tmp_path: Path) -> None:
    upload = wheel_upload(tmp_path, metadata_text("sample", "1.0-beta-x"))
    assert refusal(form(), upload) == (
        "Invalid sample-1.0.dist-info/METADATA in sample-1.0-py3-none-any.whl: Version "
        "'1.0-beta-x' is not a valid version: see PEP 440 (https://peps.python.org/pep-0440/) "
        f"for the version format. See {SPEC} for more information."
    )


def test_invalid_requires_python_is_refused(tmp_path: Path) -> None:
    upload = with_metadata(tmp_path, [("Requires-Python", ">=3.x")])
    assert refusal(form(), upload) == (
        "Invalid sample-1.0.dist-info/METADATA in sample-1.0-py3-none-any.whl: Requires-Python "
        "'>=3.x' is not a valid version specifier (PEP 440), e.g. '>=3.9'. "
        f"See {SPEC} for more information."
    )


def test_duplicated_requires_python_is_refused(tmp_path: Path) -> None:
    upload = with_metadata(tmp_path, [("Requires-Python", ">=3.8"), ("Requires-Python", ">=3.9")])
    assert refusal(form(), upload) == (
        "Invalid sample-1.0.dist-info/METADATA in sample-1.0-py3-none-any.whl: "
        f"'requires-python' has invalid data. See {SPEC} for more information."
    )


def test_invalid_requires_dist_is_refused(tmp_path: Path) -> None:
    upload = with_metadata(tmp_path, [("Requires-Dist", "packaging >= ")])
    assert refusal(form(), upload).startswith(
        "Invalid sample-1.0.dist-info/METADATA in sample-1.0-py3-none-any.whl: Requires-Dist "
        "'packaging >= ' is not a valid requirement (PEP 508): "
    )


def test_tolerated_metadata_problems_become_warnings(tmp_path: Path) -> None:
    # setuptools < 69 wrote License-File under Metadata-Version 2.1; installers read it fine.
    upload = with_metadata(tmp_path, [("License-File", "LICENSE"), ("Requires-Dist", "rich")],
                           metadata_version="1.1")
    assert check_metadata(upload.inspection) == (
        "sample-1.0.dist-info/METADATA: license-file introduced in metadata version 2.4, not 1.1",
        "sample-1.0.dist-info/METADATA: requires-dist introduced in metadata version 1.2, not 1.1",
    )
    result = validate_upload(form(), upload.path.name, upload.computed, upload.inspection, MAX)
    assert len(result.warnings) == 2


def test_legacy_metadata_version_2_0_is_accepted_without_warning(tmp_path: Path) -> None:
    upload = with_metadata(tmp_path, [("Requires-Dist", "rich")], metadata_version="2.0")
    assert upload.inspection.problems  # packaging does not know 2.0 ...
    result = validate_upload(form(metadata_version="2.0"), upload.path.name, upload.computed,
                             upload.inspection, MAX)
    assert result.warnings == ()  # ... but bdist_wheel wrote it for years
    assert result.metadata_version == "2.0"


def test_local_versions_are_accepted(tmp_path: Path) -> None:
    upload = wheel_upload(tmp_path, version="2.0+cpu")
    result = validate_upload(form(version="2.0+cpu"), upload.path.name, upload.computed,
                             upload.inspection, MAX)
    assert result.version == "2.0+cpu"


# -- what is stored -----------------------------------------------------------------------------


def test_validated_upload_carries_what_the_registry_stores(tmp_path: Path) -> None:
    upload = with_metadata(
        tmp_path,
        [
            ("Summary", "A sample"),
            ("Author", "Ann"),
            ("License-Expression", "MIT"),
            ("Project-URL", "Homepage, https://example.com/home"),
            ("Project-URL", "Source Code, https://example.com/src"),
            ("Keywords", "a,b"),
            ("Classifier", "Topic :: Utilities"),
            ("Requires-Python", ">=3.9"),
            ("Requires-Dist", "packaging>=20"),
            ("Description-Content-Type", "text/markdown"),
        ],
        metadata_version="2.4",
        body="# Sample\n",
    )
    fields = form(sha256_digest=upload.computed.sha256)
    result = validate_upload(fields, upload.path.name, upload.computed, upload.inspection, MAX)
    assert result.normalized_name == "sample"
    assert result.display_name == "sample"
    assert (result.version, result.version_key) == ("1.0", "1")
    assert result.filename == WHEEL
    assert result.kind == "bdist_wheel"
    assert result.python_version == "py3"
    assert result.size == upload.path.stat().st_size
    assert result.sha256 == hashlib.sha256(upload.path.read_bytes()).hexdigest()
    assert result.md5 == upload.computed.md5
    assert result.blake2_256 == upload.computed.blake2_256
    assert result.metadata_bytes == upload.inspection.metadata_bytes
    assert result.metadata_sha256 == hashlib.sha256(upload.inspection.metadata_bytes).hexdigest()
    assert result.summary == "A sample"
    assert result.description == "# Sample\n"
    assert result.description_content_type == "text/markdown"
    assert result.requires_python == ">=3.9"
    assert result.requires_dist == ("packaging>=20",)
    assert result.home_page == "https://example.com/home"
    assert result.source_code_repository == "https://example.com/src"
    assert result.licenses == ("MIT",)
    assert result.author == "Ann"
    assert result.keywords == ("a", "b")
    assert result.classifiers == ("Topic :: Utilities",)
    assert result.warnings == ()


@pytest.mark.parametrize(
    ("label", "found"),
    [("Source", True), ("source", True), ("Repository", True), ("REPOSITORY", True),
     ("Source Code", True), ("source-code", True), ("Code", True), ("Documentation", False),
     ("Issue Tracker", False)],
)
def test_source_code_repository_comes_from_project_url_labels(
    tmp_path: Path, label: str, found: bool
) -> None:
    upload = with_metadata(tmp_path, [("Project-URL", f"{label}, https://example.com/repo")],
                           metadata_version="1.2")
    result = validate_upload(form(), upload.path.name, upload.computed, upload.inspection, MAX)
    assert result.source_code_repository == ("https://example.com/repo" if found else None)


def test_home_page_field_wins_over_project_url(tmp_path: Path) -> None:
    upload = with_metadata(tmp_path, [("Home-page", "https://a.example"),
                                      ("Project-URL", "Homepage, https://b.example")])
    result = validate_upload(form(), upload.path.name, upload.computed, upload.inspection, MAX)
    assert result.home_page == "https://a.example"


@pytest.mark.parametrize(
    ("headers", "licenses"),
    [
        ([("License", "BSD-3-Clause")], ("BSD-3-Clause",)),
        ([("License", "UNKNOWN"), ("Classifier", "License :: OSI Approved :: MIT License")],
         ("MIT License",)),
        ([("License", "Copyright (c) Ann\n        Permission is hereby granted..."),
          ("Classifier", "License :: OSI Approved :: MIT License"),
          ("Classifier", "License :: OSI Approved")], ("MIT License",)),
        ([("Classifier", "License :: Public Domain")], ("Public Domain",)),
        ([], ()),
    ],
    ids=["license-field", "unknown-placeholder", "license-text", "classifier", "none"],
)
def test_licenses(tmp_path: Path, headers: list[tuple[str, str]],
                  licenses: tuple[str, ...]) -> None:
    upload = with_metadata(tmp_path, headers)
    result = validate_upload(form(), upload.path.name, upload.computed, upload.inspection, MAX)
    assert result.licenses == licenses


def test_sdist_upload_is_validated(tmp_path: Path) -> None:
    path = build_sdist(tmp_path)
    inspection = inspect_distribution(path, parse_distribution_filename(path.name))
    fields = form(filetype="sdist", pyversion="source")
    dist = check_request(fields, path.name, Computed.of(path), MAX)
    result = validate_upload(fields, dist, Computed.of(path), inspection, MAX)
    assert result.kind == "sdist"
    assert result.python_version == "source"
    assert result.metadata_bytes == inspection.metadata_bytes


def test_check_request_returns_the_parsed_filename(good: Upload) -> None:
    dist = check_request(form(), good.path.name, good.computed, MAX)
    assert dist.normalized_name == "sample"
    assert dist.kind == "bdist_wheel"


def test_wheel_python_version_falls_back_to_its_tags(tmp_path: Path) -> None:
    upload = wheel_upload(tmp_path, filename="sample-1.0-py2.py3-none-any.whl")
    result = validate_upload(form(pyversion=None), upload.path.name, upload.computed,
                             upload.inspection, MAX)
    assert result.python_version == "py2.py3"


# -- files without a form (packyard import) ----------------------------------------------------


def test_form_from_metadata_is_what_twine_sends(tmp_path: Path) -> None:
    upload = wheel_upload(tmp_path)
    dist = parse_distribution_filename(upload.path.name)
    assert form_from_metadata(dist, upload.inspection) == {
        ":action": "file_upload", "protocol_version": "1", "name": "sample", "version": "1.0",
        "filetype": "bdist_wheel", "metadata_version": "2.1", "pyversion": ""}
    sdist = build_sdist(tmp_path)
    sdist_dist = parse_distribution_filename(sdist.name)
    fields = form_from_metadata(sdist_dist, inspect_distribution(sdist, sdist_dist))
    assert fields["filetype"] == "sdist" and fields["pyversion"] == "source"


def test_validate_file_stores_what_an_upload_stores(tmp_path: Path) -> None:
    upload = wheel_upload(tmp_path)
    dist = parse_distribution_filename(upload.path.name)
    from_file = validate_file(dist, upload.computed, upload.inspection, MAX)
    from_form = validate_upload(form(), dist, upload.computed, upload.inspection, MAX)
    assert dataclasses.replace(from_file, python_version="py3") == from_form
    assert from_file.python_version == "py3"  # from the wheel's tag, as with no pyversion field


def test_validate_file_reports_bad_metadata_not_a_missing_form_field(tmp_path: Path) -> None:
    upload = wheel_upload(tmp_path, "Metadata-Version: 2.1\nVersion: 1.0\n")
    with pytest.raises(Invalid) as caught:
        validate_file(parse_distribution_filename(upload.path.name), upload.computed,
                      upload.inspection, MAX)
    assert caught.value.message == (
        "Invalid sample-1.0.dist-info/METADATA in sample-1.0-py3-none-any.whl: 'name' is a "
        f"required field. See {SPEC} for more information.")


def test_validate_file_refuses_metadata_naming_another_project(tmp_path: Path) -> None:
    upload = wheel_upload(tmp_path, metadata_text("other", "1.0"),
                          filename="sample-1.0-py3-none-any.whl")
    with pytest.raises(Invalid) as caught:
        validate_file(parse_distribution_filename(upload.path.name), upload.computed,
                      upload.inspection, MAX)
    assert caught.value.message == (
        "Start filename for 'other' with 'other': 'sample-1.0-py3-none-any.whl' is for project "
        "'sample'.")


def test_validate_file_applies_the_size_limit(tmp_path: Path) -> None:
    upload = wheel_upload(tmp_path)
    with pytest.raises(TooLarge, match="File too large: sample-1.0-py3-none-any.whl is "):
        validate_file(parse_distribution_filename(upload.path.name), upload.computed,
                      upload.inspection, 10)


# -- decompression bombs (Warehouse's rule) -------------------------------------------------------


@pytest.mark.parametrize(
    ("unpacked", "size", "refused"),
    [
        (None, 1, False),  # a tar: its unpacked size is bounded while it is walked
        (64 * MiB, 1, False),  # not more than 64 MiB: however well it compresses
        (64 * MiB + 1, 64 * MiB // 50 + 1, False),  # just under 50 times its size
        (64 * MiB + 1, 64 * MiB // 50, True),  # just over
        (1024 * MiB, 1 * MiB, True),
    ],
)
def test_regression_a_zip_unpacking_to_far_more_than_it_weighs_is_refused(
        good: Upload, unpacked: int | None, size: int, refused: bool) -> None:
    inspection = dataclasses.replace(good.inspection, unpacked_bytes=unpacked)
    dist = parse_distribution_filename(WHEEL)
    if not refused:
        check_compression(dist, size, inspection)
        return
    with pytest.raises(Invalid) as caught:
        check_compression(dist, size, inspection)
    assert caught.value.message.startswith(
        f"Invalid distribution file. {WHEEL} exceeds the compression ratio of 50 "
        "(a decompression bomb, refused as PyPI refuses it): its members unpack to ")


def test_a_wheels_unpacked_size_is_what_its_directory_declares(good: Upload) -> None:
    with zipfile.ZipFile(good.path) as archive:
        declared = sum(info.file_size for info in archive.infolist())
    assert good.inspection.unpacked_bytes == declared > 0
