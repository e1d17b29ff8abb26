"""The login command a refused token's answer names (``packyard/http/login_hint.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from packyard.http.login_hint import login_command
from packyard.http.request import FORWARDED_HOST


def _scope(path: str, host: str = "registry.example:8080", scheme: str = "http",
           **extra: Any) -> dict[str, Any]:
    return {"type": "http", "method": "GET", "scheme": scheme, "path": path,
            "headers": [(b"host", host.encode("latin-1"))], **extra}


def test_the_command_names_the_domain_owner_repository_and_address_asked() -> None:
    assert login_command("npm", _scope("/acme-111122223333/npm/team/left-pad")) == (
        "aws codeartifact login --tool npm --domain acme --domain-owner 111122223333 "
        "--repository team --endpoint-url http://registry.example:8080")


def test_a_trusted_proxys_host_is_the_address_given() -> None:
    scope = _scope("/acme-111122223333/pypi/team/simple/", scheme="https",
                   **{FORWARDED_HOST: "pypi.corp.example"})
    assert login_command("pip", scope).endswith("--endpoint-url https://pypi.corp.example")


def test_without_a_request_the_placeholders_stand() -> None:
    assert login_command("npm") == ("aws codeartifact login --tool npm --domain DOMAIN "
                                    "--repository REPOSITORY")


@pytest.mark.parametrize(("path", "host", "expected"), [
    # Parts a shell would read otherwise are placeholders (or left out), never pasted.
    ("/acme;rm -rf ~-111122223333/npm/team/x", "h", "--domain DOMAIN --repository team "
                                                   "--endpoint-url http://h"),
    ("/acme-1111/npm/team/x", "h", "--domain DOMAIN --repository team --endpoint-url http://h"),
    ("/acme-111122223333/npm/$(id)/x", "h", "--domain acme --domain-owner 111122223333 "
                                            "--repository REPOSITORY --endpoint-url http://h"),
    ("/acme-111122223333/npm/team/x", "h`id`", "--domain acme --domain-owner 111122223333 "
                                                "--repository team"),
    ("/acme-111122223333/npm/team/x", "", "--domain acme --domain-owner 111122223333 "
                                          "--repository team"),
    ("/", "h", "--domain DOMAIN --repository REPOSITORY --endpoint-url http://h"),
])
def test_what_could_not_be_pasted_safely_is_a_placeholder(path: str, host: str,
                                                           expected: str) -> None:
    assert login_command("npm", _scope(path, host)) == (
        f"aws codeartifact login --tool npm {expected}")
