"""CodeArtifact's naming rules for domains and repositories, with the messages users see."""

from __future__ import annotations

import re

from packyard.errors import Invalid

_DOMAIN = re.compile(r"[a-z][a-z0-9\-]{0,48}[a-z0-9]")
_REPOSITORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{1,99}")


def check_domain_name(name: str) -> None:
    if not _DOMAIN.fullmatch(name or ""):
        raise Invalid(f"Invalid domain name {name!r}: 2-50 characters, lowercase letters, digits "
                      "and hyphens, starting with a letter and not ending with a hyphen")


def check_repository_name(name: str) -> None:
    if not _REPOSITORY.fullmatch(name or ""):
        raise Invalid(f"Invalid repository name {name!r}: 2-100 characters, letters, digits, "
                      "'.', '_' and '-', starting with a letter or digit")
