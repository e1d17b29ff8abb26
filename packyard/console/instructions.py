"""Connection instructions: the exact commands and files that point each client at a repository.

As CodeArtifact's "View connection instructions": for each client, the ``aws codeartifact
login`` line where the AWS CLI configures it, and the configuration written by hand, with the
token in it when the user asked for one (``token``) or a shell variable the first step sets.
Pure: the endpoint URLs come from ``Registry.get_repository_endpoint``.

Without a token, each snippet must still work as copied: a shell expands the variable, npm,
pnpm and both yarns expand ``${VARIABLE}`` (braces required) in their files, but pip.conf and
.pypirc are read as they are, so pip and twine get environment variables instead of a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

TOKEN_VARIABLE = "CODEARTIFACT_AUTH_TOKEN"


@dataclass(frozen=True)
class Snippet:
    title: str
    text: str
    # What the text is: "shell" (commands) or a file name (pip.conf, .npmrc, ...).
    kind: str = "shell"


@dataclass(frozen=True)
class ClientInstructions:
    client: str  # "pip", "twine", ...
    format: str  # the repository endpoint's format
    snippets: tuple[Snippet, ...]

    @property
    def anchor(self) -> str:
        return f"connect-{self.client}"


@dataclass(frozen=True)
class Target:
    """The repository and how to reach the server."""

    base_url: str
    domain: str
    owner: str
    repository: str


def _with_credentials(url: str, token: str) -> str:
    """``url`` with ``aws:TOKEN@`` before its host, as pip and uv take it."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, f"aws:{token}@{parts.netloc}", parts.path, parts.query,
                       parts.fragment))


def _token_steps(target: Target, token: str | None) -> tuple[str, tuple[Snippet, ...]]:
    """The token's text in later snippets, and the step that sets it when there is none."""
    if token is not None:
        return token, ()
    return f"${{{TOKEN_VARIABLE}}}", (Snippet(
        "Get a token (valid 12 hours) with the AWS CLI",
        f"export {TOKEN_VARIABLE}=$(aws codeartifact get-authorization-token "
        f"--domain {target.domain} --domain-owner {target.owner} "
        f"--query authorizationToken --output text --endpoint-url {target.base_url})"),)


def _login(target: Target, tool: str) -> Snippet:
    return Snippet(f"Or let the AWS CLI configure {tool}",
                   f"aws codeartifact login --tool {tool} --domain {target.domain} "
                   f"--domain-owner {target.owner} --repository {target.repository} "
                   f"--endpoint-url {target.base_url}")


def _pip_file(authed: str, token: str | None) -> Snippet:
    """pip.conf with the token in it; pip reads no variable there, so without a token the
    index URL goes into the environment."""
    if token is not None:
        return Snippet("or write pip's configuration file", f"[global]\nindex-url = {authed}\n",
                       "pip.conf")
    return Snippet("or for this shell only", f"export PIP_INDEX_URL={authed}")


def _twine_steps(endpoint: str, token: str | None) -> tuple[Snippet, ...]:
    """.pypirc with the token in it; twine reads no variable there, so without a token the
    repository and credentials go into twine's environment variables."""
    if token is None:
        return (Snippet("Publish with twine",
                        f"export TWINE_REPOSITORY_URL={endpoint}\nexport TWINE_USERNAME=aws\n"
                        f"export TWINE_PASSWORD=${{{TOKEN_VARIABLE}}}\ntwine upload dist/*"),)
    return (Snippet("Publish with twine: put the repository in",
                    "[distutils]\nindex-servers =\n    codeartifact\n\n[codeartifact]\n"
                    f"repository = {endpoint}\nusername = aws\npassword = {token}\n",
                    ".pypirc"),
            Snippet("then", "twine upload --repository codeartifact dist/*"))


def pypi_instructions(target: Target, endpoint: str, token: str | None
                      ) -> list[ClientInstructions]:
    secret, first = _token_steps(target, token)
    simple = endpoint + "simple/"
    authed = _with_credentials(simple, secret)
    return [
        ClientInstructions("pip", "pypi", (*first, Snippet(
            "Install from this repository",
            f"pip config set global.index-url {authed}"), _pip_file(authed, token),
            _login(target, "pip"))),
        ClientInstructions("twine", "pypi", (*first, *_twine_steps(endpoint, token),
                                              _login(target, "twine"))),
        ClientInstructions("uv", "pypi", (*first, Snippet(
            "Install", f"uv pip install --index-url {authed} PACKAGE"), Snippet(
            "or name the index in",
            f'[[tool.uv.index]]\nname = "codeartifact"\nurl = "{simple}"\n',
            "pyproject.toml"), Snippet(
            "with the credentials in the environment",
            f"export UV_INDEX_CODEARTIFACT_USERNAME=aws\n"
            f"export UV_INDEX_CODEARTIFACT_PASSWORD={secret}"), Snippet(
            "Publish", f"uv publish --publish-url {endpoint} --username aws "
                       f"--password {secret}"))),
        ClientInstructions("poetry", "pypi", (*first, Snippet(
            "Install from this repository",
            f"poetry source add --priority=primary codeartifact {simple}\n"
            f"poetry config http-basic.codeartifact aws {secret}"), Snippet(
            "Publish", f"poetry config repositories.codeartifact {endpoint}\n"
                       f"poetry config http-basic.codeartifact aws {secret}\n"
                       "poetry publish --build --repository codeartifact"))),
    ]


def npm_instructions(target: Target, endpoint: str, token: str | None
                     ) -> list[ClientInstructions]:
    secret, first = _token_steps(target, token)
    parts = urlsplit(endpoint)
    auth_key = f"//{parts.netloc}{parts.path}:_authToken"
    npmrc = f"registry={endpoint}\n{auth_key}={secret}\n"
    # Yarn 1 sends the token on installs only with always-auth (which npm 10+ will not set).
    yarn1rc = npmrc + f"//{parts.netloc}{parts.path}:always-auth=true\n"
    yarnrc = (f'npmRegistryServer: "{endpoint}"\nnpmAlwaysAuth: true\n'
              f'npmAuthToken: "{secret}"\n')
    if parts.scheme == "http":
        # Yarn 2+ refuses plain HTTP registries unless their host is listed.
        yarnrc += f'unsafeHttpWhitelist:\n  - "{parts.hostname}"\n'
    return [
        ClientInstructions("npm", "npm", (*first, Snippet(
            "Point npm at this repository",
            f"npm config set registry {endpoint}\nnpm config set {auth_key}={secret}"),
            Snippet("or write", npmrc, ".npmrc"), _login(target, "npm"))),
        ClientInstructions("pnpm", "npm", (*first, Snippet(
            "pnpm reads npm's configuration file", npmrc, ".npmrc"), Snippet(
            "or", f"pnpm config set registry {endpoint}\n"
                  f"pnpm config set {auth_key}={secret}"))),
        ClientInstructions("yarn", "npm", (*first, Snippet(
            "Yarn 2 and later read", yarnrc, ".yarnrc.yml"), Snippet(
            "Yarn 1 reads", yarn1rc, ".npmrc"))),
    ]


# The formats the console has instructions for; a format without an entry gets its endpoint.
BY_FORMAT = {"pypi": pypi_instructions, "npm": npm_instructions}
