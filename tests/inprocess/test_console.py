"""The web console in process: sessions and their cookies, CSRF, what each principal may see
and do, every refusal with the words the user reads. The same app a browser reaches
(tests/integration/test_console_browser.py drives it in Chromium)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from html import unescape
from typing import Any

import pytest

from packyard.metadata.catalog import NewAsset, NewFile, NewVersion
from tests.inprocess.console_support import ConsoleUser
from tests.inprocess.harness import ROOT_PRINCIPAL, InProcessPackyard, InProcessRepo, user_with
from tests.inprocess.npm_support import npm_repo
from tests.integration.helpers import ROOT, Credentials, DistFactory, DistSpec, upload_ok

VERSION = "/console/domains/acme/repositories/shelf/packages/pypi/-/demo/versions/1.0"
REPO = "/console/domains/acme/repositories/shelf"
READ_ONLY = "arn:aws:iam::aws:policy/AWSCodeArtifactReadOnlyAccess"


@pytest.fixture
def published(repo: InProcessRepo, dists: DistFactory) -> InProcessRepo:
    upload_ok(repo, dists.wheel(DistSpec(name="demo", version="1.0", readme="# Demo\n",
                                         requires_dist=("idna>=3",))))
    return repo


@pytest.fixture
def browser(packyard: InProcessPackyard) -> Iterator[ConsoleUser]:
    user = ConsoleUser(packyard)
    yield user
    user.close()


def _user(packyard: InProcessPackyard, name: str, *policies: str) -> Credentials:
    iam = packyard.iam()
    iam.create_user(UserName=name)
    for arn in policies:
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"])


def _text(response: Any) -> str:
    return unescape(response.text)


def _set_cookie(answer: Any, name: str) -> str:
    """The ``Set-Cookie`` an answer carries for ``name``."""
    return next(c for c in answer.headers.get_list("set-cookie") if c.startswith(name + "="))


def _nonce(page: Any) -> str:
    return unescape(page.text.split('name="nonce" value="', 1)[1].split('"', 1)[0])


# -- the root and the sign-in ---------------------------------------------------------------------

def test_get_root_from_a_browser_is_sent_to_the_console(packyard: InProcessPackyard) -> None:
    answer = packyard.http.get("/", headers={"accept": "text/html,application/xhtml+xml"})
    assert (answer.status_code, answer.headers["location"]) == (303, "/console/")


def test_get_root_from_an_api_client_is_still_the_query_apis_answer(
        packyard: InProcessPackyard) -> None:
    answer = packyard.http.get("/")
    assert answer.status_code == 403 and "MissingAuthenticationToken" in answer.text
    answer = packyard.http.get("/?Action=ListUsers", headers={"accept": "text/html"})
    assert answer.status_code == 403 and "MissingAuthenticationToken" in answer.text
    assert packyard.iam().list_users()["Users"] == []


def test_a_console_page_without_a_session_goes_to_the_sign_in(browser: ConsoleUser) -> None:
    answer = browser.get("/console/domains/acme?x=1")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in?next=%2Fconsole%2Fdomains%2Facme%3Fx%3D1"
    assert browser.post("/console/access/users", {"user_name": "x"}).status_code == 401


def test_signing_in_sets_a_session_cookie_that_is_httponly_samesite_strict_and_holds_no_secret(
        browser: ConsoleUser) -> None:
    answer = browser.sign_in(next="/console/access")
    assert (answer.status_code, answer.headers["location"]) == (303, "/console/access")
    cookie = _set_cookie(answer, "packyard_console")
    assert cookie.endswith("; Path=/console; HttpOnly; SameSite=Strict")
    assert ROOT.secret_access_key not in cookie and "Secure" not in cookie
    assert "root" in browser.get("/console/").text


def test_regression_over_https_the_session_cookie_is_host_prefixed_secure_and_path_root(
        browser: ConsoleUser) -> None:
    """Cookies do not isolate by port or scheme: another service on the host could set a
    cookie named like the console's. Over HTTPS both carry the ``__Host-`` prefix, which a
    browser takes only Secure, from a secure origin, with Path=/ and no Domain."""
    browser.http.base_url = "https://packyard.test"
    page = browser.get("/console/sign-in")
    assert page.headers["set-cookie"] == (
        f"__Host-packyard_console_signin={_nonce(page)}; Path=/; HttpOnly; SameSite=Strict; "
        "Max-Age=3600; Secure")
    answer = browser.http.post("/console/sign-in", data={
        "nonce": _nonce(page), "access_key_id": ROOT.access_key_id,
        "secret_access_key": ROOT.secret_access_key})
    assert answer.status_code == 303
    session = _set_cookie(answer, "__Host-packyard_console")
    assert session.endswith("; Path=/; HttpOnly; SameSite=Strict; Secure")
    assert "Domain" not in session and ROOT.secret_access_key not in session
    # The nonce has served its sign-in: deleted under the name and path it was set with.
    assert _set_cookie(answer, "__Host-packyard_console_signin") == (
        "__Host-packyard_console_signin=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure")
    assert not [c for c in answer.headers.get_list("set-cookie")
                if c.startswith("packyard_console")]
    assert "root" in browser.get("/console/").text
    # Sign-out deletes the cookie under the name and path it was set with.
    answer = browser.post("/console/sign-out")
    assert (answer.status_code, answer.headers["set-cookie"]) == (
        303, "__Host-packyard_console=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure")
    assert browser.get("/console/").status_code == 303


def test_regression_a_sign_in_nonce_planted_by_a_sibling_service_is_not_accepted_over_https(
        browser: ConsoleUser) -> None:
    """A service on another port of the host, or a plain-HTTP page on it, can set
    ``packyard_console_signin`` for the host; its form then echoed the planted nonce and a
    victim's browser was signed into the attacker's account (login CSRF). Over HTTPS only the
    ``__Host-`` nonce, which no such service can set, is read."""
    planted = "planted-by-a-sibling"
    answer = browser.http.post("https://packyard.test/console/sign-in", data={
        "nonce": planted, "access_key_id": ROOT.access_key_id,
        "secret_access_key": ROOT.secret_access_key},
        headers={"cookie": f"packyard_console_signin={planted}"})
    assert answer.status_code == 403
    assert ("The sign-in form has expired or came from another site; sign in again from this "
            "page.") in _text(answer)
    assert not [c for c in answer.headers.get_list("set-cookie")
                if c.startswith(("packyard_console=", "__Host-packyard_console="))]


def test_regression_a_session_cookie_planted_by_a_sibling_service_is_not_read_over_https(
        browser: ConsoleUser) -> None:
    """Session fixation: a sibling service could set ``packyard_console`` (an attacker's own
    session) for the host, and the HTTPS console acted on it. Over HTTPS only the
    ``__Host-`` name is read; the same value under it (which the sibling cannot set) works."""
    browser.sign_in()  # over plain HTTP: the attacker's own, valid, unprefixed cookie
    value = browser.http.cookies["packyard_console"]
    browser.http.cookies.clear()
    answer = browser.http.get("https://packyard.test/console/",
                              headers={"cookie": f"packyard_console={value}"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in?next=%2Fconsole%2F"
    answer = browser.http.get("https://packyard.test/console/sign-in",
                              headers={"cookie": f"packyard_console={value}"})
    assert answer.status_code == 200 and 'name="nonce"' in answer.text
    answer = browser.http.get("https://packyard.test/console/",
                              headers={"cookie": f"__Host-packyard_console={value}"})
    assert answer.status_code == 200 and "root" in answer.text


def test_regression_the_console_cookie_sent_on_every_path_authenticates_nothing_else(
        repo: InProcessRepo, browser: ConsoleUser) -> None:
    """With Path=/ the browser sends the HTTPS console's session cookie to every path of the
    host: the package endpoints and the AWS APIs take a token or a signature, never it."""
    browser.http.base_url = "https://packyard.test"
    browser.sign_in()
    cookie = {"cookie": f"__Host-packyard_console={browser.http.cookies['__Host-packyard_console']}"}
    simple = repo.endpoint.replace("http://", "https://", 1) + "simple/"
    with repo.client(auth=None) as http:
        assert http.get(simple, headers=cookie).status_code == 401
        answer = http.get("https://packyard.test/?Action=ListUsers", headers=cookie)
        assert answer.status_code == 403 and "MissingAuthenticationToken" in answer.text


def test_regression_with_an_https_public_url_the_cookies_are_secure_over_a_plain_hop(
        packyard_factory: Any) -> None:
    """Behind a proxy that is not in PACKYARD_FORWARDED_ALLOW_IPS, the request reaches the
    server as plain HTTP although the browser is on the public HTTPS URL: the session cookie
    was set without Secure, so the browser would send it over plain HTTP to that host."""
    user = ConsoleUser(packyard_factory(public_url="https://packages.example.com"))
    try:
        page = user.get("/console/sign-in")
        signin_cookie = page.headers["set-cookie"]
        nonce = _nonce(page)
        # As the proxy forwards it: the nonce cookie the browser sent over HTTPS, plain HTTP.
        answer = user.http.post("/console/sign-in", data={
            "nonce": nonce, "access_key_id": ROOT.access_key_id,
            "secret_access_key": ROOT.secret_access_key},
            headers={"cookie": f"__Host-packyard_console_signin={nonce}"})
        assert answer.status_code == 303
        cookie = _set_cookie(answer, "__Host-packyard_console")
        assert signin_cookie.startswith("__Host-packyard_console_signin=")
        assert signin_cookie.endswith("; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600; Secure")
        assert cookie.endswith("; Path=/; HttpOnly; SameSite=Strict; Secure")
        # The plain hop does not make the planted unprefixed nonce count.
        answer = user.http.post("/console/sign-in", data={
            "nonce": "planted", "access_key_id": ROOT.access_key_id,
            "secret_access_key": ROOT.secret_access_key},
            headers={"cookie": "packyard_console_signin=planted"})
        assert answer.status_code == 403
    finally:
        user.close()


@pytest.mark.parametrize("credentials", [
    Credentials(ROOT.access_key_id, "wrong-secret"),
    Credentials("AKIANOSUCHKEY0000000", ROOT.secret_access_key),
], ids=["wrong secret", "unknown key"])
def test_a_bad_key_pair_is_refused_with_one_message(browser: ConsoleUser,
                                                    credentials: Credentials) -> None:
    answer = browser.sign_in(credentials)
    assert answer.status_code == 401
    assert "The access key ID or secret access key is not valid." in _text(answer)
    assert "packyard_console=" not in answer.headers.get("set-cookie", "")
    # The form comes back with the key id, never the secret.
    assert credentials.access_key_id in answer.text
    assert credentials.secret_access_key not in answer.text


def test_failed_sign_ins_are_rate_limited_before_the_secret_is_checked(
        packyard_factory: Any) -> None:
    packyard = packyard_factory(console_max_failed_signins=2)
    browser = ConsoleUser(packyard)
    for _ in range(2):
        assert browser.sign_in(Credentials(ROOT.access_key_id, "nope")).status_code == 401
    answer = browser.sign_in(ROOT)  # the right secret, too late
    assert answer.status_code == 429
    assert "Too many failed sign-ins; try again in 30" in _text(answer)
    assert int(answer.headers["retry-after"]) > 290


def test_a_sign_in_posted_from_another_page_is_refused(browser: ConsoleUser) -> None:
    answer = browser.post("/console/sign-in", {
        "nonce": "made-up", "access_key_id": ROOT.access_key_id,
        "secret_access_key": ROOT.secret_access_key}, csrf=False)
    assert answer.status_code == 403
    assert "The sign-in form has expired or came from another site" in _text(answer)


def test_sign_in_by_assuming_a_role(packyard: InProcessPackyard, browser: ConsoleUser) -> None:
    alice = _user(packyard, "alice")
    packyard.iam().create_role(RoleName="Deployer", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/alice"},
            "Action": "sts:AssumeRole"}]}))
    packyard.iam().attach_role_policy(RoleName="Deployer", PolicyArn=READ_ONLY)
    answer = browser.sign_in(alice, role_arn="arn:aws:iam::000000000000:role/Deployer",
                             session_name="from-console")
    assert answer.status_code == 303
    page = browser.get("/console/")
    assert page.status_code == 200
    assert "from-console (role session)" in page.text


def test_assuming_a_role_the_trust_policy_does_not_allow_shows_sts_refusal(
        packyard: InProcessPackyard, browser: ConsoleUser) -> None:
    bob = _user(packyard, "bob")
    answer = browser.sign_in(bob, role_arn="arn:aws:iam::000000000000:role/Nope")
    assert answer.status_code == 403
    assert ("User: arn:aws:iam::000000000000:user/bob is not authorized to perform: "
            "sts:AssumeRole on resource: arn:aws:iam::000000000000:role/Nope") in _text(answer)


def test_sign_in_with_temporary_credentials_and_their_session_token(
        packyard: InProcessPackyard, browser: ConsoleUser) -> None:
    carol = _user(packyard, "carol")
    packyard.iam().create_role(RoleName="Reader", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/carol"},
            "Action": "sts:AssumeRole"}]}))
    assumed = packyard.sts(carol).assume_role(
        RoleArn="arn:aws:iam::000000000000:role/Reader", RoleSessionName="from-cli")
    temporary = assumed["Credentials"]
    keys = Credentials(temporary["AccessKeyId"], temporary["SecretAccessKey"])
    for wrong in ("", "not-the-token"):
        answer = browser.sign_in(keys, session_token=wrong)
        assert answer.status_code == 401, wrong
    assert "The access key ID or secret access key is not valid." in _text(answer)
    answer = browser.sign_in(keys, session_token=temporary["SessionToken"])
    assert answer.status_code == 303
    assert "from-cli (role session)" in browser.get("/console/").text


# -- sessions end ------------------------------------------------------------------------------

def test_sign_out_ends_the_session_and_a_copied_cookie_with_it(browser: ConsoleUser) -> None:
    browser.sign_in()
    copied = dict(browser.http.cookies)
    answer = browser.post("/console/sign-out")
    assert (answer.status_code, answer.headers["location"]) == (303, "/console/sign-in")
    assert answer.headers["set-cookie"] == (
        "packyard_console=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0")
    browser.http.cookies.clear()
    browser.http.cookies.update(copied)
    assert browser.get("/console/").status_code == 303


def test_deleting_the_user_ends_its_console_sessions(packyard: InProcessPackyard,
                                                     browser: ConsoleUser) -> None:
    carol = _user(packyard, "carol", READ_ONLY)
    browser.sign_in(carol)
    assert browser.get("/console/").status_code == 200
    iam = packyard.iam()
    iam.update_access_key(UserName="carol", AccessKeyId=carol.access_key_id, Status="Inactive")
    answer = browser.get("/console/")
    assert answer.status_code == 303 and "/console/sign-in" in answer.headers["location"]


# -- CSRF and forms ----------------------------------------------------------------------------

def test_a_post_without_its_csrf_token_is_refused(browser: ConsoleUser) -> None:
    browser.sign_in()
    answer = browser.post("/console/access/users", {"user_name": "mallory", "csrf": ""})
    assert answer.status_code == 403
    assert "The form's CSRF token is missing or wrong" in _text(answer)
    answer = browser.post("/console/access/users", {"user_name": "mallory", "csrf": "x" * 32})
    assert answer.status_code == 403


def test_a_post_from_another_origin_is_refused(browser: ConsoleUser) -> None:
    browser.sign_in()
    answer = browser.post("/console/access/users", {"user_name": "mallory"},
                          headers={"origin": "https://evil.example"})
    assert answer.status_code == 403
    assert "Cross-origin form posts are refused (Origin https://evil.example)." in _text(answer)


def test_with_a_public_url_forms_are_accepted_from_that_origin_only(
        packyard_factory: Any) -> None:
    user = ConsoleUser(packyard_factory(public_url="https://packages.example.com"))
    # The browser is at the public URL: its Secure cookie goes only over HTTPS.
    user.http.base_url = "https://packages.example.com"
    try:
        user.sign_in()
        answer = user.post("/console/access/users", {"user_name": "direct"},
                           headers={"origin": "http://testserver"})
        assert answer.status_code == 403
        assert "Cross-origin form posts are refused (Origin http://testserver)." in _text(answer)
        answer = user.post("/console/access/users", {"user_name": "proxied"},
                           headers={"origin": "https://packages.example.com"})
        assert answer.status_code == 303
    finally:
        user.close()


@pytest.mark.parametrize("public_url", ["https://Packages.Example.com",
                                        "https://packages.example.com:443/"])
def test_regression_a_public_url_with_capitals_or_its_default_port_accepts_its_own_forms(
        packyard_factory: Any, public_url: str) -> None:
    """Browsers send Origin with the host in lower case and without the scheme's default
    port; the check compared it with the public URL as written, so every console form
    (the sign-in first) was refused as cross-origin."""
    user = ConsoleUser(packyard_factory(public_url=public_url))
    user.http.base_url = "https://packages.example.com"
    try:
        assert user.sign_in().status_code == 303
        answer = user.post("/console/access/users", {"user_name": "proxied"},
                           headers={"origin": "https://packages.example.com"})
        assert answer.status_code == 303
        for other in ("https://packages.example.com:8443", "http://packages.example.com",
                      "https://packages.example.com.evil.example"):
            answer = user.post("/console/access/users", {"user_name": "other"},
                               headers={"origin": other})
            assert answer.status_code == 403, other
    finally:
        user.close()


def test_a_form_larger_than_the_limit_is_refused_unread(browser: ConsoleUser) -> None:
    browser.sign_in()
    answer = browser.post("/console/access/users", {"user_name": "x" * (1024 * 1024)})
    assert answer.status_code == 413
    assert "The form is larger than 1048576 bytes." in _text(answer)


def test_an_unauthenticated_sign_in_body_is_bounded(browser: ConsoleUser) -> None:
    answer = browser.post("/console/sign-in", {"access_key_id": "x" * 20_000}, csrf=False)
    assert answer.status_code == 413


def test_console_answers_carry_the_security_headers(browser: ConsoleUser) -> None:
    answer = browser.get("/console/sign-in")
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert "img-src 'self' data:" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"
    assert "no-store" not in browser.get("/console/static/console.js").headers.get(
        "cache-control", "")


# -- browsing and actions ------------------------------------------------------------------------

def test_root_browses_to_a_version_with_its_readme_assets_and_dependencies(
        published: InProcessRepo, browser: ConsoleUser) -> None:
    browser.sign_in()
    assert 'href="/console/domains/acme"' in browser.get("/console/").text
    assert 'href="/console/domains/acme/repositories/shelf"' in browser.get(
        "/console/domains/acme").text
    assert "/packages/pypi/-/demo" in browser.get(REPO).text
    page = browser.get(VERSION)
    assert '<article class="readme" id="readme"><h1>Demo</h1>' in page.text
    assert f'{VERSION}/assets/demo-1.0-py3-none-any.whl' in page.text
    assert 'href="/console/domains/acme/repositories/shelf/packages/pypi/-/idna"' in page.text
    asset = browser.get(f"{VERSION}/assets/demo-1.0-py3-none-any.whl")
    assert asset.status_code == 200 and asset.content[:2] == b"PK"
    assert asset.headers["content-disposition"] == (
        "attachment; filename*=UTF-8''demo-1.0-py3-none-any.whl")


def test_the_package_filters(published: InProcessRepo, browser: ConsoleUser) -> None:
    browser.sign_in()
    assert "/-/demo" in browser.get(REPO + "?prefix=DE&format=pypi").text
    assert "/-/demo" not in browser.get(REPO + "?prefix=zz").text
    assert "/-/demo" in browser.get(REPO + "?status=Published").text
    assert "/-/demo" not in browser.get(REPO + "?status=Archived").text
    answer = browser.get(REPO + "?format=maven")
    assert answer.status_code == 400 and "Unknown format 'maven'" in _text(answer)


def test_unlist_then_archive_through_the_console(published: InProcessRepo,
                                                 packyard: InProcessPackyard,
                                                 browser: ConsoleUser) -> None:
    browser.sign_in()
    page = browser.get(VERSION)
    assert ">Unlist</button>" in page.text and ">Archive</button>" in page.text
    answer = browser.post(VERSION + "/status", {"target": "Unlisted", "expected": "Published"})
    assert (answer.status_code, answer.headers["location"]) == (303, VERSION)
    described = packyard.codeartifact().describe_package_version(
        domain="acme", repository="shelf", format="pypi", package="demo", packageVersion="1.0")
    assert described["packageVersion"]["status"] == "Unlisted"
    answer = browser.post(VERSION + "/status", {"target": "Archived", "expected": "Published"})
    assert answer.status_code == 400
    assert ("current status: Unlisted, expected status: Published (MISMATCHED_STATUS)"
            in _text(answer))


def test_a_token_is_minted_for_the_signed_in_principal_and_revoked(
        published: InProcessRepo, packyard: InProcessPackyard, browser: ConsoleUser) -> None:
    browser.sign_in()
    page = browser.post(REPO + "/token")
    assert page.status_code == 200
    token = page.text.split('id="token-value" tabindex="0">', 1)[1].split("<", 1)[0]
    minted = InProcessRepo(published.server_url, "acme", "shelf", published.endpoint, token,
                           transport=published.transport)
    assert minted.get("simple/demo/").status_code == 200
    access = browser.get("/console/access")
    newest = access.text.split('/console/access/tokens/', 1)[1].split("/revoke", 1)[0]
    answer = browser.post(f"/console/access/tokens/{newest}/revoke")
    assert answer.status_code == 303
    assert minted.get("simple/demo/").status_code == 401
    assert published.get("simple/demo/").status_code == 200  # the other token still works


def test_a_policy_with_an_error_comes_back_with_the_engines_message_then_saves(
        published: InProcessRepo, packyard: InProcessPackyard, browser: ConsoleUser) -> None:
    browser.sign_in()
    assert browser.get(REPO + "/policy").status_code == 200
    bad = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*"}]}'
    answer = browser.post(REPO + "/policy", {"document": bad, "revision": ""})
    assert answer.status_code == 400
    text = _text(answer)
    assert "The policy document is not valid: " in text
    assert bad in text  # what was typed is kept in the editor
    good = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
        "Action": "codeartifact:ReadFromRepository", "Resource": "*"}]})
    answer = browser.post(REPO + "/policy", {"document": good, "revision": ""})
    assert (answer.status_code, answer.headers["location"]) == (303, REPO)
    stored = packyard.codeartifact().get_repository_permissions_policy(domain="acme",
                                                                       repository="shelf")
    assert json.loads(stored["policy"]["document"]) == json.loads(good)
    answer = browser.post(REPO + "/policy", {"document": good, "revision": "stale"})
    assert answer.status_code == 409


def test_access_keys_are_created_with_the_secret_shown_once_deactivated_and_deleted(
        packyard: InProcessPackyard, browser: ConsoleUser) -> None:
    browser.sign_in()
    assert browser.post("/console/access/users", {"user_name": "dave"}).status_code == 303
    page = browser.post("/console/access/users/dave/create-key")
    key_id = page.text.split('id="new-key-id" tabindex="0">', 1)[1].split("<", 1)[0]
    secret = page.text.split('id="new-key-secret" tabindex="0">', 1)[1].split("<", 1)[0]
    assert len(secret) == 40
    assert secret not in browser.get("/console/access/users/dave").text
    browser.post("/console/access/users/dave/key-status", {"key_id": key_id,
                                                           "status": "Inactive"})
    keys = packyard.iam().list_access_keys(UserName="dave")["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [(key_id, "Inactive")]
    browser.post("/console/access/users/dave/attach", {"policy_arn": READ_ONLY})
    attached = packyard.iam().list_attached_user_policies(UserName="dave")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [READ_ONLY]
    browser.post("/console/access/users/dave/delete-key", {"key_id": key_id})
    assert packyard.iam().list_access_keys(UserName="dave")["AccessKeyMetadata"] == []


PACKAGE = "/console/domains/acme/repositories/shelf/packages/pypi/-/demo"


def test_origin_controls_are_set_from_the_package_page(published: InProcessRepo,
                                                       packyard: InProcessPackyard,
                                                       browser: ConsoleUser) -> None:
    browser.sign_in()
    assert "Save origin controls" in browser.get(PACKAGE).text
    answer = browser.post(PACKAGE + "/origin", {"publish": "BLOCK", "upstream": "ALLOW"})
    assert (answer.status_code, answer.headers["location"]) == (303, PACKAGE)
    described = packyard.codeartifact().describe_package(
        domain="acme", repository="shelf", format="pypi", package="demo")
    assert described["package"]["originConfiguration"]["restrictions"] == {
        "publish": "BLOCK", "upstream": "ALLOW"}
    assert "publish BLOCK, upstream ALLOW" in browser.get(PACKAGE).text


def test_origin_controls_other_than_allow_or_block_are_refused(published: InProcessRepo,
                                                               browser: ConsoleUser) -> None:
    browser.sign_in()
    answer = browser.post(PACKAGE + "/origin", {"publish": "MAYBE", "upstream": "ALLOW"})
    assert answer.status_code == 400
    assert "restrictions.publish must be ALLOW or BLOCK, got 'MAYBE'" in _text(answer)


def test_managed_policies_are_attached_to_a_role_and_detached(packyard: InProcessPackyard,
                                                              browser: ConsoleUser) -> None:
    packyard.iam().create_role(RoleName="Builder", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
            "Action": "sts:AssumeRole"}]}))
    role = "/console/access/roles/Builder"
    browser.sign_in()
    assert ">Attach</button>" in browser.get(role).text
    answer = browser.post(role + "/attach", {"policy_arn": READ_ONLY})
    assert (answer.status_code, answer.headers["location"]) == (303, role)
    attached = packyard.iam().list_attached_role_policies(RoleName="Builder")
    assert [a["PolicyArn"] for a in attached["AttachedPolicies"]] == [READ_ONLY]
    page = browser.get(role).text
    assert ">Detach</button>" in page
    # The form carries the session's CSRF token (the section is a macro shared with users).
    assert re.search(rf'action="{role}/detach" class="inline"><input type="hidden" '
                     r'name="csrf" value="[^"]{16,}"', page)
    browser.post(role + "/detach", {"policy_arn": READ_ONLY})
    assert packyard.iam().list_attached_role_policies(
        RoleName="Builder")["AttachedPolicies"] == []
    answer = browser.post(role + "/rename", {})
    assert answer.status_code == 404 and "No action 'rename'" in _text(answer)


# -- what a principal may do ---------------------------------------------------------------------

def test_a_read_only_principal_sees_no_write_action_and_a_forged_one_is_refused(
        published: InProcessRepo, packyard: InProcessPackyard, browser: ConsoleUser) -> None:
    browser.sign_in(_user(packyard, "reader", READ_ONLY))
    page = browser.get(VERSION)
    assert page.status_code == 200 and "<h1>Demo</h1>" in page.text
    assert ">Unlist</button>" not in page.text and ">Archive</button>" not in page.text
    repo_page = browser.get(REPO)
    assert "Edit the repository policy" not in repo_page.text
    assert "Create user" not in browser.get("/console/access").text
    answer = browser.post(VERSION + "/status", {"target": "Archived", "expected": "Published"})
    assert answer.status_code == 403
    assert ("User: arn:aws:iam::000000000000:user/reader is not authorized to perform: "
            "codeartifact:UpdatePackageVersionsStatus") in _text(answer)
    assert browser.post(REPO + "/policy", {"document": "{}"}).status_code == 403
    assert "Save origin controls" not in browser.get(PACKAGE).text
    packyard.iam().create_role(RoleName="Target", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
            "Action": "sts:AssumeRole"}]}))
    assert browser.post("/console/access/roles/Target/attach",
                        {"policy_arn": READ_ONLY}).status_code == 403
    assert browser.post(PACKAGE + "/origin", {"publish": "BLOCK",
                                              "upstream": "BLOCK"}).status_code == 403
    assert browser.post("/console/access/users", {"user_name": "x"}).status_code == 403
    # Dispose, delete, copy and delete-package: not offered, and refused when forged.
    packyard.codeartifact().create_repository(domain="acme", repository="release")
    page = browser.get(VERSION)
    for button in (">Dispose</button>", ">Delete</button>", ">Copy</button>"):
        assert button not in page.text, button
    assert ">Delete package</button>" not in browser.get(PACKAGE).text
    for path, fields, action in [
            (VERSION + "/dispose", {"expected": "Published"}, "DisposePackageVersions"),
            (VERSION + "/delete", {"expected": "Published"}, "DeletePackageVersions"),
            (VERSION + "/copy", {"destination": "release"}, "CopyPackageVersions"),
            (PACKAGE + "/delete", {}, "DeletePackage")]:
        answer = browser.post(path, fields)
        assert answer.status_code == 403, path
        assert ("User: arn:aws:iam::000000000000:user/reader is not authorized to perform: "
                f"codeartifact:{action}") in _text(answer)
    assert packyard.codeartifact().list_packages(domain="acme",
                                                 repository="release")["packages"] == []
    described = packyard.codeartifact().describe_package_version(
        domain="acme", repository="shelf", format="pypi", package="demo", packageVersion="1.0")
    assert described["packageVersion"]["status"] == "Published"


def test_a_principal_cannot_see_or_revoke_another_principals_token(
        published: InProcessRepo, packyard: InProcessPackyard, browser: ConsoleUser) -> None:
    browser.sign_in(_user(packyard, "erin", READ_ONLY))
    page = browser.get("/console/access")
    assert "/revoke" not in page.text  # root's token is not listed
    assert packyard.container.console is not None
    root_tokens = packyard.container.console.c.tokens.list_tokens(ROOT_PRINCIPAL)
    answer = browser.post(f"/console/access/tokens/{root_tokens[0].id}/revoke")
    assert answer.status_code == 404
    assert published.get("simple/demo/").status_code == 200


def test_a_principal_without_any_permission_sees_the_refusal(
        packyard: InProcessPackyard, browser: ConsoleUser) -> None:
    browser.sign_in(_user(packyard, "nobody"))
    answer = browser.get("/console/")
    assert answer.status_code == 403
    assert ("User: arn:aws:iam::000000000000:user/nobody is not authorized to perform: "
            "codeartifact:ListDomains") in _text(answer)


# -- the URLs hatch and flit print ---------------------------------------------------------------

def test_the_release_url_after_a_publish_leads_to_the_versions_page(
        packyard: InProcessPackyard) -> None:
    answer = packyard.http.get("/acme-000000000000/pypi/shelf/Demo.Pkg/1.0/")
    assert answer.status_code == 303
    assert answer.headers["location"] == (
        "/console/domains/acme/repositories/shelf/packages/pypi/-/demo-pkg/versions/1.0")


def test_a_version_that_does_not_exist_is_a_404_page(published: InProcessRepo,
                                                     browser: ConsoleUser) -> None:
    browser.sign_in()
    answer = browser.get(VERSION.replace("/1.0", "/9.9"))
    assert answer.status_code == 404
    assert "Package version demo 9.9 not found" in _text(answer)


def test_regression_the_status_filter_finds_a_package_past_the_first_two_thousand(
        repo: InProcessRepo, packyard: InProcessPackyard, browser: ConsoleUser) -> None:
    """The filter read each package's versions, stopped after 2,000 packages (seconds of
    work) and then said "No packages match the filter" of a repository whose 2,001st package
    had an Unlisted version."""
    catalog = packyard.container.catalog
    shelf = catalog.get_repository(catalog.get_domain("000000000000", "acme"), "shelf")
    now = datetime.now(UTC)
    key = packyard.container.registry.formats.get("pypi").normalize_version("1.0")
    files = []
    for i in range(2001):
        name, sha = f"pkg-{i:04d}", f"{i:064x}"
        version = NewVersion(version="1.0", version_key=key, summary="", home_page=None,
                             source_code_repository=None, licenses=[], readme=None,
                             readme_content_type=None, dependencies=[])
        asset = NewAsset(name=f"{name}-1.0.tar.gz", size=3, sha256=sha, sha512="0" * 128,
                         sha1="0" * 40, md5="0" * 32, attributes={})
        files.append(NewFile(name, name, version, asset, {sha: 3}))
    catalog.publish_many(shelf, "pypi", "", files, now)
    packyard.codeartifact().update_package_versions_status(
        domain="acme", repository="shelf", format="pypi", package="pkg-2000",
        versions=["1.0"], targetStatus="Unlisted")
    browser.sign_in()
    page = browser.get(REPO + "?status=Unlisted")
    assert page.status_code == 200
    assert f"{REPO}/packages/pypi/-/pkg-2000" in page.text
    assert f"{REPO}/packages/pypi/-/pkg-1999" not in page.text
    last = browser.get(REPO + "?status=Published&page=20")  # 2,000 Published, 100 a page
    assert f"{REPO}/packages/pypi/-/pkg-1999" in last.text and ">Next</a>" not in last.text


def test_the_status_filter_leaves_out_packages_whose_versions_are_denied(
        published: InProcessRepo, packyard: InProcessPackyard, browser: ConsoleUser) -> None:
    """Read in one query now, a version's status is still shown only to a principal that may
    list the package's versions."""
    credentials = user_with(packyard, "lister", ["codeartifact:ListPackages",
                                                  "codeartifact:DescribeRepository",
                                                  "codeartifact:GetRepositoryEndpoint"])
    browser.sign_in(credentials)
    assert "/-/demo" in browser.get(REPO).text
    assert "/-/demo" not in browser.get(REPO + "?status=Published").text


