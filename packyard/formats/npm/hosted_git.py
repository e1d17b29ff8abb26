"""Git URLs of the hosts npm knows, read as npm's hosted-git-info reads them.

``npm publish`` rewrites a package.json's ``repository`` (``"zeit/ms"`` becomes
``{"type": "git", "url": "git+https://github.com/zeit/ms.git"}``), fills ``bugs`` and
``homepage`` from it, and writes git dependencies in one form (``prepare.py``), all through
hosted-git-info (v9): which host a URL names, its user, project and committish, and the URLs
made from them. This is that library's reading (``from-url.js``, ``parse-url.js``) and the
templates npm's normalization uses (``https``, ``sshurl``, ``git``, ``shortcut``, ``docs``,
``bugs``), for GitHub, GitLab, Bitbucket, gists and sourcehut.

URLs are parsed as WHATWG's URL parser parses them, in the parts that decide these hosts
(scheme, credentials, host, port, path, fragment); a URL this reading cannot make sense of
names no host, and is left as it was written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class ParsedUrl:
    """The parts of a URL hosted-git-info looks at, as WHATWG's ``URL`` has them."""

    protocol: str  # "https:"
    username: str
    password: str
    hostname: str
    pathname: str
    hash: str  # "#..." or ""


@dataclass(frozen=True)
class Segments:
    user: str | None
    project: str
    committish: str | None


@dataclass(frozen=True)
class _Host:
    domain: str
    protocols: tuple[str, ...]
    extract: Callable[[ParsedUrl], Segments | None]
    treepath: str | None = None
    projects_only: bool = False  # gists: no user in their URLs
    bare_https: bool = False  # sourcehut: https://git.sr.ht/~u/p, no git+ nor .git
    has_git: bool = False  # a git:// template (GitHub's and gists')
    has_bugs: bool = True


def _split(text: str, limit: int) -> list[str | None]:
    """JavaScript's ``text.split('/', limit)``, padded with None (``undefined``)."""
    parts: list[str | None] = list(text.split("/")[:limit])
    return parts + [None] * (limit - len(parts))


def _strip_git(project: str) -> str:
    return project[:-4] if project.endswith(".git") else project


def _github(url: ParsedUrl) -> Segments | None:
    _, user, project, kind, committish = _split(url.pathname, 5)
    if kind and kind != "tree":
        return None
    if not kind:
        committish = url.hash[1:]
    if project:
        project = _strip_git(project)
    if not user or not project:
        return None
    return Segments(user, project, committish)


def _with_aux(excluded: str) -> Callable[[ParsedUrl], Segments | None]:
    def extract(url: ParsedUrl) -> Segments | None:
        _, user, project, aux = _split(url.pathname, 4)
        if aux == excluded:
            return None
        if project:
            project = _strip_git(project)
        if not user or not project:
            return None
        return Segments(user, project, url.hash[1:])
    return extract


def _gitlab(url: ParsedUrl) -> Segments | None:
    path = url.pathname[1:]
    if "/-/" in path or "/archive.tar.gz" in path:
        return None
    segments = path.split("/")
    project = _strip_git(segments.pop())
    user = "/".join(segments)
    if not user or not project:
        return None
    return Segments(user, project, url.hash[1:])


def _gist(url: ParsedUrl) -> Segments | None:
    _, user, project, aux = _split(url.pathname, 4)
    if aux == "raw":
        return None
    if not project:
        if not user:
            return None
        project, user = user, None
    return Segments(user, _strip_git(project), url.hash[1:])


