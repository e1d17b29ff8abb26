"""The web console in a real browser: headless Chromium against a real ``packyard serve``.

One walk through what a user does (sign in, browse to a version and read its README, mint a
token and copy pip's configuration into pip, edit a policy with an error and then without,
revoke the token and see pip refused, sign out), a README that tries to run script, a
read-only principal, and the console over HTTPS behind a TLS proxy. The same walk takes docs/console.md's screenshots
(``PACKYARD_CONSOLE_SCREENSHOTS=docs/console``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import httpx
import pytest
from playwright.sync_api import expect

from tests.integration.browser import Screenshots
from tests.integration.helpers import (
    ROOT,
    ClientHome,
    Credentials,
    DistFactory,
    DistSpec,
    PypiRepo,
    ServerProcess,
    create_pypi_repo,
    run,
    tool,
    upload_ok,
)
from tests.integration.npm_clients import NpmHome, npm_client, package_json
from tests.integration.npm_registry import create_npm_repo
from tests.integration.tls_proxy import tls_proxy

README = """# Demo for the console

A package published for the browser test.

```python
import demo
```
"""

HOSTILE_README = """# Hostile

<script>window.__pwned = "script";</script>

<img src="x" onerror="window.__pwned = 'onerror'">

<a href="javascript:window.__pwned = 'link'">a javascript: link</a>

[markdown link](javascript:window.__pwned='markdown')

<div onmouseover="window.__pwned = 'hover'">hover me</div>

<img src="https://tracker.invalid/pixel.png" alt="remote image">
"""

# Images on this server's own paths: each a console page the reader's browser would request.
CONSOLE_IMAGES_README = """# Console images

