"""Dispose, delete and copy of versions, and delete of packages, in the console: through the
lifecycle service the API's operations use, with CodeArtifact's errors on the page."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from html import unescape
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.inprocess.console_support import ConsoleUser
from tests.inprocess.harness import InProcessPackyard, InProcessRepo
from tests.inprocess.npm_support import npm_repo
from tests.integration.helpers import Credentials, DistFactory, DistSpec, upload_ok

REPO = "/console/domains/acme/repositories/shelf"
PACKAGE = REPO + "/packages/pypi/-/demo"
VERSION = PACKAGE + "/versions/1.0"
RELEASE_VERSION = "/console/domains/acme/repositories/release/packages/pypi/-/demo/versions/1.0"


@pytest.fixture
def published(repo: InProcessRepo, dists: DistFactory, packyard: InProcessPackyard
              ) -> InProcessRepo:
    upload_ok(repo, dists.wheel(DistSpec(name="demo", version="1.0")))
    packyard.codeartifact().create_repository(domain="acme", repository="release")
    return repo


@pytest.fixture
def browser(packyard: InProcessPackyard) -> Iterator[ConsoleUser]:
    user = ConsoleUser(packyard)
    yield user
    user.close()


def _text(response: Any) -> str:
    return unescape(response.text)


def _status(packyard: InProcessPackyard, repository: str = "shelf") -> str:
    described = packyard.codeartifact().describe_package_version(
        domain="acme", repository=repository, format="pypi", package="demo",
        packageVersion="1.0")
    return str(described["packageVersion"]["status"])


def test_a_version_is_disposed_from_its_page(published: InProcessRepo,
                                             packyard: InProcessPackyard,
                                             browser: ConsoleUser) -> None:
    browser.sign_in()
    page = browser.get(VERSION)
    assert ">Dispose</button>" in page.text and ">Delete</button>" in page.text
    assert "Its assets are deleted for good" in _text(page)  # the confirmation asked first
    answer = browser.post(VERSION + "/dispose", {"expected": "Published"})
    assert (answer.status_code, answer.headers["location"]) == (303, VERSION)
    assert _status(packyard) == "Disposed"
    page = browser.get(VERSION)
    assert ">Dispose</button>" not in page.text and ">Copy</button>" not in page.text
    assert ">Delete</button>" in page.text  # a disposed version can still be deleted
    assert "/assets/" not in page.text
    assert published.get("simple/demo/").text.count(".whl") == 0


def test_a_version_is_deleted_from_its_page(published: InProcessRepo,
                                            packyard: InProcessPackyard,
                                            browser: ConsoleUser) -> None:
    browser.sign_in()
    browser.get(VERSION)
    answer = browser.post(VERSION + "/delete", {"expected": "Published"})
    assert (answer.status_code, answer.headers["location"]) == (303, PACKAGE)
    with pytest.raises(ClientError) as info:
        _status(packyard)
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert browser.get(VERSION).status_code == 404


def test_a_version_is_copied_to_another_repository(published: InProcessRepo,
                                                   packyard: InProcessPackyard,
                                                   browser: ConsoleUser) -> None:
    browser.sign_in()
    page = browser.get(VERSION)
    assert '<select name="destination"><option>release</option></select>' in page.text
    answer = browser.post(VERSION + "/copy", {"destination": "release"})
    assert (answer.status_code, answer.headers["location"]) == (303, RELEASE_VERSION)
    assert _status(packyard, "release") == "Published"
    copied = browser.get(RELEASE_VERSION)
    assert copied.status_code == 200 and "demo-1.0-py3-none-any.whl" in copied.text
    # The same contents again: CodeArtifact's copy is idempotent.
    again = browser.post(VERSION + "/copy", {"destination": "release"})
    assert again.status_code == 303


def test_a_package_is_deleted_from_its_page(published: InProcessRepo,
                                            packyard: InProcessPackyard,
                                            browser: ConsoleUser) -> None:
    browser.sign_in()
    page = browser.get(PACKAGE)
    assert ">Delete package</button>" in page.text
    assert "with all its versions, their assets and its origin controls?" in _text(page)
    answer = browser.post(PACKAGE + "/delete")
    assert (answer.status_code, answer.headers["location"]) == (303, REPO)
    with pytest.raises(ClientError) as info:
        packyard.codeartifact().describe_package(domain="acme", repository="shelf",
                                                 format="pypi", package="demo")
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert browser.get(PACKAGE).status_code == 404


@pytest.mark.parametrize(("action", "fields", "status", "message"), [
    ("dispose", {"expected": "Unlisted"}, 400,
     "current status: Published, expected status: Unlisted (MISMATCHED_STATUS); reload the "
     "page to see the version as it is now"),
    ("delete", {"expected": "Archived"}, 400,
     "current status: Published, expected status: Archived (MISMATCHED_STATUS)"),
    ("copy", {"destination": ""}, 400, "Choose the repository to copy the version to"),
    ("copy", {"destination": "shelf"}, 400,
     "The source and destination repositories must be different: both are shelf"),
    ("copy", {"destination": "nope"}, 404, "Repository nope not found"),
], ids=["dispose a changed version", "delete a changed version", "copy nowhere",
        "copy onto itself", "copy to a missing repository"])
def test_a_lifecycle_action_the_service_refuses_shows_why(
        published: InProcessRepo, packyard: InProcessPackyard, browser: ConsoleUser,
        action: str, fields: dict[str, str], status: int, message: str) -> None:
    browser.sign_in()
    browser.get(VERSION)
    answer = browser.post(f"{VERSION}/{action}", fields)
    assert answer.status_code == status
    assert message in _text(answer)
    assert _status(packyard) == "Published"


def test_a_copy_over_a_different_version_needs_replace(
        published: InProcessRepo, packyard: InProcessPackyard, browser: ConsoleUser,
        dists: DistFactory) -> None:
    release = packyard.pypi_repo(repository="release", create=False)
    upload_ok(release, dists.wheel(DistSpec(name="demo", version="1.0", summary="other")))
    browser.sign_in()
    browser.get(VERSION)
    answer = browser.post(VERSION + "/copy", {"destination": "release"})
    assert answer.status_code == 400
    assert "(ALREADY_EXISTS)" in _text(answer)
    answer = browser.post(VERSION + "/copy", {"destination": "release",
                                              "allow_overwrite": "true"})
    assert (answer.status_code, answer.headers["location"]) == (303, RELEASE_VERSION)


def test_copy_offers_only_the_repositories_the_principal_may_copy_into(
        published: InProcessRepo, packyard: InProcessPackyard, browser: ConsoleUser) -> None:
    api = packyard.codeartifact()
    api.create_repository(domain="acme", repository="other")
    iam = packyard.iam()
    iam.create_user(UserName="promoter")
    iam.put_user_policy(UserName="promoter", PolicyName="promote", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Resource": "*",
             "Action": ["codeartifact:Describe*", "codeartifact:List*", "codeartifact:Get*",
                        "codeartifact:ReadFromRepository"]},
            {"Effect": "Allow", "Action": "codeartifact:CopyPackageVersions",
             "Resource": "arn:aws:codeartifact:us-east-1:000000000000:package/acme/release/*"},
        ]}))
    key = iam.create_access_key(UserName="promoter")["AccessKey"]
    browser.sign_in(Credentials(key["AccessKeyId"], key["SecretAccessKey"]))
    page = browser.get(VERSION)
    assert '<select name="destination"><option>release</option></select>' in page.text
    assert ">Dispose</button>" not in page.text and ">Delete</button>" not in page.text
    answer = browser.post(VERSION + "/copy", {"destination": "other"})
    assert answer.status_code == 403
    assert ("User: arn:aws:iam::000000000000:user/promoter is not authorized to perform: "
            "codeartifact:CopyPackageVersions") in _text(answer)
    answer = browser.post(VERSION + "/copy", {"destination": "release"})
    assert (answer.status_code, answer.headers["location"]) == (303, RELEASE_VERSION)


def test_each_action_is_in_the_audit_trail_as_its_operation(
        published: InProcessRepo, packyard: InProcessPackyard, browser: ConsoleUser) -> None:
    from tests.inprocess.test_audit_trail import _events

    browser.sign_in()
    browser.get(VERSION)
    assert browser.post(VERSION + "/copy", {"destination": "release"}).status_code == 303
    assert browser.post(VERSION + "/dispose", {"expected": "Published"}).status_code == 303
    assert browser.post(VERSION + "/delete", {"expected": "Disposed"}).status_code == 303
    assert browser.post(PACKAGE + "/delete").status_code == 303
    for name, extra in [("CopyPackageVersions", {"destination": "release"}),
                        ("DisposePackageVersions", {"expected": "Published"}),
                        ("DeletePackageVersions", {"expected": "Disposed"}),
                        ("DeletePackage", {})]:
        found = _events(packyard, name=name)
        assert len(found) == 1, name
        assert found[0]["eventSource"] == "codeartifact.amazonaws.com"
        parameters = found[0]["requestParameters"]
        assert {k: parameters.get(k) for k in ("repo", "name", "viaConsole", *extra)} == {
            "repo": "shelf", "name": "demo", "viaConsole": True, **extra}, name


def test_regression_confirmations_name_a_scoped_npm_package_with_its_scope(
        packyard: InProcessPackyard, browser: ConsoleUser) -> None:
    """The confirmations said "Delete package core from npmrepo …?" of @babel/core: the name
    without its scope, which names another package."""
    npm = npm_repo(packyard)
    assert npm.publish("@babel/core", "7.0.0").status_code == 201
    package = "/console/domains/acme/repositories/npmrepo/packages/npm/babel/core"
    browser.sign_in()
    confirmations = _text(browser.get(package)) + _text(browser.get(package + "/versions/7.0.0"))
    asked = re.findall(r'data-confirm="([^"]*)"', confirmations)
    assert "Delete package @babel/core from npmrepo, with all its versions, their assets and " \
           "its origin controls?" in asked
    assert "Unlist @babel/core 7.0.0? (status Published \u2192 Unlisted)" in asked
    assert all("@babel/core" in question for question in asked), asked


def test_regression_a_generic_version_whose_name_holds_percent_2f_can_be_acted_on(
        repo: InProcessRepo, packyard: InProcessPackyard, browser: ConsoleUser) -> None:
    """Generic names and versions may hold "%" ("1.0%2F" is a valid version). The version page
    put the request's decoded path in its download links and forms, so "…/versions/1.0%2F/…"
    reached the server as "1.0/" and the download, Unlist and the rest answered 404."""
    content = b"hello"
    packyard.codeartifact().publish_package_version(
        domain="acme", repository="shelf", format="generic", namespace="n%2Fs",
        package="p%2Fq", packageVersion="1.0%2F", assetName="a.txt", assetContent=content,
        assetSHA256=hashlib.sha256(content).hexdigest())
    package = REPO + "/packages/generic/n%252Fs/p%252Fq"
    version = package + "/versions/1.0%252F"
    browser.sign_in()
    page = browser.get(package)
    assert page.status_code == 200 and f'href="{version}"' in page.text
    assert f'action="{package}/origin"' in page.text
    page = browser.get(version)
    assert page.status_code == 200
    assert f'action="{version}/status"' in page.text
    download = browser.get(version + "/assets/a.txt")
    assert (download.status_code, download.content) == (200, content)
    answer = browser.post(version + "/status", {"target": "Unlisted", "expected": "Published"})
    assert (answer.status_code, answer.headers["location"]) == (303, version)
    assert ">Unlisted</span>" in browser.get(answer.headers["location"]).text
    answer = browser.post(version + "/delete", {"expected": "Unlisted"})
    assert (answer.status_code, answer.headers["location"]) == (303, package)


def test_regression_a_refused_action_leads_back_to_the_page_it_was_taken_on(
        published: InProcessRepo, browser: ConsoleUser) -> None:
    """A refused action ("current status: Unlisted, expected status: Published …; reload the
    page to see its status now") offered only a link to the list of domains."""
    browser.sign_in()
    browser.get(VERSION)
    referer = {"referer": f"http://packyard.test{VERSION}"}
    assert browser.post(VERSION + "/status", {"target": "Unlisted", "expected": "Published"},
                        headers=referer).status_code == 303
    answer = browser.post(VERSION + "/status", {"target": "Archived", "expected": "Published"},
                          headers=referer)
    assert answer.status_code == 400 and "MISMATCHED_STATUS" in answer.text
    assert f'<a href="{VERSION}" id="back">Back to the page</a>' in answer.text