HOSTS = {
    "github": _Host("github.com", ("git:", "http:", "git+ssh:", "git+https:", "ssh:", "https:"),
                    _github, treepath="tree", has_git=True),
    "bitbucket": _Host("bitbucket.org", ("git+ssh:", "git+https:", "ssh:", "https:"),
                       _with_aux("get"), treepath="src"),
    "gitlab": _Host("gitlab.com", ("git+ssh:", "git+https:", "ssh:", "https:"), _gitlab,
                    treepath="tree"),
    "gist": _Host("gist.github.com", ("git:", "git+ssh:", "git+https:", "ssh:", "https:"),
                  _gist, projects_only=True, has_git=True),
    "sourcehut": _Host("git.sr.ht", ("git+ssh:", "https:"), _with_aux("archive"),
                       treepath="tree", bare_https=True, has_bugs=False),
}
_BY_DOMAIN = {host.domain: name for name, host in HOSTS.items()}
# The protocols hosted-git-info knows: the representation each stands for, and whether
# credentials in it are kept; each host's shortcut ("github:") is one too.
_PROTOCOLS: dict[str, tuple[str | None, bool]] = {
    "git+ssh:": ("sshurl", False), "ssh:": ("sshurl", False), "git+https:": ("https", True),
    "git:": (None, True), "http:": (None, True), "https:": (None, True),
    "git+http:": (None, True),
    **{f"{name}:": (name, False) for name in HOSTS},
}


@dataclass(frozen=True)
class HostedGit:
    """A git repository on a known host (hosted-git-info's ``GitHost``)."""

    type: str
    user: str | None
    auth: str | None
    project: str
    committish: str | None
    default: str

    @property
    def _host(self) -> _Host:
        return HOSTS[self.type]

    @property
    def _user(self) -> str:
        """The user as a JavaScript template writes it (a shortcut without one: "null")."""
        return "null" if self.user is None else self.user

    def _hash(self) -> str:
        return f"#{self.committish}" if self.committish else ""

    def https(self) -> str:
        host = self._host
        if host.projects_only:
            return f"git+https://{host.domain}/{self.project}.git{self._hash()}"
        if host.bare_https:
            return f"https://{host.domain}/{self._user}/{self.project}{self._hash()}"
        auth = f"{self.auth}@" if self.auth else ""
        return f"git+https://{auth}{host.domain}/{self._user}/{self.project}.git{self._hash()}"

    def sshurl(self) -> str:
        host = self._host
        place = self.project if host.projects_only else f"{self._user}/{self.project}"
        return f"git+ssh://git@{host.domain}/{place}.git{self._hash()}"

    def git(self) -> str | None:
        host = self._host
        if not host.has_git:
            return None
        if host.projects_only:
            return f"git://{host.domain}/{self.project}.git{self._hash()}"
        auth = f"{self.auth}@" if self.auth else ""
        return f"git://{auth}{host.domain}/{self._user}/{self.project}.git{self._hash()}"

    def shortcut(self) -> str:
        place = self.project if self._host.projects_only else f"{self._user}/{self.project}"
        return f"{self.type}:{place}{self._hash()}"

    def docs(self) -> str:
        host = self._host
        committish = _encode(self.committish)
        if host.projects_only:
            return f"https://{host.domain}/{self.project}" + (f"/{committish}" if committish
                                                             else "")
        tree = f"/{host.treepath}/{committish}" if host.treepath and committish else ""
        return f"https://{host.domain}/{self._user}/{self.project}{tree}#readme"

    def bugs(self) -> str | None:
        host = self._host
        if not host.has_bugs:
            return None
        if host.projects_only:
            return f"https://{host.domain}/{self.project}"
        return f"https://{host.domain}/{self._user}/{self.project}/issues"

    def text(self) -> str | None:
        """``toString()``: the URL in the form it was given (its default representation)."""
        made = {"https": self.https, "sshurl": self.sshurl, "git": self.git,
                "shortcut": self.shortcut}.get(self.default)
        return made() if made is not None else self.sshurl()