<img src="/console/audit" alt="audit page"> ![access page](../../../../../../../../access)
"""


@pytest.fixture(scope="module")
def published(server: ServerProcess, api: Any, dists: DistFactory) -> PypiRepo:
    repo = create_pypi_repo(api, server.url, "console")
    # An upstream, so the repository's page has a graph to draw.
    api.create_repository(domain=repo.domain, repository="team-shared",
                          description="Packages shared by the team")
    api.update_repository(domain=repo.domain, repository=repo.repository,
                          upstreams=[{"repositoryName": "team-shared"}])
    upload_ok(repo, dists.wheel(DistSpec(name="console-demo", version="1.0.0", readme=README,
                                         requires_dist=("idna>=3",))),
              dists.wheel(DistSpec(name="hostile-readme", version="0.1",
                                   readme=HOSTILE_README)),
              dists.wheel(DistSpec(name="status-demo", version="2.0")),
              dists.wheel(DistSpec(name="readme-images", version="0.1",
                                   readme=CONSOLE_IMAGES_README)))
    # A package group, so the domain's page lists one besides the root group.
    api.create_package_group(domain=repo.domain, packageGroup="/pypi//console~",
                             description="The console's demo packages",
                             contactInfo="platform@example.test")
    api.update_package_group_origin_configuration(
        domain=repo.domain, packageGroup="/pypi//console~",
        restrictions={"PUBLISH": "ALLOW_SPECIFIC_REPOSITORIES", "EXTERNAL_UPSTREAM": "BLOCK"},
        addAllowedRepositories=[{"originRestrictionType": "PUBLISH",
                                 "repositoryName": repo.repository}])
    return repo


def _group_url(server: ServerProcess, repo: PypiRepo, pattern: str) -> str:
    return (f"{server.url}/console/domains/{repo.domain}/package-group?pattern="
            f"{quote(pattern, safe='')}")


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser profile's context (no cookies), 1,280 px wide, clipboard allowed."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900},
                              permissions=["clipboard-read", "clipboard-write"])
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


def _sign_in(page: Any, server: ServerProcess, credentials: Credentials) -> None:
    page.goto(server.url + "/")  # a browser at the root is sent to the console's sign-in
    assert "/console/sign-in" in page.url
    page.get_by_label("Access key ID").fill(credentials.access_key_id)
    page.get_by_label("Secret access key").fill(credentials.secret_access_key)
    page.get_by_label("Secret access key").press("Enter")  # the keyboard is enough
    page.wait_for_url(re.compile(r"/console/$"))


def _version_url(server: ServerProcess, repo: PypiRepo, name: str, version: str) -> str:
    return (f"{server.url}/console/domains/{repo.domain}/repositories/{repo.repository}"
            f"/packages/pypi/-/{name}/versions/{version}")


def _pip_download(home: ClientHome, dest: Path, name: str) -> Any:
    return run([tool("pip"), "download", "--no-deps", "--no-cache-dir", "-d", str(dest), name],
               home.env(), check=False)


def test_a_user_signs_in_browses_connects_pip_edits_a_policy_revokes_and_signs_out(
        server: ServerProcess, published: PypiRepo, context: Any, tmp_path: Path) -> None:
    shots = Screenshots(tmp_path)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(server.url + "/console/")
    shots.take(page, "sign-in")
    _sign_in(page, server, ROOT)

    cookie = next(c for c in context.cookies() if c["name"] == "packyard_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
    assert ROOT.secret_access_key not in json.dumps(context.cookies())

    # Browse: domains -> domain -> repository -> package -> version, by following links.
    page.get_by_role("link", name=published.domain).click()
    expect(page.get_by_role("heading", name=f"Domain {published.domain}")).to_be_visible()
    shots.take(page, "domain")
    page.get_by_role("link", name="/pypi//console~").click()
    expect(page.get_by_role("heading", name="Package group /pypi//console~")).to_be_visible()
    expect(page.locator("#associated-packages")).to_contain_text("pypi: console-demo")
    shots.take(page, "package-group")
    page.go_back()
    page.get_by_role("link", name=published.repository, exact=True).click()
    expect(page.get_by_role("heading", name=f"Repository {published.repository}")).to_be_visible()
    shots.take(page, "repository")
    page.get_by_label("Name starts with").fill("console")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#package-table tbody tr")).to_have_count(1)
    page.get_by_role("link", name="console-demo").click()
    expect(page.locator("#origin-controls")).to_have_text("publish ALLOW, upstream BLOCK")
    shots.take(page, "package")
    page.get_by_role("link", name="1.0.0").click()
    readme = page.locator("#readme")
    expect(readme.get_by_role("heading", name="Demo for the console")).to_be_visible()
    assert "import demo" in readme.locator("pre").inner_text()
    expect(page.get_by_role("link", name="idna >=3")).to_be_visible()
    expect(page.get_by_role("link", name="console_demo-1.0.0-py3-none-any.whl")).to_be_visible()
    shots.take(page, "version")

    # The URL hatch prints after a publish leads to this page.
    page.goto(f"{published.endpoint}Console_Demo/1.0.0/")
    assert page.url == _version_url(server, published, "console-demo", "1.0.0")

    # A token for the signed-in principal, and pip's configuration copied from the page.
    page.goto(f"{server.url}/console/domains/{published.domain}/repositories/"
              f"{published.repository}")
    page.get_by_role("button", name="Get a token").click()
    expect(page.locator("#token-notice")).to_be_visible()
    pip_conf = page.locator("#connect-pip .snippet").filter(has_text="[global]")
    pip_conf.get_by_role("button", name="Copy").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("[global]\nindex-url = http://aws:")
    shots.take(page, "connect")
    token = re.search(r"aws:([^@]+)@", copied).group(1)  # type: ignore[union-attr]
    home = ClientHome(tmp_path / "home")
    home.pip_conf.write_text(copied)
    got = _pip_download(home, tmp_path / "dl", "console-demo")
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "dl" / "console_demo-1.0.0-py3-none-any.whl").exists()

    # A policy with an error: the engine's message, inline; then a valid one.
    page.get_by_role("link", name="Edit the repository policy").click()
    editor = page.get_by_label("Policy document (JSON)")
    editor.fill('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
                '"Action": "codeartifact:ReadFromRepository", "Resource": "*"}]}')
    page.get_by_role("button", name="Save policy").click()
    error = page.locator("#policy-error")
    assert "Principal" in error.inner_text(), error.inner_text()
    shots.take(page, "policy-error")
    editor.fill(json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "TeamReads", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
        "Action": "codeartifact:ReadFromRepository", "Resource": "*"}]}))
    page.get_by_role("button", name="Save policy").click()
    page.wait_for_url(re.compile(rf"/repositories/{published.repository}$"))
    assert "TeamReads" in page.locator("#policy + pre, #policy ~ pre").first.inner_text()

    # Tokens: the one minted above, revoked; pip is refused from then on.
    page.get_by_role("link", name="Access").click()
    shots.take(page, "access")
    # Newest first: the token minted above, before the one create_pypi_repo minted.
    row = page.locator("#token-table tbody tr").filter(has_text="active").filter(
        has_text=published.domain).first
    row.get_by_role("button", name="Revoke").click()
    page.wait_for_url(re.compile(r"/console/access"))
    refused = httpx.get(published.simple_url, auth=("aws", token), trust_env=False)
    assert refused.status_code == 401
    got = _pip_download(home, tmp_path / "dl2", "console-demo")
    assert got.returncode != 0 and "401" in (got.stdout + got.stderr)

    # Sign out: the session is gone, and so is its cookie.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/console/sign-in"))
    assert not [c for c in context.cookies() if c["name"] == "packyard_console"]
    page.goto(server.url + "/console/access")
    assert "/console/sign-in" in page.url


def test_a_readme_with_script_links_and_event_attributes_renders_inert(
        server: ServerProcess, published: PypiRepo, context: Any) -> None:
    page = context.new_page()
    blocked: list[str] = []
    page.on("request", lambda request: blocked.append(request.url)
            if "tracker.invalid" in request.url else None)
    _sign_in(page, server, ROOT)
    page.goto(_version_url(server, published, "hostile-readme", "0.1"))
    readme = page.locator("#readme")
    expect(readme.get_by_role("heading", name="Hostile")).to_be_visible()
    readme.get_by_text("a javascript: link").click()
    readme.get_by_text("hover me").hover()
    readme.get_by_text("markdown link").click()
    assert page.evaluate("window.__pwned") is None
    expect(readme.locator("script")).to_have_count(0)
    expect(readme.locator("[href^='javascript' i]")).to_have_count(0)
    expect(readme.locator("[onerror], [onmouseover], [onclick]")).to_have_count(0)
    assert "tracker.invalid" not in readme.inner_html() and not blocked
    expect(readme.get_by_role("img", name="remote image")).to_have_count(1)


def test_regression_a_readme_image_does_not_request_console_pages_as_its_reader(
        server: ServerProcess, published: PypiRepo, context: Any) -> None:
    """``<img src="/console/audit">`` (or any relative path) in a README made each reader's
    browser request that console page with the reader's session: a reader without
    cloudtrail:LookupEvents was recorded in the audit trail as refused it."""
    page = context.new_page()
    _sign_in(page, server, ROOT)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(_version_url(server, published, "readme-images", "0.1"))
    readme = page.locator("#readme")
    expect(readme.get_by_role("heading", name="Console images")).to_be_visible()
    expect(readme.get_by_role("img", name="audit page")).to_have_count(1)
    expect(readme.locator("img[src]")).to_have_count(0)
    page.wait_for_load_state("networkidle")
    assert [url for url in requested if "/console/audit" in url or url.endswith("/access")
            ] == []


def test_a_read_only_principal_sees_no_write_actions_and_a_forged_one_is_refused(
        server: ServerProcess, published: PypiRepo, context: Any) -> None:
    iam = boto3.client("iam", endpoint_url=server.url, region_name="us-east-1",
                       aws_access_key_id=ROOT.access_key_id,
                       aws_secret_access_key=ROOT.secret_access_key)
    name = f"reader-{published.repository}"
    iam.create_user(UserName=name)
    iam.attach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/"
                                                    "AWSCodeArtifactReadOnlyAccess")
    key = iam.create_access_key(UserName=name)["AccessKey"]
    page = context.new_page()
    _sign_in(page, server, Credentials(key["AccessKeyId"], key["SecretAccessKey"]))
    page.goto(_version_url(server, published, "console-demo", "1.0.0"))
    assert page.locator("#readme h1").inner_text() == "Demo for the console"
    expect(page.get_by_role("button", name="Unlist")).to_have_count(0)
    expect(page.get_by_role("button", name="Archive")).to_have_count(0)
    page.goto(f"{server.url}/console/domains/{published.domain}/repositories/"
              f"{published.repository}")
    expect(page.get_by_role("link", name="Edit the repository policy")).to_have_count(0)
    # The form it was not offered, forged with its own session and CSRF token.
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    status = page.evaluate("""async ([url, csrf]) => {
        const body = new URLSearchParams({csrf, target: "Archived", expected: "Published"});
        const response = await fetch(url, {method: "POST", body});
        return response.status;
    }""", [_version_url(server, published, "console-demo", "1.0.0") + "/status", csrf])
    assert status == 403
    described = httpx.get(published.simple_url + "console-demo/", auth=published.auth,
                          trust_env=False)
    assert described.status_code == 200 and "console_demo-1.0.0" in described.text


def test_pages_fit_a_phone_and_the_keyboard_reaches_every_link(
        server: ServerProcess, published: PypiRepo, browser: Any, tmp_path: Path) -> None:
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        page = ctx.new_page()
        _sign_in(page, server, ROOT)
        repository = (f"{server.url}/console/domains/{published.domain}/repositories/"
                      f"{published.repository}")
        for url in (f"{server.url}/console/", f"{server.url}/console/domains/{published.domain}",
                    repository, repository + "/packages/pypi/-/console-demo",
                    repository + "/policy", f"{server.url}/console/access",
                    _group_url(server, published, "/pypi//console~"),
                    f"{server.url}/console/access/new-role",
                    _version_url(server, published, "console-demo", "1.0.0")):
            page.goto(url)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{url} is {overflow}px wider than the phone"
        Screenshots(tmp_path).take(page, "version-phone")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Skip to content"
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"
    finally:
        ctx.close()


def test_regression_over_https_chromium_keeps_host_prefixed_cookies_and_ignores_planted_ones(
        server_factory: Any, browser: Any, tmp_path: Path) -> None:
    """Behind a TLS proxy, with an HTTPS public URL: the console's cookies are ``__Host-``
    ones, which Chromium takes only from this secure host with Path=/; the plain-named nonce
    another service on the host could plant is ignored, and sign-out deletes the session's."""
    with tls_proxy(tmp_path) as proxy:
        url = proxy.url
        proxy.backend_port = server_factory(env={"PACKYARD_PUBLIC_URL": url}).port
        ctx = browser.new_context(ignore_https_errors=True)
        ctx.set_default_timeout(15_000)
        try:
            # As a plain-HTTP service on another port of the host may: a nonce for the host.
            ctx.add_cookies([{"name": "packyard_console_signin", "value": "planted",
                              "domain": "127.0.0.1", "path": "/"}])
            page = ctx.new_page()
            page.goto(url + "/console/")
            assert "/console/sign-in" in page.url
            page.get_by_label("Access key ID").fill(ROOT.access_key_id)
            page.get_by_label("Secret access key").fill(ROOT.secret_access_key)
            page.get_by_label("Secret access key").press("Enter")
            page.wait_for_url(re.compile(r"/console/$"))
            kept = {c["name"]: c for c in ctx.cookies(url)}
            session = kept["__Host-packyard_console"]
            assert (session["secure"], session["httpOnly"], session["sameSite"],
                    session["path"]) == (True, True, "Strict", "/")
            # The nonce has served: deleted; the planted one is still there, never read.
            assert "__Host-packyard_console_signin" not in kept
            assert kept["packyard_console_signin"]["value"] == "planted"
            page.get_by_role("button", name="Sign out").click()
            page.wait_for_url(re.compile(r"/console/sign-in"))
            assert "__Host-packyard_console" not in {c["name"] for c in ctx.cookies(url)}
            page.goto(url + "/console/access")
            assert "/console/sign-in" in page.url
        finally:
            ctx.close()


