"""Every bad npm publish the issue lists, each refused with the ``{"error": …}`` npm prints,
and nothing stored: no package, no version, no blob, no staged file."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import tarfile
from typing import Any

import httpx
import pytest

from packyard.metadata import tags as tags_module
from packyard.metadata.engine import DatabaseUnavailable
from packyard.storage.backends import staging_dir
from tests.inprocess.conftest import PackyardFactory
from tests.inprocess.harness import InProcessPackyard
from tests.inprocess.npm_support import NpmRepo, escape, npm_repo
from tests.inprocess.test_outages import DATABASE_DOWN
from tests.unit.npm_samples import Member, integrity, manifest_bytes, publish_document, tgz


@pytest.fixture
def repo(packyard: InProcessPackyard) -> NpmRepo:
    return npm_repo(packyard)


def _refused(response: httpx.Response, status: int, message: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": message}


def _nothing_stored(repo: NpmRepo, name: str) -> None:
    assert repo.get(escape(name)).status_code == 404
    packages = repo.app.codeartifact().list_packages(domain=repo.domain,
                                                     repository=repo.repository)["packages"]
    assert packages == []
    blobs = repo.app.container.core.blobs
    staging = staging_dir(repo.app.settings)
    assert not staging.exists() or list(staging.iterdir()) == []
    root = repo.app.settings.blob_dir
    stored = [p for p in root.rglob("*") if p.is_file() and ".staging" not in p.parts]
    assert stored == [], (stored, blobs)


def _put(repo: NpmRepo, name: str, document: dict[str, Any]) -> httpx.Response:
    return repo.put_json(escape(name), document)


def test_tarball_whose_integrity_disagrees(repo: NpmRepo) -> None:
    tarball = tgz([Member("package/package.json", manifest_bytes("demo", "1.0.0"))])
    document = publish_document("demo", "1.0.0", tarball)
    document["versions"]["1.0.0"]["dist"]["integrity"] = integrity(b"other bytes")
    response = _put(repo, "demo", document)
    _refused(response, 400, "The tarball does not match the version's dist.integrity: it has "
             f"{integrity(tarball)}, the manifest says {integrity(b'other bytes')}.")
    _nothing_stored(repo, "demo")


def test_tarball_whose_length_disagrees(repo: NpmRepo) -> None:
    tarball = tgz([Member("package/package.json", manifest_bytes("demo", "1.0.0"))])
    document = publish_document("demo", "1.0.0", tarball)
    document["_attachments"]["demo-1.0.0.tgz"]["length"] = len(tarball) + 1
    _refused(_put(repo, "demo", document), 400,
             f"The tarball attachment decodes to {len(tarball)} bytes, but its length says "
             f"{len(tarball) + 1}.")
    _nothing_stored(repo, "demo")


def test_package_json_inside_names_another_package(repo: NpmRepo) -> None:
    tarball = tgz([Member("package/package.json", manifest_bytes("other", "1.0.0"))])
    _refused(_put(repo, "demo", publish_document("demo", "1.0.0", tarball)), 400,
             'The package.json in demo-1.0.0.tgz names the package "other", not "demo".')
    _nothing_stored(repo, "demo")


def test_package_json_inside_names_another_version(repo: NpmRepo) -> None:
    tarball = tgz([Member("package/package.json", manifest_bytes("demo", "2.0.0"))])
    _refused(_put(repo, "demo", publish_document("demo", "1.0.0", tarball)), 400,
             'The package.json in demo-1.0.0.tgz has the version "2.0.0", not "1.0.0".')
    _nothing_stored(repo, "demo")


def test_path_traversal_entry_name(repo: NpmRepo) -> None:
    tarball = tgz([Member("package/package.json", manifest_bytes("demo", "1.0.0")),
                   Member("package/../../etc/evil", b"x")])
    _refused(_put(repo, "demo", publish_document("demo", "1.0.0", tarball)), 400,
             "demo-1.0.0.tgz is not a valid npm package tarball: entry "
             "'package/../../etc/evil' has a '..' path component.")
    _nothing_stored(repo, "demo")


def test_tarball_bomb(repo: NpmRepo) -> None:
    # 64 MiB of zeros in one entry gzip to ~64 KiB: over 200 times as many bytes unpacked.
    import io

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        data = manifest_bytes("demo", "1.0.0")
        info = tarfile.TarInfo("package/package.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("package/zeros")
        info.size = 64 * 1024 * 1024
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    tarball = gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)
    response = _put(repo, "demo", publish_document("demo", "1.0.0", tarball))
    assert response.status_code == 400
    assert response.json()["error"].startswith(
        "demo-1.0.0.tgz is not a valid npm package tarball: it is a decompression bomb (")
    _nothing_stored(repo, "demo")


def test_fifty_megabytes_of_garbage(repo: NpmRepo) -> None:
    garbage = hashlib.sha512(b"seed").digest() * (50 * 1024 * 1024 // 64)
    response = repo.request("PUT", "demo", content=garbage,
                            headers={"Content-Type": "application/json"})
    _refused(response, 400, "The publish body must be a JSON object (npm's publish document).")
    _nothing_stored(repo, "demo")


def test_fifty_megabytes_of_json_without_a_tarball(repo: NpmRepo) -> None:
    body = json.dumps({"name": "demo", "versions": {"1.0.0": {"junk": "x" * 50_000_000}}})
    response = repo.request("PUT", "demo", content=body.encode(),
                            headers={"Content-Type": "application/json"})
    _refused(response, 413, "The publish document (the body without its tarball) is larger "
             "than 32 MiB.")
    _nothing_stored(repo, "demo")


@pytest.mark.parametrize(("name", "reason"), [
    ("@Acme/demo", 'the scope "@Acme" must start with a lowercase letter, digit, "-" or "~" '
                   'and contain only lowercase letters, digits and "-._~"'),
    ("@ac..me/demo", 'name cannot contain ".."'),
])
def test_bad_scope(repo: NpmRepo, name: str, reason: str) -> None:
    tarball = tgz([Member("package/package.json", manifest_bytes(name, "1.0.0"))])
    response = _put(repo, name, publish_document(name, "1.0.0", tarball))
    _refused(response, 400, f'Invalid package name "{name}": {reason}.')
    _nothing_stored(repo, "demo")


def test_version_that_is_not_semver(repo: NpmRepo) -> None:
    tarball = tgz([Member("package/package.json", manifest_bytes("demo", "1.0"))])
    _refused(_put(repo, "demo", publish_document("demo", "1.0", tarball)), 400,
             'Invalid version "1.0": it is not a semantic version '
             "(MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD], e.g. 1.0.0).")
    _nothing_stored(repo, "demo")


def test_attachment_that_is_not_base64(repo: NpmRepo) -> None:
    tarball = tgz([Member("package/package.json", manifest_bytes("demo", "1.0.0"))])
    document = publish_document("demo", "1.0.0", tarball)
    document["_attachments"]["demo-1.0.0.tgz"]["data"] = "not base64!"
    _refused(_put(repo, "demo", document), 400,
             "The tarball attachment's data is not valid base64.")
    _nothing_stored(repo, "demo")


def _login_command(repo: NpmRepo) -> str:
    """The command a 401 names: the repository the request asked, at the URL it asked."""
    assert repo.endpoint == f"http://packyard.test/{repo.domain}-000000000000/npm/{repo.repository}/"
    return (f"run `aws codeartifact login --tool npm --domain {repo.domain} --domain-owner "
            f"000000000000 --repository {repo.repository} --endpoint-url http://packyard.test`")


def _log_in(repo: NpmRepo) -> str:
    return (f"Authentication required: {_login_command(repo)} (yarn 1 also needs "
            "always-auth=true in .npmrc; yarn 2+: set npmAuthToken and npmAlwaysAuth in "
            ".yarnrc.yml)")


def test_publish_without_a_token_is_401_without_otp(repo: NpmRepo) -> None:
    response = repo.request("PUT", "demo", token=None, content=b"{}")
    assert response.status_code == 401
    assert "www-authenticate" not in response.headers  # so nothing in it says otp
    assert response.json() == {"error": _log_in(repo)}


# What npm 11 and bun 1.4 send when they publish (bun's are the same but for user-agent).
_PUBLISH_HEADERS = {"npm-auth-type": "web", "npm-command": "publish",
                    "content-type": "application/json", "accept": "*/*",
                    "user-agent": "Bun/1.4.5 linux x64 workspaces/false"}


def test_regression_a_401_said_bearer_so_npm_printed_npm_login_and_bun_the_header(
        repo: NpmRepo) -> None:
    """A 401 with ``WWW-Authenticate: Basic …, Bearer …`` made npm 11 print "your
    authentication token seems to be invalid … npm login" (which cannot log in here) and bun
    publish "unable to authenticate, need: Basic realm=…", neither the reason; without the
    header npm prints "401 Unauthorized - PUT … - Invalid authorization token" and bun
    "401 Unauthorized: … - Invalid authorization token"."""
    document = publish_document("demo", "1.0.0", tgz([Member("package/package.json",
                                                            manifest_bytes("demo", "1.0.0"))]))
    publish = repo.request("PUT", "demo", token="wrong", headers=_PUBLISH_HEADERS,
                           content=json.dumps(document).encode())
    install = repo.request("GET", "left-pad", token="wrong", headers={
        "npm-auth-type": "legacy", "user-agent": "Bun/1.4.5",
        "accept": "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"})
    for response in (publish, install):
        _refused(response, 401,
                 f"Invalid authorization token; log in again: {_login_command(repo)}")
        assert "www-authenticate" not in response.headers
    anonymous = repo.request("PUT", "demo", token=None, headers=_PUBLISH_HEADERS,
                             content=json.dumps(document).encode())
    _refused(anonymous, 401, _log_in(repo))
    assert "www-authenticate" not in anonymous.headers
    _nothing_stored(repo, "demo")


def test_regression_npm_hid_why_a_token_was_refused(packyard: InProcessPackyard,
                                                    packyard_factory: PackyardFactory,
                                                    repo: NpmRepo) -> None:
    """npm 11 prints no 401 body when WWW-Authenticate names Bearer or Basic: an expired token
    (they last 12 hours) said only "your authentication token seems to be invalid … npm
    login", which does not work here. A 401 now says why and the command that logs in, in the
    body npm prints once no WWW-Authenticate names Bearer (yarn 1 prints it either way)."""
    short = packyard.codeartifact().get_authorization_token(
        domain=repo.domain, durationSeconds=900)["authorizationToken"]
    later = NpmRepo(packyard_factory(clock_offset_seconds=1000), repo.domain, repo.repository,
                    repo.endpoint, short)
    command = _login_command(repo)
    for refused, message in [
            (later.get("left-pad"), f"The authorization token has expired; log in again: "
                                    f"{command}"),
            (repo.get("left-pad", token="garbage"),
             f"Invalid authorization token; log in again: {command}"),
            (repo.get("left-pad/-/left-pad-1.0.0.tgz", token=None), _log_in(repo))]:
        _refused(refused, 401, message)
        assert "www-authenticate" not in refused.headers


def test_basic_aws_token_works_as_bearer_does(repo: NpmRepo) -> None:
    basic = base64.b64encode(f"aws:{repo.token}".encode()).decode()
    response = repo.request("GET", "-/whoami", token=None,
                            headers={"Authorization": f"Basic {basic}"})
    assert response.json() == {"username": "root"}


def test_republishing_other_bytes_is_409_and_the_same_bytes_a_no_op(repo: NpmRepo) -> None:
    assert repo.publish("demo", "1.0.0").status_code == 201
    assert repo.publish("demo", "1.0.0").status_code == 200
    response = repo.publish("demo", "1.0.0", manifest={"description": "changed"})
    _refused(response, 409, "You cannot publish over the previously published versions: 1.0.0.")


def test_a_version_unpublished_through_delete_can_be_published_again(repo: NpmRepo) -> None:
    assert repo.publish("demo", "1.0.0").status_code == 201
    rev = repo.get("demo?write=true").json()["_rev"]
    assert repo.request("DELETE", f"demo/-rev/{rev}").status_code == 200
    assert repo.get("demo").status_code == 404
    # CodeArtifact allows a deleted version to be published again (the public registry not).
    assert repo.publish("demo", "1.0.0", manifest={"description": "again"}).status_code == 201
    assert repo.packument("demo")["versions"]["1.0.0"]["description"] == "again"


def test_stale_revision_is_refused(repo: NpmRepo) -> None:
    repo.publish("demo", "1.0.0")
    rev = repo.get("demo?write=true").json()["_rev"]
    repo.publish("demo", "1.1.0")
    response = repo.request("DELETE", f"demo/-rev/{rev}")
    assert response.status_code == 409
    assert "changed since it was read" in response.json()["error"]
    assert set(repo.packument("demo")["versions"]) == {"1.0.0", "1.1.0"}


def test_npm_login_is_refused_with_the_command_to_run(repo: NpmRepo) -> None:
    login = {"name": "alice", "password": "secret"}
    # Without a token npm gets the 401 every unauthenticated request gets (checked first).
    anonymous = repo.put_json("-/user/org.couchdb.user:alice", login, token=None)
    assert anonymous.status_code == 401
    _refused(repo.put_json("-/user/org.couchdb.user:alice", login), 400,
             f"npm login and adduser are not how Packyard signs you in: {_login_command(repo)}"
             " (it writes the token into .npmrc)")


def test_regression_other_bytes_published_at_the_same_moment_get_npms_refusal(
        repo: NpmRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    # Two replicas took `npm publish` of one version at once: the one that committed second
    # had looked before the first committed, and npm printed the catalog's "409 Conflict -
    # File already exists: package.tgz has other content in version 1.0.0; files are never
    # replaced" instead of its own EPUBLISHCONFLICT words.
    assert repo.publish("demo", "1.0.0").status_code == 201
    catalog = repo.app.container.registry.catalog
    monkeypatch.setattr(catalog, "get_version", lambda *_args: None)  # looked before it
    response = repo.publish("demo", "1.0.0", manifest={"description": "changed"})
    _refused(response, 409, "You cannot publish over the previously published versions: 1.0.0.")
    monkeypatch.undo()
    assert repo.packument("demo")["versions"]["1.0.0"].get("description") != "changed"


def test_regression_a_publish_whose_tags_cannot_be_written_publishes_nothing(
        repo: NpmRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    # The tags were written after the version, in a transaction of their own: `npm publish
    # --tag beta` meeting a database outage between the two was answered 503 with 1.1.0
    # published and `latest` not pinned to 1.0.0, so `npm install demo` got the beta; npm's
    # retry was a 200 no-op that never wrote the tag.
    assert repo.publish("demo", "1.0.0").status_code == 201

    def outage(*_args: Any, **_kwargs: Any) -> Any:  # the tag's statement, wherever it runs
        raise DatabaseUnavailable(DATABASE_DOWN, retry_after_seconds=2)

    with monkeypatch.context() as patched:
        patched.setattr(tags_module, "update", outage)
        refused = repo.publish("demo", "1.1.0", tag="beta")
    _refused(refused, 503, DATABASE_DOWN)
    assert sorted(repo.packument("demo")["versions"]) == ["1.0.0"]
    assert repo.publish("demo", "1.1.0", tag="beta").status_code == 201
    assert repo.packument("demo")["dist-tags"] == {"latest": "1.0.0", "beta": "1.1.0"}


def test_regression_a_tarball_over_the_limit_is_refused(packyard_factory: PackyardFactory) -> None:
    """PACKYARD_NPM_MAX_TARBALL_BYTES is the largest tarball a publish may carry; the body limit
    (that tarball in base64 plus the document allowance) let a tarball of up to 32 MiB more in."""
    repo = npm_repo(packyard_factory(npm_max_tarball_bytes=4096))
    # 16 KiB that gzip cannot shrink below 4 KiB.
    noise = b"".join(hashlib.sha512(i.to_bytes(4, "big")).digest() for i in range(256))
    tarball = tgz([Member("package/package.json", manifest_bytes("demo", "1.0.0")),
                   Member("package/noise.bin", noise)])
    assert len(tarball) > 4096
    response = _put(repo, "demo", publish_document("demo", "1.0.0", tarball))
    _refused(response, 413, "The tarball is larger than 4096 bytes.")
    _nothing_stored(repo, "demo")
