"""npm package names: the public registry's rules, CodeArtifact's split, and request paths."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from packyard.errors import Invalid, NotFound
from packyard.formats.npm.names import (
    PackageName,
    PackageRequest,
    _decode_segment,
    from_codeartifact,
    parse_dist_tags_path,
    parse_package_name,
    parse_package_request,
    validate_new_package_name,
)

DEMO = PackageName(None, "demo-lib")
ACME = PackageName("acme", "util")


@pytest.mark.parametrize(("name", "scope", "bare"), [
    ("demo-lib", None, "demo-lib"),
    ("@acme/util", "acme", "util"),
    ("a", None, "a"),
    ("@a-b~c/x.y_z", "a-b~c", "x.y_z"),
    ("@acme/_private", "acme", "_private"),  # validate-npm-package-name checks the whole name
    ("@~tilde/x", "~tilde", "x"),
    ("x" * 214, None, "x" * 214),
])
def test_valid_new_names(name: str, scope: str | None, bare: str) -> None:
    assert validate_new_package_name(name) == PackageName(scope, bare)


@pytest.mark.parametrize(("name", "reason"), [
    ("", "name length must be greater than zero"),
    (".hidden", "name cannot start with a period"),
    ("_private", "name cannot start with an underscore"),
    ("-dash", "name cannot start with a hyphen"),
    (" demo", "name cannot contain leading or trailing spaces"),
    ("node_modules", "node_modules is not a valid package name"),
    ("favicon.ico", "favicon.ico is not a valid package name"),
    ("http", "http is a core module name"),
    ("Demo", "name can no longer contain capital letters"),
    ("@acme/Util", "name can no longer contain capital letters"),
    ("x" * 215, "name can no longer contain more than 214 characters"),
    ("demo!", "name can no longer contain special characters (\"~'!()*\")"),
    ("a b", "name can only contain URL-friendly characters"),
    ("démo", "name can only contain URL-friendly characters"),
    ("@acme/a/b", "name can only contain URL-friendly characters"),
    ("@Acme/util", 'the scope "@Acme" must start with a lowercase letter, digit, "-" or "~" and '
                   'contain only lowercase letters, digits and "-._~"'),
    ("@.acme/util", 'the scope "@.acme" must start with a lowercase letter, digit, "-" or "~" '
                    'and contain only lowercase letters, digits and "-._~"'),
    ("@/util", 'the scope "@" must start with a lowercase letter, digit, "-" or "~" and contain '
               'only lowercase letters, digits and "-._~"'),
    ("@acme..x/util", 'name cannot contain ".."'),
    ("@../util", 'name cannot contain ".."'),
    ("@acme/..", 'name cannot contain ".."'),
    ("a..b", 'name cannot contain ".."'),
    ("@acme", "a scoped name must have the form @scope/name"),
    ("@acme/", "a scoped name must have the form @scope/name"),
    ("@acme/.util", "name cannot start with a period"),
])
def test_invalid_new_names(name: str, reason: str) -> None:
    with pytest.raises(Invalid) as caught:
        validate_new_package_name(name)
    assert caught.value.message == f'Invalid package name "{name}": {reason}.'


@pytest.mark.parametrize("name", ["JSONStream", "http", "demo!", "x" * 250, "@acme/Util"])
def test_names_still_served_are_readable(name: str) -> None:
    # The public registry still serves packages from before today's rules (JSONStream).
    assert parse_package_name(name).full == name


@pytest.mark.parametrize("name", ["x" * 256, ".x", "a..b", "@Acme/util", "a b"])
def test_names_no_registry_has_are_not_readable(name: str) -> None:
    with pytest.raises(Invalid):
        parse_package_name(name)


def test_the_forms_of_a_name() -> None:
    assert (ACME.full, ACME.namespace, ACME.escaped) == ("@acme/util", "acme", "@acme%2futil")
    assert (DEMO.full, DEMO.namespace, DEMO.escaped) == ("demo-lib", "", "demo-lib")
    # npm keys the attachment by the full name but puts the bare one in the URL's file name.
    assert ACME.attachment_name("1.0.0") == "@acme/util-1.0.0.tgz"
    assert ACME.tarball_filename("1.0.0") == "util-1.0.0.tgz"
    assert ACME.tarball_path("1.0.0") == "@acme/util/-/util-1.0.0.tgz"
    assert DEMO.tarball_path("2.0.0-rc.1") == "demo-lib/-/demo-lib-2.0.0-rc.1.tgz"


@pytest.mark.parametrize(("namespace", "package", "expected"), [
    ("acme", "util", ACME),
    (None, "demo-lib", DEMO),
    ("", "demo-lib", DEMO),
])
def test_from_codeartifact(namespace: str | None, package: str, expected: PackageName) -> None:
    assert from_codeartifact(namespace, package) == expected


@pytest.mark.parametrize(("namespace", "package", "message"), [
    ("Acme", "util", 'Invalid package name "@Acme/util": the scope "@Acme" must start with a '
                     'lowercase letter, digit, "-" or "~" and contain only lowercase letters, '
                     'digits and "-._~".'),
    (None, "acme/util", 'Invalid package name "acme/util": the package name cannot contain "/"; '
                        "give the scope as the namespace."),
])
def test_from_codeartifact_refuses(namespace: str | None, package: str, message: str) -> None:
    with pytest.raises(Invalid) as caught:
        from_codeartifact(namespace, package)
    assert caught.value.message == message


@pytest.mark.parametrize(("raw", "expected"), [
    ("demo-lib", PackageRequest(DEMO)),
    ("@acme%2futil", PackageRequest(ACME)),  # npm
    ("@acme%2Futil", PackageRequest(ACME)),  # pnpm
    ("%40acme%2futil", PackageRequest(ACME)),
    ("@acme/util", PackageRequest(ACME)),
    ("@acme/util/-/util-1.0.0.tgz",  # lockfiles, npm ci
     PackageRequest(ACME, tarball="util-1.0.0.tgz", tarball_version="1.0.0")),
    ("@acme%2futil/-/util-1.0.0.tgz",  # yarn 4 rebuilds tarball URLs encoded
     PackageRequest(ACME, tarball="util-1.0.0.tgz", tarball_version="1.0.0")),
    ("@acme%2Futil/-/util-1.0.0.tgz",
     PackageRequest(ACME, tarball="util-1.0.0.tgz", tarball_version="1.0.0")),
    ("demo-lib/-/demo-lib-1.0.0-beta.1.tgz",
     PackageRequest(DEMO, tarball="demo-lib-1.0.0-beta.1.tgz", tarball_version="1.0.0-beta.1")),
    ("demo-lib/-rev/3-0a1b2c", PackageRequest(DEMO, rev="3-0a1b2c")),
    ("demo-lib/-/demo-lib-1.1.0.tgz/-rev/3-0a1b2c",  # npm unpublish pkg@1.1.0
     PackageRequest(DEMO, tarball="demo-lib-1.1.0.tgz", tarball_version="1.1.0", rev="3-0a1b2c")),
    ("@acme/util/-rev/1-ff", PackageRequest(ACME, rev="1-ff")),
    ("demo-lib/1.0.0", PackageRequest(DEMO, version_or_tag="1.0.0")),
    ("@acme%2futil/latest", PackageRequest(ACME, version_or_tag="latest")),
])
def test_request_paths(raw: str, expected: PackageRequest) -> None:
    assert parse_package_request(raw) == expected


@pytest.mark.parametrize(("raw", "reason"), [
    ("demo-lib%2f..%2f..%2fetc", 'an encoded "/" is only allowed between a scope and a name'),
    ("demo-lib/-/..%2fdemo-lib-1.0.0.tgz",
     'an encoded "/" is only allowed between a scope and a name'),
    ("@acme%2futil%2fextra", 'an encoded "/" is only allowed between a scope and a name'),
    ("..", "empty, '.' and '..' segments are not allowed"),
    ("demo-lib/../secret", "empty, '.' and '..' segments are not allowed"),
    ("demo-lib/./x", "empty, '.' and '..' segments are not allowed"),
    ("demo-lib/-/.", "empty, '.' and '..' segments are not allowed"),
    ("demo-lib/%2e%2e/x", "empty, '.' and '..' segments are not allowed"),
    ("demo-lib//-/x.tgz", "empty, '.' and '..' segments are not allowed"),
    ("demo-lib\\..\\x", "backslashes are not allowed"),
    ("demo-lib/%5c..", "backslashes are not allowed"),
    ("demo%00lib", "control characters are not allowed"),
    ("demo\x01lib", "control characters are not allowed"),  # raw: not the plain fast path
    ("demo-lib/-/x\x7f.tgz", "control characters are not allowed"),
    ("demo%ff", "percent-escapes must encode UTF-8"),
    ("demo-lib/-rev/not%20a%20rev", '"not a rev" is not a document revision'),
])
def test_escaping_paths_are_refused(raw: str, reason: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_package_request(raw)
    assert caught.value.message == f'Invalid package path "{raw}": {reason}.'


@pytest.mark.parametrize(("raw", "message"), [
    ("@Acme%2futil", 'Invalid package name "@Acme/util": the scope "@Acme" must start with a '
                     'lowercase letter, digit, "-" or "~" and contain only lowercase letters, '
                     'digits and "-._~".'),
    ("@acme%2f..", 'Invalid package name "@acme/..": name cannot contain "..".'),
    ("@acme", 'Invalid package name "@acme": a scoped name must have the form @scope/name.'),
])
def test_bad_names_in_paths(raw: str, message: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_package_request(raw)
    assert caught.value.message == message


@pytest.mark.parametrize(("raw", "message"), [
    ("demo-lib/-/other-1.0.0.tgz", '"other-1.0.0.tgz" is not a tarball of demo-lib'),
    ("demo-lib/-/demo-lib-.tgz", '"demo-lib-.tgz" is not a tarball of demo-lib'),
    ("@acme/util/-/@acme/util-1.0.0.tgz", "Not found: /@acme/util/-/@acme/util-1.0.0.tgz"),
    ("demo-lib/1.0.0/extra", "Not found: /demo-lib/1.0.0/extra"),
    ("demo-lib/-/x.tgz/rev/1", "Not found: /demo-lib/-/x.tgz/rev/1"),
    ("demo-lib/-whatever", "Not found: /demo-lib/-whatever"),
])
def test_unknown_forms_are_not_found(raw: str, message: str) -> None:
    with pytest.raises(NotFound) as caught:
        parse_package_request(raw)
    assert caught.value.message == message


@pytest.mark.parametrize(("raw", "expected"), [
    ("demo-lib/dist-tags", (DEMO, None)),
    ("@acme%2futil/dist-tags", (ACME, None)),
    ("@acme%2futil/dist-tags/beta", (ACME, "beta")),
    ("demo-lib/dist-tags/next%2Dversion", (DEMO, "next-version")),
])
def test_dist_tag_paths(raw: str, expected: tuple[PackageName, str | None]) -> None:
    assert parse_dist_tags_path(raw) == expected


@pytest.mark.parametrize("raw", ["demo-lib", "demo-lib/tags", "demo-lib/dist-tags/a/b"])
def test_other_package_api_paths_are_not_found(raw: str) -> None:
    with pytest.raises(NotFound):
        parse_dist_tags_path(raw)


# Every character a plain segment may hold (RFC 3986 pchar without "%"), and some that make a
# segment take the decoding way.
_PCHARS = "azAZ09-._~!$&'()*+,;=:@"


@pytest.mark.parametrize("segment", [
    _PCHARS, "util-1.0.0.tgz", "@acme", "a.b", "...", "a..b", "latest", "1.0.0-beta.1+build.7",
    "%40acme", "caf%C3%A9", "a%20b", "a b", "caf\u00e9",
])
def test_a_plain_segment_reads_as_its_decoding_would(segment: str) -> None:
    """The fast path for segments with nothing to decode gives what decoding gives."""
    assert _decode_segment(segment, segment) == unquote(segment, errors="strict")
