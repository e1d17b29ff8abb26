"""Revision 0018 rebuilds SQLite's catalog tables so that ids are never given twice, keeping
every row, its id and what refers to it (PostgreSQL's sequences never gave one twice)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, text

from packyard.metadata.migrate import alembic_config
from tests.conformance.conftest import Databases

OWNER = "000000000000"
STAMP = "'2026-01-01 00:00:00'"


def _database_at_0017_with_data(databases: Databases) -> str:
    url = databases.url("old")
    engine = create_engine(url)
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0017_sdist_metadata_withdrawn")
        for statement in (
            *(f"INSERT INTO domains (id, name, owner, encryption_key, status, created_at) "
              f"VALUES ({i}, 'dom{i}', '{OWNER}', 'k', 'Active', {STAMP})" for i in (1, 2)),
            "INSERT INTO repositories (id, domain_id, name, description, administrator_account, "
            f"created_at) VALUES (3, 2, 'repo', '', '{OWNER}', {STAMP})",
            "INSERT INTO packages (id, repository_id, format, namespace, name, display_name, "
            f"origin_publish, origin_upstream, created_at, last_serial) VALUES (4, 3, 'pypi', '', "
            f"'pkg', 'Pkg', 'ALLOW', 'BLOCK', {STAMP}, 7)",
            "INSERT INTO package_versions (id, package_id, version, version_key, status, "
            "revision, published_at, summary, licenses, dependencies, origin_type, "
            f"origin_repository_id) VALUES (5, 4, '1.0', '1.0', 'Published', 'r1', {STAMP}, "
            "'A package', '[]', '[]', 'INTERNAL', 3)",
            "INSERT INTO assets (id, package_version_id, name, size, sha256, sha512, sha1, md5, "
            f"created_at) VALUES (6, 5, 'pkg-1.0.tar.gz', 10, '{'a' * 64}', '{'5' * 128}', "
            f"'{'3' * 40}', '{'4' * 32}', {STAMP})",
        ):
            conn.execute(text(statement))
        if conn.dialect.name == "postgresql":
            # Rows inserted with their ids, as migrate-storage does: the sequences moved past.
            for table, last in (("domains", 2), ("repositories", 3), ("packages", 4),
                                ("package_versions", 5), ("assets", 6)):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"{last})"))
    engine.dispose()
    return url


def test_revision_0018_keeps_every_row_and_gives_no_id_twice(databases: Databases) -> None:
    url = _database_at_0017_with_data(databases)
    catalog = databases.catalog(url)
    catalog.migrate()  # what `packyard serve` does at start-up (foreign keys checked)
    with catalog.engines[1].begin() as conn:
        kept = conn.execute(text(
            "SELECT d.name, r.name, p.display_name, v.version, a.name FROM assets a "
            "JOIN package_versions v ON v.id = a.package_version_id "
            "JOIN packages p ON p.id = v.package_id JOIN repositories r ON r.id = p.repository_id "
            "JOIN domains d ON d.id = r.domain_id")).all()
        assert [tuple(row) for row in kept] == [("dom2", "repo", "Pkg", "1.0", "pkg-1.0.tar.gz")]
        # The newest domain deleted, the next one made does not take its id.
        conn.execute(text("DELETE FROM assets"))
        conn.execute(text("DELETE FROM package_versions"))
        conn.execute(text("DELETE FROM packages"))
        conn.execute(text("DELETE FROM repositories"))
        conn.execute(text("DELETE FROM domains WHERE id = 2"))
        conn.execute(text(
            "INSERT INTO domains (name, owner, encryption_key, status, created_at) "
            f"VALUES ('dom3', '{OWNER}', 'k', 'Active', {STAMP})"))
        made = conn.execute(text("SELECT id FROM domains WHERE name = 'dom3'")).scalar_one()
    assert made > 2
