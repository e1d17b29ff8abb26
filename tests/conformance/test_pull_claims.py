"""Claims on upstream downloads (``metadata/pull_claims.py``) on every catalog backend: of the
processes claiming a file at once exactly one holds it; a claim that ran out is taken over; an
outcome is read by the others; and revision 0011 adds the table to a database with data."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import create_engine, inspect, text

from packyard.metadata.catalog import SqlCatalog
from packyard.metadata.migrate import alembic_config
from packyard.metadata.pull_claims import PullClaimStore
from tests.conformance.conftest import Databases

NOW = datetime(2026, 1, 1, tzinfo=UTC)
LEASE = timedelta(seconds=30)
KEY = "a" * 64


def test_of_two_claimers_one_holds_the_file_and_the_other_sees_who(
        catalog: SqlCatalog) -> None:
    first, second = PullClaimStore(catalog.engines), PullClaimStore(catalog.engines)
    assert first.look(KEY) is None
    assert first.claim(KEY, "replica-1", NOW, NOW + LEASE) is True
    assert second.claim(KEY, "replica-2", NOW, NOW + LEASE) is False
    held = second.look(KEY)
    assert held is not None
    assert (held.holder, held.expires_at, held.outcome) == ("replica-1", NOW + LEASE, None)
    # Its own claim again is no different: still held, not re-taken.
    assert first.claim(KEY, "replica-1", NOW, NOW + LEASE) is False
    # Another file is another claim.
    assert second.claim("b" * 64, "replica-2", NOW, NOW + LEASE) is True


def test_of_many_claimers_at_once_exactly_one_wins(catalog: SqlCatalog) -> None:
    stores = [PullClaimStore(catalog.engines) for _ in range(6)]
    start = threading.Barrier(len(stores))
    won: list[str] = []

    def claim(n: int) -> None:
        start.wait()
        if stores[n].claim(KEY, f"replica-{n}", NOW, NOW + LEASE):
            won.append(f"replica-{n}")

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
    held = stores[0].look(KEY)
    assert held is not None and held.holder == won[0]


def test_a_claim_that_ran_out_is_taken_over_and_its_holder_can_no_longer_renew_it(
        catalog: SqlCatalog) -> None:
    killed, survivor = PullClaimStore(catalog.engines), PullClaimStore(catalog.engines)
    assert killed.claim(KEY, "killed", NOW, NOW + LEASE)
    assert killed.renew(KEY, "killed", NOW + 2 * LEASE) is True
    # Renewed: still held just before the new expiry, free from it on.
    assert not survivor.claim(KEY, "survivor", NOW + 2 * LEASE - timedelta(seconds=1),
                              NOW + 3 * LEASE)
    later = NOW + 2 * LEASE
    assert survivor.claim(KEY, "survivor", later, later + LEASE) is True
    held = survivor.look(KEY)
    assert held is not None and (held.holder, held.expires_at) == ("survivor", later + LEASE)
    assert killed.renew(KEY, "killed", later + 2 * LEASE) is False
    assert survivor.renew(KEY, "survivor", later + 2 * LEASE) is True


def test_a_settled_claim_shows_its_outcome_until_it_runs_out_then_is_free(
        catalog: SqlCatalog) -> None:
    holder, waiter = PullClaimStore(catalog.engines), PullClaimStore(catalog.engines)
    assert holder.claim(KEY, "holder", NOW, NOW + LEASE)
    holder.settle(KEY, "holder", '{"sha256": "cafe"}', NOW, NOW + timedelta(seconds=60))
    settled = waiter.look(KEY)
    assert settled is not None and settled.outcome == '{"sha256": "cafe"}'
    # Settled is not running: nothing to renew, and not claimable until it runs out.
    assert holder.renew(KEY, "holder", NOW + 2 * LEASE) is False
    assert not waiter.claim(KEY, "waiter", NOW + timedelta(seconds=59), NOW + 2 * LEASE)
    later = NOW + timedelta(seconds=60)
    assert waiter.claim(KEY, "waiter", later, later + LEASE) is True
    taken = waiter.look(KEY)
    assert taken is not None and (taken.holder, taken.outcome) == ("waiter", None)


def test_a_released_claim_is_free_at_once_but_only_its_holder_releases_it(
        catalog: SqlCatalog) -> None:
    holder, other = PullClaimStore(catalog.engines), PullClaimStore(catalog.engines)
    assert holder.claim(KEY, "holder", NOW, NOW + LEASE)
    other.release(KEY, "other")
    assert other.look(KEY) is not None
    holder.release(KEY, "holder")
    assert other.look(KEY) is None
    assert other.claim(KEY, "other", NOW, NOW + LEASE) is True


def test_settling_removes_the_rows_that_ran_out(catalog: SqlCatalog) -> None:
    store = PullClaimStore(catalog.engines)
    assert store.claim("b" * 64, "gone", NOW, NOW + LEASE)
    assert store.claim(KEY, "holder", NOW, NOW + 3 * LEASE)
    store.settle(KEY, "holder", "{}", NOW + 2 * LEASE, NOW + 3 * LEASE)
    assert store.look("b" * 64) is None
    assert store.look(KEY) is not None


def test_revision_0011_adds_the_claims_to_a_database_with_data(databases: Databases) -> None:
    url = databases.url("old")
    engine = create_engine(url)
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0009_replicas")
        conn.execute(text("INSERT INTO domains (id, name, owner, encryption_key, status, "
                          "created_at) VALUES (1, 'dom', '000000000000', 'k', 'Active', "
                          "'2026-01-01 00:00:00')"))
    engine.dispose()
    catalog = databases.catalog(url)
    catalog.migrate()  # what `packyard serve` does at start-up
    assert "upstream_claims" in inspect(catalog.engines[0]).get_table_names()
    assert [d.name for d in catalog.list_domains()] == ["dom"]
    assert PullClaimStore(catalog.engines).claim(KEY, "replica-1", NOW, NOW + LEASE)
