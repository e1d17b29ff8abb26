"""The catalog's wrapped data keys (encryption at rest) on every database backend: one key per
(domain, sha256) decided by the first writer, rotation's paging and conditional re-wrap, the
plain blobs ``packyard encrypt`` walks, a domain's rows gone with the domain, and the
event loop's lookup of a row (``data_key_now``)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import event

from packyard.metadata.catalog import BlobRow, Catalog, NewAsset, NewVersion, SqlCatalog
from packyard.metadata.data_keys import StoredDataKey
from packyard.metadata.point_reads import WouldWait
from packyard.model import Domain

NOW = datetime(2026, 1, 1, tzinfo=UTC)
OWNER = "000000000000"


def _key(domain: Domain, sha: str, version: int = 1, wrapped: bytes = b"w1",
         key_id: str = "kek") -> StoredDataKey:
    return StoredDataKey(domain.id, sha, "local", key_id, version, wrapped, 123)


def _publish(catalog: Catalog, domain: Domain, sha: str) -> None:
    repo = catalog.create_repository(domain, f"r{sha[-6:]}", "", OWNER, NOW)
    version = NewVersion(version="1.0", version_key="1.0", summary="s", home_page=None,
                         source_code_repository=None, licenses=[], readme=None,
                         readme_content_type=None, dependencies=[])
    asset = NewAsset(name=f"{sha[-6:]}.whl", size=3, sha256=sha, sha512="0" * 128,
                     sha1="0" * 40, md5="0" * 32)
    catalog.publish(repo, "pypi", "", f"p{sha[-6:]}", f"p{sha[-6:]}", version, asset,
                    {sha: 3}, NOW)


def test_the_first_writer_decides_the_data_key(catalog: Catalog) -> None:
    domain = catalog.create_domain("dom", OWNER, "kek", NOW)
    sha = "a" * 64
    assert catalog.data_key(domain.id, sha) is None
    first, ours = catalog.add_data_key(_key(domain, sha, wrapped=b"first"), NOW)
    assert ours and first.wrapped == b"first"
    kept, ours = catalog.add_data_key(_key(domain, sha, wrapped=b"second"), NOW)
    assert not ours and kept == first
    assert catalog.data_key(domain.id, sha) == first
    other = catalog.create_domain("other", OWNER, "kek", NOW)
    assert catalog.data_key(other.id, sha) is None  # per domain


def test_the_event_loops_lookup_agrees_on_sqlite_and_is_never_made_on_postgresql(
        catalog: SqlCatalog) -> None:
    domain = catalog.create_domain("dom", OWNER, "kek", NOW)
    sha = "e" * 64
    kept, _ = catalog.add_data_key(_key(domain, sha, key_id="kek-1", wrapped=b"\x00w"), NOW)
    if not catalog.url.startswith("sqlite"):
        with pytest.raises(WouldWait):
            catalog.data_key_now(domain.id, sha)
        return
    assert catalog.data_key_now(domain.id, sha) == kept == catalog.data_key(domain.id, sha)
    # None is an answer: no data key (a blob stored plain), not "cannot tell".
    assert catalog.data_key_now(domain.id, "f" * 64) is None


def test_racing_writers_agree_on_one_key(catalog: Catalog) -> None:
    domain = catalog.create_domain("dom", OWNER, "kek", NOW)
    sha = "b" * 64
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(
            lambda i: catalog.add_data_key(_key(domain, sha, wrapped=bytes([i])), NOW),
            range(8)))
    assert sum(ours for _, ours in results) == 1
    assert len({row.wrapped for row, _ in results}) == 1


def test_an_unflushed_data_key_is_decided_and_read_like_a_durable_one(catalog: Catalog
                                                                       ) -> None:
    domain = catalog.create_domain("dom", OWNER, "kek", NOW)
    sha = "9" * 64
    first, ours = catalog.add_data_key(_key(domain, sha, wrapped=b"first"), NOW, durable=False)
    assert ours and catalog.data_key(domain.id, sha) == first
    kept, ours = catalog.add_data_key(_key(domain, sha, wrapped=b"second"), NOW, durable=False)
    assert not ours and kept == first
    kept, ours = catalog.add_data_key(_key(domain, sha, wrapped=b"third"), NOW)
    assert not ours and kept == first


def test_several_keys_are_decided_in_one_write_as_one_at_a_time(catalog: Catalog) -> None:
    """A pulled wheel and its metadata file: both keys in one transaction, each kept by the
    first writer (a row already there wins; bytes named twice get the first's key)."""
    domain = catalog.create_domain("dom", OWNER, "kek", NOW)
    there, _ = catalog.add_data_key(_key(domain, "1" * 64, wrapped=b"earlier"), NOW)
    decided = catalog.add_data_keys(
        [_key(domain, "2" * 64, wrapped=b"new"), _key(domain, "1" * 64, wrapped=b"late"),
         _key(domain, "3" * 64, wrapped=b"a"), _key(domain, "3" * 64, wrapped=b"b")],
        NOW, durable=False)
    assert [(row.sha256[0], row.wrapped, ours) for row, ours in decided] == [
        ("2", b"new", True), ("1", b"earlier", False), ("3", b"a", True), ("3", b"a", False)]
    assert decided[1][0] == there
    assert [catalog.data_key(domain.id, c * 64).wrapped  # type: ignore[union-attr]
            for c in "123"] == [b"earlier", b"new", b"a"]
    assert catalog.add_data_keys([], NOW) == []


def test_a_new_blobs_key_costs_one_statement(catalog: SqlCatalog) -> None:
    # A pulled wheel and its metadata file: each new key is written without a read before it
    # (the cold pull-through's CPU); only a key that is there already is read.
    domain = catalog.create_domain("dom", OWNER, "kek", NOW)
    catalog.add_data_key(_key(domain, "1" * 64, wrapped=b"earlier"), NOW)
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if not statement.startswith(("BEGIN", "PRAGMA", "SET", "SELECT pg_", "RESET")):
            statements.append(statement.split()[0])

    _, writer = catalog.engines
    event.listen(writer, "before_cursor_execute", count)
    try:
        decided = catalog.add_data_keys([_key(domain, "2" * 64), _key(domain, "3" * 64)], NOW,
                                        durable=False)
        assert [ours for _, ours in decided] == [True, True]
        assert statements == ["INSERT", "INSERT"]
        statements.clear()
        again = catalog.add_data_keys([_key(domain, "1" * 64, wrapped=b"late")], NOW)
        assert again[0] == (catalog.data_key(domain.id, "1" * 64), False)
        assert statements == ["INSERT", "SELECT"]
    finally:
        event.remove(writer, "before_cursor_execute", count)


def test_racing_batches_agree_on_one_key(catalog: Catalog) -> None:
    domain = catalog.create_domain("dom", OWNER, "kek", NOW)
    shas = ["8" * 64, "9" * 64]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(
            lambda i: catalog.add_data_keys(
                [_key(domain, sha, wrapped=bytes([i])) for sha in shas], NOW,
                durable=i % 2 == 0),
            range(8)))
    for index, sha in enumerate(shas):
        decided = [batch[index] for batch in results]
        assert sum(ours for _, ours in decided) == 1
        kept = catalog.data_key(domain.id, sha)
        assert kept is not None and {row.wrapped for row, _ in decided} == {kept.wrapped}


