"""What a PUT asks for: publish checks with npm's messages, deprecations and unpublishes."""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from packyard.errors import Conflict, Invalid
from packyard.formats.npm.names import PackageName
from packyard.formats.npm.publish_body import PublishBody, PublishBodyParser
from packyard.formats.npm.publish_checks import (
    PublishRequest,
    check_document_name,
    check_publish,
    check_revision,
    choose_readme,
    deprecations,
    is_identical_republish,
    is_publish,
    stored_manifest,
    unpublished_versions,
)
from packyard.formats.npm.tarball import TarballInspection, inspect_tarball
from tests.unit.npm_samples import (
    ACME_UTIL_TGZ,
    DEMO_LIB_TGZ,
    NPM11_ACME_UTIL_BODY,
    NPM11_DEMO_LIB_BODY,
    YARN4_ACME_UTIL_BODY,
    integrity,
    load_body,
    publish_document,
)

DEMO = PackageName(None, "demo-lib")
ACME = PackageName("acme", "util")
TARBALL = DEMO_LIB_TGZ.read_bytes()


def body_of(document: dict[str, Any]) -> PublishBody:
    parser = PublishBodyParser(lambda data: None)
    parser.feed(json.dumps(document).encode())
    return parser.close()


def parsed_file(path: Path) -> PublishBody:
    parser = PublishBodyParser(lambda data: None)
    parser.feed(path.read_bytes())
    return parser.close()


def inspection(path: Path) -> TarballInspection:
    return inspect_tarball(io.BytesIO(path.read_bytes()), path.name)


def demo_document(**changes: Any) -> dict[str, Any]:
    document = publish_document("demo-lib", "1.0.0", TARBALL)
    document.update(changes)
    return document


def refusal(document: dict[str, Any], url_name: PackageName = DEMO) -> str:
    with pytest.raises(Invalid) as caught:
        check_publish(body_of(document), url_name)
    return caught.value.message


@pytest.mark.parametrize(("path", "name", "tarball"), [
    (NPM11_DEMO_LIB_BODY, DEMO, DEMO_LIB_TGZ),
    (NPM11_ACME_UTIL_BODY, ACME, ACME_UTIL_TGZ),
    (YARN4_ACME_UTIL_BODY, ACME, None),
])
def test_real_publishes_pass(path: Path, name: PackageName, tarball: Path | None) -> None:
    sent = load_body(path)
    request = check_publish(parsed_file(path), name)
    assert (request.name, request.version) == (name, "1.0.0")
    assert request.integrity == sent["versions"]["1.0.0"]["dist"]["integrity"]
    assert request.shasum == sent["versions"]["1.0.0"]["dist"]["shasum"]
    assert request.attachment == f"{name.full}-1.0.0.tgz"
    assert request.dist_tags == {"latest": "1.0.0"}
    if tarball is not None:
        assert request.length == len(tarball.read_bytes())


def test_the_bare_file_name_is_accepted_for_a_scoped_attachment() -> None:
    document = publish_document("@acme/util", "1.0.0", TARBALL, attachment="util-1.0.0.tgz")
    assert check_publish(body_of(document), ACME).attachment == "util-1.0.0.tgz"


def test_a_publish_without_integrity_gets_the_registrys() -> None:
    document = demo_document()
    del document["versions"]["1.0.0"]["dist"]
    assert check_publish(body_of(document), DEMO).integrity == integrity(TARBALL)


