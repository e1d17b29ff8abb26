"""Rows into model records, and the joins and limits every part of the catalog shares."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Insert, bindparam, select
from sqlalchemy.engine import Row

from packyard.metadata.new_files import decode_attributes
from packyard.metadata.schema import assets, domains, package_versions, packages, repositories
from packyard.model import Asset, Domain, Package, PackageVersion, Repository


def domain_record(row: Row[Any], repo_count: int = 0, size: int = 0) -> Domain:
    return Domain(id=row.id, name=row.name, owner=row.owner, encryption_key=row.encryption_key,
                  status=row.status, created_at=row.created_at, repository_count=repo_count,
                  asset_size_bytes=size)


def repository_record(row: Row[Any]) -> Repository:
    return Repository(id=row.id, domain_id=row.domain_id, domain_name=row.domain_name,
                      domain_owner=row.domain_owner, name=row.name, description=row.description,
                      administrator_account=row.administrator_account,
                      created_at=row.created_at)


def package_record(row: Row[Any]) -> Package:
    return Package(id=row.id, repository_id=row.repository_id, format=row.format,
                   namespace=row.namespace, name=row.name, display_name=row.display_name,
                   origin_publish=row.origin_publish, origin_upstream=row.origin_upstream,
                   last_serial=row.last_serial)


def version_record(row: Row[Any]) -> PackageVersion:
    return PackageVersion(
        id=row.id, package_id=row.package_id, version=row.version, version_key=row.version_key,
        status=row.status, revision=row.revision, published_at=row.published_at,
        summary=row.summary, home_page=row.home_page,
        source_code_repository=row.source_code_repository,
        licenses=json.loads(row.licenses) if row.licenses else [],
        readme=row.readme, readme_content_type=row.readme_content_type,
        dependencies=json.loads(row.dependencies) if row.dependencies else [],
        origin_type=row.origin_type, origin_repository_id=row.origin_repository_id,
        attributes=decode_attributes(row.attributes))


def asset_record(row: Row[Any]) -> Asset:
    return Asset(id=row.id, package_version_id=row.package_version_id, name=row.name,
                 size=row.size, sha256=row.sha256, sha512=row.sha512, sha1=row.sha1, md5=row.md5,
                 created_at=row.created_at, attributes=decode_attributes(row.attributes))


REPO_COLUMNS = (
    repositories, domains.c.name.label("domain_name"), domains.c.owner.label("domain_owner"))

# assets -> their version -> their package, the join most file lookups need.
ASSET_JOIN = assets.join(package_versions, assets.c.package_version_id == package_versions.c.id) \
    .join(packages, package_versions.c.package_id == packages.c.id)


# The package called :name in every repository of the domain :domain_id (with :format and
# :namespace), built once: an upstream search and its recheck (``packages_named``) read it.
DOMAIN_PACKAGES = (
    select(packages).join(repositories, packages.c.repository_id == repositories.c.id)
    .where(repositories.c.domain_id == bindparam("domain_id"),
           packages.c.format == bindparam("format"),
           packages.c.namespace == bindparam("namespace"), packages.c.name == bindparam("name")))


# Values per IN (...) list: far below every backend's limit on bound parameters.
IN_LIST_MAX = 500


def chunks(values: Sequence[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(values), IN_LIST_MAX):
        yield list(values[start:start + IN_LIST_MAX])


def new_id(conn: Connection, statement: Insert) -> int:
    """Run an INSERT of one row and return its new primary key."""
    key = conn.execute(statement).inserted_primary_key
    assert key is not None
    return int(key[0])
