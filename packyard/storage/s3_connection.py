"""Connecting to an S3-compatible store: where it is, who we are, and the two clients.

``obstore`` (Rust's ``object_store``) carries the hot paths: reads, ranged reads, puts, heads,
listings and deletes. It cannot make a multipart upload conditional, nor list multipart uploads,
so those two (large files, and clearing abandoned uploads) go through botocore, which Packyard
already depends on. Both use one set of credentials, resolved by botocore's chain (explicit
keys, then ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``, ``AWS_PROFILE``
and the shared files, container and instance roles), handed to obstore as its credential
provider, so whatever works for the AWS CLI works here.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from packyard.errors import CannotStart

if TYPE_CHECKING:
    from obstore.store import S3Config, S3Credential, S3Store

# obstore asks again after this long for credentials that expire (roles, SSO); botocore
# refreshes them ahead of their expiry on its own.
_REFRESH_AFTER = timedelta(minutes=5)
# How long obstore retries a failing request (connection refused, 5xx) before giving up.
_RETRY_FOR = timedelta(seconds=10)


@dataclass(frozen=True)
class S3Location:
    """``s3://bucket/prefix``: the bucket, and the key prefix every blob goes under."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> S3Location:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"PACKYARD_BLOB_STORE: {url!r} is not an s3://BUCKET/PREFIX URL")
        return cls(parts.netloc, parts.path.strip("/"))

    def key(self, name: str) -> str:
        """The object key of ``name`` (a path below the prefix), as botocore needs it (obstore
        adds the prefix itself)."""
        return f"{self.prefix}/{name}" if self.prefix else name

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


@dataclass(frozen=True)
class S3Connection:
    """How to reach the store. Unset fields come from the usual AWS variables and files."""

    # PACKYARD_S3_ENDPOINT_URL: an S3-compatible store (SeaweedFS, MinIO, Ceph…); None for AWS.
    endpoint_url: str | None = None
    region: str | None = None  # else AWS_REGION, AWS_DEFAULT_REGION, the profile's, us-east-1
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)


class _BotocoreCredentials:
    """obstore's credential provider, answered from botocore's credentials."""

    def __init__(self, credentials: Any) -> None:
        from botocore.credentials import RefreshableCredentials

        self._credentials = credentials
        self._expires = isinstance(credentials, RefreshableCredentials)

    def __call__(self) -> S3Credential:
        frozen = self._credentials.get_frozen_credentials()
        return {"access_key_id": frozen.access_key, "secret_access_key": frozen.secret_key,
                "token": frozen.token,
                "expires_at": datetime.now(UTC) + _REFRESH_AFTER if self._expires else None}


class S3Clients:
    """The two clients on one location and one set of credentials: ``objects`` (obstore,
    prefixed: keys are the names below the prefix) and ``botocore`` (unprefixed: keys are
    ``location.key(name)``), made on first use (loading botocore's S3 model takes a few tenths
    of a second, and most processes never upload a large file)."""

    def __init__(self, location: S3Location, objects: S3Store, session: Any, region: str,
                 endpoint_url: str | None) -> None:
        self.location = location
        self.objects = objects
        self._session = session
        self._region = region
        self._endpoint_url = endpoint_url
        self._botocore: Any = None
        self._lock = threading.Lock()

    @property
    def botocore(self) -> Any:
        with self._lock:
            if self._botocore is None:
                from botocore.config import Config

                self._botocore = self._session.create_client(
                    "s3", region_name=self._region, endpoint_url=self._endpoint_url,
                    config=Config(s3={"addressing_style": "path"},
                                  retries={"mode": "standard", "max_attempts": 3},
                                  connect_timeout=5, read_timeout=120))
            return self._botocore


def connect(location: S3Location, connection: S3Connection) -> S3Clients:
    """Build both clients; ``CannotStart`` with the fix when there are no credentials or obstore
    is not installed."""
    import botocore.session

    try:
        from obstore.store import S3Store
    except ImportError:
        raise CannotStart(f"PACKYARD_BLOB_STORE={location} needs obstore: pip install "
                          "'packyard[s3]'") from None

    session = botocore.session.Session()
    if connection.access_key_id:
        session.set_credentials(connection.access_key_id, connection.secret_access_key,
                                connection.session_token)
    credentials = session.get_credentials()
    if credentials is None:
        raise CannotStart(f"PACKYARD_BLOB_STORE={location}: no AWS credentials found; set "
                         "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or run "
                         "with an instance or container role)")
    region = (connection.region or os.environ.get("AWS_REGION")
              or session.get_config_variable("region") or "us-east-1")
    endpoint = connection.endpoint_url
    config: S3Config = {
        "region": region,
        # Path-style requests (endpoint/bucket/key): what S3-compatible stores answer without
        # wildcard DNS, and what AWS still accepts.
        "virtual_hosted_style_request": False}
    if endpoint:
        config["endpoint"] = endpoint
    objects = S3Store(
        location.bucket, prefix=location.prefix or None, config=config,
        credential_provider=_BotocoreCredentials(credentials),
        client_options={"allow_http": bool(endpoint and endpoint.startswith("http://")),
                        "connect_timeout": "5s",
                        # Per request; reads fetch at most _PIECE bytes per request (s3.py).
                        "timeout": "120s"},
        # object_store retries for up to 3 minutes by default: a store that is down would hold
        # every request that long. A few quick retries ride out a blip; past them the request
        # fails with 503 (s3.py), and the client retries.
        retry_config={"max_retries": 3, "retry_timeout": _RETRY_FOR,
                      "backoff": {"init_backoff": timedelta(milliseconds=50),
                                  "max_backoff": timedelta(seconds=2), "base": 2.0}})
    return S3Clients(location, objects, session, region, endpoint)
