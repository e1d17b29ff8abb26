"""Announcing writes to the other processes on the database, on every metadata backend: each
write is heard by every watcher with its topic (a write access rests on also as ``access``),
once committed and never when rolled back, within 100 ms (p99), and a lost listener connection
flushes the caches and reconnects."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from packyard.auth.token_ledger import TokenLedger
from packyard.errors import Conflict
from packyard.iam.secrets import SecretBox
from packyard.iam.store import IamStore
from packyard.metadata import change_feed
from packyard.metadata.catalog import EntryPoint, NewAsset, NewVersion, SqlCatalog
from packyard.metadata.change_feed import ChangeListener, ChangeWatcher, watch_changes
from packyard.model import Domain
from tests.conformance.conftest import Databases

ACCOUNT = "000000000000"
POLICY = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Heard:
    """What a watcher delivered, with when."""

    def __init__(self) -> None:
        self.changes: list[tuple[float, frozenset[str]]] = []
        self.resyncs = 0
        self._event = threading.Condition()

    def on_change(self, topics: frozenset[str]) -> None:
        with self._event:
            self.changes.append((time.perf_counter(), topics))
            self._event.notify_all()

    def on_resync(self) -> None:
        with self._event:
            self.resyncs += 1
            self._event.notify_all()

    def topics(self, since: int = 0) -> set[str]:
        """Every topic heard, from the ``since``-th delivery on (PostgreSQL may deliver the
        two announcements of one transaction together or one after the other)."""
        return {topic for _, topics in self.changes[since:] for topic in topics}

    def wait_for(self, condition: Callable[[], bool], timeout: float = 5.0) -> bool:
        with self._event:
            return self._event.wait_for(condition, timeout)


@pytest.fixture()
def watching(databases: Databases, catalog: SqlCatalog) -> Iterator[tuple[ChangeWatcher, Heard]]:
    """A watcher on the catalog's database as another process would hold it."""
    watcher = watch_changes(catalog.url, own="another-process")
    heard = Heard()
    watcher.start(heard.on_change, heard.on_resync)
    if isinstance(watcher, ChangeListener):
        assert watcher.connected.wait(10)
    else:
        time.sleep(change_feed.SQLITE_POLL_SECONDS * 3)  # its first look at the counters
    yield watcher, heard
    watcher.stop()


def _domain(catalog: SqlCatalog, name: str = "dom") -> Domain:
    return catalog.create_domain(name, ACCOUNT, "key", NOW)


def _heard_access_write(heard: Heard) -> int:
    """Waits for the writes made so far (access rests on them: a domain made, a repository) to
    be heard, all of them; the deliveries so far. Several writes may be heard in one delivery
    or in several polls apart, so it waits until nothing more comes."""
    assert heard.wait_for(lambda: heard.topics() >= {"catalog", "access"})
    quiet = max(0.2, change_feed.SQLITE_POLL_SECONDS * 4)
    while True:
        delivered = len(heard.changes)
        time.sleep(quiet)
        if len(heard.changes) == delivered:
            return delivered


def test_a_write_access_rests_on_is_heard_as_catalog_and_access(
        catalog: SqlCatalog, watching: tuple[ChangeWatcher, Heard]) -> None:
    _, heard = watching
    domain = _domain(catalog)
    _heard_access_write(heard)
    assert heard.topics() == {"catalog", "access"}
    after = len(heard.changes)
    catalog.create_repository(domain, "shelf", "", ACCOUNT, NOW)
    assert heard.wait_for(lambda: heard.topics(after) == {"catalog", "access"})


def test_a_catalog_write_access_does_not_rest_on_is_heard_as_catalog_only(
        catalog: SqlCatalog, watching: tuple[ChangeWatcher, Heard]) -> None:
    _, heard = watching
    repository = catalog.create_repository(_domain(catalog), "shelf", "", ACCOUNT, NOW)
    after = _heard_access_write(heard)
    catalog.add_external_connection(repository, "public:pypi", "pypi", NOW)
    assert heard.wait_for(lambda: len(heard.changes) > after)
    time.sleep(0.2)  # anything else it announced would be heard by now
    assert heard.topics(after) == {"catalog"}


def test_a_pulled_file_kept_is_heard_as_content_only(
        catalog: SqlCatalog, watching: tuple[ChangeWatcher, Heard]) -> None:
    """A kept file changes pages and lookups, never a domain's graph or groups: the other
    processes hear ``content``, not ``catalog``, and keep those."""
    _, heard = watching
    repository = catalog.create_repository(_domain(catalog), "shelf", "", ACCOUNT, NOW)
    after = _heard_access_write(heard)
    version = NewVersion(version="1.0", version_key="1.0", summary=None, home_page=None,
                         source_code_repository=None, licenses=[], readme=None,
                         readme_content_type=None, dependencies=[], origin_type="EXTERNAL")
    asset = NewAsset(name="up-1.0.tar.gz", size=3, sha256="c" * 64, sha512="0" * 128,
                     sha1="0" * 40, md5="0" * 32)
    catalog.retain([repository], "pypi", "", "up", "up", version, asset,
                   EntryPoint("EXTERNAL", None, "public:pypi"), {"c" * 64: 3}, NOW)
    assert heard.wait_for(lambda: len(heard.changes) > after)
    time.sleep(0.2)  # anything else it announced would be heard by now
    assert heard.topics(after) == {"content"}


