"""Two servers on one data directory, as ``--workers`` (or replicas on one database) run: a change
made through one is seen by the other at once, not when the other's caches expire. Each app's
change watcher is started as ``packyard serve`` starts it, pretending to be a process of its
own (in one test process every write would otherwise count as its own)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from packyard.auth.token_ledger import TokenLedger
from packyard.auth.tokens import hash_token
from packyard.metadata.change_feed import watch_changes
from tests.inprocess.conftest import PackyardFactory
from tests.inprocess.harness import InProcessPackyard, InProcessRepo, assert_refused
from tests.integration.helpers import Credentials, DistFactory, DistSpec, upload_ok

JSON_V1 = {"Accept": "application/vnd.pypi.simple.v1+json"}
# Well under every cache's lifetime (pages 2 s, token checks 4 s): seen by then only if heard.
SOON = 0.5


@pytest.fixture
def two(packyard_factory: PackyardFactory) -> Iterator[tuple[InProcessPackyard,
                                                             InProcessPackyard]]:
    apps = (packyard_factory(), packyard_factory())
    for n, app in enumerate(apps):
        invalidation = app.container.invalidation
        assert invalidation is not None
        invalidation.watcher = watch_changes(app.container.settings.effective_database_url,
                                             own=f"replica-{n}")
        invalidation.start()
    time.sleep(0.15)  # the watchers' first look at the counters
    yield apps
    for app in apps:
        app.container.stop_background()


def _on(app: InProcessPackyard, repo: InProcessRepo) -> InProcessRepo:
    return InProcessRepo(repo.server_url, repo.domain, repo.repository, repo.endpoint,
                         repo.token, transport=app.transport)


def _within(seconds: float, check: Callable[[], Any]) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, "not seen in time"
        time.sleep(0.01)
    return time.monotonic() - started


def test_a_publish_through_one_is_listed_by_the_other_at_once(
        two: tuple[InProcessPackyard, InProcessPackyard], dists: DistFactory) -> None:
    first, second = two
    repo = first.pypi_repo()
    upload_ok(repo, dists.wheel(DistSpec(name="pkg", version="1.0")))
    elsewhere = _on(second, repo)
    assert len(elsewhere.get("simple/pkg/", **JSON_V1).json()["files"]) == 1  # now cached
    upload_ok(repo, dists.wheel(DistSpec(name="pkg", version="2.0")))
    _within(SOON, lambda: len(elsewhere.get("simple/pkg/", **JSON_V1).json()["files"]) == 2)


def test_a_revocation_by_another_process_stops_the_token_at_once(
        two: tuple[InProcessPackyard, InProcessPackyard], dists: DistFactory) -> None:
    first, second = two
    repo = first.pypi_repo()
    upload_ok(repo, dists.wheel(DistSpec(name="pkg", version="1.0")))
    elsewhere = _on(second, repo)
    assert elsewhere.get("simple/").status_code == 200  # the token check is cached now
    # `packyard token revoke` is a process of its own (neither replica's origin).
    TokenLedger(first.container.catalog.engines).revoke_by_digest(hash_token(repo.token),
                                                                  datetime.now(UTC))
    _within(SOON, lambda: elsewhere.get("simple/").status_code == 401)
    assert_refused(elsewhere.get("simple/"), 401, "Invalid authorization token")


def test_a_key_deactivated_through_one_stops_its_tokens_on_the_other_at_once(
        two: tuple[InProcessPackyard, InProcessPackyard]) -> None:
    first, second = two
    first.pypi_repo()  # creates acme/shelf
    iam = first.iam()
    iam.create_user(UserName="kate")
    iam.attach_user_policy(UserName="kate", PolicyArn="arn:aws:iam::aws:policy/"
                                                      "AWSCodeArtifactReadOnlyAccess")
    key = iam.create_access_key(UserName="kate")["AccessKey"]
    kate = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    repo = _on(second, second.pypi_repo(create=False, credentials=kate))
    assert repo.get("simple/").status_code == 200  # principal and grant cached on the second
    iam.update_access_key(UserName="kate", AccessKeyId=kate.access_key_id, Status="Inactive")
    _within(SOON, lambda: repo.get("simple/").status_code == 401)


def test_a_policy_change_through_one_applies_on_the_other_at_once(
        two: tuple[InProcessPackyard, InProcessPackyard], dists: DistFactory) -> None:
    first, second = two
    admin = first.pypi_repo()
    upload_ok(admin, dists.wheel(DistSpec(name="pkg", version="1.0")))
    elsewhere = _on(second, admin)
    assert elsewhere.get("simple/").status_code == 200
    deny = ('{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*",'
            '"Action":"codeartifact:ReadFromRepository","Resource":"*"}]}')
    first.codeartifact().put_repository_permissions_policy(
        domain=admin.domain, repository=admin.repository, policyDocument=deny)
    _within(SOON, lambda: elsewhere.get("simple/").status_code == 403)
