"""The npm registry API as npm, pnpm and yarn read it: packuments (full and abbreviated, with
their validators, gzip and the hot path), tarballs, dist-tags, whoami, ping, search,
advisories, version statuses."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import pytest

from tests.inprocess.harness import InProcessPackyard
from tests.inprocess.npm_support import CORGI, FULL, NpmRepo, npm_repo


@pytest.fixture
def repo(packyard: InProcessPackyard) -> NpmRepo:
    found = npm_repo(packyard)
    assert found.publish("@acme/util", "1.0.0", readme="# util\n",
                         manifest={"description": "Scoped utilities", "license": "MIT",
                                   "dependencies": {"left-pad": "^1.3.0"},
                                   "devDependencies": {"tap": "^18"},
                                   "peerDependencies": {"react": ">=17"},
                                   "optionalDependencies": {"fsevents": "^2"}}
                         ).status_code == 201
    assert found.publish("@acme/util", "1.1.0").status_code == 201
    assert found.publish("@acme/util", "2.0.0-beta.1", tag="next").status_code == 201
    return found


def test_full_packument(repo: NpmRepo) -> None:
    response = repo.get("@acme%2futil", headers={"Accept": FULL})
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["_id"] == document["name"] == "@acme/util"
    assert "_rev" not in document
    assert document["dist-tags"] == {"latest": "1.1.0", "next": "2.0.0-beta.1"}
    assert list(document["versions"]) == ["1.0.0", "1.1.0", "2.0.0-beta.1"]
    one = document["versions"]["1.0.0"]
    assert one["dist"]["tarball"] == repo.endpoint + "@acme/util/-/util-1.0.0.tgz"
    assert one["dist"]["integrity"].startswith("sha512-")
    assert len(one["dist"]["shasum"]) == 40
    assert set(document["time"]) == {"created", "modified", "1.0.0", "1.1.0", "2.0.0-beta.1"}


def test_abbreviated_packument_for_pnpm_and_yarn1(repo: NpmRepo) -> None:
    response = repo.get("@acme%2Futil", headers={"Accept": CORGI})
    assert response.headers["content-type"] == "application/vnd.npm.install-v1+json"
    document = response.json()
    assert set(document) == {"name", "modified", "dist-tags", "versions", "time"}
    assert document["versions"]["1.0.0"]["dependencies"] == {"left-pad": "^1.3.0"}
    assert "description" not in document["versions"]["1.0.0"]


@pytest.mark.parametrize("path", ["@acme%2futil", "@acme%2Futil", "@acme/util"])
def test_every_spelling_of_a_scoped_name(repo: NpmRepo, path: str) -> None:
    assert repo.get(path).json()["name"] == "@acme/util"


@pytest.mark.parametrize("path", ["@acme/util/-/util-1.0.0.tgz", "@acme%2futil/-/util-1.0.0.tgz"])
def test_tarball_at_both_paths_with_ranges(repo: NpmRepo, path: str) -> None:
    whole = repo.get(path)
    assert whole.status_code == 200
    assert whole.headers["cache-control"].endswith("immutable")
    part = repo.get(path, headers={"Range": "bytes=0-9"})
    assert part.status_code == 206 and part.content == whole.content[:10]


def test_validators_gzip_and_304(repo: NpmRepo) -> None:
    first = repo.get("@acme%2futil", headers={"Accept": FULL, "Accept-Encoding": "gzip"})
    assert first.headers["content-encoding"] == "gzip"
    assert first.headers["vary"].startswith("Accept, Accept-Encoding")
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    again = repo.get("@acme%2futil", headers={"Accept": FULL, "Accept-Encoding": "gzip",
                                               "If-None-Match": etag})
    assert again.status_code == 304
    since = repo.get("@acme%2futil", headers={"Accept": FULL, "If-Modified-Since": modified})
    assert since.status_code == 304
    earlier = format_datetime(datetime.now(UTC) - timedelta(days=1), usegmt=True)
    assert repo.get("@acme%2futil", headers={"If-Modified-Since": earlier}).status_code == 200
    plain = repo.get("@acme%2futil", headers={"Accept": FULL, "Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.headers["etag"] != etag  # another representation, another tag
    assert first.json() == plain.json()


def test_repeat_reads_are_answered_by_the_hot_path(repo: NpmRepo) -> None:
    app = repo.app
    for path in ("@acme%2futil", "@acme/util/-/util-1.0.0.tgz"):
        repo.get(path, headers={"Accept": CORGI})
        before = app.starlette_calls
        for _ in range(3):
            assert repo.get(path, headers={"Accept": CORGI}).status_code == 200
        assert app.starlette_calls == before, path


def test_a_packument_is_rendered_once_per_change(repo: NpmRepo) -> None:
    from packyard.formats.npm.routes import NpmEndpoint

    route = repo.app.container.formats["npm"].routes[0]
    endpoint = route.routes[0].endpoint.__self__  # type: ignore[attr-defined]
    assert isinstance(endpoint, NpmEndpoint)
    packuments = endpoint._packuments
    repo.get("@acme%2futil")
    renders = packuments.renders
    repo.publish("other-package")  # a write elsewhere drops the page cache, not the document
    repo.get("@acme%2futil")
    assert packuments.renders == renders
    repo.publish("@acme/util", "1.2.0")
    assert "1.2.0" in repo.packument("@acme/util")["versions"]
    assert packuments.renders == renders + 1


def test_write_true_adds_the_revision(repo: NpmRepo) -> None:
    document = repo.get("@acme%2futil?write=true", headers={"Accept": "*/*"}).json()
    assert document["_rev"].startswith("1-")


def test_version_document(repo: NpmRepo) -> None:
    assert repo.get("@acme%2futil/1.0.0").json()["version"] == "1.0.0"
    assert repo.get("@acme%2futil/next").json()["version"] == "2.0.0-beta.1"
    missing = repo.get("@acme%2futil/9.9.9")
    assert missing.status_code == 404
    assert missing.json() == {"error": "version not found: @acme/util@9.9.9"}


def test_regression_a_dist_tag_or_a_deprecation_moves_last_modified(repo: NpmRepo) -> None:
    # The ETag moved and Last-Modified did not: a client revalidating with If-Modified-Since
    # alone got 304 and kept the old document.
    def modified() -> str:
        return repo.get("@acme%2futil").headers["last-modified"]

    before = modified()
    time.sleep(1.1)  # Last-Modified counts whole seconds
    assert repo.put_json("-/package/@acme%2futil/dist-tags/stable", "1.0.0").status_code == 201
    tagged = modified()
    assert parsedate_to_datetime(tagged) > parsedate_to_datetime(before)
    again = repo.get("@acme%2futil", headers={"If-Modified-Since": before})
    assert again.status_code == 200 and again.json()["dist-tags"]["stable"] == "1.0.0"
    assert repo.packument("@acme/util")["time"]["modified"] >= \
        parsedate_to_datetime(tagged).strftime("%Y-%m-%dT%H:%M:%S")


def test_dist_tags(repo: NpmRepo) -> None:
    assert repo.get("-/package/@acme%2futil/dist-tags").json() == {
        "latest": "1.1.0", "next": "2.0.0-beta.1"}
    put = repo.put_json("-/package/@acme%2futil/dist-tags/stable", "1.0.0")
    assert put.status_code == 201
    assert repo.packument("@acme/util")["dist-tags"]["stable"] == "1.0.0"
    # latest follows the highest release unless pinned
    repo.publish("@acme/util", "1.5.0")
    assert repo.packument("@acme/util")["dist-tags"]["latest"] == "1.5.0"
    repo.put_json("-/package/@acme%2futil/dist-tags/latest", "1.0.0")
    repo.publish("@acme/util", "1.6.0", tag="backport")
    assert repo.packument("@acme/util")["dist-tags"]["latest"] == "1.0.0"
    assert repo.request("DELETE", "-/package/@acme%2futil/dist-tags/latest").status_code == 200
    assert repo.packument("@acme/util")["dist-tags"]["latest"] == "1.6.0"
    missing = repo.put_json("-/package/@acme%2futil/dist-tags/qa", "7.7.7")
    assert missing.status_code == 404
    assert missing.json() == {"error": "version not found: @acme/util@7.7.7"}
    bad = repo.put_json("-/package/@acme%2futil/dist-tags/1.x", "1.0.0")
    assert bad.json() == {"error": "Tag name must not be a valid SemVer range: 1.x"}


def test_whoami_ping_and_search(repo: NpmRepo) -> None:
    assert repo.get("-/whoami").json() == {"username": "root"}
    assert repo.get("-/ping").json() == {}
    found = repo.get("-/v1/search?text=util&size=20&from=0&quality=0.65").json()
    assert [o["package"]["name"] for o in found["objects"]] == ["@acme/util"]
    assert found["objects"][0]["package"]["version"] == "1.1.0"
    assert found["objects"][0]["package"]["description"] == ""


def test_regression_search_qualifiers_and_the_publisher(repo: NpmRepo) -> None:
    assert repo.publish("pad-kit", "0.3.0", manifest={
        "description": "Padding kit", "keywords": ["pad", "string"],
        "author": "Ann Lee <ann@example.com>",
        "_npmUser": {"name": "mallory"}}).status_code == 201  # a claim, not kept

    def search(text: str) -> list[dict[str, Any]]:
        found = repo.get("-/v1/search", params={"text": text, "size": "20"}).json()
        return [o["package"] for o in found["objects"]]

    [kit] = search("author:ann")
    assert kit["name"] == "pad-kit"
    assert kit["author"] == {"name": "Ann Lee", "email": "ann@example.com"}
    # Who published it, as the token's principal (npm whoami), never the body's claim.
    assert kit["publisher"] == {"username": "root"}
    assert kit["maintainers"] == [{"username": "root"}]
    assert [p["name"] for p in search("maintainer:root")] == ["@acme/util", "pad-kit"]
    assert search("maintainer:mallory") == []
    assert [p["name"] for p in search("keywords:pad+string")] == ["pad-kit"]
    assert [p["name"] for p in search("keywords:string,-pad")] == []
    assert [p["name"] for p in search("is:unstable")] == ["pad-kit"]
    assert [p["name"] for p in search("not:unstable")] == ["@acme/util"]
    assert [p["name"] for p in search("scope:acme maintainer:root")] == ["@acme/util"]
    assert repo.get("-/v1/search?text=maintainer:root", token=None).status_code == 401


def test_advisories_without_public_npmjs_are_404_never_zero(repo: NpmRepo) -> None:
    response = repo.request("POST", "-/npm/v1/security/advisories/bulk", content=b"{}")
    assert response.status_code == 404
    assert response.json() == {"error": "This repository has no npm advisories: it does not "
                                        "reach public:npmjs."}


@pytest.mark.parametrize("path", ["-/npm/v1/security/audits/quick", "-/npm/v1/security/audits"])
def test_regression_pnpms_audits_without_public_npmjs_are_the_bulk_endpoints_404(
        repo: NpmRepo, path: str) -> None:
    response = repo.request("POST", path, content=b"{}")
    assert response.status_code == 404
    assert response.json() == {"error": "This repository has no npm advisories: it does not "
                                        "reach public:npmjs."}


_NO_STARS = {"error": "npm star, unstar and stars are not supported: this registry (like AWS "
                     "CodeArtifact) keeps no stars."}


def test_regression_npm_star_unstar_and_stars_are_a_405_npm_prints(repo: NpmRepo) -> None:
    # npm star: GET ?write=true, then PUT {_id, _rev, users} (it was a 400 about "versions").
    document = repo.get("@acme%2futil?write=true").json()
    star = {"_id": "@acme/util", "_rev": document["_rev"], "users": {"root": True}}
    for users in ({"root": True}, {}):  # star, unstar
        response = repo.put_json("@acme%2futil", {**star, "users": users})
        assert (response.status_code, response.json()) == (405, _NO_STARS)
    assert "deprecated" not in repo.packument("@acme/util")["versions"]["1.0.0"]
    # npm sends its command on each request: a star's first read is refused at once (so a
    # package the repository only reaches upstream, with no document to write, says the same).
    for path in ("@acme%2futil?write=true", "left-pad?write=true"):
        response = repo.get(path, headers={"npm-command": "star"})
        assert (response.status_code, response.json()) == (405, _NO_STARS)
    # npm stars reads a CouchDB view.
    response = repo.get('-/_view/starredByUser?key="root"', headers={"npm-command": "stars"})
    assert (response.status_code, response.json()) == (405, _NO_STARS)
    # Authorized first: no token, no word on stars.
    assert repo.get('-/_view/starredByUser?key="root"', token=None).status_code == 401
    assert repo.put_json("@acme%2futil", star, token=None).status_code == 401
    # deprecate's read of the same document is untouched.
    assert repo.get("@acme%2futil?write=true",
                    headers={"npm-command": "deprecate"}).status_code == 200


def _not_supported(command: str) -> dict[str, str]:
    return {"error": f"npm {command} is not supported: this registry (like AWS CodeArtifact) "
                     "has no npm users, teams or organizations; IAM policies say who may read, "
                     "publish and delete (aws codeartifact put-repository-permissions-policy)."}


# Each request as npm 11 sends it for the command (libnpmaccess, libnpmteam, libnpmorg,
# npm-profile, lib/commands/owner.js and token.js).
@pytest.mark.parametrize(("command", "method", "path"), [
    ("access", "GET", "-/org/root/package"),  # npm access list packages
    ("access", "GET", "-/user/root/package"),
    ("access", "GET", "-/package/@acme%2futil/collaborators"),
    ("access", "GET", "-/package/@acme%2futil/visibility"),  # npm access get status
    ("access", "POST", "-/package/@acme%2futil/access"),  # npm access set status=private
    ("access", "PUT", "-/team/acme/devs/package"),  # npm access grant
    ("access", "DELETE", "-/team/acme/devs/package"),  # npm access revoke
    ("owner", "GET", "-/user/org.couchdb.user:bob"),  # npm owner add/rm, before the edit
    ("team", "GET", "-/org/acme/team?format=cli"),
    ("team", "PUT", "-/team/acme/devs/user"),
    ("org", "GET", "-/org/acme/user"),
    ("token", "GET", "-/npm/v1/tokens"),
    ("profile", "GET", "-/npm/v1/user"),
])
def test_regression_npm_access_owner_and_team_commands_are_a_405_npm_prints(
        repo: NpmRepo, command: str, method: str, path: str) -> None:
    """They were 404s: npm printed "Not found: /-/user/root/package … could not be found or
    you do not have permission to access it", as if a package or a permission were missing."""
    body = {"content": b"{}", "headers": {"Content-Type": "application/json"}}
    response = repo.request(method, path, **(body if method in ("PUT", "POST") else {}))
    assert (response.status_code, response.json()) == (405, _not_supported(command))
    # Authenticated first: no token, no word on what the registry has.
    assert repo.request(method, path, token=None).status_code == 401