def test_regression_get_a_token_is_offered_only_with_sts_get_service_bearer_token(
        published: InProcessRepo, packyard: InProcessPackyard, browser: ConsoleUser) -> None:
    """A token needs codeartifact:GetAuthorizationToken and sts:GetServiceBearerToken; the
    button was offered on the first alone, and pressing it ended on a 403 page."""
    reading = ["codeartifact:DescribeRepository", "codeartifact:ListPackages",
               "codeartifact:GetRepositoryEndpoint", "codeartifact:GetAuthorizationToken"]
    browser.sign_in(user_with(packyard, "half", reading))
    page = browser.get(REPO)
    assert page.status_code == 200 and 'id="get-token"' not in page.text
    assert browser.post(REPO + "/token").status_code == 403  # as the API refuses it
    other = ConsoleUser(packyard)
    other.sign_in(user_with(packyard, "whole", [*reading, "sts:GetServiceBearerToken"]))
    assert 'id="get-token"' in other.get(REPO).text
    assert "Your token" in _text(other.post(REPO + "/token"))
    other.close()


def test_regression_a_readme_is_rendered_once_for_every_view_of_it(
        repo: InProcessRepo, dists: DistFactory, browser: ConsoleUser,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each view of a version rendered its README again: seconds for a few hundred KiB of
    reStructuredText (2.5 s for 400 KiB), on every page load."""
    from packyard.console import readme

    rst = "Guide\n=====\n\n" + "A paragraph with *emphasis* and ``code``.\n\n" * 50
    upload_ok(repo, dists.wheel(DistSpec(name="guide", version="1.0", readme=rst,
                                         readme_content_type="text/x-rst")))
    rendered: list[str] = []
    real = readme.rst.render

    def counted(text: str, *args: Any, **kwargs: Any) -> str | None:
        rendered.append(text)
        return real(text, *args, **kwargs)

    monkeypatch.setattr(readme.rst, "render", counted)
    browser.sign_in()
    page = "/console/domains/acme/repositories/shelf/packages/pypi/-/guide/versions/1.0"
    for _ in range(3):
        answer = browser.get(page)
        assert answer.status_code == 200 and "<em>emphasis</em>" in answer.text
    assert len(rendered) == 1


def test_regression_a_form_sent_after_the_session_ended_gets_a_page_leading_back(
        published: InProcessRepo, browser: ConsoleUser) -> None:
    """A tab left open past the idle timeout: pressing Unlist answered a bare line of text,
    "Sign in to continue.", with no way to sign in or to tell whether anything was done."""
    answer = browser.http.post(VERSION + "/status", data={"target": "Unlisted",
                                                         "expected": "Published"},
                               headers={"referer": f"http://packyard.test{VERSION}"})
    assert answer.status_code == 401
    text = _text(answer)
    assert "<h1>Not signed in</h1>" in text and "What you sent was not done." in text
    assert f'href="/console/sign-in?next={VERSION.replace("/", "%2F")}"' in text
    # Without a Referer (or with another site's), the sign-in leads to the console's start.
    answer = browser.http.post(VERSION + "/status", data={"target": "Unlisted"},
                               headers={"referer": "https://elsewhere.example/x"})
    assert 'href="/console/sign-in?next=%2Fconsole%2F"' in answer.text


def test_regression_a_policy_editor_opened_on_none_does_not_replace_one_set_since(
        published: InProcessRepo, packyard: InProcessPackyard, browser: ConsoleUser) -> None:
    """Two people open the editor of a repository without a policy; the first saves. The
    second's save carried no revision and replaced the first's silently, though the editor
    promises that two people editing at once do not overwrite each other."""
    def policy(sid: str) -> str:
        return json.dumps({"Version": "2012-10-17", "Statement": [{
            "Sid": sid, "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
            "Action": "codeartifact:ReadFromRepository", "Resource": "*"}]})

    browser.sign_in()
    editor = browser.get(REPO + "/policy")
    assert 'name="revision" value=""' in editor.text  # it shows no policy
    packyard.codeartifact().put_repository_permissions_policy(
        domain="acme", repository="shelf", policyDocument=policy("First"))
    answer = browser.post(REPO + "/policy", {"document": policy("Second"), "revision": ""})
    assert answer.status_code == 409
    assert "since you read it" in _text(answer) and '"Second"' in _text(answer)
    stored = packyard.codeartifact().get_repository_permissions_policy(domain="acme",
                                                                       repository="shelf")
    assert json.loads(stored["policy"]["document"])["Statement"][0]["Sid"] == "First"
    # Read again, it is replaced with its revision; the API still replaces without one.
    revision = stored["policy"]["revision"]
    answer = browser.post(REPO + "/policy", {"document": policy("Second"), "revision": revision})
    assert answer.status_code == 303
    packyard.codeartifact().put_repository_permissions_policy(
        domain="acme", repository="shelf", policyDocument=policy("Third"))


def test_regression_a_dependency_shows_its_environment_marker_and_extras(
        repo: InProcessRepo, packyard: InProcessPackyard, dists: DistFactory,
        browser: ConsoleUser) -> None:
    """``colorama; sys_platform == "win32"`` showed as a plain ``colorama`` on the version's
    page, so a reader took it for always required: CodeArtifact's dependency records have no
    place for a marker or extras. They are kept in the version now and shown whole (escaped);
    the API's records keep their shape."""
    script = "<script>alert(1)</script>"
    upload_ok(repo, dists.wheel(DistSpec(name="marked", version="1.0", requires_dist=(
        'colorama ; sys_platform=="win32"', "requests[socks]>=2.0; extra == 'net'",
        "idna>=3", f"evil; platform_machine == '{script}'"))))
    browser.sign_in()
    page = browser.get(
        "/console/domains/acme/repositories/shelf/packages/pypi/-/marked/versions/1.0")
    assert page.status_code == 200
    shown = [unescape(item) for item in re.findall(
        r'<li><a href="[^"]*/packages/pypi/-/[^"]+">([^<]*)</a>', page.text)]
    assert shown == ['colorama; sys_platform == "win32"',
                     'requests[socks]>=2.0; extra == "net"', "idna>=3",
                     f'evil; platform_machine == "{script}"']
    assert "<script>" not in page.text
    assert "&lt;script&gt;alert(" in page.text
    records = packyard.codeartifact().list_package_version_dependencies(
        domain="acme", repository="shelf", format="pypi", package="marked",
        packageVersion="1.0")["dependencies"]
    assert records[:3] == [
        {"package": "colorama", "dependencyType": "Requires-Dist", "versionRequirement": ""},
        {"package": "requests", "dependencyType": "Requires-Dist", "versionRequirement": ">=2.0"},
        {"package": "idna", "dependencyType": "Requires-Dist", "versionRequirement": ">=3"}]


def test_regression_the_namespace_filter_works_without_a_format(
        published: InProcessRepo, packyard: InProcessPackyard, browser: ConsoleUser) -> None:
    """Without a format chosen, the namespace was compared as typed: an npm scope given as
    "@acme" (how npm writes it, and how the format filter reads it) listed nothing."""
    npm = npm_repo(packyard, repository="shelf", create=False)
    for name in ("@acme/util", "@acmes/other", "@zed/thing"):
        assert npm.publish(name).status_code in (200, 201)
    content = b"hello"
    packyard.codeartifact().publish_package_version(
        domain="acme", repository="shelf", format="generic", namespace="acme-tools",
        package="kit", packageVersion="1.0", assetName="a.txt", assetContent=content,
        assetSHA256=hashlib.sha256(content).hexdigest())
    browser.sign_in()

    def listed(query: str) -> list[str]:
        page = browser.get(REPO + query)
        assert page.status_code == 200, _text(page)
        return re.findall(r'href="/console/domains/acme/repositories/shelf/packages/'
                          r'([^"/]+/[^"/]+/[^"/]+)"', page.text)

    assert listed("?namespace=%40acme") == ["npm/acmes/other", "npm/acme/util"]
    assert listed("?namespace=acme") == ["generic/acme-tools/kit", "npm/acmes/other",
                                         "npm/acme/util"]
    assert listed("?namespace=%40acme&prefix=u") == ["npm/acme/util"]
    assert listed("?namespace=%40acme&format=npm") == listed("?namespace=%40acme")
    assert listed("?namespace=acme-&status=Published") == ["generic/acme-tools/kit"]
    assert listed("?namespace=nothing") == []


def test_regression_domain_and_repository_pages_show_their_tags_to_who_may_list_them(
        published: InProcessRepo, packyard: InProcessPackyard, browser: ConsoleUser) -> None:
    """Tags set with tag-resource were nowhere in the console. The domain and repository
    pages show them now, to a principal allowed ListTagsForResource, and change them with
    TagResource and UntagResource, authorized as the API authorizes them."""
    api = packyard.codeartifact()
    domain_arn = api.describe_domain(domain="acme")["domain"]["arn"]
    repo_arn = api.describe_repository(domain="acme", repository="shelf")["repository"]["arn"]
    api.tag_resource(resourceArn=domain_arn, tags=[{"key": "team", "value": "data"}])
    api.tag_resource(resourceArn=repo_arn, tags=[
        {"key": "cost-centre", "value": "<b>42</b>"}, {"key": "stage", "value": ""}])
    browser.sign_in()
    page = browser.get("/console/domains/acme")
    assert '<h2 id="tags">Tags</h2>' in page.text
    assert "<tr><td><code>team</code></td><td>data</td>" in page.text
    page = browser.get(REPO)
    assert "<tr><td><code>cost-centre</code></td><td>&lt;b&gt;42&lt;/b&gt;</td>" in page.text
    assert "<tr><td><code>stage</code></td><td></td>" in page.text

    answer = browser.post(REPO + "/tags/add", {"tag_key": "owner", "tag_value": "ops"})
    assert (answer.status_code, answer.headers["location"]) == (303, REPO + "#tags")
    answer = browser.post(REPO + "/tags/remove", {"tag_key": "stage"})
    assert answer.status_code == 303
    assert api.list_tags_for_resource(resourceArn=repo_arn)["tags"] == [
        {"key": "cost-centre", "value": "<b>42</b>"}, {"key": "owner", "value": "ops"}]
    answer = browser.post("/console/domains/acme/tags/add", {"tag_key": "aws:x"})
    assert answer.status_code == 400 and "aws:" in _text(answer)

    # Without ListTagsForResource: why they are not shown, never the tags; no forms offered,
    # and a forged change is refused.
    reader = ConsoleUser(packyard)
    reader.sign_in(user_with(packyard, "untagged", [
        "codeartifact:DescribeDomain", "codeartifact:ListRepositoriesInDomain",
        "codeartifact:DescribeRepository", "codeartifact:ListPackages",
        "codeartifact:GetRepositoryEndpoint"]))
    for path, hidden in [("/console/domains/acme", "team"), (REPO, "cost-centre")]:
        page = reader.get(path)
        assert page.status_code == 200 and '<h2 id="tags">Tags</h2>' in page.text
        assert hidden not in page.text and "Add or change tag" not in page.text
        assert ("Not shown: User: arn:aws:iam::000000000000:user/untagged is not authorized "
                "to perform: codeartifact:ListTagsForResource") in _text(page)
    answer = reader.post(REPO + "/tags/remove", {"tag_key": "owner"})
    assert answer.status_code == 403 and "codeartifact:UntagResource" in _text(answer)
    assert len(api.list_tags_for_resource(resourceArn=repo_arn)["tags"]) == 2
    reader.close()
