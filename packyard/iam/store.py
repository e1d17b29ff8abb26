"""The IAM store: users, access keys, roles, policies, STS sessions and resource policies in SQL.

Each method is one transaction and returns plain records (``packyard.iam.records``); failures are
IAM's own errors (``packyard.iam.errors``) with AWS's wording. Secret access keys go in and out
through a ``SecretBox`` and are never returned by listing methods; session tokens are stored as
their sha256 only.

``generation`` grows with every write made through this object, so caches in the same process
can drop what they hold at once; other processes (the CLI, replicas) rely on the caches' TTL.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, delete, func, insert, select, update
from sqlalchemy.engine import Engine, Row

from packyard.errors import Conflict, NotFound
from packyard.iam.errors import (
    DeleteConflict,
    EntityAlreadyExists,
    InvalidInput,
    LimitExceeded,
    NoSuchEntity,
)
from packyard.iam.managed import AWS_MANAGED_POLICIES, aws_managed_policy, is_aws_managed_arn
from packyard.iam.records import (
    AccessKey,
    InlinePolicy,
    ManagedPolicy,
    ResourcePolicy,
    Role,
    Session,
    User,
    iam_arn,
)
from packyard.iam.schema import (
    iam_access_keys,
    iam_policies,
    iam_role_attachments,
    iam_role_policies,
    iam_roles,
    iam_user_attachments,
    iam_user_policies,
    iam_users,
    resource_policies,
    sts_sessions,
)
from packyard.iam.secrets import (
    SecretBox,
    new_id,
    new_secret_access_key,
    new_session_token,
)
from packyard.metadata.catalog import new_revision

# IAM quota "Access keys assigned to an IAM user": 2.
MAX_ACCESS_KEYS_PER_USER = 2


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


class IamStore:
    """Every IAM read and write."""

    def __init__(self, engines: tuple[Engine, Engine], account_id: str, box: SecretBox) -> None:
        self._reader, self._writer = engines
        self.account_id = account_id
        self._box = box
        self._generations = itertools.count(1)
        self._generation = 0

    @property
    def generation(self) -> int:
        """Changes whenever this store has written; caches compare it to drop stale entries."""
        return self._generation

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._reader.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        try:
            with self._writer.connect() as conn, conn.begin():
                yield conn
        finally:
            self._generation = next(self._generations)

    # -- records -------------------------------------------------------------------------------

    def _user(self, row: Row[Any]) -> User:
        return User(id=row.id, name=row.name, path=row.path,
                    arn=iam_arn(self.account_id, "user", row.path, row.name),
                    created_at=row.created_at)

    def _role(self, row: Row[Any]) -> Role:
        return Role(id=row.id, name=row.name, path=row.path,
                    arn=iam_arn(self.account_id, "role", row.path, row.name),
                    description=row.description, assume_role_policy=row.assume_role_policy,
                    max_session_duration=row.max_session_duration, created_at=row.created_at)

    # -- users ---------------------------------------------------------------------------------

    def create_user(self, name: str, path: str, now: datetime) -> User:
        with self._write() as conn:
            if conn.execute(select(iam_users.c.id).where(
                    iam_users.c.name_key == name.lower())).first():
                raise EntityAlreadyExists(f"User with name {name} already exists.",
                                          resource_id=name, resource_type="user")
            conn.execute(insert(iam_users).values(id=new_id("AIDA"), name=name,
                                                   name_key=name.lower(), path=path,
                                                   created_at=now))
            return self._user(self._user_row(conn, name))

    def _user_row(self, conn: Connection, name: str) -> Row[Any]:
        row = conn.execute(select(iam_users).where(iam_users.c.name_key == name.lower())).first()
        if row is None:
            raise NoSuchEntity(f"The user with name {name} cannot be found.",
                               resource_id=name, resource_type="user")
        return row

    def get_user(self, name: str) -> User:
        with self._read() as conn:
            return self._user(self._user_row(conn, name))

    def user_by_id(self, user_id: str) -> User | None:
        with self._read() as conn:
            row = conn.execute(select(iam_users).where(iam_users.c.id == user_id)).first()
        return self._user(row) if row else None

    def list_users(self, path_prefix: str = "/") -> list[User]:
        with self._read() as conn:
            rows = conn.execute(select(iam_users).where(
                iam_users.c.path.startswith(path_prefix, autoescape=True))
                .order_by(iam_users.c.name_key)).all()
        return [self._user(r) for r in rows]

    def delete_user(self, name: str) -> User:
        """Delete a user that has nothing left attached, as IAM requires (DeleteConflict)."""
        with self._write() as conn:
            row = self._user_row(conn, name)
            dependents = [
                (iam_access_keys, iam_access_keys.c.user_id, "must delete access keys first"),
                (iam_user_policies, iam_user_policies.c.user_id, "must delete policies first"),
                (iam_user_attachments, iam_user_attachments.c.user_id,
                 "must detach all policies first"),
            ]
            for table, column, advice in dependents:
                if _exists(conn, table, column == row.id):
                    raise DeleteConflict(f"Cannot delete entity, {advice}.",
                                         resource_id=name, resource_type="user")
            conn.execute(delete(iam_users).where(iam_users.c.id == row.id))
            return self._user(row)

    # -- access keys ---------------------------------------------------------------------------

    def create_access_key(self, user_name: str, now: datetime) -> tuple[AccessKey, str]:
        """A new Active key for the user, and its secret (shown once, as IAM does)."""
        secret = new_secret_access_key()
        with self._write() as conn:
            user = self._user_row(conn, user_name)
            count = conn.execute(select(func.count()).select_from(iam_access_keys).where(
                iam_access_keys.c.user_id == user.id)).scalar_one()
            if count >= MAX_ACCESS_KEYS_PER_USER:
                raise LimitExceeded("Cannot exceed quota for AccessKeysPerUser: "
                                    f"{MAX_ACCESS_KEYS_PER_USER}",
                                    resource_id=user_name, resource_type="user")
            key_id = new_id("AKIA", 20)
            conn.execute(insert(iam_access_keys).values(
                id=key_id, user_id=user.id, secret_encrypted=self._box.encrypt(secret),
                status="Active", created_at=now))
            return AccessKey(key_id, user.id, user.name, "Active", now), secret

    def list_access_keys(self, user_name: str) -> list[AccessKey]:
        with self._read() as conn:
            user = self._user_row(conn, user_name)
            rows = conn.execute(select(iam_access_keys).where(
                iam_access_keys.c.user_id == user.id).order_by(iam_access_keys.c.created_at))
            return [AccessKey(r.id, user.id, user.name, r.status, r.created_at) for r in rows]

    def _key_row(self, conn: Connection, user_name: str, key_id: str) -> Row[Any]:
        user = self._user_row(conn, user_name)
        row = conn.execute(select(iam_access_keys).where(
            iam_access_keys.c.id == key_id, iam_access_keys.c.user_id == user.id)).first()
        if row is None:
            raise NoSuchEntity(f"The Access Key with id {key_id} cannot be found.",
                               resource_id=key_id, resource_type="access-key")
        return row

    def update_access_key(self, user_name: str, key_id: str, status: str) -> None:
        with self._write() as conn:
            self._key_row(conn, user_name, key_id)
            conn.execute(update(iam_access_keys).where(iam_access_keys.c.id == key_id)
                         .values(status=status))

    def delete_access_key(self, user_name: str, key_id: str) -> None:
        with self._write() as conn:
            self._key_row(conn, user_name, key_id)
            conn.execute(delete(iam_access_keys).where(iam_access_keys.c.id == key_id))

    def access_key(self, key_id: str) -> tuple[AccessKey, User] | None:
        """A key and its user, whatever the key's status (the caller checks it)."""
        with self._read() as conn:
            row = conn.execute(
                select(iam_access_keys, iam_users.c.name.label("user_name"),
                       iam_users.c.path.label("user_path"),
                       iam_users.c.created_at.label("user_created_at"))
                .join(iam_users, iam_access_keys.c.user_id == iam_users.c.id)
                .where(iam_access_keys.c.id == key_id)).first()
        if row is None:
            return None
        user = User(id=row.user_id, name=row.user_name, path=row.user_path,
                    arn=iam_arn(self.account_id, "user", row.user_path, row.user_name),
                    created_at=row.user_created_at)
        return AccessKey(row.id, row.user_id, row.user_name, row.status, row.created_at), user

    def access_key_secret(self, key_id: str) -> str | None:
        with self._read() as conn:
            sealed = conn.execute(select(iam_access_keys.c.secret_encrypted).where(
                iam_access_keys.c.id == key_id)).scalar()
        return None if sealed is None else self._box.decrypt(sealed)

    # -- inline policies -----------------------------------------------------------------------

    def put_user_policy(self, user_name: str, policy_name: str, document: str) -> None:
        with self._write() as conn:
            user = self._user_row(conn, user_name)
            _upsert_inline(conn, iam_user_policies, iam_user_policies.c.user_id, user.id,
                           policy_name, document)

    def get_user_policy(self, user_name: str, policy_name: str) -> InlinePolicy:
        with self._read() as conn:
            user = self._user_row(conn, user_name)
            return _inline(conn, iam_user_policies, iam_user_policies.c.user_id, user.id,
                           policy_name, "user")

    def list_user_policies(self, user_name: str) -> list[str]:
        with self._read() as conn:
            user = self._user_row(conn, user_name)
            return _inline_names(conn, iam_user_policies, iam_user_policies.c.user_id, user.id)

    def delete_user_policy(self, user_name: str, policy_name: str) -> None:
        with self._write() as conn:
            user = self._user_row(conn, user_name)
            _inline(conn, iam_user_policies, iam_user_policies.c.user_id, user.id, policy_name,
                    "user")
            conn.execute(delete(iam_user_policies).where(
                iam_user_policies.c.user_id == user.id,
                iam_user_policies.c.name_key == policy_name.lower()))

    def put_role_policy(self, role_name: str, policy_name: str, document: str) -> None:
        with self._write() as conn:
            role = self._role_row(conn, role_name)
            _upsert_inline(conn, iam_role_policies, iam_role_policies.c.role_id, role.id,
                           policy_name, document)

    def get_role_policy(self, role_name: str, policy_name: str) -> InlinePolicy:
        with self._read() as conn:
            role = self._role_row(conn, role_name)
            return _inline(conn, iam_role_policies, iam_role_policies.c.role_id, role.id,
                           policy_name, "role")

    def list_role_policies(self, role_name: str) -> list[str]:
        with self._read() as conn:
            role = self._role_row(conn, role_name)
            return _inline_names(conn, iam_role_policies, iam_role_policies.c.role_id, role.id)

    def delete_role_policy(self, role_name: str, policy_name: str) -> None:
        with self._write() as conn:
            role = self._role_row(conn, role_name)
            _inline(conn, iam_role_policies, iam_role_policies.c.role_id, role.id, policy_name,
                    "role")
            conn.execute(delete(iam_role_policies).where(
                iam_role_policies.c.role_id == role.id,
                iam_role_policies.c.name_key == policy_name.lower()))

    # -- roles ---------------------------------------------------------------------------------

    def create_role(self, name: str, path: str, assume_role_policy: str,
                    description: str | None, max_session_duration: int, now: datetime) -> Role:
        with self._write() as conn:
            if conn.execute(select(iam_roles.c.id).where(
                    iam_roles.c.name_key == name.lower())).first():
                raise EntityAlreadyExists(f"Role with name {name} already exists.",
                                          resource_id=name, resource_type="role")
            conn.execute(insert(iam_roles).values(
                id=new_id("AROA"), name=name, name_key=name.lower(), path=path,
                description=description, assume_role_policy=assume_role_policy,
                max_session_duration=max_session_duration, created_at=now))
            return self._role(self._role_row(conn, name))

    def _role_row(self, conn: Connection, name: str) -> Row[Any]:
        row = conn.execute(select(iam_roles).where(iam_roles.c.name_key == name.lower())).first()
        if row is None:
            raise NoSuchEntity(f"The role with name {name} cannot be found.",
                               resource_id=name, resource_type="role")
        return row

    def get_role(self, name: str) -> Role:
        with self._read() as conn:
            return self._role(self._role_row(conn, name))

    def role_by_id(self, role_id: str) -> Role | None:
        with self._read() as conn:
            row = conn.execute(select(iam_roles).where(iam_roles.c.id == role_id)).first()
        return self._role(row) if row else None

    def list_roles(self, path_prefix: str = "/") -> list[Role]:
        with self._read() as conn:
            rows = conn.execute(select(iam_roles).where(
                iam_roles.c.path.startswith(path_prefix, autoescape=True))
                .order_by(iam_roles.c.name_key)).all()
        return [self._role(r) for r in rows]

    def update_assume_role_policy(self, name: str, document: str) -> None:
        with self._write() as conn:
            row = self._role_row(conn, name)
            conn.execute(update(iam_roles).where(iam_roles.c.id == row.id)
                         .values(assume_role_policy=document))

    def delete_role(self, name: str) -> Role:
        """Delete a role without policies; its sessions go with it (their keys stop working)."""
        with self._write() as conn:
            row = self._role_row(conn, name)
            if _exists(conn, iam_role_policies, iam_role_policies.c.role_id == row.id):
                raise DeleteConflict("Cannot delete entity, must delete policies first.",
                                     resource_id=name, resource_type="role")
            if _exists(conn, iam_role_attachments, iam_role_attachments.c.role_id == row.id):
                raise DeleteConflict("Cannot delete entity, must detach all policies first.",
                                     resource_id=name, resource_type="role")
            # Explicitly, not only by ON DELETE CASCADE: SQLite enforces it only with
            # foreign_keys=ON, which a hand-opened connection may lack.
            conn.execute(delete(sts_sessions).where(sts_sessions.c.role_id == row.id))
            conn.execute(delete(iam_roles).where(iam_roles.c.id == row.id))
            return self._role(row)

    # -- managed policies ----------------------------------------------------------------------

    def create_policy(self, name: str, path: str, document: str, description: str | None,
                      now: datetime) -> ManagedPolicy:
        arn = iam_arn(self.account_id, "policy", path, name)
        with self._write() as conn:
            if conn.execute(select(iam_policies.c.id).where(
                    iam_policies.c.name_key == name.lower())).first():
                raise EntityAlreadyExists(
                    f"A policy called {name} already exists. Duplicate names are not allowed.",
                    resource_id=name, resource_type="policy")
            conn.execute(insert(iam_policies).values(
                id=new_id("ANPA"), name=name, name_key=name.lower(), path=path, arn=arn,
                description=description, document=document, default_version_id="v1",
                created_at=now, updated_at=now))
            return self._policy(conn, arn)

    def _attachment_count(self, conn: Connection, arn: str) -> int:
        users = conn.execute(select(func.count()).select_from(iam_user_attachments).where(
            iam_user_attachments.c.policy_arn == arn)).scalar_one()
        roles = conn.execute(select(func.count()).select_from(iam_role_attachments).where(
            iam_role_attachments.c.policy_arn == arn)).scalar_one()
        return int(users) + int(roles)

    def _policy(self, conn: Connection, arn: str) -> ManagedPolicy:
        aws = aws_managed_policy(arn)
        if aws is not None:
            return ManagedPolicy(
                id=aws.policy_id, name=aws.name, path=aws.path, arn=aws.arn,
                description=aws.description, document=aws.document,
                default_version_id=aws.default_version_id,
                attachment_count=self._attachment_count(conn, arn),
                created_at=aws.created_at, updated_at=aws.updated_at, is_aws_managed=True)
        row = conn.execute(select(iam_policies).where(iam_policies.c.arn == arn)).first()
        if row is None:
            raise NoSuchEntity(f"Policy {arn} does not exist or is not attachable.",
                               resource_id=arn, resource_type="policy")
        return ManagedPolicy(
            id=row.id, name=row.name, path=row.path, arn=row.arn, description=row.description,
            document=row.document, default_version_id=row.default_version_id,
            attachment_count=self._attachment_count(conn, arn), created_at=row.created_at,
            updated_at=row.updated_at)

    def get_policy(self, arn: str) -> ManagedPolicy:
        with self._read() as conn:
            return self._policy(conn, arn)

    def list_policies(self, scope: str = "All", only_attached: bool = False,
                      path_prefix: str = "/") -> list[ManagedPolicy]:
        with self._read() as conn:
            arns: list[str] = []
            if scope in ("All", "AWS"):
                arns += [p.arn for p in AWS_MANAGED_POLICIES]
            if scope in ("All", "Local"):
                arns += [r.arn for r in conn.execute(
                    select(iam_policies.c.arn).order_by(iam_policies.c.name_key))]
            found = [self._policy(conn, arn) for arn in arns]
        return [p for p in found if p.path.startswith(path_prefix)
                and (p.attachment_count > 0 or not only_attached)]

    def delete_policy(self, arn: str) -> None:
        if is_aws_managed_arn(arn):
            raise InvalidInput("AWS managed policies cannot be deleted.", resource_id=arn,
                               resource_type="policy")
        with self._write() as conn:
            policy = self._policy(conn, arn)
            if policy.attachment_count:
                raise DeleteConflict("Cannot delete a policy attached to entities.",
                                     resource_id=arn, resource_type="policy")
            conn.execute(delete(iam_policies).where(iam_policies.c.arn == arn))

    def attach_user_policy(self, user_name: str, arn: str) -> None:
        with self._write() as conn:
            user = self._user_row(conn, user_name)
            self._policy(conn, arn)
            _attach(conn, iam_user_attachments, iam_user_attachments.c.user_id, user.id, arn)

    def detach_user_policy(self, user_name: str, arn: str) -> None:
        with self._write() as conn:
            user = self._user_row(conn, user_name)
            _detach(conn, iam_user_attachments, iam_user_attachments.c.user_id, user.id, arn)

    def list_attached_user_policies(self, user_name: str) -> list[ManagedPolicy]:
        with self._read() as conn:
            user = self._user_row(conn, user_name)
            return [self._policy(conn, arn) for arn in _attached(
                conn, iam_user_attachments, iam_user_attachments.c.user_id, user.id)]

    def attach_role_policy(self, role_name: str, arn: str) -> None:
        with self._write() as conn:
            role = self._role_row(conn, role_name)
            self._policy(conn, arn)
            _attach(conn, iam_role_attachments, iam_role_attachments.c.role_id, role.id, arn)

    def detach_role_policy(self, role_name: str, arn: str) -> None:
        with self._write() as conn:
            role = self._role_row(conn, role_name)
            _detach(conn, iam_role_attachments, iam_role_attachments.c.role_id, role.id, arn)

    def list_attached_role_policies(self, role_name: str) -> list[ManagedPolicy]:
        with self._read() as conn:
            role = self._role_row(conn, role_name)
            return [self._policy(conn, arn) for arn in _attached(
                conn, iam_role_attachments, iam_role_attachments.c.role_id, role.id)]

    # -- what applies to an identity -----------------------------------------------------------

    def user_documents(self, user_id: str) -> list[tuple[str, str]]:
        """(name, document) of every inline and attached policy of a user."""
        with self._read() as conn:
            return self._documents(conn, iam_user_policies, iam_user_policies.c.user_id,
                                   iam_user_attachments, iam_user_attachments.c.user_id, user_id)

    def role_documents(self, role_id: str) -> list[tuple[str, str]]:
        with self._read() as conn:
            return self._documents(conn, iam_role_policies, iam_role_policies.c.role_id,
                                   iam_role_attachments, iam_role_attachments.c.role_id, role_id)

    def _documents(self, conn: Connection, inline: Table, inline_owner: Any, attached: Table,
                   attached_owner: Any, owner_id: str) -> list[tuple[str, str]]:
        found = [(r.name, r.document) for r in conn.execute(
            select(inline.c.name, inline.c.document).where(inline_owner == owner_id)
            .order_by(inline.c.name_key))]
        for arn in _attached(conn, attached, attached_owner, owner_id):
            aws = aws_managed_policy(arn)
            if aws is not None:
                found.append((arn, aws.document))
                continue
            document = conn.execute(select(iam_policies.c.document).where(
                iam_policies.c.arn == arn)).scalar()
            if document is not None:
                found.append((arn, document))
        return found

    # -- STS sessions --------------------------------------------------------------------------

    def create_session(self, role: Role, session_name: str, caller_arn: str, now: datetime,
                       expires_at: datetime) -> tuple[Session, str, str]:
        """A new session: (session, secret access key, session token); expired ones are purged."""
        secret, token = new_secret_access_key(), new_session_token()
        key_id = new_id("ASIA", 20)
        with self._write() as conn:
            conn.execute(delete(sts_sessions).where(sts_sessions.c.expires_at < now))
            if not conn.execute(select(iam_roles.c.id).where(iam_roles.c.id == role.id)).first():
                raise NoSuchEntity(f"The role with name {role.name} cannot be found.",
                                   resource_id=role.name, resource_type="role")
            conn.execute(insert(sts_sessions).values(
                id=key_id, secret_encrypted=self._box.encrypt(secret),
                token_sha256=token_digest(token), role_id=role.id, session_name=session_name,
                caller_arn=caller_arn, created_at=now, expires_at=expires_at))
        return Session(key_id, role, session_name, caller_arn, now, expires_at), secret, token

    def session(self, key_id: str) -> Session | None:
        """A session whose role still exists, expired or not (the caller checks expiry)."""
        with self._read() as conn:
            row = conn.execute(select(sts_sessions).where(sts_sessions.c.id == key_id)).first()
            if row is None:
                return None
            role = conn.execute(select(iam_roles).where(iam_roles.c.id == row.role_id)).first()
        if role is None:
            return None
        return Session(row.id, self._role(role), row.session_name, row.caller_arn,
                       row.created_at, row.expires_at)

    def session_secrets(self, key_id: str) -> tuple[str, str] | None:
        """(secret access key, sha256 of the session token) of a session."""
        with self._read() as conn:
            row = conn.execute(select(sts_sessions.c.secret_encrypted,
                                      sts_sessions.c.token_sha256)
                               .where(sts_sessions.c.id == key_id)).first()
        if row is None:
            return None
        return self._box.decrypt(row.secret_encrypted), row.token_sha256

    # -- resource policies ---------------------------------------------------------------------

    def resource_policy(self, resource_arn: str) -> ResourcePolicy | None:
        with self._read() as conn:
            row = conn.execute(select(resource_policies).where(
                resource_policies.c.resource_arn == resource_arn)).first()
        return _resource_policy(row) if row else None

    def put_resource_policy(self, resource_arn: str, domain_id: int, repository_id: int | None,
                            document: str, expected_revision: str | None,
                            now: datetime) -> ResourcePolicy:
        """Set the policy; with ``expected_revision``, only over that revision (else Conflict)."""
        with self._write() as conn:
            row = conn.execute(select(resource_policies).where(
                resource_policies.c.resource_arn == resource_arn)).first()
            if expected_revision is not None:
                _check_revision(row, expected_revision, resource_arn)
            revision = new_revision()
            if row is None:
                conn.execute(insert(resource_policies).values(
                    resource_arn=resource_arn, domain_id=domain_id,
                    repository_id=repository_id, document=document, revision=revision,
                    updated_at=now))
            else:
                conn.execute(update(resource_policies).where(resource_policies.c.id == row.id)
                             .values(document=document, revision=revision, updated_at=now))
            return ResourcePolicy(resource_arn, document, revision, now)

    def delete_resource_policy(self, resource_arn: str,
                               expected_revision: str | None) -> ResourcePolicy:
        with self._write() as conn:
            row = conn.execute(select(resource_policies).where(
                resource_policies.c.resource_arn == resource_arn)).first()
            if row is None:
                raise NotFound(f"No resource policy is set on {resource_arn}",
                               resource_id=resource_arn, resource_type="policy")
            if expected_revision is not None:
                _check_revision(row, expected_revision, resource_arn)
            conn.execute(delete(resource_policies).where(resource_policies.c.id == row.id))
            return _resource_policy(row)