def test_an_iam_write_is_heard_as_iam(
        catalog: SqlCatalog, watching: tuple[ChangeWatcher, Heard]) -> None:
    _, heard = watching
    store = IamStore(catalog.engines, ACCOUNT, SecretBox.generate())
    store.create_user("alice", "/", NOW)  # something new: no decision rests on it, unheard
    store.put_user_policy("alice", "p", POLICY)
    assert heard.wait_for(lambda: "iam" in heard.topics())
    assert heard.topics() == {"iam"}


def test_a_revocation_is_heard_as_tokens_and_a_new_token_is_not_heard(
        catalog: SqlCatalog, watching: tuple[ChangeWatcher, Heard]) -> None:
    _, heard = watching
    domain = _domain(catalog)
    after = _heard_access_write(heard)
    catalog.insert_token("t1", "a" * 64, f"arn:aws:iam::{ACCOUNT}:root", None, domain, NOW,
                         NOW + timedelta(hours=1))
    assert TokenLedger(catalog.engines).revoke("t1", NOW)
    assert heard.wait_for(lambda: "tokens" in heard.topics())
    assert [topics for _, topics in heard.changes[after:]] == [frozenset({"tokens"})]


def test_a_refused_write_is_not_heard(
        catalog: SqlCatalog, watching: tuple[ChangeWatcher, Heard]) -> None:
    _, heard = watching
    _domain(catalog)
    after = _heard_access_write(heard)
    with pytest.raises(Conflict):
        _domain(catalog)  # rolled back, and its announcements with it
    store = IamStore(catalog.engines, ACCOUNT, SecretBox.generate())
    store.create_user("bob", "/", NOW)
    store.put_user_policy("bob", "p", POLICY)
    assert heard.wait_for(lambda: "iam" in heard.topics())
    assert [topics for _, topics in heard.changes[after:]] == [frozenset({"iam"})]


def test_a_process_does_not_hear_its_own_writes(
        databases: Databases, catalog: SqlCatalog, monkeypatch: pytest.MonkeyPatch) -> None:
    watcher = watch_changes(catalog.url)  # this process's own
    heard = Heard()
    watcher.start(heard.on_change, heard.on_resync)
    try:
        if isinstance(watcher, ChangeListener):
            assert watcher.connected.wait(10)
        time.sleep(change_feed.SQLITE_POLL_SECONDS * 3)
        _domain(catalog, "mine")
        time.sleep(0.3)
        assert heard.changes == []
        monkeypatch.setattr(change_feed, "_BOOT", "someone-else")
        _domain(catalog, "theirs")
        assert heard.wait_for(lambda: heard.changes != [])
    finally:
        watcher.stop()


def test_each_of_many_writes_is_heard(
        catalog: SqlCatalog, watching: tuple[ChangeWatcher, Heard]) -> None:
    # How soon is bench's figure (bench/run replicas): a latency bound asserted here would fail
    # on a loaded machine and prove nothing on an idle one. The delays are printed for -s.
    _, heard = watching
    delays = []
    for n in range(60):
        count = len(heard.changes)
        committed = time.perf_counter()
        _domain(catalog, f"d{n}")
        committed = (committed + time.perf_counter()) / 2
        assert heard.wait_for(  # both of its topics, together or one after the other
            lambda count=count: heard.topics(count) >= {"catalog", "access"})  # type: ignore[misc]
        delays.append(max(0.0, heard.changes[-1][0] - committed))
    delays.sort()
    print(f"heard after p50 {statistics.median(delays) * 1000:.1f} ms, "
          f"p99 {delays[int(len(delays) * 0.99) - 1] * 1000:.1f} ms")


def test_a_lost_listener_connection_flushes_and_reconnects(
        databases: Databases, catalog: SqlCatalog,
        watching: tuple[ChangeWatcher, Heard]) -> None:
    watcher, heard = watching
    if databases.backend != "postgresql":
        pytest.skip("SQLite has no listener connection to lose")
    assert isinstance(watcher, ChangeListener)
    # As a database restart or a proxy's idle timeout would: the server ends the connection.
    with catalog.engines[1].connect() as conn:
        from sqlalchemy import text

        ended = conn.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'packyard-changes' AND datname = current_database()")
        ).scalars().all()
        conn.commit()
    assert ended == [True]
    # Once when the loss is noticed, once more after reconnecting (what was announced in
    # between was never heard).
    assert heard.wait_for(lambda: heard.resyncs >= 2, timeout=20)
    assert watcher.reconnects == 1 and watcher.connected.is_set()
    _domain(catalog)
    assert heard.wait_for(lambda: "catalog" in heard.topics())