def test_a_form_from_another_site_carries_no_session_and_one_without_its_csrf_token_is_refused(
        server: ServerProcess, published: PypiRepo, context: Any) -> None:
    page = context.new_page()
    _sign_in(page, server, ROOT)
    page.goto(server.url + "/console/access")
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    create = server.url + "/console/access/users"
    # Same page, same session, no CSRF token: refused.
    status = page.evaluate("""async (url) => {
        const body = new URLSearchParams({user_name: "no-csrf-user", csrf: ""});
        return (await fetch(url, {method: "POST", body})).status;
    }""", create)
    assert status == 403
    # Another site's page posting the form, even with a token it somehow learnt: Chromium sends
    # no SameSite=Strict cookie with it, so there is no session to act for.
    # (Playwright serves that page itself: nothing leaves the machine.)
    attacker = context.new_page()
    attacker.route("http://attacker.invalid/", lambda route: route.fulfill(
        content_type="text/html", body=f"""<form method="post" action="{create}">
        <input name="user_name" value="cross-site-user"><input name="csrf" value="{csrf}">
        <button>Go</button></form>"""))
    attacker.goto("http://attacker.invalid/")
    with attacker.expect_response(create) as answered:
        attacker.get_by_role("button", name="Go").click()
    assert answered.value.status == 401
    iam = boto3.client("iam", endpoint_url=server.url, region_name="us-east-1",
                       aws_access_key_id=ROOT.access_key_id,
                       aws_secret_access_key=ROOT.secret_access_key)
    users = {u["UserName"] for u in iam.list_users()["Users"]}
    assert not users & {"no-csrf-user", "cross-site-user"}


