"""npm package names: validated as the public registry does, and read out of request paths.

A name is ``bare`` or ``@scope/bare``. CodeArtifact stores the scope without its ``@`` as the
package's namespace (empty for unscoped packages) and ``bare`` as the package name, so
``@acme/util`` is namespace ``acme``, package ``util``, display name ``@acme/util``.

Two strengths of validation, after validate-npm-package-name (which npm runs on publish):
:func:`parse_package_name` accepts every name the public registry still serves ("valid for old
packages": capitals, more than 214 characters, ``~'!()*``), so upstream packages such as
``JSONStream`` can be read; :func:`validate_new_package_name` adds the rules for new packages,
which publish applies. Scopes always follow the rule awscli and CodeArtifact use for npm
namespaces, ``@[a-z0-9-~][a-z0-9-._~]*`` (aws/aws-cli#10207), and no name may contain ``..``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from packyard.errors import Invalid, NotFound

MAX_NEW_NAME_LENGTH = 214
"""validate-npm-package-name: "name can no longer contain more than 214 characters"."""

MAX_PART_LENGTH = 255
"""CodeArtifact's PackageName and PackageNamespace are at most 255 characters."""

# What encodeURIComponent leaves alone; validate-npm-package-name calls a name "URL-friendly"
# when encoding it changes nothing.
_URL_FRIENDLY = re.compile(r"[A-Za-z0-9\-_.!~*'()]+")
_SCOPE = re.compile(r"[a-z0-9\-~][a-z0-9\-._~]*")
_SPECIAL = re.compile(r"[~'!()*]")
_REV = re.compile(r"[0-9A-Za-z\-]{1,64}")
# A path segment that needs no decoding and cannot hide a separator or a control character
# (RFC 3986 pchar without "%"): most requests' segments, checked with one match.
_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_EXCLUDED = frozenset({"node_modules", "favicon.ico"})

# validate-npm-package-name 7's builtin-modules.json: Node's core modules can no longer be
# published as packages (a dependency on "http" would shadow the core module).
_CORE_MODULES = frozenset({"_http_agent", "_http_client", "_http_common", "_http_incoming",
    "_http_outgoing", "_http_server", "_stream_duplex", "_stream_passthrough", "_stream_readable",
    "_stream_transform", "_stream_wrap", "_stream_writable", "_tls_common", "_tls_wrap", "assert",
    "async_hooks", "buffer", "child_process", "cluster", "console", "constants", "crypto",
    "dgram", "diagnostics_channel", "dns", "domain", "events", "fs", "http", "http2", "https",
    "inspector", "module", "net", "os", "path", "perf_hooks", "process", "punycode",
    "querystring", "readline", "repl", "stream", "string_decoder", "sys", "timers", "tls",
    "trace_events", "tty", "url", "util", "v8", "vm", "wasi", "worker_threads", "zlib"})


@dataclass(frozen=True)
class PackageName:
    """An npm package name, split the way CodeArtifact stores it."""

    scope: str | None
    """The scope without its ``@`` (CodeArtifact's namespace), or None when unscoped."""
    bare: str
    """The name after the scope (CodeArtifact's package name)."""

    @property
    def full(self) -> str:
        """The name as npm writes it: ``@acme/util`` or ``util``."""
        return f"@{self.scope}/{self.bare}" if self.scope is not None else self.bare

    @property
    def namespace(self) -> str:
        """CodeArtifact's namespace: the scope, or "" for an unscoped package."""
        return self.scope or ""

    @property
    def escaped(self) -> str:
        """The name as npm puts it in a URL path: ``@acme%2futil`` (npm-package-arg)."""
        return f"@{self.scope}%2f{self.bare}" if self.scope is not None else self.bare

    def tarball_filename(self, version: str) -> str:
        """The file name of a version's tarball in its URL: ``util-1.0.0.tgz``, scope left out."""
        return f"{self.bare}-{version}.tgz"

    def attachment_name(self, version: str) -> str:
        """The ``_attachments`` key npm publishes under: ``@acme/util-1.0.0.tgz`` (full name)."""
        return f"{self.full}-{version}.tgz"

    def tarball_path(self, version: str) -> str:
        """A tarball's path under the registry, as npm writes ``dist.tarball``."""
        return f"{self.full}/-/{self.tarball_filename(version)}"


