"""The console's pure parts: session cookies, sign-in throttling, READMEs, instructions, the graph."""

from __future__ import annotations

import pytest

from packyard.console.graph import Links, layout
from packyard.console.instructions import Target, npm_instructions, pypi_instructions
from packyard.console.readme import render_readme
from packyard.console.sessions import CookieNames, SessionCodec
from packyard.console.signin import FailedSignIns, TooManySignIns
from packyard.console.web import safe_next
from packyard.settings import load_settings

KEY = b"k" * 32


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def codec(clock: FakeTime, idle: int = 1800, lifetime: int = 43200) -> SessionCodec:
    return SessionCodec(KEY, idle_seconds=idle, lifetime_seconds=lifetime, now=clock)


# -- sessions ---------------------------------------------------------------------------------

def test_a_session_cookie_round_trips_and_names_no_secret() -> None:
    clock = FakeTime()
    c = codec(clock)
    session = c.start("arn:aws:iam::000000000000:user/ana", "AKIAANA")
    cookie = c.encode(session)
    assert c.decode(cookie) == session
    assert "secret" not in cookie.lower()


@pytest.mark.parametrize("tamper", [
    lambda cookie: cookie[:-2] + ("A" if cookie[-2] != "A" else "B") + cookie[-1],
    lambda cookie: cookie.replace("v1.", "v2.", 1),
    lambda cookie: cookie.split(".")[0] + "." + cookie.split(".")[1],
    lambda cookie: "garbage",
    lambda cookie: "",
])
def test_a_forged_or_garbled_cookie_names_no_session(tamper: object) -> None:
    c = codec(FakeTime())
    cookie = c.encode(c.start("arn:aws:iam::000000000000:root", "AKIAROOT"))
    assert c.decode(tamper(cookie)) is None  # type: ignore[operator]


def test_a_cookie_signed_with_another_key_is_refused() -> None:
    clock = FakeTime()
    other = SessionCodec(b"x" * 32, idle_seconds=60, lifetime_seconds=600, now=clock)
    cookie = other.encode(other.start("arn:aws:iam::000000000000:root", None))
    assert codec(clock).decode(cookie) is None


def test_a_session_ends_after_the_idle_timeout_unless_renewed() -> None:
    clock = FakeTime()
    c = codec(clock, idle=600)
    session = c.start("arn:aws:iam::000000000000:root", None)
    clock.now += 599
    renewed = c.renewed(session)
    assert renewed is not None and renewed.last_seen_at == clock.now
    clock.now += 599
    assert c.decode(c.encode(renewed)) is not None
    assert c.decode(c.encode(session)) is None  # idle for 1198 s


def test_a_session_is_renewed_at_most_once_a_minute() -> None:
    clock = FakeTime()
    c = codec(clock)
    session = c.start("arn:aws:iam::000000000000:root", None)
    clock.now += 59
    assert c.renewed(session) is None


def test_a_session_ends_at_its_lifetime_however_busy() -> None:
    clock = FakeTime()
    c = codec(clock, idle=600, lifetime=1000)
    session = c.start("arn:aws:iam::000000000000:root", None)
    for _ in range(3):
        clock.now += 400
        session = c.renewed(session) or session
    assert c.decode(c.encode(session)) is None


def test_sign_out_ends_the_session_in_this_process() -> None:
    c = codec(FakeTime())
    session = c.start("arn:aws:iam::000000000000:root", None)
    cookie = c.encode(session)
    c.sign_out(session)
    assert c.decode(cookie) is None


def test_csrf_tokens_are_per_session_and_checked_in_constant_time() -> None:
    c = codec(FakeTime())
    one, two = c.start("a", None), c.start("a", None)
    assert c.csrf_token(one.session_id) != c.csrf_token(two.session_id)
    assert c.csrf_ok(one.session_id, c.csrf_token(one.session_id))
    assert not c.csrf_ok(one.session_id, c.csrf_token(two.session_id))
    assert not c.csrf_ok(one.session_id, None)
    assert not c.csrf_ok(one.session_id, "")


def test_the_cookie_flags() -> None:
    plain = CookieNames(secure=False)
    assert (plain.session, plain.signin) == ("packyard_console", "packyard_console_signin")
    assert plain.header("n", "v", max_age=None) == (
        "n=v; Path=/console; HttpOnly; SameSite=Strict")
    secure = CookieNames(secure=True)
    assert (secure.session, secure.signin) == ("__Host-packyard_console",
                                               "__Host-packyard_console_signin")
    assert secure.header(secure.session, "", max_age=0) == (
        "__Host-packyard_console=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure")


@pytest.mark.parametrize(("target", "expected"), [
    ("/console/domains/acme", "/console/domains/acme"),
    ("https://evil.example/", "/console/"),
    ("//evil.example/console/", "/console/"),
    ("/console/\\evil", "/console/"),
    ("/v1/domains", "/console/"),
    (None, "/console/"),
])
def test_after_sign_in_only_console_paths_are_followed(target: str | None,
                                                       expected: str) -> None:
    assert safe_next(target) == expected