def test_dist_tags_and_login_paths_are_not_taken_for_account_commands(repo: NpmRepo) -> None:
    assert set(repo.get("-/package/@acme%2futil/dist-tags").json()) >= {"latest"}
    for name in ("@acme%2futil", "@acme/util"):
        for tag in ("access", "visibility", "collaborators"):
            path = f"-/package/{name}/dist-tags/{tag}"
            assert repo.put_json(path, "1.0.0").status_code == 201, (name, tag)
            assert repo.get(path).json() == "1.0.0"
            assert repo.request("DELETE", path).status_code == 200
    response = repo.put_json("-/user/org.couchdb.user:bob", {"name": "bob"})
    assert response.status_code == 400
    assert "aws codeartifact login --tool npm" in response.json()["error"]


def test_unlisted_versions_leave_the_packument_but_still_download(repo: NpmRepo) -> None:
    api = repo.app.codeartifact()
    api.update_package_versions_status(domain=repo.domain, repository=repo.repository,
                                       format="npm", namespace="acme", package="util",
                                       versions=["1.0.0"], targetStatus="Unlisted")
    api.update_package_versions_status(domain=repo.domain, repository=repo.repository,
                                       format="npm", namespace="acme", package="util",
                                       versions=["1.1.0"], targetStatus="Archived")
    document = repo.packument("@acme/util")
    assert list(document["versions"]) == ["2.0.0-beta.1"]
    assert document["dist-tags"]["latest"] == "2.0.0-beta.1"
    assert repo.get("@acme/util/-/util-1.0.0.tgz").status_code == 200
    archived = repo.get("@acme/util/-/util-1.1.0.tgz")
    assert archived.status_code == 404
    assert archived.json()["error"].startswith("No file util-1.1.0.tgz")


