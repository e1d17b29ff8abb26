"""npm through upstreams: packuments merged across a repository's upstreams and public:npmjs
(a small registry on loopback here), tarballs pulled once and verified, kept where CodeArtifact
keeps them, origin controls, a stale copy when the upstream is down, 404s remembered, one fetch
for many."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from packyard.formats.npm.negotiation import CORGI, FULL
from tests.inprocess.conftest import PackyardFactory
from tests.inprocess.npm_support import NpmRepo, npm_repo
from tests.integration.helpers import Credentials
from tests.integration.npm_registry import StaticRegistry, npm_tarball


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[StaticRegistry]:
    found = StaticRegistry(tmp_path / "registry")
    yield found
    found.stop()


def _chain(packyard_factory: PackyardFactory, registry: StaticRegistry,
           **settings: Any) -> tuple[NpmRepo, Any]:
    """``team`` with upstream ``public``, which has the external connection public:npmjs."""
    app = packyard_factory(npm_upstream_url=registry.url, **settings)
    npm_repo(app, repository="public")
    api = app.codeartifact()
    api.associate_external_connection(domain="acme", repository="public",
                                      externalConnection="public:npmjs")
    api.create_repository(domain="acme", repository="team",
                          upstreams=[{"repositoryName": "public"}])
    return npm_repo(app, repository="team", create=False), api


def _tarball_gets(registry: StaticRegistry) -> list[str]:
    return [r for r in registry.requests if r.endswith(".tgz")]


def test_packument_from_upstream_with_rewritten_tarball_urls(
        packyard_factory: PackyardFactory, registry: StaticRegistry) -> None:
    registry.add("left-pad", "1.0.0")
    registry.add("left-pad", "2.0.0")
    team, _ = _chain(packyard_factory, registry)
    document = team.packument("left-pad")
    assert document["dist-tags"] == {"latest": "2.0.0"}
    assert document["versions"]["1.0.0"]["dist"]["tarball"] == (
        team.endpoint + "left-pad/-/left-pad-1.0.0.tgz")
    assert document["readme"] == "# left-pad\n"
    assert document["time"]["1.0.0"] == "2024-01-01T00:00:00.000Z"


def test_tarball_pulled_once_verified_and_kept_in_both_repositories(
        packyard_factory: PackyardFactory, registry: StaticRegistry) -> None:
    data = registry.add("@types/thing", "1.0.0")
    team, api = _chain(packyard_factory, registry)
    for _ in range(3):
        assert team.get("@types/thing/-/thing-1.0.0.tgz").content == data
    assert len(_tarball_gets(registry)) == 1
    for repository in ("team", "public"):
        versions = api.list_package_versions(domain="acme", repository=repository,
                                             format="npm", namespace="types",
                                             package="thing")["versions"]
        assert [(v["version"], v["origin"]["originType"]) for v in versions] == [
            ("1.0.0", "EXTERNAL")]
    assets = api.list_package_version_assets(domain="acme", repository="team", format="npm",
                                             namespace="types", package="thing",
                                             packageVersion="1.0.0")["assets"]
    assert [a["name"] for a in assets] == ["package.tgz"]
    assert set(assets[0]["hashes"]) == {"MD5", "SHA-1", "SHA-256", "SHA-512"}
    readme = api.get_package_version_readme(domain="acme", repository="team", format="npm",
                                            namespace="types", package="thing",
                                            packageVersion="1.0.0")["readme"]
    assert readme == "# @types/thing\n"


def test_regression_a_range_of_a_tarball_not_kept_from_a_registry_ignoring_ranges(
        packyard_factory: PackyardFactory, registry: StaticRegistry) -> None:
    """npm never sends Range, but the rule is the resolver's, for every format: a HEAD pulls
    nothing, and a range the registry answers with the whole tarball (200) is pulled, kept and
    answered from the download (a packument declares no size: the registry's length places
    it)."""
    data = registry.add("left-pad", "1.0.0")
    team, api = _chain(packyard_factory, registry)
    path = "left-pad/-/left-pad-1.0.0.tgz"
    head = team.request("HEAD", path)
    assert (head.status_code, head.headers["accept-ranges"],
            head.headers["content-length"]) == (200, "bytes", str(len(data)))
    # The length a packument does not declare is asked of the registry: its one-byte range,
    # answered whole here, closed unread; nothing is pulled or kept.
    assert _tarball_gets(registry) == [f"/{path}"]
    assert api.list_packages(domain="acme", repository="team")["packages"] == []
    got = team.get(path, headers={"Range": "bytes=-100"})
    assert (got.status_code, got.content, got.headers["content-range"]) == (
        206, data[-100:], f"bytes {len(data) - 100}-{len(data) - 1}/{len(data)}")
    assert len(_tarball_gets(registry)) == 3  # and the range, answered whole; then the pull
    assert [p["package"] for p in api.list_packages(domain="acme",
                                                     repository="team")["packages"]] == [
        "left-pad"]


def test_a_tarball_that_fails_its_integrity_is_not_kept(
        packyard_factory: PackyardFactory, registry: StaticRegistry) -> None:
    registry.add("left-pad", "1.0.0")
    registry.tarballs["left-pad/-/left-pad-1.0.0.tgz"] = npm_tarball("left-pad", "6.6.6")
    team, api = _chain(packyard_factory, registry)
    # A packument declares no tarball size; the registry's answer states a small one, so the
    # tarball is verified before it is sent: every client gets the failure (a large
    # tarball's first client has its answer cut short instead).
    for _ in range(2):
        response = team.get("left-pad/-/left-pad-1.0.0.tgz")
        assert response.status_code == 502
        # Said as npm's document is called (was "its index page declares", PyPI's word).
        assert "failed verification: its packument declares sha512 " in response.json()["error"]
    assert api.list_packages(domain="acme", repository="team")["packages"] == []
    assert api.list_packages(domain="acme", repository="public")["packages"] == []


def test_local_versions_and_the_repositorys_own_tags_win(
        packyard_factory: PackyardFactory, registry: StaticRegistry) -> None:
    registry.add("left-pad", "1.0.0")
    registry.add("left-pad", "2.0.0")
    registry.packages["left-pad"]["dist-tags"]["stable"] = "2.0.0"
    team, _ = _chain(packyard_factory, registry, upstream_page_ttl_seconds=0)
    team.get("left-pad/-/left-pad-1.0.0.tgz")  # kept in team
    assert team.put_json("-/package/left-pad/dist-tags/stable", "1.0.0").status_code == 201
    registry.packages["left-pad"]["versions"]["1.0.0"]["description"] = "changed upstream"
    document = team.packument("left-pad")
    assert document["dist-tags"] == {"latest": "2.0.0", "stable": "1.0.0"}
    assert "description" not in document["versions"]["1.0.0"]  # the kept manifest


def _kept(api: Any, repository: str, package: str = "left-pad") -> list[tuple[str, str]]:
    try:
        versions = api.list_package_versions(domain="acme", repository=repository,
                                             format="npm", package=package)["versions"]
    except api.exceptions.ResourceNotFoundException:
        return []
    return [(v["version"], v["origin"]["originType"]) for v in versions]


def test_upstream_dist_tags_naming_versions_it_does_not_have_are_left_out(
        packyard_factory: PackyardFactory, registry: StaticRegistry) -> None:
    """An upstream packument whose dist-tags name versions missing from its ``versions`` (or
    left out of the packument) is served without those tags, as the npm registry never serves
    one: in the full and abbreviated packuments, ``dist-tag ls`` and a tag's version
    document; its ``latest`` is then the highest version, as for a package without one."""
    registry.add("left-pad", "1.0.0")
    registry.add("left-pad", "2.0.0")
    registry.add("left-pad", "3.0.0")
    del registry.packages["left-pad"]["versions"]["3.0.0"]["dist"]["integrity"]
    del registry.packages["left-pad"]["versions"]["3.0.0"]["dist"]["shasum"]  # left out
    registry.packages["left-pad"]["dist-tags"].update(
        {"latest": "9.9.9", "beta": "4.0.0-beta.1", "broken": "3.0.0", "old": "1.0.0"})
    team, _ = _chain(packyard_factory, registry)
    expected = {"latest": "2.0.0", "old": "1.0.0"}
    for accept in (FULL, CORGI):
        document = team.get("left-pad", headers={"Accept": accept}).json()
        assert document["dist-tags"] == expected
        assert set(document["versions"]) == {"1.0.0", "2.0.0"}
    assert team.get("-/package/left-pad/dist-tags").json() == expected
    assert team.get("left-pad/latest").json()["version"] == "2.0.0"
    missing = team.get("left-pad/beta")
    assert (missing.status_code, missing.json()) == (
        404, {"error": "version not found: left-pad@beta"})


def test_regression_dist_tag_add_keeps_a_version_only_the_upstream_has(
        packyard_factory: PackyardFactory, registry: StaticRegistry) -> None:
    # It was "version not found" (or "left-pad is not in this registry"): npm dist-tag ls
    # showed the version, npm dist-tag add could not tag it.
    registry.add("left-pad", "1.0.0")
    registry.add("left-pad", "2.0.0")
    team, api = _chain(packyard_factory, registry)
    assert _kept(api, "team") == []
    response = team.put_json("-/package/left-pad/dist-tags/stable", "1.0.0")
    assert response.status_code == 201, response.text
    # The answer and dist-tag ls are the packument's tags, not those of the kept versions only.
    assert response.json() == {"ok": True, "latest": "2.0.0", "stable": "1.0.0"}
    # Kept as an install keeps it (in team and in public, which holds the connection).
    assert _kept(api, "team") == [("1.0.0", "EXTERNAL")]
    assert _kept(api, "public") == [("1.0.0", "EXTERNAL")]
    assert team.packument("left-pad")["dist-tags"] == {"latest": "2.0.0", "stable": "1.0.0"}
    assert team.get("-/package/left-pad/dist-tags").json() == {"latest": "2.0.0",
                                                               "stable": "1.0.0"}
    assert len(_tarball_gets(registry)) == 1
    # With some versions kept, another one only the upstream has is kept the same way.
    assert team.put_json("-/package/left-pad/dist-tags/next", "2.0.0").status_code == 201
    assert _kept(api, "team") == [("1.0.0", "EXTERNAL"), ("2.0.0", "EXTERNAL")]
    # A version nobody has is still the registry's "version not found", and nothing is kept.
    missing = team.put_json("-/package/left-pad/dist-tags/beta", "9.9.9")
    assert (missing.status_code, missing.json()) == (
        404, {"error": "version not found: left-pad@9.9.9"})
    assert len(_kept(api, "team")) == 2


def test_regression_deprecate_keeps_the_upstream_version_it_deprecates(
        packyard_factory: PackyardFactory, registry: StaticRegistry) -> None:
    registry.add("left-pad", "1.0.0")
    registry.add("left-pad", "2.0.0")
    team, api = _chain(packyard_factory, registry)
    # npm deprecate: the write document lists what the packument lists, upstream versions too.
    document = team.get("left-pad?write=true").json()
    assert list(document["versions"]) == ["1.0.0", "2.0.0"] and document["_rev"]
    document["versions"]["1.0.0"]["deprecated"] = "use 2.x"
    response = team.put_json("left-pad", document)
    assert response.status_code == 200, response.text
    assert response.json() == {"ok": True, "id": "left-pad", "changed": 1}
    assert _kept(api, "team") == [("1.0.0", "EXTERNAL")]  # 2.0.0 unchanged: not kept
    versions = team.packument("left-pad")["versions"]
    assert versions["1.0.0"]["deprecated"] == "use 2.x"
    assert "deprecated" not in versions["2.0.0"]
    # The deprecation is team's, on its copy: the upstream and public's copy are untouched.
    assert "deprecated" not in registry.packages["left-pad"]["versions"]["1.0.0"]
    public = npm_repo(team.app, repository="public", create=False)
    assert "deprecated" not in public.packument("left-pad")["versions"]["1.0.0"]
    # The write document's _rev is team's own document's: an unpublish based on it works.
    rev = team.get("left-pad?write=true").json()["_rev"]
    assert team.request("DELETE", f"left-pad/-rev/{rev}").status_code == 200
    assert _kept(api, "team") == []


def test_regression_keeping_for_an_edit_is_authorized_first(
        packyard_factory: PackyardFactory, registry: StaticRegistry) -> None:
    registry.add("left-pad", "1.0.0")
    team, api = _chain(packyard_factory, registry)
    app = team.app
    token = {"Effect": "Allow", "Action": ["codeartifact:GetAuthorizationToken",
                                           "sts:GetServiceBearerToken"], "Resource": "*"}
    publish = {"Effect": "Allow", "Action": "codeartifact:PublishPackageVersion",
               "Resource": "*"}
    read = {"Effect": "Allow", "Action": "codeartifact:ReadFromRepository", "Resource": "*"}
    for user, statements, action in (("reader", [token, read], "PublishPackageVersion"),
                                     ("tagger", [token, publish], "ReadFromRepository")):
        iam = app.iam()
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": statements}))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        caller = npm_repo(app, repository="team", create=False,
                          credentials=Credentials(key["AccessKeyId"], key["SecretAccessKey"]))
        response = caller.put_json("-/package/left-pad/dist-tags/stable", "1.0.0")
        assert response.status_code == 403, response.text
        assert f"codeartifact:{action}" in response.json()["error"]
    assert _kept(api, "team") == [] and _tarball_gets(registry) == []


def test_origin_controls_block_the_upstream(packyard_factory: PackyardFactory,
                                            registry: StaticRegistry) -> None:
    registry.add("left-pad", "1.0.0")
    team, api = _chain(packyard_factory, registry)
    api.put_package_origin_configuration(domain="acme", repository="team", format="npm",
                                         package="left-pad",
                                         restrictions={"publish": "ALLOW", "upstream": "BLOCK"})
    assert team.get("left-pad").status_code == 404
    assert team.get("left-pad/-/left-pad-1.0.0.tgz").status_code == 404
    assert _tarball_gets(registry) == []


def test_regression_a_package_blocked_from_upstream_said_only_it_has_no_versions(
        packyard_factory: PackyardFactory, registry: StaticRegistry) -> None:
    """A package first published to a repository (or set so) takes no upstream versions: once
    its own are unpublished, npm said only "left-pad has no versions", though the npm registry
    has it; now the 404 says the repository's origin configuration is what keeps them out."""
    registry.add("left-pad", "1.0.0")
    team, api = _chain(packyard_factory, registry)
    assert team.publish("left-pad", "9.9.9").status_code == 201
    api.delete_package_versions(domain="acme", repository="team", format="npm",
                                package="left-pad", versions=["9.9.9"])
    got = team.get("left-pad")
    assert got.status_code == 404
    assert got.json() == {"error": (
        "left-pad has no versions in repository team, and its origin configuration there "
        "blocks versions from upstream repositories and external connections (upstream: "
        "BLOCK; put-package-origin-configuration with upstream=ALLOW lets them in)")}
    api.put_package_origin_configuration(domain="acme", repository="team", format="npm",
                                         package="left-pad",
                                         restrictions={"publish": "ALLOW", "upstream": "ALLOW"})
    assert set(team.packument("left-pad")["versions"]) == {"1.0.0"}


