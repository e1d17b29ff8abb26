"""Origin-control rules and external connection names."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from packyard.errors import Invalid
from packyard.formats.pypi.plugin import PypiFormat
from packyard.formats.registry import FormatRegistry
from packyard.upstream.connections import check_connection_name, known_connections
from packyard.upstream.origin import (
    PUBLISHED_FIRST,
    RETAINED_FIRST,
    Restrictions,
    takes_from_upstream,
    takes_publishing,
)

SERVED = FormatRegistry([PypiFormat()]).external_connections()
KNOWN_CONNECTIONS = known_connections(SERVED)


@dataclass(frozen=True)
class _Pkg:
    origin_publish: str
    origin_upstream: str


def test_defaults_follow_how_the_first_version_arrived() -> None:
    # CodeArtifact "Package origin control settings": published first -> upstream blocked;
    # first from upstream -> publishing blocked.
    assert Restrictions(publish="ALLOW", upstream="BLOCK") == PUBLISHED_FIRST
    assert Restrictions(publish="BLOCK", upstream="ALLOW") == RETAINED_FIRST


@pytest.mark.parametrize(("package", "upstream", "publish"), [
    (None, True, True),  # not in the repository: anything may arrive
    (_Pkg("ALLOW", "BLOCK"), False, True),  # a private package: the dependency-confusion guard
    (_Pkg("BLOCK", "ALLOW"), True, False),  # pulled from upstream
    (_Pkg("ALLOW", "ALLOW"), True, True),  # an administrator allowed both
    (_Pkg("BLOCK", "BLOCK"), False, False),  # frozen
])
def test_restrictions(package: _Pkg | None, upstream: bool, publish: bool) -> None:
    assert takes_from_upstream(package) is upstream
    assert takes_publishing(package) is publish


def test_public_pypi_is_served() -> None:
    spec = check_connection_name("public:pypi", SERVED)
    assert (spec.name, spec.package_format) == ("public:pypi", "pypi")


@pytest.mark.parametrize("name", sorted(n for n, s in KNOWN_CONNECTIONS.items()
                                        if s.package_format != "pypi"))
def test_other_codeartifact_connections_are_names_refused_until_their_format_exists(
        name: str) -> None:
    with pytest.raises(Invalid) as err:
        check_connection_name(name, SERVED)
    spec = KNOWN_CONNECTIONS[name]
    assert err.value.message == (
        f"External connection {name} ({spec.description}) serves {spec.package_format} "
        "packages, a format this server does not support yet; connections available here: "
        "public:pypi")


def test_unknown_connection_name_lists_the_known_ones() -> None:
    with pytest.raises(Invalid) as err:
        check_connection_name("public:pypy", SERVED)
    assert err.value.message.startswith("'public:pypy' is not an external connection "
                                        "CodeArtifact knows; use one of public:crates-io, ")
    assert "public:pypi" in err.value.message


def test_codeartifact_connection_names_are_all_known() -> None:
    assert set(KNOWN_CONNECTIONS) == {
        "public:npmjs", "public:pypi", "public:maven-central", "public:maven-googleandroid",
        "public:maven-gradleplugins", "public:maven-commonsware", "public:maven-clojars",
        "public:nuget-org", "public:ruby-gems-org", "public:crates-io"}
