"""Package group origin controls where they matter, through the app: a publish into a repository
the package's group does not allow is refused naming the group (the reason twine shows), and an
upstream or external fetch the group blocks is not made. Combined with the package's own origin
configuration: a BLOCK on either side wins. Changes apply to the next request."""

from __future__ import annotations

from typing import Any

import pytest

from tests.inprocess.harness import InProcessPackyard, InProcessRepo, assert_refused
from tests.integration.helpers import DistFactory, DistSpec, upload, upload_ok

JSON_V1 = {"Accept": "application/vnd.pypi.simple.v1+json"}
ACME = DistSpec(name="acme-tools", version="1.0")


def _restrict(api: Any, pattern: str, add: list[tuple[str, str]] | None = None,
              **modes: str) -> None:
    api.update_package_group_origin_configuration(
        domain="acme", packageGroup=pattern,
        restrictions={k.upper(): v for k, v in modes.items()},
        addAllowedRepositories=[{"originRestrictionType": kind, "repositoryName": repo}
                                for kind, repo in add or []])


@pytest.fixture
def shelf(packyard: InProcessPackyard) -> InProcessRepo:
    repo = packyard.pypi_repo()
    packyard.codeartifact().create_package_group(domain="acme", packageGroup="/pypi//acme~")
    return repo


def test_a_publish_the_group_blocks_is_refused_naming_the_group(
        packyard: InProcessPackyard, shelf: InProcessRepo, dists: DistFactory) -> None:
    api = packyard.codeartifact()
    _restrict(api, "/pypi//acme~", publish="BLOCK")
    assert_refused(upload(shelf, dists.wheel(ACME)), 403,
                   "Publishing acme-tools to repository shelf is blocked: package group "
                   "/pypi//acme~ blocks publishing (PUBLISH: BLOCK)")
    # Packages of other groups are not touched; a change applies to the next upload.
    upload_ok(shelf, dists.wheel(DistSpec(name="other", version="1.0")))
    _restrict(api, "/pypi//acme~", publish="ALLOW")
    upload_ok(shelf, dists.wheel(ACME))


def test_an_inherited_block_names_where_it_comes_from(
        packyard: InProcessPackyard, shelf: InProcessRepo, dists: DistFactory) -> None:
    _restrict(packyard.codeartifact(), "/*", publish="BLOCK")
    assert_refused(upload(shelf, dists.wheel(ACME)), 403,
                   "Publishing acme-tools to repository shelf is blocked: package group "
                   "/pypi//acme~ blocks publishing (PUBLISH: BLOCK, inherited from package "
                   "group /*)")


def test_publishing_only_into_the_allowed_repositories(
        packyard: InProcessPackyard, shelf: InProcessRepo, dists: DistFactory) -> None:
    internal = packyard.pypi_repo(repository="internal", create=True)
    api = packyard.codeartifact()
    _restrict(api, "/pypi//acme~", add=[("PUBLISH", "internal")],
              publish="ALLOW_SPECIFIC_REPOSITORIES")
    upload_ok(internal, dists.wheel(ACME))
    assert_refused(upload(shelf, dists.wheel(ACME)), 403,
                   "Publishing acme-tools to repository shelf is blocked: package group "
                   "/pypi//acme~ allows publishing only into the repositories on its allowed "
                   "list (PUBLISH: ALLOW_SPECIFIC_REPOSITORIES: internal), and shelf is not "
                   "one of them")


def test_a_pypi_name_spelled_otherwise_matches_strongly(packyard: InProcessPackyard,
                                                         dists: DistFactory) -> None:
    repo = packyard.pypi_repo()
    packyard.codeartifact().create_package_group(domain="acme",
                                                 packageGroup="/pypi//acme-tools$")
    # acme.tools normalizes to acme-tools: a strong match, so the group's settings apply (a
    # weak match, blocked whatever the group says, needs a format that keeps names as written).
    upload_ok(repo, dists.wheel(DistSpec(name="acme.tools", version="1.0")))


def test_the_package_origin_configuration_and_the_group_both_apply(
        packyard: InProcessPackyard, shelf: InProcessRepo, dists: DistFactory) -> None:
    api = packyard.codeartifact()
    # publish ALLOW / upstream ALLOW defers to the group, which blocks.
    api.put_package_origin_configuration(domain="acme", repository="shelf", format="pypi",
                                         package="acme-tools",
                                         restrictions={"publish": "ALLOW", "upstream": "ALLOW"})
    _restrict(api, "/pypi//acme~", publish="BLOCK")
    assert upload(shelf, dists.wheel(ACME)).status_code == 403
    # The group allows, the package blocks: blocked, by the package's setting.
    _restrict(api, "/pypi//acme~", publish="ALLOW")
    api.put_package_origin_configuration(domain="acme", repository="shelf", format="pypi",
                                         package="acme-tools",
                                         restrictions={"publish": "BLOCK", "upstream": "ALLOW"})
    response = upload(shelf, dists.wheel(ACME))
    assert response.status_code == 403 and "(publish: BLOCK)" in response.text


@pytest.fixture
def chain(packyard: InProcessPackyard, dists: DistFactory) -> tuple[InProcessRepo, Any]:
    """``team`` with upstream ``lib``, which holds acme-tools 1.0 and other 1.0."""
    lib = packyard.pypi_repo(repository="lib")
    upload_ok(lib, dists.wheel(ACME), dists.wheel(DistSpec(name="other", version="1.0")))
    api = packyard.codeartifact()
    api.create_repository(domain="acme", repository="team",
                          upstreams=[{"repositoryName": "lib"}])
    api.create_package_group(domain="acme", packageGroup="/pypi//acme~")
    return packyard.pypi_repo(repository="team", create=False), api


def test_an_internal_upstream_the_group_blocks_is_not_searched(
        chain: tuple[InProcessRepo, Any], dists: DistFactory) -> None:
    team, api = chain
    assert team.get("simple/acme-tools/", **JSON_V1).json()["versions"] == ["1.0"]
    _restrict(api, "/pypi//acme~", internal_upstream="BLOCK")
    assert team.get("simple/acme-tools/", **JSON_V1).status_code == 404
    wheel = dists.wheel(ACME)
    assert team.get(f"simple/acme-tools/{wheel.filename}").status_code == 404
    assert team.get("simple/other/", **JSON_V1).json()["versions"] == ["1.0"]
    # Allowed for team only: team reads it again.
    _restrict(api, "/pypi//acme~", add=[("INTERNAL_UPSTREAM", "team")],
              internal_upstream="ALLOW_SPECIFIC_REPOSITORIES")
    assert team.get(f"simple/acme-tools/{wheel.filename}").content == wheel.data


def test_an_external_fetch_the_group_blocks_is_not_made(packyard: InProcessPackyard) -> None:
    public = packyard.pypi_repo(repository="public")
    api = packyard.codeartifact()
    api.associate_external_connection(domain="acme", repository="public",
                                      externalConnection="public:pypi")
    api.create_package_group(domain="acme", packageGroup="/pypi//acme~")
    _restrict(api, "/pypi//acme~", external_upstream="BLOCK")
    # The external connection is unreachable (a fetch would be a 502): a 404 means no fetch.
    assert public.get("simple/acme-tools/", **JSON_V1).status_code == 404
    assert public.get("simple/requests/", **JSON_V1).status_code == 502
