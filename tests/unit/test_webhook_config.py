"""The webhooks file: each bad entry refused with the message the operator sees; signatures."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from packyard.webhooks.config import WebhookConfig, WebhookConfigError, parse_webhooks
from packyard.webhooks.dispatch import MAX_BACKOFF, backoff, signature

GOOD = {"name": "ci", "url": "https://ci.example/hook", "secret": "k", "domain": "acme"}


def _parse(*entries: object, env: dict[str, str] | None = None) -> list[object]:
    return list(parse_webhooks(json.dumps({"webhooks": list(entries)}), "webhooks.json",
                               env or {}))


def test_a_good_file() -> None:
    [hook] = parse_webhooks(json.dumps({"webhooks": [
        {**GOOD, "secret": None, "secretEnv": "CI_SECRET", "repository": "release"}]}),
        "webhooks.json", {"CI_SECRET": "s3cret"})
    assert (hook.name, hook.secret, hook.repository) == ("ci", b"s3cret", "release")
    assert "s3cret" not in repr(hook)
    assert hook.wants("acme", "000000000000", "release")
    assert not hook.wants("acme", "000000000000", "other")
    assert not hook.wants("other", "000000000000", "release")


@pytest.mark.parametrize(("text", "message"), [
    ("{", "webhooks.json is not valid JSON: "),
    ("[]", 'webhooks.json must be an object with a "webhooks" list'),
    ('{"webhooks": ["x"]}', "webhooks.json: webhooks[0] must be an object"),
    (json.dumps({"webhooks": [{**GOOD, "name": ""}]}),
     'webhooks.json: webhooks[0]: "name" must be a non-empty string'),
    (json.dumps({"webhooks": [{**GOOD, "name": "a b"}]}),
     "webhooks.json: webhooks[0]: name 'a b' may hold letters, digits"),
    (json.dumps({"webhooks": [{**GOOD, "url": "ftp://x"}]}),
     "webhooks.json: webhooks[0]: url must be an http:// or https:// URL"),
    (json.dumps({"webhooks": [{**GOOD, "domain": None}]}),
     'webhooks.json: webhooks[0]: "domain" must be a non-empty string'),
    (json.dumps({"webhooks": [{**GOOD, "secret": None}]}),
     'webhooks.json: webhooks[0]: give the HMAC key as "secret" or as "secretEnv"'),
    (json.dumps({"webhooks": [{**GOOD, "secretEnv": "X"}]}),
     'webhooks.json: webhooks[0]: give the HMAC key as "secret" or as "secretEnv"'),
    (json.dumps({"webhooks": [{**GOOD, "secret": None, "secretEnv": "UNSET"}]}),
     "webhooks.json: webhooks[0]: the environment variable UNSET that should hold the "
     "webhook's secret is not set"),
    (json.dumps({"webhooks": [GOOD, GOOD]}),
     "webhooks.json: webhook names must be unique; ci appear more than once"),
], ids=["not-json", "not-an-object", "entry-not-object", "empty-name", "bad-name", "bad-url",
        "no-domain", "no-secret", "both-secrets", "unset-variable", "duplicate-names"])
def test_bad_files_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(WebhookConfigError) as info:
        parse_webhooks(text, "webhooks.json", {})
    assert str(info.value).startswith(message)


def test_the_file_is_reread_when_it_changes_and_a_bad_edit_keeps_the_last_good(
        tmp_path: Path) -> None:
    path = tmp_path / "webhooks.json"
    config = WebhookConfig(path)
    assert config.current() == []
    path.write_text(json.dumps({"webhooks": [GOOD]}))
    assert [hook.name for hook in config.current()] == ["ci"]
    path.write_text("{ broken, and longer than before")
    assert [hook.name for hook in config.current()] == ["ci"]
    path.unlink()
    assert config.current() == []


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(b"key", b"1700000000.{}", hashlib.sha256).hexdigest()
    assert signature(b"key", "1700000000", b"{}") == "sha256=" + expected


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff(30) == MAX_BACKOFF
