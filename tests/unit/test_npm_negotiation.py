"""Full or abbreviated packument, from the Accept headers the real clients send."""

from __future__ import annotations

import pytest

from packyard.formats.npm.negotiation import wants_abbreviated

PACOTE_CORGI = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"


@pytest.mark.parametrize(("accept", "abbreviated"), [
    (PACOTE_CORGI, True),  # npm's publish pre-check and install path, pnpm 10, yarn 1
    ("application/vnd.npm.install-v1+json", True),
    ("application/vnd.npm.install-v1+json, application/json", True),  # listed first
    ("Application/VND.npm.install-v1+JSON;q=0.9, application/json;q=0.5", True),
    ("application/json", False),  # npm >= 10.4 installs with the full document
    ("application/json; q=1.0, */*", False),  # pnpm 12's second request
    ("*/*", False),  # npm deprecate's ?write=true read
    (None, False),  # yarn 4 sends no Accept
    ("", False),
    ("text/html", False),  # the public registry answers anything else with the full document
    ("application/*", False),
    ("application/json, application/vnd.npm.install-v1+json", False),  # tie: full is listed first
    ("application/json; q=0.5, application/vnd.npm.install-v1+json", True),
    ("application/vnd.npm.install-v1+json; q=0, */*", False),
    ("application/vnd.npm.install-v1+json; q=0.5, application/json", False),
    ("application/vnd.npm.install-v1+json; q=2", False),  # malformed q: the entry is dropped
    ("garbage, application/vnd.npm.install-v1+json", True),
])
def test_accept(accept: str | None, abbreviated: bool) -> None:
    assert wants_abbreviated(accept) is abbreviated
