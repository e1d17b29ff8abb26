"""Package groups and resource tags in the catalog, on every database backend; revision
0007_groups_tags upgrading a database with domains in it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from packyard.errors import Conflict, Denied, NotFound
from packyard.metadata.catalog import Catalog, NewAsset, NewFile, NewVersion, SqlCatalog
from packyard.metadata.migrate import alembic_config
from packyard.package_groups.origin_controls import (
    AllowedRepositoryChange,
    OriginConfiguration,
    RestrictionMode,
    RestrictionType,
    update_origin_configuration,
)
from packyard.package_groups.patterns import parse_pattern
from tests.conformance.conftest import Databases

NOW = datetime(2026, 1, 1, tzinfo=UTC)
OWNER = "000000000000"
ALLOW, BLOCK, SPECIFIC, INHERIT = (RestrictionMode.ALLOW, RestrictionMode.BLOCK,
                                   RestrictionMode.ALLOW_SPECIFIC_REPOSITORIES,
                                   RestrictionMode.INHERIT)


def _file(name: str, sha: str) -> NewFile:
    version = NewVersion(version="1.0", version_key="1.0", summary=None, home_page=None,
                         source_code_repository=None, licenses=[], readme=None,
                         readme_content_type=None, dependencies=[])
    asset = NewAsset(name=f"{name}-1.0.tar.gz", size=3, sha256=sha, sha512="0" * 128,
                     sha1="0" * 40, md5="0" * 32)
    return NewFile(name, name, version, asset, {sha: 3})


def _set(configuration: OriginConfiguration, pattern: str, **modes: RestrictionMode
         ) -> OriginConfiguration:
    return update_origin_configuration(parse_pattern(pattern), configuration,
                                       {k.upper(): v.value for k, v in modes.items()}
                                       ).configuration


def test_a_new_domain_has_the_root_group_allowing_everything(catalog: Catalog) -> None:
    domain = catalog.create_domain("dom", OWNER, "key", NOW)
    [root] = catalog.list_package_groups(domain)
    assert root.pattern == "/*" and root.created_at == NOW
    assert root.description is None and root.contact_info is None
    assert root.configuration.modes == {t: ALLOW for t in RestrictionType}


def test_package_group_lifecycle(catalog: Catalog) -> None:
    domain = catalog.create_domain("dom", OWNER, "key", NOW)
    created = catalog.create_package_group(domain, "/pypi//acme~", "Acme's", "ops@acme", NOW,
                                           {"team": "platform"})
    assert created.configuration.modes == {t: INHERIT for t in RestrictionType}
    with pytest.raises(Conflict, match="already exists"):
        catalog.create_package_group(domain, "/pypi//acme~", None, None, NOW)
    assert catalog.resource_tags("package-group", OWNER, "dom", "/pypi//acme~") == {
        "team": "platform"}
    updated = catalog.update_package_group(domain, "/pypi//acme~", None, "sec@acme")
    assert (updated.description, updated.contact_info) == ("Acme's", "sec@acme")
    assert [g.pattern for g in catalog.list_package_groups(domain)] == ["/*", "/pypi//acme~"]
    deleted = catalog.delete_package_group(domain, "/pypi//acme~")
    assert deleted.id == created.id
    with pytest.raises(NotFound, match="Package group /pypi//acme~ not found"):
        catalog.get_package_group(domain, "/pypi//acme~")
    assert catalog.resource_tags("package-group", OWNER, "dom", "/pypi//acme~") is None


def test_patterns_are_case_sensitive_identifiers(catalog: Catalog) -> None:
    domain = catalog.create_domain("dom", OWNER, "key", NOW)
    catalog.create_package_group(domain, "/npm//AsyncStorage$", None, None, NOW)
    catalog.create_package_group(domain, "/npm//asyncstorage$", None, None, NOW)
    assert len(catalog.list_package_groups(domain)) == 3


def test_origin_configuration_round_trips_with_allowed_repositories(catalog: Catalog) -> None:
    domain = catalog.create_domain("dom", OWNER, "key", NOW)
    for name in ("internal", "proxy"):
        catalog.create_repository(domain, name, "", OWNER, NOW)
    catalog.create_package_group(domain, "/pypi//acme~", None, None, NOW)

    def change(current: OriginConfiguration) -> OriginConfiguration:
        return update_origin_configuration(
            parse_pattern("/pypi//acme~"), current,
            {"PUBLISH": "ALLOW_SPECIFIC_REPOSITORIES", "EXTERNAL_UPSTREAM": "BLOCK"},
            add=[AllowedRepositoryChange("PUBLISH", "internal"),
                 AllowedRepositoryChange("INTERNAL_UPSTREAM", "proxy")]).configuration

    before, after = catalog.update_package_group_origin(domain, "/pypi//acme~", change)
    assert before.configuration.modes[RestrictionType.PUBLISH] is INHERIT
    assert after.configuration.modes == {RestrictionType.PUBLISH: SPECIFIC,
                                         RestrictionType.EXTERNAL_UPSTREAM: BLOCK,
                                         RestrictionType.INTERNAL_UPSTREAM: INHERIT}
    assert after.configuration.allowed(RestrictionType.PUBLISH) == {"internal"}
    assert after.configuration.allowed(RestrictionType.INTERNAL_UPSTREAM) == {"proxy"}
    # A deleted repository leaves every allowed list (a new one of that name is not allowed).
    catalog.delete_repository(catalog.get_repository(domain, "internal"))
    group = catalog.get_package_group(domain, "/pypi//acme~")
    assert group.configuration.allowed(RestrictionType.PUBLISH) == frozenset()


def test_an_unknown_allowed_repository_changes_nothing(catalog: Catalog) -> None:
    domain = catalog.create_domain("dom", OWNER, "key", NOW)
    catalog.create_package_group(domain, "/pypi/*", None, None, NOW)

    def change(current: OriginConfiguration) -> OriginConfiguration:
        return update_origin_configuration(
            parse_pattern("/pypi/*"), current, {"PUBLISH": "BLOCK"},
            add=[AllowedRepositoryChange("PUBLISH", "nope")]).configuration

    with pytest.raises(NotFound, match="Repository nope not found in domain dom"):
        catalog.update_package_group_origin(domain, "/pypi/*", change)
    group = catalog.get_package_group(domain, "/pypi/*")
    assert group.configuration.modes[RestrictionType.PUBLISH] is INHERIT


def test_publishing_is_refused_by_the_package_group_in_its_transaction(
        catalog: Catalog) -> None:
    domain = catalog.create_domain("dom", OWNER, "key", NOW)
    repo = catalog.create_repository(domain, "repo", "", OWNER, NOW)
    catalog.create_package_group(domain, "/pypi//acme~", None, None, NOW)
    catalog.update_package_group_origin(
        domain, "/pypi//acme~", lambda c: _set(c, "/pypi//acme~", publish=BLOCK))
    file = _file("acme-tools", "a" * 64)
    with pytest.raises(Denied) as refused:
        catalog.publish(repo, "pypi", "", file.name, file.display_name, file.version,
                        file.asset, file.blob_sizes, NOW)
    assert "package group /pypi//acme~ blocks publishing" in refused.value.message
    assert catalog.find_package(repo.id, "pypi", "", "acme-tools") is None
    # Other packages, and the batch path, follow the same rule.
    results = catalog.publish_many(repo, "pypi", "", [file, _file("other", "b" * 64)], NOW)
    assert isinstance(results[0], Denied) and results[1] is True
    assert catalog.group_refusal(domain.id, "repo", RestrictionType.PUBLISH, "pypi", "",
                                 "acme-tools") is not None
    assert catalog.group_refusal(domain.id, "repo", RestrictionType.PUBLISH, "pypi", "",
                                 "other") is None


def test_tags_on_domains_repositories_and_groups(catalog: Catalog) -> None:
    domain = catalog.create_domain("dom", OWNER, "key", NOW, {"env": "prod"})
    catalog.create_repository(domain, "repo", "", OWNER, NOW, {"team": "a", "cost": "1"})
    assert catalog.resource_tags("domain", OWNER, "dom") == {"env": "prod"}
    assert catalog.resource_tags("repository", OWNER, "dom", "repo") == {"cost": "1",
                                                                         "team": "a"}
    assert catalog.resource_tags("repository", OWNER, "dom", "nope") is None
    assert catalog.resource_tags("package-group", OWNER, "dom", "/*") == {}
    changed = catalog.change_resource_tags("repository", OWNER, "dom", "repo",
                                           lambda tags: {**tags, "team": "b"})
    assert changed == {"cost": "1", "team": "b"}
    with pytest.raises(NotFound):
        catalog.change_resource_tags("repository", OWNER, "dom", "nope", dict)
    catalog.delete_repository(catalog.get_repository(domain, "repo"))
    catalog.delete_domain(domain)
    # A domain created again under the same name starts without the old tags or groups.
    again = catalog.create_domain("dom", OWNER, "key", NOW)
    assert catalog.resource_tags("domain", OWNER, "dom") == {}
    assert [g.pattern for g in catalog.list_package_groups(again)] == ["/*"]


def test_revision_0007_gives_existing_domains_the_root_group(databases: Databases) -> None:
    url = databases.url("old")
    engine = create_engine(url)
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0005")
        for owner_name in ("a", "b"):
            conn.execute(text(
                "INSERT INTO domains (name, owner, encryption_key, status, created_at) "
                f"VALUES ('{owner_name}', '{OWNER}', 'k', 'Active', '2026-01-01 00:00:00')"))
    engine.dispose()
    catalog: SqlCatalog = databases.catalog(url)
    catalog.migrate()
    for name in ("a", "b"):
        domain = catalog.get_domain(OWNER, name)
        [root] = catalog.list_package_groups(domain)
        assert root.pattern == "/*"
        assert root.configuration.modes == {t: ALLOW for t in RestrictionType}