# -- failed sign-ins ----------------------------------------------------------------------------

def test_failed_sign_ins_are_limited_per_key_until_the_window_passes() -> None:
    clock = FakeTime()
    failures = FailedSignIns(3, 300, monotonic=clock)
    keys = (("address", "10.0.0.1"), ("key", "AKIAX"))
    for _ in range(3):
        failures.check(*keys)
        failures.failed(*keys)
    with pytest.raises(TooManySignIns) as refused:
        failures.check(("address", "10.0.0.2"), ("key", "AKIAX"))
    assert refused.value.retry_after_seconds == 301
    assert refused.value.message == "Too many failed sign-ins; try again in 301 seconds."
    failures.check(("address", "10.0.0.2"), ("key", "AKIAY"))  # another key, another address
    clock.now += 301
    failures.check(*keys)


# -- READMEs --------------------------------------------------------------------------------------

HOSTILE = """# Title

<script>alert(1)</script>

<img src="x" onerror="alert(2)"> <a href="javascript:alert(3)" onclick="alert(4)">a</a>

[b](javascript:alert(5)) ![remote](https://tracker.example/p.png) ![local](logo.png)

<style>body{display:none}</style><iframe src="https://evil.example"></iframe>
"""


def test_a_markdown_readme_keeps_no_script_handler_javascript_link_or_remote_image() -> None:
    rendered = render_readme(HOSTILE, "text/markdown", "pypi")
    assert rendered is not None and rendered.kind == "Markdown"
    html = str(rendered.html)
    for banned in ("<script", "onerror", "onclick", "javascript:", "tracker.example", "<style",
                   "<iframe"):
        assert banned not in html, banned
    assert '<img alt="remote">' in html and '<img alt="local">' in html
    assert '<h1>Title</h1>' in html


@pytest.mark.parametrize("src", [
    "/\\tracker.example/p.png", "\\\\tracker.example/p.png", "///tracker.example/p.png",
    " /\\tracker.example/p.png", "/\t/tracker.example/p.png", "//[tracker.example/p.png",
])
def test_regression_an_image_from_another_host_written_as_a_browser_reads_it_is_dropped(
        src: str) -> None:
    """A browser reads "\\" as "/" and a run of slashes at the start as a host, so
    ``/\\tracker.example/p.png`` is another host's image: it passed the check, which read
    it as a path, and only the Content-Security-Policy kept the browser from loading it."""
    rendered = render_readme(f'<img src="{src}" alt="remote"> ![local](logo.png)',
                             "text/markdown", "pypi")
    assert rendered is not None
    html = str(rendered.html)
    assert "tracker.example" not in html and '<img alt="remote">' in html


@pytest.mark.parametrize("src", [
    "/console/audit", "../../../../../../../../access/users/admin", "logo.png",
    "1.0/assets/demo-1.0-py3-none-any.whl", "?x=1",
])
def test_regression_a_readme_image_makes_no_request_to_the_console_as_its_reader(
        src: str) -> None:
    """Any image path is on this server: ``<img src="/console/audit">`` in a README made
    every reader's browser request that page as the reader, and a reader without
    cloudtrail:LookupEvents was recorded in the audit trail as refused it, a request they
    never made. Images keep their alt text only."""
    rendered = render_readme(f'<img src="{src}" alt="probe"> and ![md]({src})',
                             "text/markdown", "pypi")
    assert rendered is not None
    html = str(rendered.html)
    assert "src=" not in html
    assert '<img alt="probe">' in html and '<img alt="md">' in html


def test_an_npm_readme_without_a_content_type_is_markdown_cleaned_the_same_way() -> None:
    rendered = render_readme(HOSTILE, None, "npm")
    assert rendered is not None and rendered.kind == "Markdown"
    assert "<script" not in str(rendered.html) and "javascript:" not in str(rendered.html)


def test_rest_is_pypis_default_and_raw_html_in_it_is_not_passed_through() -> None:
    text = "Title\n=====\n\n.. raw:: html\n\n   <script>alert(1)</script>\n\nBody *text*.\n"
    rendered = render_readme(text, None, "pypi")
    assert rendered is not None
    assert "<script" not in str(rendered.html)


def test_rest_that_does_not_parse_is_shown_as_plain_text() -> None:
    rendered = render_readme("Title\n===\n\n.. unknown-directive::\n\n<b>x</b>\n",
                             "text/x-rst", "pypi")
    assert rendered is not None and rendered.kind == "plain text"
    assert "&lt;b&gt;" in str(rendered.html)