def from_url(giturl: object) -> HostedGit | None:
    """hosted-git-info's ``fromUrl``: the repository ``giturl`` names on a known host."""
    if not isinstance(giturl, str) or not giturl:
        return None
    parsed = parse_url(f"github:{giturl}" if _is_github_shorthand(giturl) else giturl)
    if parsed is None:
        return None
    shortcut = parsed.protocol[:-1] if parsed.protocol[:-1] in HOSTS else None
    hostname = parsed.hostname[4:] if parsed.hostname.startswith("www.") else parsed.hostname
    name = shortcut or _BY_DOMAIN.get(hostname)
    if name is None:
        return None
    auth = None
    known = _PROTOCOLS.get(parsed.protocol)
    if known is not None and known[1] and (parsed.username or parsed.password):
        auth = parsed.username + (f":{parsed.password}" if parsed.password else "")
    try:
        if shortcut:
            path = parsed.pathname[1:] if parsed.pathname.startswith("/") else parsed.pathname
            at = path.find("@")
            if at > -1:  # credentials in a shortcut are ignored
                path = path[at + 1:]
            slash = path.rfind("/")
            user: str | None = None
            if slash > -1:
                user = _decode(path[:slash]) or None
                project = _decode(path[slash + 1:])
            else:
                project = _decode(path)
            committish = _decode(parsed.hash[1:]) if parsed.hash else None
            return HostedGit(name, user, None, _strip_git(project), committish, "shortcut")
        host = HOSTS[name]
        if parsed.protocol not in host.protocols:
            return None
        segments = host.extract(parsed)
        if segments is None:
            return None
        default = (known[0] if known is not None else None) or parsed.protocol[:-1]
        return HostedGit(name, segments.user and _decode(segments.user), auth,
                         _decode(segments.project), _decode(segments.committish), default)
    except ValueError:  # a malformed %-escape: decodeURIComponent's URIError
        return None


def _is_github_shorthand(arg: str) -> bool:
    """``npm/cli`` (and ``npm/cli#v1``): a GitHub repository, as hosted-git-info tells it."""
    hash_at = arg.find("#")
    slash = arg.find("/")
    second_slash = arg.find("/", slash + 1)
    colon = arg.find(":")
    space = re.search(r"\s", arg)
    at = arg.find("@")

    def only_after_hash(index: int) -> bool:
        return index == -1 or (hash_at > -1 and index > hash_at)

    if hash_at > 0:  # what comes just before the committish is not a slash
        ends_without_slash = arg[hash_at - 1] != "/"
    else:
        ends_without_slash = hash_at == 0 or not arg.endswith("/")
    return (only_after_hash(space.start() if space else -1) and slash > 0
            and ends_without_slash and not arg.startswith(".") and only_after_hash(at)
            and only_after_hash(colon) and only_after_hash(second_slash))


def parse_url(giturl: str) -> ParsedUrl | None:
    """hosted-git-info's ``parseUrl``: the URL as given (a missing ``//`` after a known
    protocol put in), else as an scp-style address (``git@host:user/repo``)."""
    corrected = _correct_protocol(giturl)
    return _whatwg(corrected) or _whatwg(_correct_url(corrected))


def _correct_protocol(arg: str) -> str:
    colon = arg.find(":")
    if arg[:colon + 1] in _PROTOCOLS:
        return arg
    if colon > -1 and arg[colon:colon + 3] == "://":
        return arg
    at = arg.find("@")
    if at > -1:
        return f"git+ssh://{arg}" if at > colon else arg
    return f"{arg[:colon + 1]}//{arg[colon + 1:]}"


def _last_before_hash(text: str, char: str) -> int:
    hash_at = text.find("#")
    return text.rfind(char) if hash_at == -1 else text.rfind(char, 0, hash_at + 1)


