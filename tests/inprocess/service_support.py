"""Helpers for the service-layer tests: principals with policies, and upload forms as the
multipart reader hands them to ``PypiPublisher.publish`` (fields, file name, staged bytes)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from packyard.auth.principal import Principal, user_principal
from packyard.bootstrap import Container
from packyard.formats.pypi.form import UploadForm
from packyard.storage.blobs import BlobStore
from tests.integration.helpers import DEFAULT_ACCOUNT, Dist


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def iam_user(container: Container, name: str, *statements: dict[str, Any]) -> Principal:
    """An IAM user with an inline policy of ``statements`` (none: no permissions at all), as
    the principal a signed request or a token of theirs would carry."""
    store = container.iam_store
    assert store is not None
    user = store.create_user(name, "/", datetime.now(UTC))
    if statements:
        store.put_user_policy(name, "p", policy(*statements))
    key, _secret = store.create_access_key(name, datetime.now(UTC))
    return user_principal(DEFAULT_ACCOUNT, user.arn, user.id, user.name, key.id)


def upload_form(blobs: BlobStore, dist: Dist, *,
                fields: Mapping[str, str | list[str] | None] | None = None,
                filename: str | None = None, content: bytes | None = None) -> UploadForm:
    """What ``form.read_upload_form`` makes of twine's upload of ``dist``: its form fields
    (changed by ``fields``; None drops one) and the file staged in ``blobs``."""
    values = dist.form_fields()
    for key, value in (fields or {}).items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    staged = blobs.stage()
    staged.write(dist.data if content is None else content)
    return UploadForm(fields={k: v if isinstance(v, list) else [v] for k, v in values.items()},
                      filename=filename or dist.filename, staged=staged)