def _refuse(name: str, reason: str) -> Invalid:
    return Invalid(f'Invalid package name "{name}": {reason}.')


def _check_scope(name: str, scope: str) -> None:
    if not _SCOPE.fullmatch(scope):
        raise _refuse(name, f'the scope "@{scope}" must start with a lowercase letter, digit, '
                            '"-" or "~" and contain only lowercase letters, digits and "-._~"')
    if len(scope) > MAX_PART_LENGTH:
        raise _refuse(name, f"the scope is longer than {MAX_PART_LENGTH} characters")


def _split(name: str) -> PackageName:
    """Apply the rules every name follows, old or new (validForOldPackages)."""
    if not name:
        raise _refuse(name, "name length must be greater than zero")
    if name.strip() != name:
        raise _refuse(name, "name cannot contain leading or trailing spaces")
    if ".." in name:
        # Never a legitimate npm name, and a scope or name of ".." must not reach a path.
        raise _refuse(name, 'name cannot contain ".."')
    scope: str | None = None
    bare = name
    if name.startswith("@"):
        scope, slash, bare = name[1:].partition("/")
        if not slash or not bare:
            raise _refuse(name, "a scoped name must have the form @scope/name")
        _check_scope(name, scope)
    else:
        if name.startswith("-"):
            raise _refuse(name, "name cannot start with a hyphen")
        if name.startswith("_"):
            raise _refuse(name, "name cannot start with an underscore")
    if bare.startswith("."):
        raise _refuse(name, "name cannot start with a period")
    if name.lower() in _EXCLUDED:
        raise _refuse(name, f"{name.lower()} is not a valid package name")
    if not _URL_FRIENDLY.fullmatch(bare):
        raise _refuse(name, "name can only contain URL-friendly characters")
    if len(bare) > MAX_PART_LENGTH:
        raise _refuse(name, f"the name is longer than {MAX_PART_LENGTH} characters")
    return PackageName(scope, bare)


def parse_package_name(name: str) -> PackageName:
    """Split a name any npm registry may serve; raise Invalid when no registry could have it."""
    return _split(name)


def validate_new_package_name(name: str) -> PackageName:
    """Check a name being published, with the public registry's rules for new packages."""
    parsed = _split(name)
    if name.lower() in _CORE_MODULES:
        raise _refuse(name, f"{name} is a core module name")
    if len(name) > MAX_NEW_NAME_LENGTH:
        raise _refuse(name, f"name can no longer contain more than {MAX_NEW_NAME_LENGTH} "
                            "characters")
    if name.lower() != name:
        raise _refuse(name, "name can no longer contain capital letters")
    if _SPECIAL.search(parsed.bare):
        raise _refuse(name, "name can no longer contain special characters (\"~'!()*\")")
    return parsed


def from_codeartifact(namespace: str | None, package: str) -> PackageName:
    """The npm name of a CodeArtifact (namespace, package) pair; raise Invalid for bad parts."""
    if "/" in package:
        raise _refuse(package, 'the package name cannot contain "/"; give the scope as the '
                               "namespace")
    return _split(f"@{namespace}/{package}" if namespace else package)


# -- request paths -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageRequest:
    """What a path under the registry names: a package, and maybe a tarball, version or rev."""

    package: PackageName
    tarball: str | None = None
    """The file name after ``/-/`` (``util-1.0.0.tgz``)."""
    tarball_version: str | None = None
    """The version part of ``tarball``."""
    rev: str | None = None
    """The document revision after ``/-rev/`` (unpublish)."""
    version_or_tag: str | None = None
    """``/<name>/<version-or-tag>``: one version's manifest, as the public registry serves."""


def _bad_path(raw: str, reason: str) -> Invalid:
    return Invalid(f'Invalid package path "{raw}": {reason}.')