def _manifest(document: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = document["versions"]["1.0.0"]
    return found


def _with(mutate: Any) -> dict[str, Any]:
    document = demo_document()
    mutate(document)
    return document


OTHER = base64.b64encode(hashlib.sha512(b"other").digest()).decode()


@pytest.mark.parametrize(("document", "message"), [
    (_with(lambda d: _manifest(d)["dist"].update(integrity=f"sha512-{OTHER}")),
     f"The tarball does not match the version's dist.integrity: it has {integrity(TARBALL)}, "
     f"the manifest says sha512-{OTHER}."),
    (_with(lambda d: _manifest(d)["dist"].update(integrity="sha256-abc")),
     "The version's dist.integrity (sha256-abc) has no sha512 hash."),
    (_with(lambda d: _manifest(d)["dist"].update(shasum="0" * 40)),
     f"The tarball does not match the version's dist.shasum: it has "
     f"{hashlib.sha1(TARBALL).hexdigest()}, the manifest says {'0' * 40}."),
    (_with(lambda d: d["_attachments"]["demo-lib-1.0.0.tgz"].update(length=10)),
     f"The tarball attachment decodes to {len(TARBALL)} bytes, but its length says 10."),
    (_with(lambda d: d["_attachments"]["demo-lib-1.0.0.tgz"].update(length="615")),
     f'The tarball attachment decodes to {len(TARBALL)} bytes, but its length says "615".'),
    (_with(lambda d: d["_attachments"]["demo-lib-1.0.0.tgz"].update(data="", length=0)),
     "The tarball attachment is empty."),
    (_with(lambda d: d["_attachments"]["demo-lib-1.0.0.tgz"].pop("data")),
     "The publish body has no tarball: _attachments needs one entry with base64 data."),
    (demo_document(_attachments={}),
     "The publish body has no tarball: _attachments needs one entry with base64 data."),
    (_with(lambda d: d.update(_attachments={"other-1.0.0.tgz": d["_attachments"].pop(
        "demo-lib-1.0.0.tgz")})),
     'The tarball attachment is named "other-1.0.0.tgz"; for demo-lib@1.0.0 it must be '
     '"demo-lib-1.0.0.tgz".'),
    (demo_document(name="other-lib"),
     'The package name in the body ("other-lib") is not the one in the URL ("demo-lib").'),
    (demo_document(_id="other-lib"),
     'The package name in the body ("other-lib") is not the one in the URL ("demo-lib").'),
    (_with(lambda d: _manifest(d).update(name="other-lib")),
     'The manifest of 1.0.0 names the package "other-lib", not "demo-lib".'),
    (_with(lambda d: _manifest(d).update(version="1.0.1")),
     'The manifest under versions["1.0.0"] has the version "1.0.1".'),
    (demo_document(versions={}), "A publish must carry exactly one version; this one has 0."),
    (demo_document(versions={"1.0.0": {}, "1.0.1": {}}),
     "A publish must carry exactly one version; this one has 2."),
    (demo_document(versions={"1.0.0": "x"}),
     'The manifest of version "1.0.0" is not a JSON object.'),
    (demo_document(versions={"1.0": {"name": "demo-lib", "version": "1.0"}}),
     'Invalid version "1.0": it is not a semantic version (MAJOR.MINOR.PATCH[-PRERELEASE]'
     "[+BUILD], e.g. 1.0.0)."),
    (demo_document(**{"dist-tags": ["latest"]}), "dist-tags must be a JSON object."),
])
def test_bad_publishes(document: dict[str, Any], message: str) -> None:
    assert refusal(document) == message


@pytest.mark.parametrize(("name", "message"), [
    ("@Acme/util", 'Invalid package name "@Acme/util": the scope "@Acme" must start with a '
                   'lowercase letter, digit, "-" or "~" and contain only lowercase letters, '
                   'digits and "-._~".'),
    ("Demo-Lib", 'Invalid package name "Demo-Lib": name can no longer contain capital letters.'),
])
def test_names_not_allowed_for_new_packages(name: str, message: str) -> None:
    url_name = PackageName(*name[1:].split("/")) if name.startswith("@") else PackageName(
        None, name)
    document = publish_document(name, "1.0.0", TARBALL)
    assert refusal(document, url_name) == message


def test_stored_manifest() -> None:
    request = check_publish(parsed_file(NPM11_ACME_UTIL_BODY), ACME)
    stored = stored_manifest(request, inspection(ACME_UTIL_TGZ), "ci-publisher")
    assert stored["dist"] == {"integrity": request.integrity, "shasum": request.shasum,
                              "fileCount": 4, "unpackedSize": 342}
    assert stored["_hasShrinkwrap"] is True
    assert "readme" not in stored and "readmeFilename" not in stored
    assert (stored["name"], stored["version"], stored["_npmVersion"]) == (
        "@acme/util", "1.0.0", "11.21.2")


def test_regression_the_stored_manifest_names_its_publisher_not_the_clients_claim() -> None:
    # What npm search shows as "published by" and the maintainers: who published it here.
    request = check_publish(parsed_file(NPM11_ACME_UTIL_BODY), ACME)
    claimed = {**request.manifest, "_npmUser": {"name": "someone-else"},
               "maintainers": [{"name": "someone-else"}]}
    forged = PublishRequest(**{**request.__dict__, "manifest": claimed})
    stored = stored_manifest(forged, inspection(ACME_UTIL_TGZ), "ci-publisher")
    assert stored["_npmUser"] == {"name": "ci-publisher", "email": ""}
    assert stored["maintainers"] == [{"name": "ci-publisher"}]


def test_readme_comes_from_the_tarball_first() -> None:
    request = check_publish(parsed_file(NPM11_DEMO_LIB_BODY), DEMO)
    found = inspection(DEMO_LIB_TGZ)
    assert choose_readme(request, found) == (found.readme, "README.md")
    without = TarballInspection(found.manifest, found.manifest_path, None, None, False, 1, 1)
    assert choose_readme(request, without) == (request.manifest["readme"], "README.md")
    no_readme = copy.deepcopy(request.manifest)
    no_readme["readme"] = "ERROR: No README data found!"
    bare = PublishRequest(**{**request.__dict__, "manifest": no_readme})
    assert choose_readme(bare, without) == (None, None)


def test_deprecated_in_package_json() -> None:
    document = demo_document()
    _manifest(document)["deprecated"] = "do not use"
    assert check_publish(body_of(document), DEMO).deprecated == "do not use"


def test_is_publish() -> None:
    assert is_publish(demo_document())
    assert not is_publish({"name": "demo-lib", "versions": {}})
    assert not is_publish({"name": "demo-lib", "_attachments": {}})


def test_document_name_check() -> None:
    check_document_name({"name": "demo-lib", "_id": "demo-lib"}, DEMO)
    with pytest.raises(Invalid):
        check_document_name({"_id": "@acme/util"}, DEMO)


CURRENT = {"1.0.0": None, "1.1.0": "old", "2.0.0": None}


@pytest.mark.parametrize(("versions", "changes"), [
    ({"1.0.0": {"deprecated": "use 2"}, "1.1.0": {"deprecated": "old"}, "2.0.0": {}},
     {"1.0.0": "use 2"}),
    ({"1.1.0": {"deprecated": ""}}, {"1.1.0": None}),  # npm deprecate pkg@1.1.0 ""
    ({"1.0.0": {}, "1.1.0": {}}, {}),  # no field: unchanged
    ({"9.9.9": {"deprecated": "x"}, "2.0.0": {"deprecated": "x"}}, {"2.0.0": "x"}),
    ({"1.0.0": "not an object"}, {}),
])
def test_deprecations(versions: dict[str, Any], changes: dict[str, str | None]) -> None:
    assert deprecations({"name": "demo-lib", "versions": versions}, CURRENT) == changes


@pytest.mark.parametrize(("document", "message"), [
    ({"versions": {"1.0.0": {"deprecated": 1}}}, 'versions["1.0.0"].deprecated must be a string.'),
    ({"versions": []}, "The document's versions must be a JSON object."),
])
def test_bad_deprecations(document: dict[str, Any], message: str) -> None:
    with pytest.raises(Invalid) as caught:
        deprecations(document, CURRENT)
    assert caught.value.message == message


def test_unpublished_versions() -> None:
    listed = ["1.0.0", "1.1.0", "2.0.0-rc.1", "10.0.0"]
    document = {"versions": {"1.0.0": {}, "2.0.0-rc.1": {}}}
    assert unpublished_versions(document, listed) == ["1.1.0", "10.0.0"]
    with pytest.raises(Invalid):
        unpublished_versions({}, listed)


def test_stale_revision() -> None:
    check_revision("1-abc", "1-abc", "demo-lib")
    with pytest.raises(Conflict) as caught:
        check_revision("1-abc", "1-def", "demo-lib")
    assert caught.value.message == ("demo-lib changed since it was read (revision 1-abc, now "
                                    "1-def); run the command again.")


def test_republishing_a_version() -> None:
    request = check_publish(parsed_file(NPM11_DEMO_LIB_BODY), DEMO)
    assert is_identical_republish(request, None) is False
    assert is_identical_republish(request, request.integrity) is True  # a retried publish
    with pytest.raises(Conflict) as caught:
        is_identical_republish(request, integrity(b"other bytes"))
    assert caught.value.message == ("You cannot publish over the previously published versions: "
                                    "1.0.0.")
