"""Distribution filenames: parsing wheels and sdists, and refusing unsafe or unknown names."""

from __future__ import annotations

import pytest
from packaging.tags import Tag
from packaging.version import Version

from packyard.errors import Invalid
from packyard.formats.pypi.filenames import (
    parse_distribution_filename,
    parse_listed_filename,
    version_text_of,
)


@pytest.mark.parametrize(
    ("filename", "kind", "project", "normalized", "version"),
    [
        ("sample-1.0-py3-none-any.whl", "bdist_wheel", "sample", "sample", "1.0"),
        ("Tiny.Pkg-1.0.0-py3-none-any.whl", "bdist_wheel", "Tiny.Pkg", "tiny-pkg", "1.0.0"),
        ("foo_bar-2.0rc1-cp311-cp311-manylinux_2_28_x86_64.whl", "bdist_wheel", "foo_bar",
         "foo-bar", "2.0rc1"),
        ("torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl", "bdist_wheel", "torch",
         "torch", "2.13.0+cpu"),
        ("foo_bar-1.0.tar.gz", "sdist", "foo_bar", "foo-bar", "1.0"),
        ("Foo-Bar-1.0.post1.tar.gz", "sdist", "Foo-Bar", "foo-bar", "1.0.post1"),
        ("legacy-0.1.zip", "sdist", "legacy", "legacy", "0.1"),
    ],
)
def test_valid_filenames_are_parsed(
    filename: str, kind: str, project: str, normalized: str, version: str
) -> None:
    parsed = parse_distribution_filename(filename)
    assert parsed.filename == filename
    assert parsed.kind == kind
    assert parsed.project == project
    assert parsed.normalized_name == normalized
    assert parsed.version == Version(version)
    assert parsed.version_text == version


def test_wheel_tags_and_build_tag_are_parsed() -> None:
    parsed = parse_distribution_filename("sample-1.0-7b-py2.py3-none-any.whl")
    assert parsed.build_tag == (7, "b")
    assert parsed.tags == {Tag("py2", "none", "any"), Tag("py3", "none", "any")}
    assert parsed.extension == ".whl"
    assert parsed.stem == "sample-1.0-7b-py2.py3-none-any"


def test_sdist_has_no_tags_and_its_stem_is_the_top_directory() -> None:
    parsed = parse_distribution_filename("sample-1.0.tar.gz")
    assert parsed.tags == frozenset()
    assert parsed.build_tag == ()
    assert parsed.stem == "sample-1.0"


def _refusal(filename: str) -> str:
    with pytest.raises(Invalid) as caught:
        parse_distribution_filename(filename)
    return caught.value.message


def test_slash_in_filename_is_refused() -> None:
    assert _refusal("../sample-1.0.tar.gz") == "Cannot upload a file with '/' or '\\' in the name."
    assert _refusal("dir/sample-1.0.tar.gz") == "Cannot upload a file with '/' or '\\' in the name."


def test_backslash_in_filename_is_refused() -> None:
    assert _refusal("dir\\sample-1.0.tar.gz") == "Cannot upload a file with '/' or '\\' in the name."


def test_dot_dot_in_filename_is_refused() -> None:
    assert _refusal("sample..x-1.0.tar.gz") == (
        "Cannot upload a file with '..' in the name: 'sample..x-1.0.tar.gz'."
    )


def test_nul_in_filename_is_refused() -> None:
    assert _refusal("sample-1.0.tar.gz\x00.whl") == (
        "Cannot upload a file with non-printable characters (ordinals 0-31) or the DEL "
        "character (ordinal 127) in the name."
    )


@pytest.mark.parametrize("char", ["\n", "\r", "\t", "\x7f"])
def test_control_characters_in_filename_are_refused(char: str) -> None:
    assert "non-printable characters" in _refusal(f"sample{char}-1.0.tar.gz")


def test_leading_dot_is_refused() -> None:
    assert _refusal(".sample-1.0.tar.gz") == (
        "Cannot upload a file whose name starts with '.': '.sample-1.0.tar.gz'."
    )


def test_empty_filename_is_refused() -> None:
    assert _refusal("") == "The uploaded file has no filename."


def test_overlong_filename_is_refused() -> None:
    filename = "a" * 240 + "-1.0-py3-none-any.whl"
    assert len(filename) > 255
    assert _refusal(filename) == (
        f"Filename is too long: {len(filename)} characters, the limit is 255 ('{'a' * 40}'...)."
    )


