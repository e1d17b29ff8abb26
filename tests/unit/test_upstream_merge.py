"""Merging listings in search order into one project page."""

from __future__ import annotations

from datetime import UTC, datetime

from packaging.version import Version

from packyard.upstream.merge import Listing, OfferedFile, OfferedVersion, merge_listings


def _file(name: str, key: str, sha: str = "a" * 64, yanked: bool | str = False) -> OfferedFile:
    return OfferedFile(name, key, {"sha256": sha}, 1, yanked, None)


def _listing(source: str, versions: list[tuple[str, str]],
             files: list[OfferedFile]) -> Listing[str]:
    return Listing(source, [OfferedVersion(v, v, status) for v, status in versions], files)


def _merge(*listings: Listing[str]) -> dict[str, tuple[str, bool | str]]:
    merged = merge_listings(list(listings), Version)
    return {m.file.filename: (m.source, m.yanked) for m in merged.files}


def test_the_first_place_to_offer_a_file_wins() -> None:
    own = _listing("R", [("1.0", "Published")], [_file("p-1.0.tar.gz", "1.0", "1" * 64)])
    public = _listing("ext", [("1.0", "Published")], [_file("p-1.0.tar.gz", "1.0", "2" * 64)])
    merged = merge_listings([own, public], Version)
    assert [(m.source, m.file.sha256) for m in merged.files] == [("R", "1" * 64)]


def test_versions_from_every_place_are_listed_in_version_order() -> None:
    own = _listing("R", [("1.10", "Published")], [_file("p-1.10.tar.gz", "1.10")])
    public = _listing("ext", [("1.2", "Published"), ("1.9", "Published")],
                      [_file("p-1.2.tar.gz", "1.2"), _file("p-1.9.tar.gz", "1.9")])
    merged = merge_listings([own, public], Version)
    assert merged.versions == ["1.2", "1.9", "1.10"]
    assert _merge(own, public) == {"p-1.10.tar.gz": ("R", False), "p-1.2.tar.gz": ("ext", False),
                                   "p-1.9.tar.gz": ("ext", False)}


def test_a_later_place_adds_files_to_a_version_an_earlier_one_holds() -> None:
    # R kept the wheel; the sdist is still only upstream.
    own = _listing("R", [("1.0", "Published")], [_file("p-1.0-py3-none-any.whl", "1.0")])
    public = _listing("ext", [("1.0", "Published")], [_file("p-1.0-py3-none-any.whl", "1.0"),
                                                      _file("p-1.0.tar.gz", "1.0")])
    assert _merge(own, public) == {"p-1.0-py3-none-any.whl": ("R", False),
                                   "p-1.0.tar.gz": ("ext", False)}


def test_a_version_archived_in_an_earlier_place_is_not_taken_from_further_up() -> None:
    own = _listing("R", [("1.0", "Archived")], [_file("p-1.0.tar.gz", "1.0")])
    public = _listing("ext", [("1.0", "Published"), ("2.0", "Published")],
                      [_file("p-1.0-py3-none-any.whl", "1.0"), _file("p-2.0.tar.gz", "2.0")])
    merged = merge_listings([own, public], Version)
    assert _merge(own, public) == {"p-2.0.tar.gz": ("ext", False)}
    assert merged.versions == ["2.0"]


def test_unlisted_versions_are_yanked_for_every_file() -> None:
    own = _listing("R", [("1.0", "Unlisted")], [])
    public = _listing("ext", [("1.0", "Published")], [_file("p-1.0.tar.gz", "1.0")])
    assert _merge(own, public) == {"p-1.0.tar.gz": ("ext", "Unlisted")}


def test_the_upstream_yank_reason_is_kept() -> None:
    public = _listing("ext", [("1.0", "Published")],
                      [_file("p-1.0.tar.gz", "1.0", yanked="security")])
    assert _merge(public) == {"p-1.0.tar.gz": ("ext", "security")}


def test_find_by_filename() -> None:
    merged = merge_listings([_listing("ext", [("1.0", "Published")],
                                      [_file("p-1.0.tar.gz", "1.0")])], Version)
    found = merged.find("p-1.0.tar.gz")
    assert found is not None and found.source == "ext"
    assert merged.find("p-9.tar.gz") is None


def test_regression_a_kept_copy_of_a_yanked_file_stays_yanked() -> None:
    # R kept the upstream's yanked wheel (a pinned install): the upstream, offering the same
    # bytes, still says it is yanked; other bytes under that name say nothing about R's file.
    own = _listing("R", [("1.0", "Published")], [_file("p-1.0-py3-none-any.whl", "1.0"),
                                                 _file("p-1.0.tar.gz", "1.0", "1" * 64)])
    public = _listing("ext", [("1.0", "Published")], [
        _file("p-1.0-py3-none-any.whl", "1.0", yanked="broken"),
        _file("p-1.0.tar.gz", "1.0", "2" * 64, yanked=True)])
    assert _merge(own, public) == {"p-1.0-py3-none-any.whl": ("R", "broken"),
                                   "p-1.0.tar.gz": ("R", False)}
    # An Unlisted version's own reason stands.
    unlisted = _listing("R", [("1.0", "Unlisted")], [_file("p-1.0-py3-none-any.whl", "1.0")])
    assert _merge(unlisted, public)["p-1.0-py3-none-any.whl"] == ("R", "Unlisted")


def test_regression_a_copy_kept_with_its_pull_time_shows_the_upstreams_upload_time() -> None:
    # Copies kept before upload times were kept carry the time of the pull: the upstream
    # offering the same bytes says when they were uploaded. A later upstream time, or other
    # bytes, change nothing.
    early, pulled = datetime(2020, 1, 2, tzinfo=UTC), datetime(2026, 12, 5, tzinfo=UTC)

    def offered(sha: str, when: datetime | None) -> OfferedFile:
        return OfferedFile("p-1.0.tar.gz", "1.0", {"sha256": sha}, 1, False, when)

    def merged_time(own: OfferedFile, upstream: OfferedFile) -> datetime | None:
        project = merge_listings([_listing("R", [("1.0", "Published")], [own]),
                                  _listing("ext", [("1.0", "Published")], [upstream])], Version)
        return project.files[0].file.upload_time

    assert merged_time(offered("a" * 64, pulled), offered("a" * 64, early)) == early
    assert merged_time(offered("a" * 64, early), offered("a" * 64, pulled)) == early
    assert merged_time(offered("a" * 64, pulled), offered("b" * 64, early)) == pulled
    assert merged_time(offered("a" * 64, None), offered("a" * 64, early)) == early


def test_a_claimed_version_keeps_what_the_nearest_upstream_document_says_of_it() -> None:
    own = _listing("R", [("1.0", "Published")], [])
    kept_further = _listing("U", [("1.0", "Published"), ("2.0", "Published")], [])
    document = Listing("ext", [OfferedVersion("1.0", "1.0", "Published", {"note": "ext"})], [],
                       from_upstream=True)
    merged = merge_listings([own, kept_further, document], Version)
    assert {k: (v.payload, s) for k, (v, s) in merged.further.items()} == {
        "1.0": ({"note": "ext"}, "ext")}
    assert merged.claims["1.0"][1] == "R" and merged.claims["2.0"][1] == "U"
