"""CodeArtifact's external connections: their names, the format each serves, and which work here
(those the format plug-ins declare).

The names are CodeArtifact's ("Supported external connection repositories" in the CodeArtifact
User Guide, and AssociateExternalConnection's API reference). Every name is accepted as a name;
one whose format this server does not serve yet is refused with a ValidationException, the error
CodeArtifact gives for a connection a repository cannot take.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from packyard.errors import Invalid


@dataclass(frozen=True)
class ExternalConnection:
    """One public repository a CodeArtifact repository can connect to."""

    name: str  # CodeArtifact's name, e.g. "public:npmjs"
    package_format: str
    description: str
    # The ``Settings`` field holding the URL Packyard reaches it at, for the connections a
    # format plug-in here serves (``FormatRules.external_connections``).
    url_setting: str | None = None


# CodeArtifact's connections for the formats no plug-in here serves yet: known by name, so that
# associating one is refused with the reason. A format plug-in declares its own connections
# (``FormatRules.external_connections``), and those take precedence over these.
OTHER_CONNECTIONS: tuple[ExternalConnection, ...] = (
    ExternalConnection("public:npmjs", "npm", "the npm public registry"),
    ExternalConnection("public:maven-central", "maven", "Maven Central"),
    ExternalConnection("public:maven-googleandroid", "maven", "the Google Android repository"),
    ExternalConnection("public:maven-gradleplugins", "maven", "the Gradle plugins repository"),
    ExternalConnection("public:maven-commonsware", "maven", "the CommonsWare Android repository"),
    ExternalConnection("public:maven-clojars", "maven", "the Clojars repository"),
    ExternalConnection("public:nuget-org", "nuget", "the NuGet Gallery"),
    ExternalConnection("public:ruby-gems-org", "ruby", "RubyGems.org"),
    ExternalConnection("public:crates-io", "cargo", "Crates.io"),
)


def known_connections(served: Iterable[ExternalConnection]) -> dict[str, ExternalConnection]:
    """Every external connection CodeArtifact knows, by name: those ``served`` here and the
    others."""
    known = {connection.name: connection for connection in OTHER_CONNECTIONS}
    known.update((connection.name, connection) for connection in served)
    return known


# A repository has at most one external connection (AssociateExternalConnection: "One external
# connection is allowed per repository").
MAX_EXTERNAL_CONNECTIONS = 1


def check_connection_name(name: str,
                          served: Sequence[ExternalConnection]) -> ExternalConnection:
    """The connection called ``name``, if it is one of those ``served`` here; Invalid with the
    reason if not."""
    known = known_connections(served)
    spec = known.get(name)
    usable = sorted(connection.name for connection in served)
    if spec is None:
        raise Invalid(f"{name!r} is not an external connection CodeArtifact knows; use one of "
                      f"{', '.join(sorted(known))}")
    if spec.name not in usable:
        raise Invalid(f"External connection {name} ({spec.description}) serves "
                      f"{spec.package_format} packages, a format this server does not support "
                      f"yet; connections available here: {', '.join(usable) or 'none'}")
    return spec
