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
