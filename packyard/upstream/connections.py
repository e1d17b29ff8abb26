"""CodeArtifact's external connections: their names, the format each serves, and which work here.

The names are CodeArtifact's ("Supported external connection repositories" in the CodeArtifact
User Guide, and AssociateExternalConnection's API reference). Every name is accepted as a name;
one whose format this server does not serve yet is refused with a ValidationException, the error
CodeArtifact gives for a connection a repository cannot take.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from packyard.errors import Invalid


@dataclass(frozen=True)
class ExternalConnectionSpec:
    """One public repository a CodeArtifact repository can connect to."""

    name: str
    package_format: str
    description: str


KNOWN_CONNECTIONS: dict[str, ExternalConnectionSpec] = {spec.name: spec for spec in (
    ExternalConnectionSpec("public:npmjs", "npm", "the npm public registry"),
    ExternalConnectionSpec("public:pypi", "pypi", "the Python Package Index"),
    ExternalConnectionSpec("public:maven-central", "maven", "Maven Central"),
    ExternalConnectionSpec("public:maven-googleandroid", "maven", "the Google Android repository"),
    ExternalConnectionSpec("public:maven-gradleplugins", "maven", "the Gradle plugins repository"),
    ExternalConnectionSpec("public:maven-commonsware", "maven",
                           "the CommonsWare Android repository"),
    ExternalConnectionSpec("public:maven-clojars", "maven", "the Clojars repository"),
    ExternalConnectionSpec("public:nuget-org", "nuget", "the NuGet Gallery"),
    ExternalConnectionSpec("public:ruby-gems-org", "ruby", "RubyGems.org"),
    ExternalConnectionSpec("public:crates-io", "cargo", "Crates.io"),
)}

# A repository has at most one external connection (AssociateExternalConnection: "One external
# connection is allowed per repository").
MAX_EXTERNAL_CONNECTIONS = 1


def check_connection_name(name: str, served_formats: Iterable[str]) -> ExternalConnectionSpec:
    """The connection called ``name``, if this server can serve it; Invalid with the reason if not."""
    spec = KNOWN_CONNECTIONS.get(name)
    served = sorted(served_formats)
    usable = sorted(s.name for s in KNOWN_CONNECTIONS.values() if s.package_format in served)
    if spec is None:
        raise Invalid(f"{name!r} is not an external connection CodeArtifact knows; use one of "
                      f"{', '.join(sorted(KNOWN_CONNECTIONS))}")
    if spec.package_format not in served:
        raise Invalid(f"External connection {name} ({spec.description}) serves "
                      f"{spec.package_format} packages, a format this server does not support "
                      f"yet; connections available here: {', '.join(usable) or 'none'}")
    return spec