def test_filename_of_exactly_255_characters_is_accepted() -> None:
    filename = "a" * (255 - len("-1.0.tar.gz")) + "-1.0.tar.gz"
    assert len(filename) == 255
    assert parse_distribution_filename(filename).kind == "sdist"


EXTENSION_REFUSAL = (
    "Invalid file extension for {!r}: use .whl (wheel), .tar.gz (source distribution) or "
    "legacy .zip. See https://peps.python.org/pep-0527/ for more information."
)


@pytest.mark.parametrize(
    "filename",
    [
        "sample-1.0.win32.exe",
        "sample-1.0-py3.11.egg",
        "sample-1.0.tar.bz2",
        "sample-1.0.tgz",
        "sample-1.0.WHL",
        "sample-1.0",
    ],
)
def test_unknown_extensions_are_refused_naming_the_accepted_ones(filename: str) -> None:
    assert _refusal(filename) == EXTENSION_REFUSAL.format(filename)


WHEEL_FORMAT = (
    "See https://packaging.python.org/specifications/binary-distribution-format/ "
    "for the wheel filename format."
)
SDIST_FORMAT = (
    "See https://packaging.python.org/specifications/source-distribution-format/ "
    "for the sdist filename format."
)


@pytest.mark.parametrize(
    ("filename", "message"),
    [
        ("sample-1.0-py3.whl",
         f"Invalid wheel filename (wrong number of parts): 'sample-1.0-py3'. {WHEEL_FORMAT}"),
        ("sample-one-py3-none-any.whl",
         f"Invalid wheel filename (invalid version): 'sample-one-py3-none-any'. {WHEEL_FORMAT}"),
        ("sample-1.0-x-py3-none-any.whl",
         f"Invalid build number: x in 'sample-1.0-x-py3-none-any'. {WHEEL_FORMAT}"),
        ("sam ple-1.0-py3-none-any.whl",
         f"Invalid project name: 'sam ple-1.0-py3-none-any'. {WHEEL_FORMAT}"),
        ("sample-one.tar.gz",
         f"Invalid sdist filename (invalid version): 'sample-one.tar.gz'. {SDIST_FORMAT}"),
        ("sample.tar.gz", f"Invalid sdist filename: 'sample.tar.gz'. {SDIST_FORMAT}"),
    ],
)
def test_names_packaging_refuses_carry_its_reason(filename: str, message: str) -> None:
    assert _refusal(filename) == message


def test_non_ascii_project_name_is_refused() -> None:
    assert _refusal("fóo-1.0-py3-none-any.whl") == (
        "Invalid project name 'fóo' in filename 'fóo-1.0-py3-none-any.whl': a name must start "
        "and end with an ASCII letter or digit and contain only ASCII letters, digits, '.', "
        "'_' and '-'."
    )


def test_sdist_project_name_with_space_is_refused() -> None:
    assert _refusal("my project-1.0.tar.gz").startswith(
        "Invalid project name 'my project' in filename 'my project-1.0.tar.gz':"
    )


@pytest.mark.parametrize("homoglyph", ["\u212a", "\u017f", "\u0131"])
def test_homoglyph_project_name_in_a_filename_is_refused(homoglyph: str) -> None:
    filename = f"{homoglyph}pkg-1.0-py3-none-any.whl"
    assert _refusal(filename).startswith(f"Invalid project name '{homoglyph}pkg' in filename")


@pytest.mark.parametrize("filename", [
    'xss-1.0-py3-none-any"><img src=x onerror=alert(1)>.whl',
    "xss-1.0-py3-none-any<script>.whl",
    "xss-1.0-py3-no ne-any.whl",
    "xss-1.0-py3-none-any\u20ac.whl",
])
def test_wheel_tags_with_markup_or_other_characters_are_refused(filename: str) -> None:
    message = _refusal(filename)
    assert message.startswith("Invalid wheel tag "), message
    assert "contain only ASCII letters, digits, '_' and '.'" in message
    assert message.isascii()


def test_wheel_build_tag_with_other_characters_is_refused() -> None:
    message = _refusal("pkg-1.0-1\u20ac-py3-none-any.whl")
    assert message.startswith("Invalid build tag '1\\u20ac' in "), message