# WCAG 2's contrast ratio of each element's own text against the background it is drawn on
# (the nearest ancestor's opaque background colour): the lowest few, as [ratio, text, colours].
_LOWEST_CONTRASTS = """() => {
    const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
    const lum = ([r, g, b]) => {
        const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const background = (el) => {
        for (; el; el = el.parentElement) {
            const c = rgb(getComputedStyle(el).backgroundColor);
            if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c.slice(0, 3);
        }
        return [255, 255, 255];
    };
    const found = [];
    for (const el of document.querySelectorAll("body *")) {
        const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
        const box = el.getBoundingClientRect();
        if (!own || box.width === 0 || box.height === 0 || box.right < 0) continue;
        const fg = rgb(getComputedStyle(el).color).slice(0, 3), bg = background(el);
        const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
        found.push([(hi + 0.05) / (lo + 0.05), el.textContent.trim().slice(0, 40),
                    `${fg} on ${bg}`]);
    }
    return found.sort((a, b) => a[0] - b[0]).slice(0, 3);
}"""


def test_text_has_readable_contrast(server: ServerProcess, published: PypiRepo,
                                    context: Any) -> None:
    page = context.new_page()
    page.goto(server.url + "/console/sign-in")
    pages = {"sign-in": page.evaluate(_LOWEST_CONTRASTS)}
    _sign_in(page, server, ROOT)
    for name, url in {
        "repository": f"{server.url}/console/domains/{published.domain}/repositories/"
                      f"{published.repository}",
        "version": _version_url(server, published, "console-demo", "1.0.0"),
        "access": f"{server.url}/console/access",
        "package group": _group_url(server, published, "/pypi//console~"),
    }.items():
        page.goto(url)
        pages[name] = page.evaluate(_LOWEST_CONTRASTS)
    # WCAG AA for normal text: 4.5:1.
    low = {name: worst for name, worst in pages.items() if worst and worst[0][0] < 4.5}
    assert not low, low