def test_reads_need_a_token(repo: NpmRepo) -> None:
    response = repo.get("@acme%2futil", token=None)
    assert response.status_code == 401
    assert response.json()["error"].startswith(
        "Authentication required: run `aws codeartifact login --tool npm")
    assert repo.get("@acme%2futil", token="garbage").status_code == 401


def test_unknown_package_is_a_404_npm_prints(repo: NpmRepo) -> None:
    response = repo.get("nope")
    assert response.status_code == 404
    assert response.json() == {"error": "No package nope in repository npmrepo"}


def test_bad_paths(repo: NpmRepo) -> None:
    response = repo.get("..%2f..%2fetc")
    assert response.status_code == 400
    assert response.json()["error"].startswith('Invalid package path "..%2f..%2fetc"')


def test_regression_an_unknown_scoped_package_is_named_with_its_scope(repo: NpmRepo) -> None:
    # npm printed "404 Not Found - GET …/@acme%2fnope - No package nope in repository npmrepo".
    response = repo.get("@acme%2fnope")
    assert response.status_code == 404
    assert response.json() == {"error": "No package @acme/nope in repository npmrepo"}
    assert repo.publish("@acme/other", "1.0.0").status_code == 201
    missing = repo.get("@acme/other/-/other-9.9.9.tgz")
    assert missing.status_code == 404
    assert "@acme/other" in missing.json()["error"], missing.json()