def test_racing_unflushed_writers_agree_on_one_key(catalog: Catalog) -> None:
    domain = catalog.create_domain("dom", OWNER, "kek", NOW)
    sha = "8" * 64
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(
            lambda i: catalog.add_data_key(_key(domain, sha, wrapped=bytes([i])), NOW,
                                           durable=i % 2 == 0),
            range(8)))
    assert sum(ours for _, ours in results) == 1
    assert len({row.wrapped for row, _ in results}) == 1


def test_writes_after_an_unflushed_data_key_are_durable_again(catalog: SqlCatalog) -> None:
    """The unflushed commit's setting ends with it: every later write on any pooled
    connection waits for the disk (SQLite ``synchronous=FULL``, PostgreSQL's
    ``synchronous_commit`` back to the server's)."""
    domain = catalog.create_domain("dom", OWNER, "kek", NOW)
    for i in range(4):
        catalog.add_data_key(_key(domain, f"{i:064x}"), NOW, durable=False)
    _, writer = catalog.engines
    with writer.connect() as conn:
        if conn.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        else:
            # The server's own setting (the test server's may be off for speed), not ours.
            assert conn.exec_driver_sql(
                "SELECT setting = reset_val FROM pg_settings WHERE name = 'synchronous_commit'"
            ).scalar() is True


