"""Package groups in the console: the domain's groups with their effective origin controls, a
group's page, and its actions through the same service and authorizer as the API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from html import unescape
from typing import Any
from urllib.parse import quote

import pytest

from tests.inprocess.console_support import ConsoleUser
from tests.inprocess.harness import InProcessPackyard, InProcessRepo
from tests.integration.helpers import Credentials, DistFactory, DistSpec, upload_ok

DOMAIN = "/console/domains/acme"
GROUPS = DOMAIN + "/package-groups/"
READ_ONLY = "arn:aws:iam::aws:policy/AWSCodeArtifactReadOnlyAccess"


def _page(pattern: str) -> str:
    return f"{DOMAIN}/package-group?pattern={quote(pattern, safe='')}"


@pytest.fixture
def browser(packyard: InProcessPackyard) -> Iterator[ConsoleUser]:
    user = ConsoleUser(packyard)
    yield user
    user.close()


@pytest.fixture
def acme(repo: InProcessRepo, dists: DistFactory, packyard: InProcessPackyard) -> Any:
    """Domain acme with acme-tools published to shelf and a group for acme's packages."""
    upload_ok(repo, dists.wheel(DistSpec(name="acme-tools", version="1.0")))
    api = packyard.codeartifact()
    api.create_package_group(domain="acme", packageGroup="/pypi//acme~",
                             description="Acme's own", contactInfo="ops@acme.test")
    api.update_package_group_origin_configuration(
        domain="acme", packageGroup="/pypi//acme~",
        restrictions={"PUBLISH": "ALLOW_SPECIFIC_REPOSITORIES", "EXTERNAL_UPSTREAM": "BLOCK"},
        addAllowedRepositories=[{"originRestrictionType": "PUBLISH", "repositoryName": "shelf"}])
    return api


def _text(response: Any) -> str:
    return unescape(response.text)


def _reader(packyard: InProcessPackyard) -> Credentials:
    iam = packyard.iam()
    iam.create_user(UserName="reader")
    iam.attach_user_policy(UserName="reader", PolicyArn=READ_ONLY)
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"])


def test_the_domain_page_lists_package_groups_with_their_effective_origin_controls(
        acme: Any, browser: ConsoleUser) -> None:
    browser.sign_in()
    page = browser.get(DOMAIN)
    assert page.status_code == 200
    table = _text(page).split('id="package-groups-table"', 1)[1].split("</table>", 1)[0]
    rows = table.split("<tr>")[2:]
    assert [r.split("<code>", 1)[1].split("</code>", 1)[0] for r in rows] == [
        "/*", "/pypi//acme~"]
    assert f'href="{_page("/pypi//acme~")}"' in table
    acme_row = rows[1]
    assert "Acme's own" in acme_row
    assert ">ALLOW_SPECIFIC_REPOSITORIES<" in acme_row and ">BLOCK<" in acme_row
    # INTERNAL_UPSTREAM is left at INHERIT: the root's ALLOW, and where it comes from.
    assert "inherited from" in acme_row and f'href="{_page("/*")}">/*</a>' in acme_row
    assert "Create package group" in page.text


def test_a_package_groups_page_shows_its_packages_allowed_repositories_and_parent(
        acme: Any, browser: ConsoleUser) -> None:
    browser.sign_in()
    page = browser.get(_page("/pypi//acme~"))
    assert page.status_code == 200
    text = _text(page)
    assert "<h1>Package group <code>/pypi//acme~</code></h1>" in text
    assert "ops@acme.test" in text
    assert f'<a href="{_page("/*")}"><code>/*</code></a>' in text  # the parent group
    packages = text.split('id="associated-packages">', 1)[1].split("</ul>", 1)[0]
    assert "pypi: acme-tools" in packages and "(strong match)" in packages
    restrictions = text.split('id="origin-restrictions"', 1)[1].split("</table>", 1)[0]
    publish = restrictions.split('<th scope="row">Publish</th>', 1)[1].split("</tr>", 1)[0]
    assert "ALLOW_SPECIFIC_REPOSITORIES" in publish and "shelf" in publish
    for button in ("Save origin controls", "Add to the allowed list", "Delete package group",
                   ">Remove</button>", "Edit the description"):
        assert button in text, button


def test_the_root_group_cannot_inherit_or_be_deleted_from_its_page(
        acme: Any, browser: ConsoleUser) -> None:
    browser.sign_in()
    text = _text(browser.get(_page("/*")))
    assert "none (the root group)" in text
    assert ">Save origin controls</button>" in text
    assert "<option>INHERIT</option>" not in text
    assert ">Delete package group</button>" not in text
    sub_groups = text.split('id="sub-groups"', 1)[1].split("</table>", 1)[0]
    assert "/pypi//acme~" in sub_groups
    answer = browser.post(GROUPS + "delete", {"pattern": "/*"})
    assert answer.status_code == 400
    assert "The root package group /* cannot be deleted: every domain has it" in _text(answer)