def test_a_status_action_asks_first_and_the_quick_filter_hides_rows(
        server: ServerProcess, published: PypiRepo, context: Any) -> None:
    page = context.new_page()
    _sign_in(page, server, ROOT)
    page.goto(f"{server.url}/console/domains/{published.domain}/repositories/"
              f"{published.repository}")
    page.get_by_label("Quick filter of this page").fill("status")
    rows = page.locator("#package-table tbody tr")
    expect(rows.filter(has_text="status-demo")).to_be_visible()
    expect(rows.filter(has_text="console-demo")).to_be_hidden()
    page.goto(_version_url(server, published, "status-demo", "2.0"))
    asked: list[str] = []

    def answer(dialog: Any, accept: bool) -> None:
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, False))
    page.get_by_role("button", name="Unlist").click()
    expect(page.locator("#version-status")).to_have_text("Published")
    page.once("dialog", lambda dialog: answer(dialog, True))
    page.get_by_role("button", name="Unlist").click()
    expect(page.locator("#version-status")).to_have_text("Unlisted")
    assert asked == ["Unlist status-demo 2.0? (status Published \u2192 Unlisted)"] * 2
    expect(page.get_by_role("button", name="Publish again")).to_be_visible()


def test_npm_instructions_copied_from_the_console_publish_and_install_with_npm(
        server: ServerProcess, api: Any, context: Any, tmp_path: Path) -> None:
    client = npm_client("npm11")
    repo = create_npm_repo(api, server.url, "console-npm")
    page = context.new_page()
    _sign_in(page, server, ROOT)
    page.goto(f"{server.url}/console/domains/{repo.domain}/repositories/{repo.repository}")
    page.get_by_role("button", name="Get a token").click()
    expect(page.locator("#token-notice")).to_be_visible()
    npm = page.locator("#connect-npm")
    npm.locator("summary").click()
    npmrc = npm.locator(".snippet").filter(has_text="registry=")
    npmrc.get_by_role("button", name="Copy").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith(f"registry={repo.endpoint}\n")
    home = NpmHome(tmp_path / "home")
    home.npmrc.write_text(copied)  # the user's ~/.npmrc, as the page says
    home.run(client, "publish", cwd=package_json(tmp_path / "lib", "console-npm-demo"))
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    (consumer / "package.json").write_text(json.dumps({
        "name": "consumer", "version": "0.0.0", "private": True,
        "dependencies": {"console-npm-demo": "^1.0.0"}}))
    home.run(client, "install", cwd=consumer)
    assert (consumer / "node_modules/console-npm-demo/index.js").is_file()