def test_compressed_tag_sets_and_build_tags_stay_accepted() -> None:
    parsed = parse_distribution_filename(
        "pkg-1.0-12_rc.1-cp311.cp312-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
    assert parsed.build_tag == (12, "_rc.1")
    assert len(parsed.tags) == 4



# -- files an upstream lists on a project's page ------------------------------------------------

@pytest.mark.parametrize(("filename", "project", "name", "version", "version_text"), [
    ("docutils-0.15.1-post1.tar.gz", "docutils", "docutils", "0.15.1.post1", "0.15.1-post1"),
    ("cffi-1.0.2-2.tar.gz", "cffi", "cffi", "1.0.2.post2", "1.0.2-2"),
    ("cffi-1.2.0-1.tar.gz", "cffi", "cffi", "1.2.0.post1", "1.2.0-1"),
    ("Foo.Bar-1.0-2.zip", "foo-bar", "Foo.Bar", "1.0.post2", "1.0-2"),
    ("foo-bar-1.0.tar.gz", "foo-bar", "foo-bar", "1.0", "1.0"),
])
def test_regression_an_upstreams_sdist_with_a_hyphen_in_its_version_is_read_after_the_project(
        filename: str, project: str, name: str, version: str, version_text: str) -> None:
    # Such files were left out of upstream pages ("invalid version", or "names project
    # cffi-1-0-2, not cffi"); pip splits them after the project's name, as this does now.
    dist = parse_listed_filename(filename, project)
    assert (dist.kind, dist.project, dist.normalized_name, dist.version, dist.version_text) \
        == ("sdist", name, project, Version(version), version_text)
    assert version_text_of(filename, project) == version_text


@pytest.mark.parametrize(("filename", "project", "named"), [
    ("cffi-1.0.2-2.tar.gz", "cffi-1-0-2", "cffi-1-0-2"),  # a page of that name: the plain parse
    ("foo-bar-1.0.tar.gz", "foo", "foo-bar"),  # "bar-1.0" is no version: another project's
])
def test_a_listed_file_that_does_not_split_after_the_project_keeps_the_plain_parse(
        filename: str, project: str, named: str) -> None:
    assert parse_listed_filename(filename, project).normalized_name == named


@pytest.mark.parametrize("filename", [
    "docutils-0.15.1-post 1.tar.gz", "docutils-0.15.1-\x01.tar.gz", "docutils-one-two.tar.gz"])
def test_a_listed_sdist_whose_rest_is_no_version_is_refused_as_an_upload_would_be(
        filename: str) -> None:
    with pytest.raises(Invalid):
        parse_listed_filename(filename, "docutils")


@pytest.mark.parametrize(("filename", "project", "version"), [
    ("Twisted-8.2.0.tar.bz2", "twisted", "8.2.0"),
    ("Twisted-12.3.0.tar.bz2", "twisted", "12.3.0"),
    ("WebOb-1.0.2.tar.bz2", "webob", "1.0.2"),
    ("foo-1.0.tgz", "foo", "1.0"),
    ("foo_bar-2.0.tar.xz", "foo-bar", "2.0"),
])
def test_regression_an_upstreams_tar_bz2_tgz_and_tar_xz_sdists_are_listed(
        filename: str, project: str, version: str) -> None:
    # pip and uv install these (PyPI still serves them for old releases); they were left off
    # upstream pages, so `pip install Twisted==8.2.0` found nothing through Packyard.
    dist = parse_listed_filename(filename, project)
    assert (dist.kind, dist.normalized_name, dist.version_text) == ("sdist", project, version)
    assert version_text_of(filename, project) == version


@pytest.mark.parametrize("filename", [
    "Twisted-8.2.0.tar.bz2", "foo-1.0.tgz", "foo-1.0.tar.xz", "pytz-2006g-py2.4.egg",
    "foo-1.0.win32.exe"])
def test_uploads_still_refuse_the_older_sdist_formats_and_eggs(filename: str) -> None:
    assert "Invalid file extension" in _refusal(filename)


@pytest.mark.parametrize("filename", ["pytz-2006g-py2.4.egg", "foo-1.0.win32.exe",
                                      "foo-1.0.win32.msi"])
def test_eggs_and_installers_stay_off_upstream_pages(filename: str) -> None:
    with pytest.raises(Invalid):
        parse_listed_filename(filename, filename.split("-")[0])


def test_uploads_still_refuse_an_sdist_name_with_a_hyphen_in_its_version() -> None:
    # PEP 625: an upload's sdist name is {name}-{version}.tar.gz with a normalized version;
    # only upstream listings, which hold files from before it, are read leniently.
    assert "invalid version" in _refusal("docutils-0.15.1-post1.tar.gz")
