"""Merging what each place in the search order offers into one project page.

The places come in search order (``graph.search_steps``), the first one nearest the requesting
repository. CodeArtifact stops at the first place that has a requested package version, so:

- a version belongs to the first place that has it: that place's status decides whether it is
  listed (Published, or Unlisted shown as yanked) or hidden (Archived, Disposed, Deleted), and a
  hidden version is not taken from further up either;
- a file comes from the first place that offers it. A later place may still add a file to a
  version an earlier one holds: a version is kept asset by asset as clients ask for them, so a
  repository can hold a version's wheel while its sdist is still only upstream.

Pure functions; the resolver gathers the listings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Generic, TypeVar

# Versions whose files a page lists. Unlisted maps to PEP 592 "yanked": installable when
# pinned, never picked otherwise — the same promise CodeArtifact's Unlisted status makes.
LISTED = ("Published", "Unlisted")

S = TypeVar("S")


@dataclass(frozen=True)
class OfferedVersion:
    version: str
    version_key: str
    status: str
    # The format's own document for the version, if it has one (npm: the manifest); the
    # merge carries it along untouched.
    payload: Any = field(default=None, compare=False)
    # When the version was published there, when the place says (npm's ``time[version]``).
    published: datetime | None = field(default=None, compare=False)
    # A repository's revision of the version (changes with its status and metadata); None for
    # an upstream's: a format that caches what it renders from a listing keys on it.
    revision: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class OfferedFile:
    """One file as one place offers it."""

    filename: str
    version_key: str
    # What the place declares the bytes hash to, by algorithm ("sha256", "sha512", "sha1",
    # "md5"; lower-case hex): a repository's own files have all four, an upstream's what its
    # index says, which is what a download is verified against.
    digests: Mapping[str, str] = field(hash=False)
    size: int | None
    yanked: bool | str
    upload_time: datetime | None
    # The format's own data about the file (PyPI: requires_python, metadata_sha256).
    attributes: Mapping[str, Any] = field(default_factory=dict, hash=False)
    # Where an upstream serves it (absolute); None for a file a repository holds.
    url: str | None = None

    @property
    def sha256(self) -> str | None:
        return self.digests.get("sha256")


@dataclass(frozen=True)
class Listing(Generic[S]):
    """What one place in the search order has of a project."""

    source: S
    versions: Sequence[OfferedVersion]
    files: Sequence[OfferedFile]
    # Named pointers to versions (npm's dist-tags): tag -> version, as the place has them.
    tags: Mapping[str, str] = field(default_factory=dict)
    # An upstream's document (what it says now), not what a repository holds.
    from_upstream: bool = False
    # When the place's holding of the project last changed, tags and deprecations included
    # (a repository's package: its last serial); None when it does not say.
    changed_at: datetime | None = None


@dataclass(frozen=True)
class MergedFile(Generic[S]):
    file: OfferedFile
    source: S
    yanked: bool | str


@dataclass(frozen=True)
class MergedProject(Generic[S]):
    files: list[MergedFile[S]]
    versions: list[str]  # listed versions, sorted
    # Each version key with the place that decides it (the first that has it), listed or not.
    claims: dict[str, tuple[OfferedVersion, S]] = field(default_factory=dict)
    # Tags pointing at listed versions, the nearest place's first: a tag the repository
    # itself sets wins over an upstream's.
    tags: dict[str, str] = field(default_factory=dict)
    # For a claimed version, the same version as the nearest upstream document offering it
    # has it: what an upstream says now of a version a repository kept (npm: a deprecation
    # made since).
    further: dict[str, tuple[OfferedVersion, S]] = field(default_factory=dict)
    # The latest ``changed_at`` of the listings merged.
    changed_at: datetime | None = None

    def find(self, filename: str) -> MergedFile[S] | None:
        return next((f for f in self.files if f.file.filename == filename), None)

    @property
    def is_large(self) -> bool:
        """Whether work over it (a page's render) belongs in a worker thread: more than
        ``LARGE_LISTING_ENTRIES`` versions (listed or not) and files."""
        return len(self.claims) + len(self.files) > LARGE_LISTING_ENTRIES


# Versions and files, over all the listings of one project, past which the Python work on
# them — the merge, a packument's versions and fingerprint, a page's render — runs in a worker
# thread rather than on the event loop: for a typescript-sized package (3,500 versions) or a
# PyPI project with thousands of files (numpy: ~130 releases of ~25 files) it is tens to
# hundreds of milliseconds, which every other request would wait out; a small project's is
# tens of microseconds, less than the hop.
LARGE_LISTING_ENTRIES = 400


def are_large(listings: Sequence[Listing[Any]]) -> bool:
    """Whether ``listings`` together offer more than ``LARGE_LISTING_ENTRIES`` versions and
    files."""
    return sum(len(listing.versions) + len(listing.files)
               for listing in listings) > LARGE_LISTING_ENTRIES


def _as_upstream_says(first: MergedFile[S], same: OfferedFile) -> MergedFile[S]:
    """A kept copy as a place further on, offering the same bytes, says of them: yanked
    (PEP 592) while it says so (a kept copy is the repository's own file, offered unyanked),
    and uploaded when it says, if earlier (a copy kept before Packyard kept upload times
    shows when it was pulled)."""
    merged = first
    if first.yanked is False and same.yanked is not False:
        merged = replace(merged, yanked=same.yanked)
    if same.upload_time is not None and (first.file.upload_time is None
                                         or same.upload_time < first.file.upload_time):
        merged = replace(merged, file=replace(first.file, upload_time=same.upload_time))
    return merged


def merge_listings(listings: Sequence[Listing[S]],
                   sort_key: Callable[[str], Any]) -> MergedProject[S]:
    """One project page from listings in search order (see the module docstring)."""
    claims: dict[str, tuple[OfferedVersion, S]] = {}
    further: dict[str, tuple[OfferedVersion, S]] = {}
    for listing in listings:
        for version in listing.versions:
            if version.version_key in claims:
                if listing.from_upstream:
                    further.setdefault(version.version_key, (version, listing.source))
            else:
                claims[version.version_key] = (version, listing.source)
    files: dict[str, MergedFile[S]] = {}
    for listing in listings:
        for offered in listing.files:
            first = files.get(offered.filename)
            if first is not None:
                if offered.sha256 is not None and offered.sha256 == first.file.sha256:
                    files[offered.filename] = _as_upstream_says(first, offered)
                continue
            found = claims.get(offered.version_key)
            if found is None or found[0].status not in LISTED:
                continue
            claim = found[0]
            yanked: bool | str = offered.yanked
            if claim.status == "Unlisted" and yanked is False:
                yanked = "Unlisted"
            files[offered.filename] = MergedFile(offered, listing.source, yanked)
    listed = [v.version for v, _ in claims.values() if v.status in LISTED]
    listed_set = set(listed)
    tags: dict[str, str] = {}
    for listing in listings:
        for tag, target in listing.tags.items():
            if target in listed_set:
                tags.setdefault(tag, target)
    changes = [listing.changed_at for listing in listings if listing.changed_at is not None]
    return MergedProject(files=sorted(files.values(), key=lambda f: f.file.filename),
                         further=further, changed_at=max(changes, default=None),
                         versions=sorted(listed, key=sort_key), claims=claims, tags=tags)
