"""The core metadata fields PyPI's JSON API shows in ``info`` that the catalog has no column
for (author, maintainer, keywords, classifiers, License, project URLs, ...), kept in the
version's attributes under ``info`` when a file is uploaded, imported or pulled.

Each is the field as the distribution's own metadata writes it, as Warehouse stores it from the
upload form twine fills from that metadata; a field the metadata leaves out is not kept, and
the JSON API shows it as Warehouse shows a missing one (``null``, ``[]``). Versions stored
before these were kept have none of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_INFO = "info"

_TEXTS = ("author", "author_email", "maintainer", "maintainer_email", "license",
          "license_expression", "download_url", "home_page")
_LISTS = ("classifiers", "license_files", "provides_extra", "dynamic")


def info_attributes(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The version attributes that keep the fields of ``raw`` (packaging's ``RawMetadata``,
    as ``parse_email`` reads a METADATA or PKG-INFO file) the JSON API shows; ``{}`` when it
    has none of them."""
    kept: dict[str, Any] = {key: raw[key] for key in _TEXTS
                            if isinstance(raw.get(key), str) and raw[key]}
    kept.update({key: [str(item) for item in raw[key]] for key in _LISTS if raw.get(key)})
    if raw.get("keywords"):
        # Metadata 1.1+ separates keywords with commas, which packaging has split on: joined
        # back as the build tools write them (the JSON API shows them as Warehouse does).
        kept["keywords"] = ",".join(raw["keywords"])
    if raw.get("platforms"):
        # Warehouse's form field takes the first Platform twine sends.
        kept["platform"] = str(raw["platforms"][0])
    if raw.get("project_urls"):
        kept["project_urls"] = {str(label): str(url)
                                for label, url in dict(raw["project_urls"]).items()}
    return {_INFO: kept} if kept else {}


def kept_info(attributes: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """What ``info_attributes`` kept of a version, or None for a version that keeps nothing
    (stored before these were kept, or whose metadata has none of the fields)."""
    found = attributes.get(_INFO)
    return found if isinstance(found, Mapping) else None


def text(info: Mapping[str, Any], key: str) -> str | None:
    value = info.get(key)
    return value if isinstance(value, str) else None


def texts(info: Mapping[str, Any], key: str) -> list[str]:
    value = info.get(key)
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def project_urls(info: Mapping[str, Any], home_page: str | None) -> dict[str, str]:
    """Warehouse's ``Release.urls``: Homepage and Download first, then each Project-URL,
    leaving out one that repeats the Homepage or Download URL under its own label."""
    urls: dict[str, str] = {}
    if home_page:
        urls["Homepage"] = home_page
    download = text(info, "download_url")
    if download:
        urls["Download"] = download
    labelled = info.get("project_urls")
    for label, url in (labelled.items() if isinstance(labelled, Mapping) else ()):
        if not isinstance(label, str) or not isinstance(url, str):
            continue
        compared = label.casefold().replace("-", "").replace("_", "")
        if (compared == "homepage" and url == urls.get("Homepage")) or (
                compared == "downloadurl" and url == urls.get("Download")):
            continue
        urls[label] = url
    return urls
