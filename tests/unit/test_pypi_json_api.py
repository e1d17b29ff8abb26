"""PyPI's JSON API documents, in Warehouse's shape.

The expected documents follow Warehouse's ``docs/user/api/json.md`` (its sampleproject 4.0.0
example) and ``warehouse/legacy/api/json.py`` (which releases, which "latest", how times and
keys are written); CodeArtifact statuses map to yanking as on the Simple API's pages.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from packyard.formats.pypi.json_api import (
    LAST_SERIAL_HEADER,
    JsonFile,
    JsonProject,
    JsonRelease,
    ReleaseMetadata,
    find_release,
    latest_release,
    project_document,
    release_document,
    render_project_json,
    render_release_json,
)
from packyard.formats.pypi.json_routes import merged_project
from packyard.upstream.graph import SearchStep
from packyard.upstream.merge import (
    Listing,
    MergedProject,
    OfferedFile,
    OfferedVersion,
    merge_listings,
)
from packyard.upstream.resolver import Place

WHEEL_SHA = "c23e447ea90d796d1e645c35c4b2de125040add12a845825546f91c93f391b6b"
SDIST_SHA = "0ace7980f82c5815ede4cd7bf9f6693684cec2ae47b9b7ade9add533b8627c6b"
META_SHA = "a1d0c6e83f027327d8461063f4ac58a6e4a7a5d0a0e0d5b6c3b2e1f0a9b8c7d6"
PROJECT_URL = "https://packyard.example/d-000000000000/pypi/r/pypi/sampleproject/"

WHEEL = JsonFile(
    filename="sampleproject-4.0.0-py3-none-any.whl", url="../../simple/sampleproject/"
    "sampleproject-4.0.0-py3-none-any.whl", size=4661,
    upload_time=datetime(2024, 11, 6, 22, 37, 9, 220617, tzinfo=UTC), sha256=WHEEL_SHA,
    md5="d3857a217dacbca9e40a85f06f2b34f1",
    blake2b_256="d773c16e5f3f0d37c60947e70865c255a58dc408780a6474de0523afd0ec553a",
    requires_python=">=3.9", metadata_sha256=META_SHA)
SDIST = JsonFile(
    filename="sampleproject-4.0.0.tar.gz", url="sampleproject-4.0.0.tar.gz", size=5760,
    upload_time=datetime(2024, 11, 6, 22, 37, 10, 868088, tzinfo=UTC), sha256=SDIST_SHA,
    md5="9eab89661feaaf3b05b60fb1ed1f7171",
    blake2b_256="488cc18d25735962870ccb6d1cd2ac7bde40008a332211055e260cb7ec4c6bab",
    requires_python=">=3.9")
METADATA = ReleaseMetadata(
    summary="A sample Python project", description="...",
    description_content_type="text/markdown", keywords="sample, setuptools, development",
    license="...", classifiers=("Programming Language :: Python :: 3",),
    author="", author_email='"A. Random Developer" <author@example.com>', maintainer="",
    maintainer_email='"A. Great Maintainer" <maintainer@example.com>',
    requires_python=">=3.9", home_page="", download_url="",
    project_urls={"Homepage": "https://github.com/pypa/sampleproject",
                  "Bug Reports": "https://github.com/pypa/sampleproject/issues"},
    requires_dist=("peppercorn", "check-manifest ; extra == 'dev'",
                   "coverage ; extra == 'test'"),
    provides_extra=("dev", "test"), dynamic=("requires-dist",))


def old_file(version: str) -> JsonFile:
    return JsonFile(filename=f"sampleproject-{version}.tar.gz",
                    url=f"sampleproject-{version}.tar.gz", size=100,
                    upload_time=datetime(2015, 6, 14, 14, 37, 56, tzinfo=UTC), sha256="0" * 64)


def project(*releases: JsonRelease) -> JsonProject:
    return JsonProject(name="sampleproject", releases=releases, last_serial=25862117,
                       project_url=PROJECT_URL)


RELEASE_400 = JsonRelease("4.0.0", "Published", (SDIST, WHEEL), METADATA)
SAMPLE = project(JsonRelease("1.2.0", "Published", (old_file("1.2.0"),)),
                 JsonRelease("1.0", "Published"),  # no files: "1.0": []
                 RELEASE_400,
                 JsonRelease("3.0.0", "Unlisted", (old_file("3.0.0"),)),
                 JsonRelease("2.0.0", "Archived", (old_file("2.0.0"),)),
                 JsonRelease("5.0.0b1", "Published", (old_file("5.0.0b1"),)),
                 JsonRelease("5.0.1", "Disposed"), JsonRelease("6.0", "Unfinished"),
                 JsonRelease("7.0", "Deleted"))

WHEEL_ENTRY = {
    "comment_text": "",
    "core-metadata": {"sha256": META_SHA},
    "digests": {"blake2b_256": "d773c16e5f3f0d37c60947e70865c255a58dc408780a6474de0523afd0ec553a",
                "md5": "d3857a217dacbca9e40a85f06f2b34f1", "sha256": WHEEL_SHA},
    "downloads": -1,
    "filename": "sampleproject-4.0.0-py3-none-any.whl",
    "has_sig": False,
    "md5_digest": "d3857a217dacbca9e40a85f06f2b34f1",
    "packagetype": "bdist_wheel",
    "python_version": "py3",
    "requires_python": ">=3.9",
    "size": 4661,
    "upload_time": "2024-11-06T22:37:09",
    "upload_time_iso_8601": "2024-11-06T22:37:09.220617Z",
    "url": "../../simple/sampleproject/sampleproject-4.0.0-py3-none-any.whl",
    "yanked": False,
    "yanked_reason": None,
}
SDIST_ENTRY = {
    "comment_text": "",
    "core-metadata": False,
    "digests": {"blake2b_256": "488cc18d25735962870ccb6d1cd2ac7bde40008a332211055e260cb7ec4c6bab",
                "md5": "9eab89661feaaf3b05b60fb1ed1f7171", "sha256": SDIST_SHA},
    "downloads": -1,
    "filename": "sampleproject-4.0.0.tar.gz",
    "has_sig": False,
    "md5_digest": "9eab89661feaaf3b05b60fb1ed1f7171",
    "packagetype": "sdist",
    "python_version": "source",
    "requires_python": ">=3.9",
    "size": 5760,
    "upload_time": "2024-11-06T22:37:10",
    "upload_time_iso_8601": "2024-11-06T22:37:10.868088Z",
    "url": "sampleproject-4.0.0.tar.gz",
    "yanked": False,
    "yanked_reason": None,
}

INFO_400 = {
    "author": "",
    "author_email": '"A. Random Developer" <author@example.com>',
    "bugtrack_url": None,
    "classifiers": ["Programming Language :: Python :: 3"],
    "description": "...",
    "description_content_type": "text/markdown",
    "docs_url": None,
    "download_url": "",
    "downloads": {"last_day": -1, "last_month": -1, "last_week": -1},
    "dynamic": ["Requires-Dist"],
    "home_page": "",
    "keywords": "sample, setuptools, development",
    "license": "...",
    "license_expression": None,
    "license_files": None,
    "maintainer": "",
    "maintainer_email": '"A. Great Maintainer" <maintainer@example.com>',
    "name": "sampleproject",
    "package_url": PROJECT_URL,
    "platform": None,
    "project_url": PROJECT_URL,
    "project_urls": {"Bug Reports": "https://github.com/pypa/sampleproject/issues",
                     "Homepage": "https://github.com/pypa/sampleproject"},
    "provides_extra": ["dev", "test"],
    "release_url": PROJECT_URL + "4.0.0/",
    "requires_dist": ["peppercorn", "check-manifest ; extra == 'dev'",
                      "coverage ; extra == 'test'"],
    "requires_python": ">=3.9",
    "summary": "A sample Python project",
    "version": "4.0.0",
    "yanked": False,
    "yanked_reason": None,
}


def test_release_document_is_warehouses() -> None:
    assert release_document(SAMPLE, "4.0.0") == {
        "info": INFO_400,
        "last_serial": 25862117,
        "ownership": {"organization": None, "roles": []},
        "urls": [WHEEL_ENTRY, SDIST_ENTRY],  # by filename
        "vulnerabilities": [],
    }


def test_project_document_describes_the_latest_and_lists_every_listed_release() -> None:
    document = project_document(SAMPLE)
    assert document is not None
    # 5.0.0b1 is newer but a pre-release; 3.0.0 is Unlisted (yanked): 4.0.0 is "latest".
    assert document["info"] == INFO_400
    assert document["urls"] == [WHEEL_ENTRY, SDIST_ENTRY]
    assert list(document["releases"]) == ["5.0.0b1", "4.0.0", "3.0.0", "1.2.0", "1.0"]
    assert document["releases"]["4.0.0"] == [WHEEL_ENTRY, SDIST_ENTRY]
    assert document["releases"]["1.0"] == []
    unlisted = document["releases"]["3.0.0"][0]
    assert (unlisted["yanked"], unlisted["yanked_reason"]) == (True, "Unlisted")
    assert document["last_serial"] == 25862117


@pytest.mark.parametrize("version", ["2.0.0", "5.0.1", "6.0", "7.0", "9.9"])
def test_versions_the_simple_api_hides_have_no_document(version: str) -> None:
    assert release_document(SAMPLE, version) is None
    assert render_release_json(SAMPLE, version) is None


def test_an_unlisted_release_is_served_yanked() -> None:
    document = release_document(SAMPLE, "3.0.0")
    assert document is not None
    assert (document["info"]["yanked"], document["info"]["yanked_reason"]) == (True, "Unlisted")


def test_an_upstream_yank_keeps_its_reason() -> None:
    release = JsonRelease("1.0", "Published", (old_file("1.0"),), yanked="broken wheel")
    document = release_document(project(release), "1.0")
    assert document is not None
    assert document["info"]["yanked_reason"] == "broken wheel"
    assert document["urls"][0]["yanked_reason"] == "broken wheel"
    bare = release_document(project(JsonRelease("1.0", "Published", yanked=True)), "1.0")
    assert bare is not None and (bare["info"]["yanked"], bare["info"]["yanked_reason"]) == (
        True, None)


@pytest.mark.parametrize(("releases", "latest"), [
    ((("1.0", "Published"), ("2.0", "Published")), "2.0"),
    ((("1.0", "Published"), ("2.0rc1", "Published")), "1.0"),
    ((("1.0", "Published"), ("2.0", "Unlisted")), "1.0"),
    ((("1.0", "Unlisted"), ("2.0", "Unlisted")), "2.0"),  # all yanked: still the highest
    ((("1.0.dev1", "Published"), ("0.9", "Unlisted")), "1.0.dev1"),
    ((("10.0", "Published"), ("9.0", "Published")), "10.0"),  # PEP 440, not text order
    ((("2.0", "Archived"), ("1.0", "Published")), "1.0"),
])
def test_latest_release_is_picked_as_warehouse_does(releases: tuple[tuple[str, str], ...],
                                                   latest: str) -> None:
    found = latest_release(project(*(JsonRelease(v, s) for v, s in releases)))
    assert found is not None and found.version == latest


def test_a_project_without_listed_releases_has_no_document() -> None:
    hidden = project(JsonRelease("1.0", "Archived"), JsonRelease("2.0", "Disposed"))
    assert project_document(hidden) is None
    assert render_project_json(hidden) is None
    assert project_document(project()) is None


def test_release_lookup_accepts_an_equivalent_version() -> None:
    two = project(JsonRelease("1.0", "Published"), JsonRelease("2.0.0", "Published"))
    found = find_release(two, "1.0.0")
    assert found is not None and found.version == "1.0"
    found = find_release(two, "2")
    assert found is not None and found.version == "2.0.0"


def test_serialization_is_warehouses_json_with_newline() -> None:
    release = JsonRelease("1.0", "Published", metadata=ReleaseMetadata(summary="Ünïcode ✓"))
    body = render_release_json(project(release), "1.0")
    assert body is not None and body.endswith(b"}\n") and b"\n" not in body[:-1]
    assert "Ünïcode ✓".encode() in body  # ensure_ascii=False
    text = body.decode()
    assert text.index('"info"') < text.index('"last_serial"') < text.index('"urls"')
    assert json.loads(body)["info"]["summary"] == "Ünïcode ✓"
    assert LAST_SERIAL_HEADER == "X-PyPI-Last-Serial"


@pytest.mark.parametrize(("moment", "upload_time", "iso"), [
    (datetime(2015, 6, 14, 14, 38, 5, 875222, tzinfo=UTC), "2015-06-14T14:38:05",
     "2015-06-14T14:38:05.875222Z"),
    # Warehouse writes isoformat(): no fraction when the microseconds are zero.
    (datetime(2015, 6, 14, 14, 38, 5, tzinfo=UTC), "2015-06-14T14:38:05",
     "2015-06-14T14:38:05Z"),
    # Any timezone becomes UTC.
    (datetime(2015, 6, 14, 16, 38, 5, tzinfo=timezone(timedelta(hours=2))),
     "2015-06-14T14:38:05", "2015-06-14T14:38:05Z"),
])
def test_upload_times(moment: datetime, upload_time: str, iso: str) -> None:
    file = JsonFile("p-1.0.tar.gz", "p-1.0.tar.gz", 1, moment, "0" * 64)
    document = release_document(project(JsonRelease("1.0", "Published", (file,))), "1.0")
    assert document is not None
    entry = document["urls"][0]
    assert (entry["upload_time"], entry["upload_time_iso_8601"]) == (upload_time, iso)


@pytest.mark.parametrize(("filename", "packagetype", "python_version"), [
    ("p-1.0-py2.py3-none-any.whl", "bdist_wheel", "py2.py3"),
    ("p-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", "bdist_wheel", "cp312"),
    ("p-1.0-1-py3-none-any.whl", "bdist_wheel", "py3"),  # with a build tag
    ("p-1.0.tar.gz", "sdist", "source"),
    ("p-1.0.zip", "sdist", "source"),
    ("p-1.0-py2.7.egg", "bdist_egg", "2.7"),
])
def test_packagetype_and_python_version(filename: str, packagetype: str,
                                        python_version: str) -> None:
    file = JsonFile(filename, filename, 1, datetime(2024, 1, 1, tzinfo=UTC), "0" * 64)
    document = release_document(project(JsonRelease("1.0", "Published", (file,))), "1.0")
    assert document is not None
    entry = document["urls"][0]
    assert (entry["packagetype"], entry["python_version"]) == (packagetype, python_version)


def test_missing_digests_and_metadata_are_null() -> None:
    file = JsonFile("p-1.0.tar.gz", "p-1.0.tar.gz", 1, datetime(2024, 1, 1, tzinfo=UTC), "0" * 64)
    document = release_document(project(JsonRelease("1.0", "Published", (file,))), "1.0")
    assert document is not None
    entry = document["urls"][0]
    assert entry["digests"] == {"blake2b_256": None, "md5": None, "sha256": "0" * 64}
    assert (entry["md5_digest"], entry["requires_python"], entry["core-metadata"]) == (
        None, None, False)
    info = document["info"]
    assert (info["description"], info["classifiers"], info["requires_dist"],
            info["project_urls"], info["summary"]) == ("", [], None, None, None)


def test_upload_time_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="upload time of p-1.0.tar.gz must be timezone-aware"):
        JsonFile("p-1.0.tar.gz", "p-1.0.tar.gz", 1, datetime(2024, 1, 1), "0" * 64)


def test_release_url_quotes_the_version() -> None:
    document = release_document(project(JsonRelease("1.0+cpu", "Published")), "1.0+cpu")
    assert document is not None
    assert document["info"]["release_url"] == PROJECT_URL + "1.0%2Bcpu/"


def test_a_version_that_is_not_pep_440_sorts_below_the_others() -> None:
    # Upstream indexes still carry a few legacy versions; Warehouse orders by PEP 440.
    legacy = project(JsonRelease("2004d", "Published"), JsonRelease("1.0", "Published"),
                     JsonRelease("0.1", "Published"))
    document = project_document(legacy)
    assert document is not None
    assert document["info"]["version"] == "1.0"
    assert list(document["releases"]) == ["1.0", "0.1", "2004d"]
    only_legacy = latest_release(project(JsonRelease("2004d", "Published")))
    assert only_legacy is not None and only_legacy.version == "2004d"


# -- documents from the Simple page's merge (json_routes.merged_project) ----------------------

FILES_URL = "https://packyard.example/d-000000000000/pypi/r/simple/p/"


def _offered(filename: str, version: str, sha256: str, *, yanked: bool | str = False,
             size: int | None = 10, upload_time: datetime | None = None) -> OfferedFile:
    return OfferedFile(filename, version, {"sha256": sha256}, size, yanked, upload_time,
                       {"requires_python": ">=3.9"}, url=f"https://up.example/{filename}")


def _merged_from_upstream(*offered: OfferedFile) -> MergedProject[Place]:
    place = Place(SearchStep(1, "public:pypi"))
    return merge_listings([
        Listing(Place(SearchStep(1)), [], []),
        Listing(place, [OfferedVersion(v, v, "Published") for v in
                        dict.fromkeys(f.version_key for f in offered)], offered,
                from_upstream=True)], str)


def test_a_release_only_an_upstream_offers_shows_what_its_page_says() -> None:
    moment = datetime(2022, 3, 4, 5, 6, 7, tzinfo=UTC)
    merged = _merged_from_upstream(
        _offered("p-1.0-py3-none-any.whl", "1.0", "a" * 64, upload_time=moment),
        _offered("p-1.0.tar.gz", "1.0", "b" * 64, size=None),
        _offered("p-2.0.tar.gz", "2.0", "c" * 64, yanked="broken"))
    document = project_document(merged_project("p", merged, {}, FILES_URL))
    assert document is not None
    assert (document["info"]["name"], document["info"]["version"],
            document["info"]["requires_python"]) == ("p", "1.0", ">=3.9")
    assert document["last_serial"] == int(moment.timestamp() * 1_000_000)
    files = {f["filename"]: f for fs in document["releases"].values() for f in fs}
    assert files["p-1.0.tar.gz"]["url"] == FILES_URL + "p-1.0.tar.gz"
    assert (files["p-1.0.tar.gz"]["size"], files["p-1.0.tar.gz"]["upload_time"],
            files["p-1.0.tar.gz"]["upload_time_iso_8601"]) == (0, None, None)
    assert files["p-1.0-py3-none-any.whl"]["digests"] == {
        "blake2b_256": None, "md5": None, "sha256": "a" * 64}
    assert (files["p-2.0.tar.gz"]["yanked"], files["p-2.0.tar.gz"]["yanked_reason"]) == (
        True, "broken")
    release = release_document(merged_project("p", merged, {}, FILES_URL), "2.0")
    assert release is not None and release["info"]["yanked_reason"] == "broken"


def test_a_release_with_one_file_yanked_is_not_yanked_but_that_file_is() -> None:
    merged = _merged_from_upstream(
        _offered("p-1.0-py3-none-any.whl", "1.0", "a" * 64, yanked=True),
        _offered("p-1.0.tar.gz", "1.0", "b" * 64))
    document = project_document(merged_project("p", merged, {}, FILES_URL))
    assert document is not None
    assert document["info"]["yanked"] is False
    assert {f["filename"]: f["yanked"] for f in document["urls"]} == {
        "p-1.0-py3-none-any.whl": True, "p-1.0.tar.gz": False}