def _exists(conn: Connection, table: Table, condition: Any) -> bool:
    return conn.execute(select(func.count()).select_from(table).where(condition)).scalar_one() > 0


def _upsert_inline(conn: Connection, table: Table, owner: Any, owner_id: str, name: str,
                   document: str) -> None:
    existing = conn.execute(select(table.c.name_key).where(
        owner == owner_id, table.c.name_key == name.lower())).first()
    if existing:
        conn.execute(update(table).where(owner == owner_id, table.c.name_key == name.lower())
                     .values(name=name, document=document))
    else:
        conn.execute(insert(table).values({owner.key: owner_id, "name_key": name.lower(),
                                           "name": name, "document": document}))


def _inline(conn: Connection, table: Table, owner: Any, owner_id: str, name: str,
            kind: str) -> InlinePolicy:
    row = conn.execute(select(table.c.name, table.c.document).where(
        owner == owner_id, table.c.name_key == name.lower())).first()
    if row is None:
        raise NoSuchEntity(f"The {kind} policy with name {name} cannot be found.",
                           resource_id=name, resource_type="policy")
    return InlinePolicy(row.name, row.document)


def _inline_names(conn: Connection, table: Table, owner: Any, owner_id: str) -> list[str]:
    return [r.name for r in conn.execute(select(table.c.name).where(owner == owner_id)
                                         .order_by(table.c.name_key))]


