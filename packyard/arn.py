"""Amazon Resource Names for CodeArtifact resources, as CodeArtifact's authorization reference spells them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ArnBuilder:
    """Builds ARNs for one account and region."""

    region: str
    account_id: str

    def _base(self) -> str:
        return f"arn:aws:codeartifact:{self.region}:{self.account_id}"

    def domain(self, domain: str) -> str:
        return f"{self._base()}:domain/{domain}"

    def repository(self, domain: str, repository: str) -> str:
        return f"{self._base()}:repository/{domain}/{repository}"

    def package(self, domain: str, repository: str, fmt: str, namespace: str | None,
                package: str) -> str:
        # CodeArtifact uses an empty namespace segment for formats without namespaces.
        return f"{self._base()}:package/{domain}/{repository}/{fmt}/{namespace or ''}/{package}"

    def package_group(self, domain: str, pattern: str) -> str:
        return f"{self._base()}:package-group/{domain}{pattern}"

    def root_user(self) -> str:
        return f"arn:aws:iam::{self.account_id}:root"


@dataclass(frozen=True)
class TaggableResource:
    """A domain, repository or package group named by its ARN (what TagResource takes).

    ``kind`` is ``domain``, ``repository`` or ``package-group``; ``name`` is the repository's
    name or the group's pattern (None for a domain); ``owner`` the ARN's account.
    """

    kind: str
    region: str
    owner: str
    domain: str
    name: str | None


def parse_taggable(arn: str) -> TaggableResource | None:
    """The resource a CodeArtifact ARN names, when it is one that takes tags; else None.

    ``arn:aws:codeartifact:REGION:ACCOUNT:domain/DOMAIN``, ``…:repository/DOMAIN/REPOSITORY``
    and ``…:package-group/DOMAIN/PATTERN`` (the pattern keeps its leading ``/``).
    """
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[:3] != ["arn", "aws", "codeartifact"]:
        return None
    region, owner, resource = parts[3], parts[4], parts[5]
    kind, _, rest = resource.partition("/")
    if kind == "domain" and rest and "/" not in rest:
        return TaggableResource(kind, region, owner, rest, None)
    domain, slash, name = rest.partition("/")
    if not domain or not slash or not name:
        return None
    if kind == "repository" and "/" not in name:
        return TaggableResource(kind, region, owner, domain, name)
    if kind == "package-group":
        return TaggableResource(kind, region, owner, domain, "/" + name)
    return None