def test_stale_copy_when_the_upstream_is_down(packyard_factory: PackyardFactory,
                                              registry: StaticRegistry) -> None:
    registry.add("left-pad", "1.0.0")
    team, _ = _chain(packyard_factory, registry, upstream_page_ttl_seconds=0)
    assert team.packument("left-pad")["versions"]
    registry.stop()
    assert list(team.packument("left-pad")["versions"]) == ["1.0.0"]


def test_upstream_404_is_remembered(packyard_factory: PackyardFactory,
                                    registry: StaticRegistry) -> None:
    team, _ = _chain(packyard_factory, registry)
    for _ in range(3):
        assert team.get("nothing-here").status_code == 404
    assert [r for r in registry.requests if "nothing-here" in r] == ["/nothing-here"]


def test_one_upstream_fetch_for_many_concurrent_misses(packyard_factory: PackyardFactory,
                                                       registry: StaticRegistry) -> None:
    registry.add("left-pad", "1.0.0")
    team, _ = _chain(packyard_factory, registry)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: team.get("left-pad").status_code, range(16)))
    assert answers == [200] * 16
    assert [r for r in registry.requests if r == "/left-pad"] == ["/left-pad"]


def test_advisories_are_proxied_when_the_repository_reaches_public_npmjs(
        packyard_factory: PackyardFactory, registry: StaticRegistry) -> None:
    team, _ = _chain(packyard_factory, registry)
    response = team.request("POST", "-/npm/v1/security/advisories/bulk",
                            content=b'{"left-pad":["1.0.0"]}',
                            headers={"Content-Type": "application/json"})
    assert response.status_code == 200 and response.json() == {}
    assert "POST /-/npm/v1/security/advisories/bulk" in registry.requests