def _attach(conn: Connection, table: Table, owner: Any, owner_id: str, arn: str) -> None:
    # Attaching twice is a no-op in IAM.
    if conn.execute(select(table.c.policy_arn).where(owner == owner_id,
                                                     table.c.policy_arn == arn)).first():
        return
    conn.execute(insert(table).values({owner.key: owner_id, "policy_arn": arn}))


def _detach(conn: Connection, table: Table, owner: Any, owner_id: str, arn: str) -> None:
    result = conn.execute(delete(table).where(owner == owner_id, table.c.policy_arn == arn))
    if not result.rowcount:
        raise NoSuchEntity(f"Policy {arn} was not found.", resource_id=arn,
                           resource_type="policy")


def _attached(conn: Connection, table: Table, owner: Any, owner_id: str) -> list[str]:
    return [r.policy_arn for r in conn.execute(select(table.c.policy_arn).where(
        owner == owner_id).order_by(table.c.policy_arn))]


def _resource_policy(row: Row[Any]) -> ResourcePolicy:
    return ResourcePolicy(row.resource_arn, row.document, row.revision, row.updated_at)


def _check_revision(row: Row[Any] | None, expected: str, resource_arn: str) -> None:
    if row is None:
        raise Conflict(f"The policy revision {expected} does not match: {resource_arn} has no "
                       "resource policy", resource_id=resource_arn, resource_type="policy")
    if row.revision != expected:
        raise Conflict(f"The policy revision {expected} is not the current revision of the "
                       f"policy on {resource_arn}; get the policy again and retry with its "
                       "revision", resource_id=resource_arn, resource_type="policy")