def test_data_key_writes_leave_the_response_caches_alone(catalog: Catalog) -> None:
    domain = catalog.create_domain("dom", OWNER, "kek", NOW)
    before = catalog.changes.stamp()
    row, _ = catalog.add_data_key(_key(domain, "c" * 64), NOW)
    catalog.replace_wrapped_key(row, "kek", 2, b"w2")
    catalog.delete_data_key(domain.id, "c" * 64)
    assert catalog.changes.stamp() == before


def test_rotation_pages_through_older_versions_and_rewraps_conditionally(
        catalog: Catalog) -> None:
    domain = catalog.create_domain("dom", OWNER, "kek", NOW)
    for i in range(5):
        catalog.add_data_key(_key(domain, f"{i:064x}", version=1), NOW)
    catalog.add_data_key(_key(domain, "f" * 64, version=2), NOW)
    catalog.add_data_key(_key(domain, "e" * 64, version=1, key_id="another"), NOW)
    assert catalog.data_key_versions("kek") == {1: 5, 2: 1}
    page = catalog.data_keys_below("kek", 2, limit=3)
    assert [r.sha256 for r in page] == [f"{i:064x}" for i in range(3)]
    assert catalog.replace_wrapped_key(page[0], "kek", 2, b"new")
    # A second run holding the old row finds it re-wrapped already.
    assert not catalog.replace_wrapped_key(page[0], "kek", 2, b"newer")
    assert catalog.data_key(domain.id, page[0].sha256).wrapped == b"new"  # type: ignore[union-attr]
    assert catalog.data_key_versions("kek") == {1: 4, 2: 2}
    assert len(catalog.data_keys_below("kek", 2, limit=100)) == 4
    assert catalog.data_key_count() == 7


def test_blob_rows_say_which_blobs_are_encrypted(catalog: Catalog) -> None:
    domain = catalog.create_domain("dom", OWNER, "kek", NOW)
    shas = [f"{i:064x}" for i in range(1, 4)]
    for sha in shas:
        _publish(catalog, domain, sha)
    catalog.add_data_key(_key(domain, shas[1]), NOW)
    rows = catalog.blob_rows(domain.id)
    assert rows == [BlobRow(domain.id, shas[0], 3, False), BlobRow(domain.id, shas[1], 3, True),
                    BlobRow(domain.id, shas[2], 3, False)]
    assert [r.sha256 for r in catalog.blob_rows(plain_only=True)] == [shas[0], shas[2]]
    assert [r.sha256 for r in catalog.blob_rows(after=(domain.id, shas[0]), limit=1)] == [
        shas[1]]
    assert catalog.blob_rows(domain.id + 1) == []


def test_deleting_a_domain_deletes_its_data_keys(catalog: Catalog) -> None:
    domain = catalog.create_domain("dom", OWNER, "kek", NOW)
    catalog.add_data_key(_key(domain, "d" * 64), NOW)
    catalog.delete_domain(domain)
    assert catalog.data_key_count() == 0


def test_a_domain_can_move_to_another_key(catalog: Catalog) -> None:
    domain = catalog.create_domain("dom", OWNER, "old", NOW)
    catalog.set_domain_encryption_key(domain.id, "new")
    assert catalog.get_domain(OWNER, "dom").encryption_key == "new"
    assert catalog.domain_by_id(domain.id).encryption_key == "new"  # type: ignore[union-attr]
