"""The catalog's version lifecycle on every database backend: status changes, disposal and
deletion decided in one transaction, copies that share blobs, versions published asset by
asset, the blob sweep queue (and an upload racing a sweep), packages' last serial, and
revision 0006 upgrading a database with data in it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import create_engine, event, text

from packyard.errors import Conflict
from packyard.lifecycle.version_changes import (
    CopyDestination,
    CopySource,
    Plan,
    plan_copy,
    plan_delete,
    plan_dispose,
    plan_status_update,
)
from packyard.metadata.catalog import NewAsset, NewVersion, SqlCatalog
from packyard.metadata.migrate import alembic_config
from packyard.metadata.version_lifecycle import CopyDecision, StatusDecision
from packyard.model import Package, Repository
from tests.conformance.conftest import Databases

NOW = datetime(2026, 1, 1, tzinfo=UTC)
OWNER = "000000000000"
A, B, C = "a" * 64, "b" * 64, "c" * 64


def _version(v: str) -> NewVersion:
    return NewVersion(version=v, version_key=v, summary="s", home_page=None,
                      source_code_repository=None, licenses=[], readme=None,
                      readme_content_type=None, dependencies=[])


def _asset(name: str, sha: str) -> NewAsset:
    return NewAsset(name=name, size=3, sha256=sha, sha512="0" * 128, sha1="0" * 40,
                    md5="0" * 32)


def _repos(catalog: SqlCatalog, *names: str) -> list[Repository]:
    domain = catalog.create_domain("dom", OWNER, "key", NOW)
    return [catalog.create_repository(domain, name, "", OWNER, NOW) for name in names]


def _publish(catalog: SqlCatalog, repo: Repository, version: str, sha: str,
             now: datetime = NOW) -> Package:
    return catalog.publish(repo, "pypi", "", "pkg", "Pkg", _version(version),
                           _asset(f"pkg-{version}.tar.gz", sha), {sha: 3}, now).package


def _package(catalog: SqlCatalog, repo: Repository) -> Package:
    found = catalog.find_package(repo.id, "pypi", "", "pkg")
    assert found is not None
    return found


def _delete(versions: list[str]) -> StatusDecision:
    return lambda current: plan_delete(versions, current)


def test_delete_queues_the_blob_nothing_else_uses_and_the_sweep_deletes_it(
        catalog: SqlCatalog) -> None:
    one, two = _repos(catalog, "one", "two")
    pkg = _publish(catalog, one, "1.0", A)
    _publish(catalog, one, "2.0", B)
    _publish(catalog, two, "2.0", B)
    changes = catalog.change_versions(pkg, {"1.0": "1.0", "2.0": "2.0"},
                                      _delete(["1.0", "2.0"]), NOW)
    assert {v: s.status for v, s in changes.states.items()} == {"1.0": "Deleted",
                                                               "2.0": "Deleted"}
    assert changes.freed == [A]  # B is still used by repository two
    assert catalog.list_versions(pkg.id) == []
    domain_id = one.domain_id
    assert catalog.pending_sweeps() == [(domain_id, A)]
    deleted: list[tuple[int, str]] = []

    def delete(domain: int, sha: str) -> bool:
        deleted.append((domain, sha))
        return True

    assert catalog.sweep_blobs(catalog.pending_sweeps(), delete, NOW) == 1
    assert deleted == [(domain_id, A)]
    assert catalog.pending_sweeps() == []


def test_a_failed_blob_deletion_stays_queued(catalog: SqlCatalog) -> None:
    (one,) = _repos(catalog, "one")
    pkg = _publish(catalog, one, "1.0", A)
    catalog.change_versions(pkg, {"1.0": "1.0"}, _delete(["1.0"]), NOW)
    assert catalog.sweep_blobs(catalog.pending_sweeps(), lambda d, s: False, NOW) == 0
    assert catalog.pending_sweeps() == [(one.domain_id, A)]


def test_an_upload_takes_back_a_queued_blob_before_the_sweep(catalog: SqlCatalog) -> None:
    (one,) = _repos(catalog, "one")
    pkg = _publish(catalog, one, "1.0", A)
    catalog.change_versions(pkg, {"1.0": "1.0"}, _delete(["1.0"]), NOW)
    queued = catalog.pending_sweeps()
    _publish(catalog, one, "1.0", A)  # published again before the sweep ran
    assert catalog.pending_sweeps() == []
    assert catalog.sweep_blobs(queued, lambda d, s: pytest.fail("deleted a used blob"),
                               NOW) == 0


def _catalog_asking(databases: Databases, present: dict[str, bool]) -> SqlCatalog:
    """A migrated catalog whose blob store holds the blobs ``present`` says it holds."""
    catalog = databases.catalog(databases.url("db", migrated=True),
                                blob_present=lambda _d, sha: present[sha])
    catalog.migrate()
    return catalog


def test_an_upload_whose_bytes_a_sweep_deleted_is_refused(databases: Databases) -> None:
    present: dict[str, bool] = {A: False}
    catalog = _catalog_asking(databases, present)
    (one,) = _repos(catalog, "one")
    pkg = _publish(catalog, one, "1.0", A)
    catalog.change_versions(pkg, {"1.0": "1.0"}, _delete(["1.0"]), NOW)
    catalog.sweep_blobs(catalog.pending_sweeps(), lambda d, s: True, NOW)
    with pytest.raises(Conflict, match="were deleted while it was being recorded"):
        _publish(catalog, one, "1.0", A)
    assert catalog.list_versions(pkg.id) == []
    present[A] = True  # stored again by the retried upload
    _publish(catalog, one, "1.0", A)
    assert [v.version for v in catalog.list_versions(pkg.id)] == ["1.0"]


def test_strays_are_queued_only_while_no_row_names_them(catalog: SqlCatalog) -> None:
    # packyard verify --delete-strays: blobs found stored that no row named when listed.
    (one,) = _repos(catalog, "one")
    _publish(catalog, one, "1.0", A)  # recorded since the listing
    assert catalog.queue_strays(one.domain_id, [B, A, B], NOW) == [B]
    assert catalog.pending_sweeps() == [(one.domain_id, B)]
    deleted: list[str] = []
    assert catalog.sweep_blobs(catalog.pending_sweeps(),
                               lambda d, s: deleted.append(s) or True, NOW) == 1
    assert deleted == [B]
    assert [row.sha256 for row in catalog.blob_rows(one.domain_id)] == [A]  # A's row stays


def test_a_stray_recorded_after_it_was_queued_is_taken_back_not_swept(
        catalog: SqlCatalog) -> None:
    (one,) = _repos(catalog, "one")
    queued = [(one.domain_id, sha) for sha in catalog.queue_strays(one.domain_id, [A], NOW)]
    _publish(catalog, one, "1.0", A)  # an upload of those bytes recorded them meanwhile
    assert catalog.pending_sweeps() == []
    assert catalog.sweep_blobs(queued, lambda d, s: pytest.fail("deleted a recorded blob"),
                               NOW) == 0


def test_an_upload_whose_bytes_were_swept_as_a_stray_is_refused(databases: Databases) -> None:
    present: dict[str, bool] = {A: False}
    catalog = _catalog_asking(databases, present)
    (one,) = _repos(catalog, "one")
    catalog.queue_strays(one.domain_id, [A], NOW)
    catalog.sweep_blobs(catalog.pending_sweeps(), lambda d, s: True, NOW)
    # It found the stray's bytes stored and kept them; the sweep deleted them before its rows.
    with pytest.raises(Conflict, match="were deleted while it was being recorded"):
        _publish(catalog, one, "1.0", A)
    present[A] = True  # stored again by the retried upload
    _publish(catalog, one, "1.0", A)


def test_swept_rows_are_forgotten_after_a_day(catalog: SqlCatalog) -> None:
    (one,) = _repos(catalog, "one")
    pkg = _publish(catalog, one, "1.0", A)
    catalog.change_versions(pkg, {"1.0": "1.0"}, _delete(["1.0"]), NOW)
    catalog.sweep_blobs(catalog.pending_sweeps(), lambda d, s: True, NOW)
    catalog.sweep_blobs([], lambda d, s: True, NOW + timedelta(days=2))
    with catalog.engines[0].connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM blob_sweeps")).scalar_one() == 0


def test_dispose_keeps_the_version_and_frees_its_assets(catalog: SqlCatalog) -> None:
    (one,) = _repos(catalog, "one")
    pkg = _publish(catalog, one, "1.0", A)
    changes = catalog.change_versions(
        pkg, {"1.0": "1.0"}, lambda current: plan_dispose(["1.0"], current), NOW)
    assert changes.freed == [A]
    [version] = catalog.list_versions(pkg.id)
    assert version.status == "Disposed"
    assert catalog.list_assets(version.id) == []


def test_a_failed_plan_changes_nothing(catalog: SqlCatalog) -> None:
    (one,) = _repos(catalog, "one")
    pkg = _publish(catalog, one, "1.0", A)
    changes = catalog.change_versions(
        pkg, {"1.0": "1.0", "9.9": "9.9"},
        lambda current: plan_status_update(["1.0", "9.9"], current, target_status="Archived"),
        NOW)
    assert changes.states == {} and changes.freed == []
    assert [v.status for v in catalog.list_versions(pkg.id)] == ["Published"]


def test_delete_package_removes_everything_and_answers_it(catalog: SqlCatalog) -> None:
    (one,) = _repos(catalog, "one")
    pkg = _publish(catalog, one, "1.0", A)
    catalog.put_package_tag(pkg.id, "latest", "1.0")
    deleted, freed = catalog.delete_package(pkg, NOW)
    assert (deleted.name, freed) == ("pkg", [A])
    assert catalog.find_package(one.id, "pypi", "", "pkg") is None


def test_regression_deleting_a_package_asks_about_its_blobs_together_not_one_by_one(
        catalog: SqlCatalog) -> None:
    """Deleting a package of 400 versions from the console took 1.1 s on a quiet server and
    7-10 s under load: whether each freed blob was still in use was asked blob by blob when
    it was queued and again when it was swept (1,600 queries, ~4,000 statements in the
    writers' transactions). The statements no longer grow with the versions; what is deleted,
    kept and recorded is the same."""
    small, big, other = _repos(catalog, "small", "big", "other")

    def delete_and_sweep(repo: Repository, count: int) -> list[str]:
        shas = [f"{repo.id:08x}{i:056x}" for i in range(count)]
        pkg = None
        for i, sha in enumerate(shas):
            pkg = _publish(catalog, repo, f"1.{i}", sha)
        assert pkg is not None
        _publish(catalog, other, f"{repo.id}.0", shas[0])  # still used elsewhere: kept
        statements: list[str] = []

        def noted(_conn: object, _cursor: object, statement: str, *_: object) -> None:
            statements.append(" ".join(statement.split()))

        swept: list[str] = []

        def delete(_domain: int, sha: str) -> bool:
            swept.append(sha)
            return True

        writer = catalog.engines[1]
        event.listen(writer, "before_cursor_execute", noted)
        try:
            _, freed = catalog.delete_package(pkg, NOW)
            deleted = catalog.sweep_blobs(catalog.pending_sweeps(count), delete, NOW)
        finally:
            event.remove(writer, "before_cursor_execute", noted)
        assert freed == sorted(shas[1:]) and sorted(swept) == sorted(shas[1:])
        assert deleted == count - 1 and catalog.pending_sweeps() == []
        with catalog.engines[0].connect() as conn:  # a package event for each version
            assert conn.execute(text(
                "SELECT count(*) FROM event_outbox WHERE document LIKE '%\"Deleted\"%'")
            ).scalar_one() == count + (5 if repo.name == "big" else 0)
        return statements

    few = delete_and_sweep(small, 5)
    many = delete_and_sweep(big, 60)
    assert len(many) == len(few), many


def _copy(versions: list[str], *, allow_overwrite: bool = False) -> CopyDecision:
    def decide(offered: Mapping[str, CopySource | None],
               held: Mapping[str, CopyDestination | None], refusal: str | None) -> Plan:
        return plan_copy(versions, offered, held, publish_refusal=refusal,
                         allow_overwrite=allow_overwrite)
    return decide


def test_copy_shares_the_blob_and_overwrite_frees_the_replaced_one(
        catalog: SqlCatalog) -> None:
    staging, release = _repos(catalog, "staging", "release")
    _publish(catalog, staging, "1.0", A)
    _publish(catalog, release, "1.0", B)
    refused = catalog.copy_versions([staging.id], release, "pypi", "", "pkg", {"1.0": "1.0"},
                                    _copy(["1.0"]), NOW)
    assert refused.plan.failed_versions()["1.0"]["errorCode"] == "ALREADY_EXISTS"
    copied = catalog.copy_versions([staging.id], release, "pypi", "", "pkg", {"1.0": "1.0"},
                                   _copy(["1.0"], allow_overwrite=True),
                                   NOW)
    assert copied.states["1.0"].status == "Published"
    assert copied.freed == [B]
    [version] = catalog.list_versions(_package(catalog, release).id)
    assert [a.sha256 for a in catalog.list_assets(version.id)] == [A]
    assert catalog.get_domain(OWNER, "dom").asset_size_bytes == 3


def test_copy_respects_the_destination_origin_configuration(catalog: SqlCatalog) -> None:
    staging, release = _repos(catalog, "staging", "release")
    _publish(catalog, staging, "1.0", A)
    catalog.put_origin_configuration(release, "pypi", "", "pkg", "Pkg", "BLOCK", "BLOCK", NOW)
    out = catalog.copy_versions([staging.id], release, "pypi", "", "pkg", {"1.0": "1.0"},
                                _copy(["1.0"]), NOW)
    assert out.plan.failed_versions()["1.0"]["errorCode"] == "NOT_ALLOWED"
    assert catalog.list_versions(_package(catalog, release).id) == []


def test_versions_published_asset_by_asset(catalog: SqlCatalog) -> None:
    (one,) = _repos(catalog, "one")

    def add(name: str, sha: str, finished: bool) -> str:
        return catalog.publish_asset(one, "generic", "ns", "tool", "tool", _version("1.0"),
                                     _asset(name, sha), {sha: 3}, NOW,
                                     finished=finished).version.status

    assert add("a.bin", A, False) == "Unfinished"
    assert add("a.bin", A, False) == "Unfinished"  # the same asset again
    with pytest.raises(Conflict):
        add("a.bin", B, False)
    assert add("b.bin", B, True) == "Published"
    with pytest.raises(Conflict, match="is Published, so it takes no new asset"):
        add("c.bin", C, True)


def test_every_change_raises_the_package_serial(catalog: SqlCatalog) -> None:
    (one,) = _repos(catalog, "one")
    _publish(catalog, one, "1.0", A)
    first = _package(catalog, one).last_serial
    assert first > 0
    # The same clock reading again still raises it.
    _publish(catalog, one, "2.0", B)
    second = _package(catalog, one).last_serial
    assert second > first
    catalog.change_versions(_package(catalog, one), {"2.0": "2.0"},
                            lambda current: plan_status_update(
                                ["2.0"], current, target_status="Unlisted"), NOW)
    third = _package(catalog, one).last_serial
    assert third > second
    # A tag (npm's dist-tags) moved or removed is a change of the package too.
    package_id = _package(catalog, one).id
    catalog.put_package_tag(package_id, "beta", "2.0")
    fourth = _package(catalog, one).last_serial
    assert fourth > third
    catalog.put_package_tag(package_id, "beta", "1.0")
    fifth = _package(catalog, one).last_serial
    assert fifth > fourth
    assert catalog.delete_package_tag(package_id, "beta")
    sixth = _package(catalog, one).last_serial
    assert sixth > fifth
    assert not catalog.delete_package_tag(package_id, "beta")  # nothing there: no change
    assert _package(catalog, one).last_serial == sixth


def test_revision_0006_upgrades_a_database_with_packages(databases: Databases) -> None:
    url = databases.url("old")
    engine = create_engine(url)
    config = alembic_config()
    stamp = "'2026-01-01 00:00:00'"
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0005")
        for statement in (
            "INSERT INTO domains (id, name, owner, encryption_key, status, created_at) "
            f"VALUES (1, 'dom', '{OWNER}', 'k', 'Active', {stamp})",
            "INSERT INTO repositories (id, domain_id, name, description, administrator_account, "
            f"created_at) VALUES (1, 1, 'repo', '', '{OWNER}', {stamp})",
            "INSERT INTO packages (id, repository_id, format, namespace, name, display_name, "
            "origin_publish, origin_upstream, created_at) VALUES (1, 1, 'pypi', '', 'pkg', "
            f"'Pkg', 'ALLOW', 'BLOCK', {stamp})",
        ):
            conn.execute(text(statement))
    engine.dispose()
    catalog = databases.catalog(url)
    catalog.migrate()
    repo = catalog.get_repository(catalog.get_domain(OWNER, "dom"), "repo")
    assert _package(catalog, repo).last_serial == 0
    assert catalog.pending_sweeps() == []
    _publish(catalog, repo, "1.0", A)
    assert _package(catalog, repo).last_serial > 0