def test_a_package_group_is_created_configured_and_deleted_from_the_console(
        repo: InProcessRepo, packyard: InProcessPackyard, browser: ConsoleUser) -> None:
    api = packyard.codeartifact()
    browser.sign_in()
    browser.get(DOMAIN)
    answer = browser.post(GROUPS + "create", {"pattern": "/pypi//beta~",
                                              "description": "Beta", "contact_info": ""})
    assert (answer.status_code, answer.headers["location"]) == (303, _page("/pypi//beta~"))
    described = api.describe_package_group(domain="acme", packageGroup="/pypi//beta~")
    assert described["packageGroup"]["description"] == "Beta"
    assert "contactInfo" not in described["packageGroup"]

    answer = browser.post(GROUPS + "origin", {
        "pattern": "/pypi//beta~", "PUBLISH": "ALLOW_SPECIFIC_REPOSITORIES",
        "EXTERNAL_UPSTREAM": "BLOCK", "INTERNAL_UPSTREAM": "INHERIT"})
    assert (answer.status_code, answer.headers["location"]) == (303, _page("/pypi//beta~"))
    answer = browser.post(GROUPS + "add-repository", {
        "pattern": "/pypi//beta~", "restriction": "PUBLISH", "repository": "shelf"})
    assert answer.status_code == 303
    restrictions = api.describe_package_group(
        domain="acme", packageGroup="/pypi//beta~")["packageGroup"]["originConfiguration"][
        "restrictions"]
    assert restrictions["PUBLISH"]["mode"] == "ALLOW_SPECIFIC_REPOSITORIES"
    assert restrictions["PUBLISH"]["repositoriesCount"] == 1
    assert restrictions["EXTERNAL_UPSTREAM"]["mode"] == "BLOCK"
    assert restrictions["INTERNAL_UPSTREAM"]["mode"] == "INHERIT"
    assert api.list_allowed_repositories_for_group(
        domain="acme", packageGroup="/pypi//beta~", originRestrictionType="PUBLISH"
    )["allowedRepositories"] == ["shelf"]

    browser.post(GROUPS + "remove-repository", {
        "pattern": "/pypi//beta~", "restriction": "PUBLISH", "repository": "shelf"})
    assert api.list_allowed_repositories_for_group(
        domain="acme", packageGroup="/pypi//beta~", originRestrictionType="PUBLISH"
    )["allowedRepositories"] == []

    answer = browser.post(GROUPS + "update", {"pattern": "/pypi//beta~",
                                              "description": "Beta packages",
                                              "contact_info": "beta@acme.test"})
    assert answer.status_code == 303
    described = api.describe_package_group(domain="acme", packageGroup="/pypi//beta~")
    assert (described["packageGroup"]["description"],
            described["packageGroup"]["contactInfo"]) == ("Beta packages", "beta@acme.test")

    answer = browser.post(GROUPS + "delete", {"pattern": "/pypi//beta~"})
    assert (answer.status_code, answer.headers["location"]) == (303, DOMAIN + "#package-groups")
    listed = api.list_package_groups(domain="acme")["packageGroups"]
    assert [g["pattern"] for g in listed] == ["/*"]


@pytest.mark.parametrize(("fields", "status", "message"), [
    ({"pattern": "pypi/acme"}, 400,
     'Invalid package group pattern "pypi/acme": a pattern is a package path'),
    ({"pattern": "  "}, 400, "Enter the package group's pattern, for example /pypi//acme~"),
    ({"pattern": "/*"}, 409, "Package group /* already exists in domain acme"),
], ids=["not a path", "empty", "exists"])
def test_creating_a_package_group_that_the_service_refuses_shows_why(
        repo: InProcessRepo, browser: ConsoleUser, fields: dict[str, str], status: int,
        message: str) -> None:
    browser.sign_in()
    browser.get(DOMAIN)
    answer = browser.post(GROUPS + "create", fields)
    assert answer.status_code == status
    assert message in _text(answer)