def _copy_snippet(page: Any, client: str, has_text: str) -> str:
    """Open ``client``'s instructions and copy the snippet that shows ``has_text``."""
    section = page.locator(f"#connect-{client}")
    if section.get_attribute("open") is None:
        section.locator("summary").click()
    snippet = section.locator(".snippet").filter(has_text=has_text)
    snippet.get_by_role("button", name="Copy").click()
    return str(page.evaluate("navigator.clipboard.readText()"))


def test_regression_instructions_without_a_token_work_as_copied_with_npm_twine_and_pip(
        server: ServerProcess, api: Any, dists: DistFactory, context: Any,
        tmp_path: Path) -> None:
    """Without "Get a token", each snippet reads the token from $CODEARTIFACT_AUTH_TOKEN,
    which the first snippet sets. The .npmrc and .pypirc snippets used to say
    ``$CODEARTIFACT_AUTH_TOKEN``, which npm (it expands ``${...}`` only) and twine (it
    expands nothing) sent as it is: both were refused with 401."""
    client = npm_client("npm11")
    repo = create_npm_repo(api, server.url, "console-notoken")
    page = context.new_page()
    _sign_in(page, server, ROOT)
    page.goto(f"{server.url}/console/domains/{repo.domain}/repositories/{repo.repository}")
    # What the first snippet (the AWS CLI's get-authorization-token) sets.
    token = api.get_authorization_token(domain=repo.domain)["authorizationToken"]

    npm_home = NpmHome(tmp_path / "npm-home")
    npm_home.npmrc.write_text(_copy_snippet(page, "npm", "registry="))
    npm_home.run(client, "publish", cwd=package_json(tmp_path / "lib", "notoken-npm-demo"),
                 env=npm_home.env(client, CODEARTIFACT_AUTH_TOKEN=token))
    assert api.list_package_versions(domain=repo.domain, repository=repo.repository,
                                     format="npm", package="notoken-npm-demo")["versions"]

    home = ClientHome(tmp_path / "home")
    wheel = dists.wheel(DistSpec(name="notoken-demo", version="1.0"))
    env = home.env(CODEARTIFACT_AUTH_TOKEN=token)
    twine = _copy_snippet(page, "twine", "twine upload")
    published = run(["bash", "-ec", twine.replace("dist/*", str(wheel.path))], env,
                    check=False)
    assert published.returncode == 0, published.stdout + published.stderr
    pip = _copy_snippet(page, "pip", "PIP_INDEX_URL")
    got = run(["bash", "-ec", f"{pip}\npip download --no-deps --no-cache-dir -d "
                              f"{tmp_path / 'dl'} notoken-demo"], env, check=False)
    assert got.returncode == 0, got.stdout + got.stderr
    assert (tmp_path / "dl" / wheel.filename).exists()