def _decode_segment(raw: str, segment: str, *, may_hold_scope: bool = False) -> str:
    """Percent-decode one path segment, refusing separators and dot segments smuggled inside."""
    if _PLAIN_SEGMENT.fullmatch(segment) and segment != "." and segment != "..":
        return segment
    if "\\" in segment:
        raise _bad_path(raw, "backslashes are not allowed")
    try:
        decoded = unquote(segment, errors="strict")
    except UnicodeDecodeError:
        raise _bad_path(raw, "percent-escapes must encode UTF-8") from None
    if "\\" in decoded:
        raise _bad_path(raw, "backslashes are not allowed")
    if decoded in ("", ".", ".."):
        raise _bad_path(raw, "empty, '.' and '..' segments are not allowed")
    if "/" in decoded and not (may_hold_scope and decoded.startswith("@")):
        raise _bad_path(raw, 'an encoded "/" is only allowed between a scope and a name')
    if _CONTROL.search(decoded):
        raise _bad_path(raw, "control characters are not allowed")
    return decoded


def split_package_path(raw_path: str) -> tuple[PackageName, list[str]]:
    """Read the package name at the start of a still percent-encoded path.

    ``raw_path`` is the request's raw path after the registry prefix, without its leading
    ``/`` or query (ASGI ``raw_path``: Starlette's decoded ``path`` has lost the difference
    between ``@s%2fn`` and ``@s/n``). npm sends ``@s%2fn``, pnpm ``@s%2Fn``, yarn 4 builds
    tarball URLs as ``@s%2fn/-/n-1.0.0.tgz``, lockfiles hold ``@s/n/-/n-1.0.0.tgz``; all
    name the same package. Returns the name and the remaining segments, decoded.
    """
    segments = raw_path.split("/")
    first = _decode_segment(raw_path, segments[0], may_hold_scope=True)
    rest = segments[1:]
    if first.startswith("@") and "/" not in first:
        if not rest:
            raise _refuse(first, "a scoped name must have the form @scope/name")
        first = f"{first}/{_decode_segment(raw_path, rest[0])}"
        rest = rest[1:]
    if first.count("/") > 1:
        raise _bad_path(raw_path, 'an encoded "/" is only allowed between a scope and a name')
    name = parse_package_name(first)
    return name, [_decode_segment(raw_path, segment) for segment in rest]


def parse_package_request(raw_path: str) -> PackageRequest:
    """Interpret a path under the registry that starts with a package name.

    Forms: ``<name>`` (packument, publish), ``<name>/-rev/<rev>`` (unpublish), ``<name>/-/<file>``
    (tarball), ``<name>/-/<file>/-rev/<rev>`` (tarball delete), ``<name>/<version-or-tag>``.
    Raises Invalid for a malformed or escaping path and NotFound for an unknown form.
    """
    name, rest = split_package_path(raw_path)
    if not rest:
        return PackageRequest(name)
    if rest[0] == "-rev" and len(rest) == 2:
        return PackageRequest(name, rev=_check_rev(raw_path, rest[1]))
    if rest[0] == "-" and len(rest) in (2, 4):
        if len(rest) == 4 and rest[2] != "-rev":
            raise NotFound(f"Not found: /{raw_path}")
        filename = rest[1]
        prefix = f"{name.bare}-"
        if not (filename.startswith(prefix) and filename.endswith(".tgz")
                and len(filename) > len(prefix) + len(".tgz")):
            raise NotFound(f'"{filename}" is not a tarball of {name.full}')
        rev = _check_rev(raw_path, rest[3]) if len(rest) == 4 else None
        return PackageRequest(name, tarball=filename,
                              tarball_version=filename[len(prefix):-len(".tgz")], rev=rev)
    if len(rest) == 1 and not rest[0].startswith("-"):
        return PackageRequest(name, version_or_tag=rest[0])
    raise NotFound(f"Not found: /{raw_path}")


def _check_rev(raw: str, rev: str) -> str:
    if not _REV.fullmatch(rev):
        raise _bad_path(raw, f'"{rev}" is not a document revision')
    return rev


def parse_dist_tags_path(raw_path: str) -> tuple[PackageName, str | None]:
    """Read ``<name>/dist-tags[/<tag>]``, the path after ``-/package/`` (npm dist-tag).

    npm encodes the tag with encodeURIComponent; it comes back decoded, unchecked (the tag
    rules are in ``dist_tags``).
    """
    name, rest = split_package_path(raw_path)
    if not rest or rest[0] != "dist-tags" or len(rest) > 2:
        raise NotFound(f"Not found: /-/package/{raw_path}")
    return name, (rest[1] if len(rest) == 2 else None)