@pytest.mark.parametrize("path", ["-/npm/v1/security/audits/quick", "-/npm/v1/security/audits"])
def test_regression_pnpms_audits_are_passed_on_as_the_bulk_advisories_are(
        packyard_factory: PackyardFactory, registry: StaticRegistry, path: str) -> None:
    # pnpm audit posts the quick audit, then npm 6's full one; both were a 404 from Packyard.
    team, _ = _chain(packyard_factory, registry)
    registry.post_body = b'{"advisories":{},"metadata":{"vulnerabilities":{}}}'
    tree = b'{"name":"app","version":"1.0.0","requires":{"left-pad":"1.0.0"}}'
    response = team.request("POST", path, content=tree,
                            headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert response.json() == {"advisories": {}, "metadata": {"vulnerabilities": {}}}
    assert registry.posted == [("/" + path, tree)]
    registry.post_status = 404  # an upstream without it: the upstream failing, 502
    response = team.request("POST", path, content=tree,
                            headers={"Content-Type": "application/json"})
    assert response.status_code == 502
    assert response.json() == {"error": "The upstream's audits endpoint answered 404"}
    # The npm registry retiring these endpoints (410) says why; the client sees it.
    registry.post_status = 410
    registry.post_body = (b'{"error":"This endpoint is being retired. Use the bulk advisory '
                          b'endpoint instead."}')
    response = team.request("POST", path, content=tree,
                            headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()) == (502, {
        "error": "The upstream's audits endpoint answered 410: This endpoint is being "
                 "retired. Use the bulk advisory endpoint instead."})
    # Authorized first, as every read: no token, no upstream request.
    assert team.request("POST", path, content=tree, token=None).status_code == 401
    assert len(registry.posted) == 3


@pytest.mark.parametrize(("upstream", "answered"), [(400, 400), (405, 502), (404, 502),
                                                    (503, 502)])
def test_regression_an_upstream_without_advisories_is_a_502_not_its_own_status(
        packyard_factory: PackyardFactory, registry: StaticRegistry, upstream: int,
        answered: int) -> None:
    # A mirror answering 405 is the upstream failing the client, not the client's mistake (a
    # 405 from Packyard, without Allow, names a method Packyard itself refuses); a 400 is about
    # the body the client sent, passed on as it is.
    team, _ = _chain(packyard_factory, registry)
    registry.post_status = upstream
    response = team.request("POST", "-/npm/v1/security/advisories/bulk",
                            content=b'{"left-pad":["1.0.0"]}',
                            headers={"Content-Type": "application/json"})
    assert response.status_code == answered
    assert response.json() == {
        "error": f"The upstream's advisories endpoint answered {upstream}"}


def test_regression_a_kept_version_shows_the_upstreams_deprecation_and_time(
        packyard_factory: PackyardFactory, registry: StaticRegistry) -> None:
    """A version kept before its upstream deprecated it (a security notice, often) shows the
    deprecation in both packuments, and the upstream's publish time when it is earlier (a copy
    kept by an older Packyard recorded the pull's)."""
    registry.add("left-pad", "1.0.0")
    registry.add("left-pad", "1.1.0")
    team, api = _chain(packyard_factory, registry, upstream_page_ttl_seconds=0)
    for version in ("1.0.0", "1.1.0"):
        assert team.get(f"left-pad/-/left-pad-{version}.tgz").status_code == 200
    kept = api.list_package_versions(domain="acme", repository="team", format="npm",
                                     package="left-pad")["versions"]
    assert [v["version"] for v in kept] == ["1.0.0", "1.1.0"]
    upstream = registry.packages["left-pad"]
    upstream["versions"]["1.0.0"]["deprecated"] = "1.0.0 has a security problem"
    upstream["versions"]["1.1.0"]["deprecated"] = "use 2.x"
    upstream["time"]["1.1.0"] = "2023-05-06T07:08:09.000Z"
    time.sleep(2.1)  # a page merging upstreams is kept at least 2 s (services/reads.py)
    for accept in (FULL, CORGI):
        document = team.packument("left-pad", accept)
        assert document["versions"]["1.0.0"]["deprecated"] == "1.0.0 has a security problem"
        assert document["versions"]["1.1.0"]["deprecated"] == "use 2.x"
    full = team.packument("left-pad", FULL)
    assert full["time"]["1.0.0"] == "2024-01-01T00:00:00.000Z"
    assert full["time"]["1.1.0"] == "2023-05-06T07:08:09.000Z"


def test_one_repository_reaches_public_pypi_and_public_npmjs_through_two_stores(
        packyard_factory: PackyardFactory, registry: StaticRegistry) -> None:
    """The README's layout: the team's repository has a PyPI store first, then an npm store."""
    data = registry.add("left-pad", "1.3.0")
    app = packyard_factory(npm_upstream_url=registry.url)
    api = app.codeartifact()
    api.create_domain(domain="acme")
    for store, connection in (("pypi-store", "public:pypi"), ("npm-store", "public:npmjs")):
        api.create_repository(domain="acme", repository=store)
        api.associate_external_connection(domain="acme", repository=store,
                                          externalConnection=connection)
    api.create_repository(domain="acme", repository="team", upstreams=[
        {"repositoryName": "pypi-store"}, {"repositoryName": "npm-store"}])
    team = npm_repo(app, repository="team", create=False)
    assert team.packument("left-pad")["dist-tags"] == {"latest": "1.3.0"}
    assert team.get("left-pad/-/left-pad-1.3.0.tgz").content == data
    kept = api.list_package_versions(domain="acme", repository="npm-store", format="npm",
                                     package="left-pad")["versions"]
    assert [v["version"] for v in kept] == ["1.3.0"]


def test_repeat_reads_of_what_came_from_upstream_take_the_hot_path(
        packyard_factory: PackyardFactory, registry: StaticRegistry) -> None:
    registry.add("left-pad", "1.0.0")
    team, _ = _chain(packyard_factory, registry)
    for path in ("left-pad/-/left-pad-1.0.0.tgz", "left-pad"):
        # The first read keeps what it fetched (a catalog write, which drops the caches it had
        # filled), so the second goes through the handlers once more; from then on, the hot path.
        for _ in range(2):
            assert team.get(path).status_code == 200
        before = team.app.starlette_calls
        for _ in range(3):
            assert team.get(path).status_code == 200
        assert team.app.starlette_calls == before, path


def test_regression_npm_audit_does_not_tell_the_public_registry_internal_names(
        packyard_factory: PackyardFactory, registry: StaticRegistry) -> None:
    """npm audit posted every installed name to public:npmjs, the internal ones too: a
    package group with EXTERNAL_UPSTREAM BLOCK (README: its packages are never asked of the
    public registry) and a package published to the repository (upstream BLOCK) were named in
    the query the registry got. Now only what the repository would ask the registry about is
    sent; a query left with nothing is answered 'no advisories' without asking."""
    registry.add("left-pad", "1.0.0")
    team, api = _chain(packyard_factory, registry)
    api.create_package_group(domain="acme", packageGroup="/npm/acme/*")
    api.update_package_group_origin_configuration(
        domain="acme", packageGroup="/npm/acme/*", restrictions={"EXTERNAL_UPSTREAM": "BLOCK"})
    assert team.publish("acme-util", "1.0.0").status_code == 201
    registry.post_body = b'{"left-pad":[]}'
    query = {"@acme/lib": ["1.0.0"], "acme-util": ["1.0.0"], "left-pad": ["1.0.0"]}
    response = team.request("POST", "-/npm/v1/security/advisories/bulk",
                            content=gzip.compress(json.dumps(query).encode()),
                            headers={"Content-Type": "application/json",
                                     "Content-Encoding": "gzip"})
    assert (response.status_code, response.json()) == (200, {"left-pad": []})
    assert [(path, json.loads(body)) for path, body in registry.posted] == [
        ("/-/npm/v1/security/advisories/bulk", {"left-pad": ["1.0.0"]})]
    internal_only = {"@acme/lib": ["1.0.0"], "acme-util": ["1.0.0"]}
    response = team.request("POST", "-/npm/v1/security/advisories/bulk",
                            content=json.dumps(internal_only).encode(),
                            headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()) == (200, {})
    # pnpm's npm 6 tree (its importer "." first): pruned at every level.
    registry.post_body = b'{"advisories":{},"metadata":{"vulnerabilities":{}}}'
    left_pad = {"version": "1.0.0", "requires": {"acme-util": "1.0.0"},
                "dependencies": {"acme-util": {"version": "1.0.0"}}}
    tree = {"requires": {}, "dependencies": {".": {
        "version": "1.0.0", "requires": {"@acme/lib": "1.0.0", "left-pad": "1.0.0"},
        "dependencies": {"@acme/lib": {"version": "1.0.0", "requires": {"acme-util": "1.0.0"}},
                         "left-pad": left_pad}}}}
    response = team.request("POST", "-/npm/v1/security/audits/quick",
                            content=json.dumps(tree).encode(),
                            headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert json.loads(registry.posted[-1][1]) == {"requires": {}, "dependencies": {".": {
        "version": "1.0.0", "requires": {"left-pad": "1.0.0"},
        "dependencies": {"left-pad": {"version": "1.0.0", "requires": {},
                                      "dependencies": {}}}}}}
    assert len(registry.posted) == 2
    garbled = team.request("POST", "-/npm/v1/security/advisories/bulk", content=b"{not json",
                           headers={"Content-Type": "application/json"})
    assert (garbled.status_code, garbled.json()) == (
        400, {"error": "The audit query is not a JSON document."})