def test_origin_controls_and_allowed_repositories_the_service_refuses(
        acme: Any, browser: ConsoleUser) -> None:
    browser.sign_in()
    browser.get(DOMAIN)
    answer = browser.post(GROUPS + "origin", {"pattern": "/*", "PUBLISH": "INHERIT",
                                              "EXTERNAL_UPSTREAM": "ALLOW",
                                              "INTERNAL_UPSTREAM": "ALLOW"})
    assert answer.status_code == 400
    assert "The root package group /* cannot inherit PUBLISH: it has no parent group" in _text(
        answer)
    answer = browser.post(GROUPS + "add-repository", {
        "pattern": "/pypi//acme~", "restriction": "PUBLISH", "repository": "nope"})
    assert answer.status_code == 404
    assert "Repository nope not found in domain acme" in _text(answer)
    answer = browser.post(GROUPS + "add-repository", {
        "pattern": "/pypi//acme~", "restriction": "SIDELOAD", "repository": "shelf"})
    assert answer.status_code == 400
    assert '"SIDELOAD" is not an origin restriction type' in _text(answer)
    answer = browser.post(GROUPS + "rename", {"pattern": "/pypi//acme~"})
    assert answer.status_code == 404 and "No action 'rename'" in _text(answer)


def test_a_package_group_page_that_does_not_exist_or_does_not_parse(
        acme: Any, browser: ConsoleUser) -> None:
    browser.sign_in()
    answer = browser.get(_page("/pypi//nope~"))
    assert answer.status_code == 404
    assert "Package group /pypi//nope~ not found in domain acme" in _text(answer)
    answer = browser.get(DOMAIN + "/package-group")
    assert answer.status_code == 400
    assert "Invalid package group pattern" in _text(answer)


def test_a_read_only_principal_sees_groups_but_no_group_actions_and_forged_ones_are_refused(
        acme: Any, packyard: InProcessPackyard, browser: ConsoleUser) -> None:
    browser.sign_in(_reader(packyard))
    domain = browser.get(DOMAIN)
    assert domain.status_code == 200 and "/pypi//acme~" in domain.text
    assert "Create package group" not in domain.text
    page = browser.get(_page("/pypi//acme~"))
    assert page.status_code == 200 and "pypi: acme-tools" in _text(page)
    for button in ("Save origin controls", "Add to the allowed list", "Delete package group",
                   ">Remove</button>", "Edit the description"):
        assert button not in page.text, button
    forged = [("create", {"pattern": "/pypi//evil~"}),
              ("origin", {"pattern": "/pypi//acme~", "PUBLISH": "ALLOW",
                          "EXTERNAL_UPSTREAM": "ALLOW", "INTERNAL_UPSTREAM": "ALLOW"}),
              ("add-repository", {"pattern": "/pypi//acme~", "restriction": "PUBLISH",
                                  "repository": "shelf"}),
              ("update", {"pattern": "/pypi//acme~", "description": "mine"}),
              ("delete", {"pattern": "/pypi//acme~"})]
    for action, fields in forged:
        answer = browser.post(GROUPS + action, fields)
        assert answer.status_code == 403, action
        assert ("User: arn:aws:iam::000000000000:user/reader is not authorized to perform: "
                "codeartifact:") in _text(answer)
    described = acme.describe_package_group(domain="acme", packageGroup="/pypi//acme~")
    assert described["packageGroup"]["description"] == "Acme's own"
    assert described["packageGroup"]["originConfiguration"]["restrictions"]["EXTERNAL_UPSTREAM"][
        "mode"] == "BLOCK"
    assert [g["pattern"] for g in acme.list_package_groups(domain="acme")["packageGroups"]] == [
        "/*", "/pypi//acme~"]


def test_without_list_package_groups_the_domain_page_says_so(
        acme: Any, packyard: InProcessPackyard, browser: ConsoleUser) -> None:
    iam = packyard.iam()
    iam.create_user(UserName="narrow")
    iam.put_user_policy(UserName="narrow", PolicyName="domain", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": ["codeartifact:DescribeDomain",
                                          "codeartifact:ListDomains"], "Resource": "*"}]}))
    key = iam.create_access_key(UserName="narrow")["AccessKey"]
    browser.sign_in(Credentials(key["AccessKeyId"], key["SecretAccessKey"]))
    page = browser.get(DOMAIN)
    assert page.status_code == 200
    assert ("Not shown: User: arn:aws:iam::000000000000:user/narrow is not authorized to "
            "perform: codeartifact:ListPackageGroups") in _text(page)


def test_a_package_page_names_its_package_group_and_what_it_allows(
        acme: Any, browser: ConsoleUser) -> None:
    browser.sign_in()
    page = browser.get("/console/domains/acme/repositories/shelf/packages/pypi/-/acme-tools")
    assert page.status_code == 200
    fact = _text(page).split('id="package-group">', 1)[1].split("</dd>", 1)[0]
    assert f'<a href="{_page("/pypi//acme~")}"><code>/pypi//acme~</code></a>' in fact
    assert fact.endswith(": publish ALLOW_SPECIFIC_REPOSITORIES, external upstream BLOCK, "
                         "internal upstream ALLOW")
