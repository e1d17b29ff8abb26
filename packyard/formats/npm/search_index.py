"""What ``npm search`` looks through: the repository's own packages, each by its ``latest``
(and who published its listed versions)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from packyard.formats.npm import attributes
from packyard.formats.npm.dist_tags import LATEST, effective_dist_tags, named_tags
from packyard.formats.npm.names import PackageName
from packyard.formats.npm.packument import LISTED_STATUSES
from packyard.formats.npm.plugin import FORMAT
from packyard.formats.npm.search import (
    SearchablePackage,
    SearchQuery,
    person,
    search,
    searchable,
)
from packyard.metadata.catalog import Catalog
from packyard.model import Repository

# A search reads at most this many packages of a repository.
MAX_SEARCHED = 5000


def search_repository(catalog: Catalog, repository: Repository, query: SearchQuery,
                      now: datetime) -> dict[str, Any]:
    """The search answer for ``query`` over ``repository``'s packages (worker thread)."""
    found: list[SearchablePackage] = []
    for package in catalog.list_packages(repository.id, FORMAT, limit=MAX_SEARCHED):
        index = catalog.project_index(repository.id, FORMAT, package.name, package.namespace)
        if index is None:
            continue
        _, versions, _ = index
        listed = {v.version: v for v in versions if v.status in LISTED_STATUSES}
        if not listed:
            continue
        tags = named_tags(catalog.package_tags(package.id), versions)
        latest = listed[effective_dist_tags(tags, listed)[LATEST]]
        name = PackageName(package.namespace or None, package.name)
        # Who published each listed version, the newest first: the package's maintainers.
        newest_first = sorted(listed.values(), key=lambda v: v.published_at, reverse=True)
        publishers = [p for v in newest_first
                      if (p := person(attributes.manifest(v.attributes).get("_npmUser")))]
        found.append(searchable(name, latest.version, attributes.manifest(latest.attributes),
                                latest.published_at, publishers,
                                attributes.deprecated(latest.attributes) is not None))
    return search(found, query, now)
