"""Roles created from the console with their trust policy, trust policies and inline identity
policies edited as JSON: through the IAM service, the engine's refusals inline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from html import unescape
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.inprocess.console_support import ConsoleUser
from tests.inprocess.harness import InProcessPackyard
from tests.integration.helpers import Credentials

READ_ONLY = "arn:aws:iam::aws:policy/AWSCodeArtifactReadOnlyAccess"
ROLE = "/console/access/roles/Builder"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
    "Action": "sts:AssumeRole"}]})
READ = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "codeartifact:ReadFromRepository", "Resource": "*"}]})


@pytest.fixture
def browser(packyard: InProcessPackyard) -> Iterator[ConsoleUser]:
    user = ConsoleUser(packyard)
    yield user
    user.close()


def _text(response: Any) -> str:
    return unescape(response.text)


def _editor(response: Any) -> str:
    return _text(response).split('name="document"', 1)[1].split(">", 1)[1].split(
        "</textarea>", 1)[0]


def test_a_role_is_created_with_its_trust_policy(packyard: InProcessPackyard,
                                                  browser: ConsoleUser) -> None:
    browser.sign_in()
    assert 'href="/console/access/new-role">Create role</a>' in browser.get(
        "/console/access").text
    form = browser.get("/console/access/new-role")
    assert form.status_code == 200
    assert json.loads(_editor(form))["Statement"][0]["Action"] == "sts:AssumeRole"
    answer = browser.post("/console/access/roles", {"name": "Builder",
                                                    "description": "CI builds",
                                                    "document": TRUST})
    assert (answer.status_code, answer.headers["location"]) == (303, ROLE)
    role = packyard.iam().get_role(RoleName="Builder")["Role"]
    assert role["Description"] == "CI builds"
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Action"] == "sts:AssumeRole"


@pytest.mark.parametrize(("fields", "status", "message"), [
    ({"name": "Builder", "document": '{"Version": "2012-10-17", "Statement": [{"Effect": '
                                     '"Allow", "Action": "sts:AssumeRole"}]}'}, 400,
     "Policy statement 1: Principal or NotPrincipal is required in a resource-based policy"),
    ({"name": "Builder", "document": "{not json"}, 400,
     "Policy document is not valid JSON: Expecting property name enclosed in double quotes"),
    ({"name": "has space", "document": TRUST}, 400,
     "The role name 'has space' is not valid: use up to 64 letters, digits and + = , . @ _ -"),
    ({"name": "", "document": TRUST}, 400, "Enter the role name"),
], ids=["no principal", "not json", "bad name", "no name"])
def test_a_role_the_service_refuses_comes_back_in_its_editor(
        packyard: InProcessPackyard, browser: ConsoleUser, fields: dict[str, str],
        status: int, message: str) -> None:
    browser.sign_in()
    browser.get("/console/access/new-role")
    answer = browser.post("/console/access/roles", {"description": "kept", **fields})
    assert answer.status_code == status
    text = _text(answer)
    error = text.split('id="policy-error">', 1)[1].split("</p>", 1)[0]
    assert message in error, error
    assert _editor(answer) == fields["document"]  # what was typed is kept
    assert 'value="kept"' in text
    assert packyard.iam().list_roles()["Roles"] == []


def test_a_role_that_exists_already_is_a_conflict(packyard: InProcessPackyard,
                                                  browser: ConsoleUser) -> None:
    packyard.iam().create_role(RoleName="Builder", AssumeRolePolicyDocument=TRUST)
    browser.sign_in()
    browser.get("/console/access/new-role")
    answer = browser.post("/console/access/roles", {"name": "Builder", "document": TRUST})
    assert answer.status_code == 409
    assert "Role with name Builder already exists." in _text(answer)


def test_a_trust_policy_is_edited_with_an_error_then_saved(packyard: InProcessPackyard,
                                                           browser: ConsoleUser) -> None:
    packyard.iam().create_role(RoleName="Builder", AssumeRolePolicyDocument=TRUST)
    packyard.iam().create_user(UserName="alice")  # a trust policy names existing users only
    browser.sign_in()
    assert 'href="/console/access/roles/Builder/trust-policy"' in browser.get(ROLE).text
    page = browser.get(ROLE + "/trust-policy")
    assert json.loads(_editor(page)) == json.loads(TRUST)
    bad = TRUST.replace('"Principal": {"AWS": "arn:aws:iam::000000000000:root"}, ', "")
    answer = browser.post(ROLE + "/trust-policy", {"document": bad})
    assert answer.status_code == 400
    assert ("Policy statement 1: Principal or NotPrincipal is required in a resource-based "
            "policy") in _text(answer)
    assert _editor(answer) == bad
    narrower = TRUST.replace(":root", ":user/alice")
    answer = browser.post(ROLE + "/trust-policy", {"document": narrower})
    assert (answer.status_code, answer.headers["location"]) == (303, ROLE)
    stored = packyard.iam().get_role(RoleName="Builder")["Role"]["AssumeRolePolicyDocument"]
    assert stored["Statement"][0]["Principal"] == {
        "AWS": "arn:aws:iam::000000000000:user/alice"}


def test_inline_policies_of_a_user_are_added_edited_and_deleted(
        packyard: InProcessPackyard, browser: ConsoleUser) -> None:
    packyard.iam().create_user(UserName="dave")
    user = "/console/access/users/dave"
    browser.sign_in()
    assert f'href="{user}/new-inline-policy">Add an inline policy</a>' in browser.get(user).text
    form = browser.get(user + "/new-inline-policy")
    assert "Statement" in _editor(form)
    answer = browser.post(user + "/inline-policies", {"name": "read", "document": READ})
    assert (answer.status_code, answer.headers["location"]) == (303, user)
    stored = packyard.iam().get_user_policy(UserName="dave", PolicyName="read")
    assert stored["PolicyDocument"]["Statement"][0]["Action"] == (
        "codeartifact:ReadFromRepository")
    assert f'href="{user}/inline-policies/read">read</a>' in browser.get(user).text

    page = browser.get(user + "/inline-policies/read")
    assert json.loads(_editor(page)) == json.loads(READ)
    bad = READ.replace('"Resource": "*"', '"Principal": "*", "Resource": "*"')
    answer = browser.post(user + "/inline-policies/read", {"document": bad})
    assert answer.status_code == 400
    assert "Inline policy read of user dave" in _text(answer)  # still this policy's editor
    assert ("Policy statement 1: Principal is not allowed in an identity-based policy"
            in _text(answer))
    wider = READ.replace('"codeartifact:ReadFromRepository"', '"codeartifact:*"')
    answer = browser.post(user + "/inline-policies/read", {"document": wider})
    assert answer.status_code == 303
    stored = packyard.iam().get_user_policy(UserName="dave", PolicyName="read")
    assert stored["PolicyDocument"]["Statement"][0]["Action"] == "codeartifact:*"

    assert ">Delete policy</button>" in browser.get(user + "/inline-policies/read").text
    answer = browser.post(user + "/inline-policies/read/delete")
    assert (answer.status_code, answer.headers["location"]) == (303, user)
    assert packyard.iam().list_user_policies(UserName="dave")["PolicyNames"] == []


def test_inline_policies_of_a_role_and_the_role_deleted(packyard: InProcessPackyard,
                                                        browser: ConsoleUser) -> None:
    packyard.iam().create_role(RoleName="Builder", AssumeRolePolicyDocument=TRUST)
    browser.sign_in()
    answer = browser.post(ROLE + "/inline-policies", {"name": "read", "document": READ})
    assert (answer.status_code, answer.headers["location"]) == (303, ROLE)
    assert packyard.iam().list_role_policies(RoleName="Builder")["PolicyNames"] == ["read"]
    answer = browser.post(ROLE + "/delete")
    assert answer.status_code == 409  # IAM's DeleteConflict: the policy is still there
    assert "Cannot delete entity, must delete policies first." in _text(answer)
    browser.post(ROLE + "/inline-policies/read/delete")
    answer = browser.post(ROLE + "/delete")
    assert (answer.status_code, answer.headers["location"]) == (303, "/console/access#roles")
    assert packyard.iam().list_roles()["Roles"] == []


def test_an_inline_policy_that_does_not_exist_is_a_404(packyard: InProcessPackyard,
                                                       browser: ConsoleUser) -> None:
    packyard.iam().create_user(UserName="dave")
    browser.sign_in()
    answer = browser.get("/console/access/users/dave/inline-policies/nope")
    assert answer.status_code == 404
    answer = browser.post("/console/access/users/dave/inline-policies",
                          {"name": "a/b", "document": READ})
    assert answer.status_code == 400
    assert "The policy name 'a/b' is not valid" in _text(answer)


def test_a_read_only_principal_gets_no_editors_and_forged_saves_are_refused(
        packyard: InProcessPackyard, browser: ConsoleUser) -> None:
    iam = packyard.iam()
    iam.create_role(RoleName="Builder", AssumeRolePolicyDocument=TRUST)
    iam.create_user(UserName="dave")
    iam.put_user_policy(UserName="dave", PolicyName="read", PolicyDocument=READ)
    iam.create_user(UserName="reader")
    iam.attach_user_policy(UserName="reader", PolicyArn=READ_ONLY)
    iam.put_user_policy(UserName="reader", PolicyName="see-iam", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"}]}))
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    browser.sign_in(Credentials(key["AccessKeyId"], key["SecretAccessKey"]))
    assert "Create role" not in browser.get("/console/access").text
    role = browser.get(ROLE).text
    for link in ("Edit the trust policy", "Add an inline policy", "Delete role"):
        assert link not in role, link
    assert "Add an inline policy" not in browser.get("/console/access/users/dave").text
    page = browser.get("/console/access/users/dave/inline-policies/read")
    assert page.status_code == 200 and "Save</button>" not in page.text
    assert "Delete policy" not in page.text and "ReadFromRepository" in page.text
    forged = [("/console/access/roles", {"name": "Mine", "document": TRUST}, "iam:CreateRole"),
              (ROLE + "/trust-policy", {"document": TRUST}, "iam:UpdateAssumeRolePolicy"),
              (ROLE + "/inline-policies", {"name": "x", "document": READ}, "iam:PutRolePolicy"),
              (ROLE + "/delete", {}, "iam:DeleteRole"),
              ("/console/access/users/dave/inline-policies/read", {"document": TRUST},
               "iam:PutUserPolicy"),
              ("/console/access/users/dave/inline-policies/read/delete", {},
               "iam:DeleteUserPolicy")]
    for path, fields, action in forged:
        answer = browser.post(path, fields)
        assert answer.status_code == 403, path
        assert ("User: arn:aws:iam::000000000000:user/reader is not authorized to perform: "
                f"{action}") in _text(answer), path
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["Builder"]
    assert iam.list_role_policies(RoleName="Builder")["PolicyNames"] == []
    assert iam.list_user_policies(UserName="dave")["PolicyNames"] == ["read"]
    with pytest.raises(ClientError):
        iam.get_role(RoleName="Mine")


def test_a_user_name_iam_would_refuse_is_refused_before_the_user_is_created(
        packyard: InProcessPackyard, browser: ConsoleUser) -> None:
    browser.sign_in()
    answer = browser.post("/console/access/users", {"user_name": "a b/c"})
    assert answer.status_code == 400
    assert ("The user name 'a b/c' is not valid: use up to 64 letters, digits and "
            "+ = , . @ _ -") in _text(answer)
    assert packyard.iam().list_users()["Users"] == []


def test_these_changes_are_in_the_audit_trail_without_their_documents(
        packyard: InProcessPackyard, browser: ConsoleUser) -> None:
    from tests.inprocess.test_audit_trail import _events, _raw_log

    packyard.codeartifact().create_domain(domain="acme")
    packyard.iam().create_user(UserName="dave")
    browser.sign_in()
    browser.get("/console/access")
    marked = READ.replace('"Effect"', '"Sid": "NotInTheTrail", "Effect"')
    assert browser.post("/console/access/roles", {"name": "Builder",
                                                  "document": TRUST}).status_code == 303
    assert browser.post("/console/access/users/dave/inline-policies",
                        {"name": "read", "document": marked}).status_code == 303
    assert browser.post("/console/access/users/dave/inline-policies/read/delete"
                        ).status_code == 303
    assert browser.post("/console/domains/acme/package-groups/create",
                        {"pattern": "/pypi//acme~"}).status_code == 303
    created = _events(packyard, name="CreateRole")
    assert [(e["eventSource"], e["requestParameters"]["name"],
             e["requestParameters"]["viaConsole"]) for e in created] == [
        ("iam.amazonaws.com", "Builder", True)]
    put = _events(packyard, name="PutUserPolicy")
    assert [(e["requestParameters"]["user"], e["requestParameters"]["name"]) for e in put] == [
        ("dave", "read")]
    deleted = _events(packyard, name="DeleteUserPolicy")
    assert [e["requestParameters"]["policy"] for e in deleted] == ["read"]
    group = _events(packyard, name="CreatePackageGroup")
    assert [(e["requestParameters"]["action"], e["requestParameters"]["pattern"])
            for e in group] == [("create", "/pypi//acme~")]
    assert "NotInTheTrail" not in _raw_log(packyard)