def _correct_url(giturl: str) -> str:
    at = _last_before_hash(giturl, "@")
    colon = _last_before_hash(giturl, ":")
    if colon > at:
        giturl = f"{giturl[:colon]}/{giturl[colon + 1:]}"
    if _last_before_hash(giturl, ":") == -1 and "//" not in giturl:
        giturl = f"git+ssh://{giturl}"
    return giturl


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+\-.]*):(.*)", re.DOTALL)
_SPECIAL = {"http", "https", "ws", "wss", "ftp"}
_FORBIDDEN_HOST = set("\x00\t\n\r #/:<>?@[\\]^|")
_FORBIDDEN_DOMAIN = _FORBIDDEN_HOST | {chr(c) for c in range(0x20)} | {"%", "\x7f"}


def _whatwg(text: str) -> ParsedUrl | None:
    """The parts of ``new URL(text)`` (no base) hosted-git-info reads; None where it throws.
    ``file:`` URLs, which name no git host, are None too."""
    text = text.strip("".join(chr(c) for c in range(0x21))).translate(
        {ord("\t"): None, ord("\n"): None, ord("\r"): None})
    match = _SCHEME.fullmatch(text)
    if match is None:
        return None
    scheme, rest = match.group(1).lower(), match.group(2)
    if scheme == "file":
        return None
    special = scheme in _SPECIAL
    rest, _, fragment = rest.partition("#")
    rest = rest.partition("?")[0]
    if special:
        rest = rest.replace("\\", "/")
        rest = "//" + rest.lstrip("/")
    username = password = hostname = ""
    if rest.startswith("//"):
        rest = rest[2:]
        slash = rest.find("/")
        authority, path = (rest[:slash], rest[slash:]) if slash > -1 else (rest, "")
        at = authority.rfind("@")
        if at > -1:
            username, _, password = authority[:at].partition(":")
            authority = authority[at + 1:]
        if authority.startswith("["):
            close = authority.find("]")
            if close == -1:
                return None
            hostname, port = authority[:close + 1].lower(), authority[close + 1:]
            if port and not port.startswith(":"):
                return None
            port = port[1:]
        else:
            hostname, _, port = authority.partition(":")
            if ":" in port:
                return None
        if port and (not port.isascii() or not port.isdigit() or int(port) > 65535):
            return None
        if special:
            if not hostname or any(c in _FORBIDDEN_DOMAIN for c in hostname):
                return None
            hostname = hostname.lower()
        elif any(c in _FORBIDDEN_HOST for c in hostname) and not hostname.startswith("["):
            return None
        pathname = _without_dots(path) if path or special else ""
        if special and not pathname:
            pathname = "/"
    else:
        pathname = _without_dots(rest) if rest.startswith("/") else rest
    return ParsedUrl(f"{scheme}:", username, password, hostname, pathname,
                     f"#{fragment}" if fragment else "")


def _without_dots(path: str) -> str:
    """A path with its ``.`` and ``..`` segments resolved, as the URL parser resolves them."""
    out: list[str] = []
    segments = path.split("/")[1:]
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "..":
            if out:
                out.pop()
            if last:
                out.append("")
        elif segment == ".":
            if last:
                out.append("")
        else:
            out.append(segment)
    return "/" + "/".join(out)


def _decode(text: str | None) -> str:
    """JavaScript's ``decodeURIComponent`` (``undefined`` being "undefined"); ValueError for a
    malformed escape, as it throws URIError."""
    if text is None:
        return "undefined"
    if "%" not in text:
        return text
    out = bytearray()
    index = 0
    while index < len(text):
        char = text[index]
        if char == "%":
            pair = text[index + 1:index + 3]
            if len(pair) != 2 or not all(c in "0123456789abcdefABCDEF" for c in pair):
                raise ValueError("malformed %-escape")
            out.append(int(pair, 16))
            index += 3
        else:
            out.extend(char.encode())
            index += 1
    return out.decode("utf-8")  # UnicodeDecodeError is a ValueError


def _encode(text: str | None) -> str:
    """JavaScript's ``encodeURIComponent``, ``""`` for nothing (hosted-git-info's
    ``maybeEncode``)."""
    return quote(text, safe="-_.!~*'()") if text else ""