def test_plain_text_is_escaped() -> None:
    rendered = render_readme("a <script>x</script>\nb", "text/plain", "pypi")
    assert rendered is not None and rendered.kind == "plain text"
    assert "<script" not in str(rendered.html) and "<br>" in str(rendered.html)


def test_no_readme() -> None:
    assert render_readme(None, None, "pypi") is None
    assert render_readme("  \n", "text/markdown", "pypi") is None


# -- connection instructions ---------------------------------------------------------------------

TARGET = Target("http://packages.test:8080", "acme", "000000000000", "shelf")
PYPI = "http://packages.test:8080/acme-000000000000/pypi/shelf/"
NPM = "http://packages.test:8080/acme-000000000000/npm/shelf/"


def _texts(clients: list) -> dict[str, str]:  # type: ignore[type-arg]
    return {c.client: "\n".join(s.text for s in c.snippets) for c in clients}


def test_pypi_instructions_with_a_token_put_it_where_each_client_reads_it() -> None:
    texts = _texts(pypi_instructions(TARGET, PYPI, "TOK"))
    assert set(texts) == {"pip", "twine", "uv", "poetry"}
    authed = "http://aws:TOK@packages.test:8080/acme-000000000000/pypi/shelf/simple/"
    assert f"[global]\nindex-url = {authed}\n" in texts["pip"]
    assert f"repository = {PYPI}\nusername = aws\npassword = TOK\n" in texts["twine"]
    assert f"uv pip install --index-url {authed} PACKAGE" in texts["uv"]
    assert "poetry config http-basic.codeartifact aws TOK" in texts["poetry"]
    assert "CODEARTIFACT_AUTH_TOKEN" not in "".join(texts.values())


def test_without_a_token_the_first_step_gets_one_with_the_aws_cli() -> None:
    pip = pypi_instructions(TARGET, PYPI, None)[0]
    assert pip.snippets[0].text == (
        "export CODEARTIFACT_AUTH_TOKEN=$(aws codeartifact get-authorization-token --domain "
        "acme --domain-owner 000000000000 --query authorizationToken --output text "
        "--endpoint-url http://packages.test:8080)")
    assert "${CODEARTIFACT_AUTH_TOKEN}@" in pip.snippets[1].text
    assert pip.snippets[-1].text.startswith("aws codeartifact login --tool pip --domain acme")


def test_npm_instructions_for_npm_pnpm_and_yarn() -> None:
    texts = _texts(npm_instructions(TARGET, NPM, "TOK"))
    assert set(texts) == {"npm", "pnpm", "yarn"}
    npmrc = (f"registry={NPM}\n"
             "//packages.test:8080/acme-000000000000/npm/shelf/:_authToken=TOK\n")
    assert npmrc in texts["npm"] and npmrc in texts["pnpm"] and npmrc in texts["yarn"]
    assert (f'npmRegistryServer: "{NPM}"\nnpmAlwaysAuth: true\nnpmAuthToken: "TOK"\n'
            'unsafeHttpWhitelist:\n  - "packages.test"\n') in texts["yarn"]
    # Yarn 1 sends no token on installs without always-auth (test_yarn1_installs_with_a_lockfile).
    assert npmrc + "//packages.test:8080/acme-000000000000/npm/shelf/:always-auth=true\n" in (
        texts["yarn"])


# -- the upstream graph --------------------------------------------------------------------------

def test_the_graph_places_each_repository_once_in_search_order() -> None:
    links = {"app": Links(["team", "store"], []), "team": Links(["store"], []),
             "store": Links([], ["public:pypi"])}
    graph = layout("app", links.get, lambda name: f"/r/{name}")
    placed = {n.label: (n.kind, n.x, n.y) for n in graph.nodes}
    assert placed["app"][0] == "self" and placed["public:pypi"][0] == "external"
    assert placed["team"][1] == placed["store"][1] < placed["public:pypi"][1]
    assert placed["team"][2] < placed["store"][2]
    assert len(graph.edges) == 4  # app->team, app->store, team->store, store->public:pypi
    assert sorted(e.order for e in graph.edges) == [1, 1, 1, 2]


def test_a_repository_the_viewer_may_not_describe_is_not_expanded() -> None:
    links = {"app": Links(["secret"], [])}
    graph = layout("app", links.get, lambda name: f"/r/{name}")
    assert [n.label for n in graph.nodes] == ["app", "secret"]


@pytest.mark.parametrize("name", ["CONSOLE_IDLE_TIMEOUT_SECONDS", "CONSOLE_SESSION_SECONDS",
                                  "CONSOLE_MAX_FAILED_SIGNINS",
                                  "CONSOLE_SIGNIN_WINDOW_SECONDS"])
def test_the_console_settings_must_be_positive(name: str) -> None:
    with pytest.raises(ValueError, match=f"PACKYARD_{name} must be more than 0"):
        load_settings(environ={f"PACKYARD_{name}": "0"})
