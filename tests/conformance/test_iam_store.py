"""The IAM store on every database backend (it lives on the catalog's engines): entities, IAM's
conflict rules and wording, secrets at rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from packyard.errors import Conflict, NotFound
from packyard.iam.errors import (
    DeleteConflict,
    EntityAlreadyExists,
    InvalidInput,
    LimitExceeded,
    NoSuchEntity,
)
from packyard.iam.schema import iam_access_keys, sts_sessions
from packyard.iam.secrets import SecretBox
from packyard.iam.sessions import token_digest
from packyard.iam.store import IamStore
from packyard.metadata.catalog import SqlCatalog

ACCOUNT = "000000000000"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
TRUST = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},' \
        '"Action":"sts:AssumeRole"}]}'
DOC = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
READ_ONLY = "arn:aws:iam::aws:policy/AWSCodeArtifactReadOnlyAccess"


@pytest.fixture()
def store(catalog: SqlCatalog) -> IamStore:
    return IamStore(catalog.engines, ACCOUNT, SecretBox.generate())


# -- users ---------------------------------------------------------------------------------------

def test_user_lifecycle(store: IamStore) -> None:
    user = store.create_user("alice", "/team/", NOW)
    assert user.arn == "arn:aws:iam::000000000000:user/team/alice"
    assert user.id.startswith("AIDA") and len(user.id) == 21
    assert store.get_user("ALICE") == user  # names ignore case, as in IAM
    assert [u.name for u in store.list_users("/team/")] == ["alice"]
    assert store.list_users("/other/") == []
    store.delete_user("alice")
    with pytest.raises(NoSuchEntity, match="The user with name alice cannot be found."):
        store.get_user("alice")


def test_user_names_are_unique_ignoring_case(store: IamStore) -> None:
    store.create_user("alice", "/", NOW)
    with pytest.raises(EntityAlreadyExists, match="User with name Alice already exists."):
        store.create_user("Alice", "/", NOW)


@pytest.mark.parametrize(("setup", "message"), [
    ("key", "Cannot delete entity, must delete access keys first."),
    ("inline", "Cannot delete entity, must delete policies first."),
    ("attached", "Cannot delete entity, must detach all policies first."),
])
def test_user_with_dependents_cannot_be_deleted(store: IamStore, setup: str,
                                                message: str) -> None:
    store.create_user("bob", "/", NOW)
    if setup == "key":
        store.create_access_key("bob", NOW)
    elif setup == "inline":
        store.put_user_policy("bob", "p", DOC)
    else:
        store.attach_user_policy("bob", READ_ONLY)
    with pytest.raises(DeleteConflict, match=message):
        store.delete_user("bob")
    assert store.get_user("bob").name == "bob"


# -- access keys ---------------------------------------------------------------------------------

def test_access_key_secret_is_encrypted_at_rest(store: IamStore, catalog: SqlCatalog) -> None:
    store.create_user("carol", "/", NOW)
    key, secret = store.create_access_key("carol", NOW)
    assert key.id.startswith("AKIA") and len(key.id) == 20 and len(secret) == 40
    with catalog.engines[0].connect() as conn:
        sealed = conn.execute(select(iam_access_keys.c.secret_encrypted)).scalar_one()
    assert secret not in sealed
    assert store.access_key_secret(key.id) == secret


def test_access_key_is_unreadable_with_another_data_dir_key(catalog: SqlCatalog) -> None:
    writer = IamStore(catalog.engines, ACCOUNT, SecretBox.generate())
    writer.create_user("carol", "/", NOW)
    key, _ = writer.create_access_key("carol", NOW)
    reader = IamStore(catalog.engines, ACCOUNT, SecretBox.generate())
    with pytest.raises(ValueError, match="iam-secrets.key is not the key it was encrypted with"):
        reader.access_key_secret(key.id)


def test_two_access_keys_per_user(store: IamStore) -> None:
    store.create_user("dave", "/", NOW)
    store.create_access_key("dave", NOW)
    store.create_access_key("dave", NOW)
    with pytest.raises(LimitExceeded, match="Cannot exceed quota for AccessKeysPerUser: 2"):
        store.create_access_key("dave", NOW)


def test_access_key_status_and_deletion(store: IamStore) -> None:
    store.create_user("erin", "/", NOW)
    key, _ = store.create_access_key("erin", NOW)
    store.update_access_key("erin", key.id, "Inactive")
    found = store.access_key(key.id)
    assert found is not None and found[0].status == "Inactive" and found[1].name == "erin"
    store.delete_access_key("erin", key.id)
    assert store.access_key(key.id) is None
    assert store.access_key_secret(key.id) is None


def test_access_key_of_another_user_is_not_found(store: IamStore) -> None:
    store.create_user("erin", "/", NOW)
    store.create_user("frank", "/", NOW)
    key, _ = store.create_access_key("erin", NOW)
    with pytest.raises(NoSuchEntity, match=f"The Access Key with id {key.id} cannot be found."):
        store.delete_access_key("frank", key.id)


# -- policies ------------------------------------------------------------------------------------

def test_inline_policies(store: IamStore) -> None:
    store.create_user("gina", "/", NOW)
    store.put_user_policy("gina", "ReadAll", DOC)
    store.put_user_policy("gina", "readall", DOC.replace("Allow", "Deny"))  # same name, replaced
    assert store.list_user_policies("gina") == ["readall"]
    assert "Deny" in store.get_user_policy("gina", "READALL").document
    store.delete_user_policy("gina", "readall")
    with pytest.raises(NoSuchEntity, match="The user policy with name readall cannot be found."):
        store.get_user_policy("gina", "readall")


def test_managed_policies_and_attachments(store: IamStore) -> None:
    store.create_user("hal", "/", NOW)
    policy = store.create_policy("Publishers", "/", DOC, "who may publish", NOW)
    assert policy.arn == "arn:aws:iam::000000000000:policy/Publishers"
    with pytest.raises(EntityAlreadyExists,
                       match="A policy called publishers already exists. Duplicate names"):
        store.create_policy("publishers", "/", DOC, None, NOW)
    store.attach_user_policy("hal", policy.arn)
    store.attach_user_policy("hal", policy.arn)  # twice is a no-op
    store.attach_user_policy("hal", READ_ONLY)
    assert store.get_policy(policy.arn).attachment_count == 1
    # In ARN order: the account's own policies before AWS's.
    assert [p.name for p in store.list_attached_user_policies("hal")] == [
        "Publishers", "AWSCodeArtifactReadOnlyAccess"]
    assert [name for name, _ in store.user_documents(store.get_user("hal").id)] == [
        policy.arn, READ_ONLY]
    with pytest.raises(DeleteConflict, match="Cannot delete a policy attached to entities."):
        store.delete_policy(policy.arn)
    store.detach_user_policy("hal", policy.arn)
    store.delete_policy(policy.arn)
    with pytest.raises(NoSuchEntity, match="does not exist or is not attachable"):
        store.get_policy(policy.arn)


def test_aws_managed_policies_exist_and_cannot_be_deleted(store: IamStore) -> None:
    names = {p.name for p in store.list_policies("AWS")}
    assert names == {"AWSCodeArtifactAdminAccess", "AWSCodeArtifactReadOnlyAccess"}
    assert store.list_policies("Local") == []
    with pytest.raises(InvalidInput, match="AWS managed policies cannot be deleted."):
        store.delete_policy(READ_ONLY)


def test_attaching_an_unknown_policy(store: IamStore) -> None:
    store.create_user("ivy", "/", NOW)
    with pytest.raises(NoSuchEntity, match="Policy arn:aws:iam::aws:policy/Nope does not exist"):
        store.attach_user_policy("ivy", "arn:aws:iam::aws:policy/Nope")


def test_detaching_a_policy_that_is_not_attached(store: IamStore) -> None:
    store.create_user("ivy", "/", NOW)
    with pytest.raises(NoSuchEntity, match=f"Policy {READ_ONLY} was not found."):
        store.detach_user_policy("ivy", READ_ONLY)


# -- roles and sessions --------------------------------------------------------------------------

def test_role_lifecycle_and_sessions(store: IamStore, catalog: SqlCatalog) -> None:
    role = store.create_role("deployer", "/ci/", TRUST, "CI", 7200, NOW)
    assert role.arn == "arn:aws:iam::000000000000:role/ci/deployer"
    assert role.id.startswith("AROA")
    session, secret, token = store.create_session(role, "build-1", "caller", NOW,
                                                  NOW + timedelta(hours=1))
    assert session.access_key_id.startswith("ASIA")
    assert session.arn == "arn:aws:sts::000000000000:assumed-role/deployer/build-1"
    assert session.user_id == f"{role.id}:build-1"
    assert store.session_secrets(session.access_key_id) == (secret, token_digest(token))
    with catalog.engines[0].connect() as conn:
        stored = conn.execute(select(sts_sessions)).one()
    assert token not in (stored.token_sha256, stored.secret_encrypted)
    store.put_role_policy("deployer", "p", DOC)
    with pytest.raises(DeleteConflict, match="must delete policies first"):
        store.delete_role("deployer")
    store.delete_role_policy("deployer", "p")
    store.delete_role("deployer")
    # The role's sessions go with it.
    assert store.session(session.access_key_id) is None


def test_expired_sessions_are_purged_by_the_next_assume(store: IamStore) -> None:
    role = store.create_role("r", "/", TRUST, None, 3600, NOW)
    old, _, _ = store.create_session(role, "a", "c", NOW, NOW + timedelta(seconds=900))
    later = NOW + timedelta(hours=1)
    store.create_session(role, "b", "c", later, later + timedelta(seconds=900))
    assert store.session(old.access_key_id) is None


def test_users_and_roles_are_found_by_id(store: IamStore) -> None:
    user = store.create_user("ulla", "/", NOW)
    role = store.create_role("runner", "/", TRUST, None, 3600, NOW)
    assert store.user_by_id(user.id) == user
    assert store.role_by_id(role.id) == role
    assert store.user_by_id(role.id) is None and store.role_by_id(user.id) is None


def test_access_keys_are_listed_oldest_first(store: IamStore) -> None:
    store.create_user("kim", "/", NOW)
    first, _ = store.create_access_key("kim", NOW)
    second, _ = store.create_access_key("kim", NOW + timedelta(seconds=1))
    store.update_access_key("kim", second.id, "Inactive")
    assert [(k.id, k.user_name, k.status) for k in store.list_access_keys("kim")] == [
        (first.id, "kim", "Active"), (second.id, "kim", "Inactive")]


def test_roles_by_name_and_path_and_their_trust_policy(store: IamStore) -> None:
    ci = store.create_role("Builder", "/ci/", TRUST, "builds", 3600, NOW)
    store.create_role("admin", "/", TRUST, None, 3600, NOW)
    assert store.get_role("builder") == ci  # names ignore case, as in IAM
    assert [r.name for r in store.list_roles("/ci/")] == ["Builder"]
    assert {r.name for r in store.list_roles()} == {"Builder", "admin"}
    store.update_assume_role_policy("builder", TRUST.replace("*", "arn:aws:iam::1:root"))
    assert store.get_role("Builder").assume_role_policy == TRUST.replace(
        "*", "arn:aws:iam::1:root")
    with pytest.raises(NoSuchEntity, match="The role with name nobody cannot be found."):
        store.get_role("nobody")


def test_role_policies_inline_and_attached(store: IamStore) -> None:
    role = store.create_role("deployer", "/", TRUST, None, 3600, NOW)
    store.put_role_policy("deployer", "Deploy", DOC)
    assert store.list_role_policies("deployer") == ["Deploy"]
    assert store.get_role_policy("deployer", "deploy").document == DOC
    store.attach_role_policy("deployer", READ_ONLY)
    assert [p.arn for p in store.list_attached_role_policies("deployer")] == [READ_ONLY]
    assert [name for name, _ in store.role_documents(role.id)] == ["Deploy", READ_ONLY]
    store.detach_role_policy("deployer", READ_ONLY)
    with pytest.raises(NoSuchEntity, match=f"Policy {READ_ONLY} was not found."):
        store.detach_role_policy("deployer", READ_ONLY)
    assert [name for name, _ in store.role_documents(role.id)] == ["Deploy"]


# -- resource policies ---------------------------------------------------------------------------

def test_resource_policy_revisions(store: IamStore, catalog: SqlCatalog) -> None:
    domain = catalog.create_domain("dom", ACCOUNT, "key", NOW)
    arn = "arn:aws:codeartifact:us-east-1:000000000000:domain/dom"
    first = store.put_resource_policy(arn, domain.id, None, "{}", None, NOW)
    second = store.put_resource_policy(arn, domain.id, None, "{ }", first.revision, NOW)
    assert second.revision != first.revision
    with pytest.raises(Conflict, match=f"The policy revision {first.revision} is not the current"):
        store.put_resource_policy(arn, domain.id, None, "{}", first.revision, NOW)
    with pytest.raises(Conflict, match="is not the current revision"):
        store.delete_resource_policy(arn, "stale")
    assert store.delete_resource_policy(arn, second.revision).document == "{ }"
    with pytest.raises(NotFound, match="No resource policy is set on"):
        store.delete_resource_policy(arn, None)


def test_revision_given_for_a_policy_that_does_not_exist(store: IamStore,
                                                        catalog: SqlCatalog) -> None:
    domain = catalog.create_domain("dom", ACCOUNT, "key", NOW)
    arn = "arn:aws:codeartifact:us-east-1:000000000000:domain/dom"
    with pytest.raises(Conflict, match="has no resource policy"):
        store.put_resource_policy(arn, domain.id, None, "{}", "abc", NOW)


def test_deleting_a_repository_deletes_its_policy(store: IamStore, catalog: SqlCatalog) -> None:
    domain = catalog.create_domain("dom", ACCOUNT, "key", NOW)
    repo = catalog.create_repository(domain, "repo", "", ACCOUNT, NOW)
    arn = "arn:aws:codeartifact:us-east-1:000000000000:repository/dom/repo"
    store.put_resource_policy(arn, domain.id, repo.id, "{}", None, NOW)
    catalog.delete_repository(repo)
    assert store.resource_policy(arn) is None


def test_generation_changes_on_every_write_a_decision_can_rest_on(store: IamStore) -> None:
    # Making something new (a user, its key, a role, an unattached policy) changes no
    # decision already made; anything that can is a new generation.
    before = store.generation
    store.create_user("x", "/", NOW)
    store.create_access_key("x", NOW)
    store.create_role("r", "/", DOC, None, 3600, NOW)
    arn = store.create_policy("p", "/", DOC, None, NOW).arn
    assert store.generation == before
    changes = [lambda: store.put_user_policy("x", "inline", DOC),
               lambda: store.attach_user_policy("x", arn),
               lambda: store.detach_user_policy("x", arn),
               lambda: store.delete_user_policy("x", "inline")]
    for change in changes:
        before = store.generation
        change()
        assert store.generation != before
