"""Package group patterns: syntax, validation messages, strong and weak matching.

Cases follow the CodeArtifact User Guide, "Package group definition syntax and matching
behavior" (its six example patterns, the word-boundary examples, the case-sensitivity and
weak-match examples); the limits come from botocore's PackageGroupPattern shape.
"""

from __future__ import annotations

import pytest

from packyard.errors import Invalid
from packyard.formats.pypi.names import normalize_name
from packyard.package_groups.patterns import (
    ROOT_GROUP,
    Association,
    Component,
    PackageGroupPattern,
    Scope,
    package_path,
    parse_pattern,
    variation,
)

VALID = [
    # The guide's "example patterns for each of the allowed combinations".
    ("/*", Scope.ALL, None, None, None),
    ("/npm/*", Scope.FORMAT, "npm", None, None),
    ("/maven/com.anycompany~", Scope.NAMESPACE_PREFIX, "maven", "com.anycompany", None),
    ("/npm/space/*", Scope.NAMESPACE, "npm", "space", None),
    ("/npm/space/anycompany-ui~", Scope.NAME_PREFIX, "npm", "space", "anycompany-ui"),
    ("/maven/org.apache.logging.log4j/log4j-core$", Scope.NAME, "maven",
     "org.apache.logging.log4j", "log4j-core"),
    # Formats without a namespace leave it empty.
    ("/pypi//requests$", Scope.NAME, "pypi", "", "requests"),
    ("/pypi//*", Scope.NAMESPACE, "pypi", "", None),
    ("/pypi//acme~", Scope.NAME_PREFIX, "pypi", "", "acme"),
    ("/npm//react$", Scope.NAME, "npm", "", "react"),
    # Case sensitive: these are three different groups.
    ("/npm//AsyncStorage$", Scope.NAME, "npm", "", "AsyncStorage"),
    ("/npm//asyncStorage$", Scope.NAME, "npm", "", "asyncStorage"),
    # A prefix may end in any letter or digit, not only ASCII.
    ("/generic/acme/façade~", Scope.NAME_PREFIX, "generic", "acme", "façade"),
    ("/generic/acme/v2~", Scope.NAME_PREFIX, "generic", "acme", "v2"),
]


@pytest.mark.parametrize(("text", "scope", "fmt", "namespace", "name"), VALID,
                         ids=[v[0] for v in VALID])
def test_valid_patterns_parse_and_print_back(text: str, scope: Scope, fmt: str | None,
                                             namespace: str | None, name: str | None) -> None:
    pattern = parse_pattern(text)
    assert pattern == PackageGroupPattern(scope, fmt, namespace, name)
    assert str(pattern) == text


def test_the_root_is_the_root_group() -> None:
    assert parse_pattern("/*") == ROOT_GROUP
    assert ROOT_GROUP.is_root and not parse_pattern("/npm/*").is_root


def _refused(text: str) -> str:
    with pytest.raises(Invalid) as err:
        parse_pattern(text)
    assert err.value.resource_type == "package-group"
    return err.value.message


INVALID = [
    ("/", "a pattern has 2 to 520 characters, not 1"),
    ("/npm/" + "a" * 515 + "~", "a pattern has 2 to 520 characters, not 521"),
    ("/npm/space /*", "it contains U+0020 (SPACE); a pattern has no whitespace or control "
                      "characters"),
    ("/npm/a\u200bb~", "it contains U+200B (ZERO WIDTH SPACE); a pattern has no whitespace or "
                       "control characters"),
    ("npm/*", "a pattern is a package path: it starts with / and the package format, as in "
              "/pypi/*"),
    ("/npm/space", "a pattern ends with * (every value of the next component), ~ (a prefix) or "
                   "$ (one package), as in /npm/*, /npm/space/ui~ or /pypi//requests$"),
    ("/npm/space/foo*", "* follows a / and matches every value of the next component; for a "
                        "prefix match use ~, as in /npm/space/foo~"),
    ("/npm/space/foo-*", "* follows a / and matches every value of the next component; for a "
                         "prefix match use ~ after a letter or digit"),
    ("/npm/space/name/*", "* matches every format (/*), every namespace of a format (/npm/*) "
                          "or every name in a namespace (/npm/space/*); for one package end "
                          "the name with $"),
    ("/npm~", "a package format cannot be matched by prefix; use /npm/* for every package of "
              "a format"),
    ("/npm/a/b/c~", "a pattern has at most three components: format, namespace and name"),
    ("/npm/react$", "$ matches one package: give its format, namespace and name, as in "
                    "/npm/space/ui-core$ (an empty namespace is //, as in /pypi//requests$)"),
    ("/npm/space/$", "the package name is missing before $"),
    ("//*", "the package format is missing after the first /"),
    ("/Npm/*", '"Npm" is not a package format (one of npm, pypi, maven, nuget, generic, ruby, '
               'swift, cargo)'),
    ("/docker/*", '"docker" is not a package format (one of npm, pypi, maven, nuget, generic, '
                  'ruby, swift, cargo)'),
    # The word boundary: ~ follows a word character, never punctuation.
    ("/npm/space/foo-~", '~ matches at a word boundary, so its prefix must end with a letter '
                         'or digit; "foo-" ends with "-"'),
    ("/maven/com.~", '~ matches at a word boundary, so its prefix must end with a letter or '
                     'digit; "com." ends with "."'),
    ("/npm/space/~", "~ needs a prefix before it; to match every value use /npm/space/*"),
    ("/npm/~", "~ needs a prefix before it; to match every value use /npm/*"),
    ("/npm/sp*ce/*", "* may only end the pattern"),
    ("/npm/a~b/*", "~ may only end the pattern"),
    ("/npm/a/b$c$", "$ may only end the pattern"),
    ("/npm/a/b#c$", "a package path component cannot contain #"),
    ("/npm/a/" + "n" * 256 + "$", "a component has at most 255 characters"),
    # Namespaces: none for Python and NuGet, always one for Maven, generic and Swift.
    ("/pypi/acme/requests$", "pypi packages have no namespace: leave it empty, as in "
                             "/pypi//requests$"),
    ("/nuget/acme/*", "nuget packages have no namespace: leave it empty, as in /nuget//*"),
    ("/pypi/acme~", "pypi packages have no namespace, so no namespace prefix matches them; use "
                    "/pypi/* for all of them"),
    ("/maven//log4j-core$", "maven packages always have a namespace (its groupId), so an empty "
                            "one (//) matches none of them"),
    ("/generic//*", "generic packages always have a namespace (its namespace), so an empty one "
                    "(//) matches none of them"),
    ("/swift//core~", "swift packages always have a namespace (its scope), so an empty one "
                      "(//) matches none of them"),
]


@pytest.mark.parametrize(("text", "reason"), INVALID, ids=[i[0][:40] for i in INVALID])
def test_invalid_patterns_say_why(text: str, reason: str) -> None:
    assert _refused(text) == f'Invalid package group pattern "{text}": {reason}'


def _pypi_normalizer(fmt: str, component: Component, value: str) -> str:
    return normalize_name(value) if fmt == "pypi" else value


@pytest.mark.parametrize(("text", "expected"), [
    ("/pypi//My_Package$", "my-package"),
    ("/pypi//Acme.Internal~", "acme-internal"),
])
def test_names_of_normalizing_formats_must_be_written_normalized(text: str,
                                                                 expected: str) -> None:
    written = text.split("/")[-1][:-1]
    with pytest.raises(Invalid) as err:
        parse_pattern(text, normalize=_pypi_normalizer)
    assert err.value.message == (
        f'Invalid package group pattern "{text}": pypi package names are stored and matched '
        f'normalized: write "{expected}" instead of "{written}"')


def test_normalized_names_and_other_formats_pass_the_normalizer() -> None:
    assert parse_pattern("/pypi//my-package$", normalize=_pypi_normalizer).name == "my-package"
    assert parse_pattern("/npm//My_Package$", normalize=_pypi_normalizer).name == "My_Package"


MATCHES = [
    # The guide's word-boundary example.
    ("/npm/space/foo~", "npm", "space", "foo", Association.STRONG),
    ("/npm/space/foo~", "npm", "space", "foo-bar", Association.STRONG),
    ("/npm/space/foo~", "npm", "space", "foo.bar", Association.STRONG),
    ("/npm/space/foo~", "npm", "space", "food", None),
    ("/npm/space/foo~", "npm", "space", "foot", None),
    ("/npm/space/foo~", "npm", "other", "foo", None),
    # "there is no word boundary in oneword or OneWord"
    ("/npm//one~", "npm", None, "oneword", None),
    ("/npm//One~", "npm", None, "OneWord", None),
    # A mark continues a word: "café" does not start with the word "cafe".
    ("/npm//cafe~", "npm", None, "cafe\u0301", None),
    ("/npm//caf~", "npm", None, "caf-e", Association.STRONG),
    ("/*", "pypi", None, "requests", Association.STRONG),
    ("/npm/*", "npm", "space", "anything", Association.STRONG),
    ("/npm/*", "pypi", None, "anything", None),
    ("/maven/com.anycompany~", "maven", "com.anycompany", "app", Association.STRONG),
    ("/maven/com.anycompany~", "maven", "com.anycompany.tools", "app", Association.STRONG),
    ("/maven/com.anycompany~", "maven", "com.anycompanyx", "app", None),
    ("/npm//*", "npm", None, "react", Association.STRONG),
    ("/npm//*", "npm", "space", "react", None),
    ("/pypi//requests$", "pypi", None, "requests", Association.STRONG),
    ("/pypi//requests$", "pypi", "", "requests", Association.STRONG),
    ("/pypi//requests$", "pypi", None, "requests2", None),
    # Case sensitivity: variations that differ by case match weakly.
    ("/npm//AsyncStorage$", "npm", None, "AsyncStorage", Association.STRONG),
    ("/npm//AsyncStorage$", "npm", None, "asyncStorage", Association.WEAK),
    ("/npm//AsyncStorage$", "npm", None, "asyncstorage", Association.WEAK),
    # "foo-bar, foo.bar, foo..bar, and foo_bar are all weak match equivalents, but foobar is not"
    ("/npm//foo-bar$", "npm", None, "foo.bar", Association.WEAK),
    ("/npm//foo-bar$", "npm", None, "foo..bar", Association.WEAK),
    ("/npm//foo-bar$", "npm", None, "foo_bar", Association.WEAK),
    ("/npm//foobar$", "npm", None, "foo-bar", None),
    # "com.act-on could still be confused with com.act.on"
    ("/maven/com.act-on/*", "maven", "com.act.on", "lib", Association.WEAK),
    # Weak prefixes and namespaces.
    ("/npm/space/anycompany~", "npm", "space", "AnyCompany-ui", Association.WEAK),
    ("/npm/space/*", "npm", "Space", "ui", Association.WEAK),
    ("/npm/space/ui$", "npm", "Space", "ui", Association.WEAK),
    # Compatibility forms fold (full-width letters); other scripts' look-alikes do not.
    ("/npm//react$", "npm", None, "ｒｅａｃｔ", Association.WEAK),
    ("/npm//react$", "npm", None, "re\u0430ct", None),  # Cyrillic a
]


@pytest.mark.parametrize(("text", "fmt", "namespace", "name", "expected"), MATCHES,
                         ids=[f"{m[0]}-{package_path(m[1], m[2], m[3])}" for m in MATCHES])
def test_matching(text: str, fmt: str, namespace: str | None, name: str,
                  expected: Association | None) -> None:
    assert parse_pattern(text).match(fmt, namespace, name) is expected


def test_variation_folds_case_and_separator_runs() -> None:
    assert variation("Foo__Bar.-baz") == "foo.bar.baz"
    assert variation("FOOBAR") == "foobar"


def test_specificity_orders_the_chain_of_groups_one_package_matches() -> None:
    chain = ["/*", "/npm/*", "/npm/sp~", "/npm/space~", "/npm/space/*", "/npm/space/any~",
             "/npm/space/anycompany~", "/npm/space/anycompany-ui~",
             "/npm/space/anycompany-ui-components$"]
    patterns = [parse_pattern(p) for p in chain]
    assert sorted(patterns, key=lambda p: p.specificity) == patterns


CONTAINS = [
    ("/*", "/npm/*", True),
    ("/npm/*", "/*", False),
    ("/npm/*", "/npm/*", False),  # proper subsets only
    ("/npm/*", "/npm/space/*", True),
    ("/npm/*", "/pypi//*", False),
    ("/pypi/*", "/pypi//*", True),
    ("/pypi//*", "/pypi//acme~", True),
    ("/pypi//acme~", "/pypi//acme-tools~", True),
    ("/pypi//acme~", "/pypi//acmetools~", False),
    ("/pypi//acme~", "/pypi//acme$", True),
    ("/pypi//acme~", "/pypi//acme-cli$", True),
    ("/pypi//acme$", "/pypi//acme$", False),
    ("/maven/com~", "/maven/com.anycompany~", True),
    ("/maven/com.anycompany~", "/maven/com.anycompany/*", True),
    ("/maven/com.anycompany~", "/maven/com.anycompany.tools/app$", True),
    ("/maven/com.anycompany~", "/maven/com.anycompanyx/*", False),
    ("/maven/com.anycompany~", "/maven/*", False),
    ("/npm/space/*", "/npm/space/ui~", True),
    ("/npm/space/*", "/npm/other/ui~", False),
    ("/npm/space/*", "/npm/Space/ui$", False),  # containment is exact, not weak
    ("/npm/space/ui~", "/npm/space/*", False),
]


@pytest.mark.parametrize(("outer", "inner", "expected"), CONTAINS,
                         ids=[f"{c[0]} > {c[1]}" for c in CONTAINS])
def test_contains(outer: str, inner: str, expected: bool) -> None:
    assert parse_pattern(outer).contains(parse_pattern(inner)) is expected


def test_namespaces_are_checked_by_the_normalizer_too() -> None:
    def lower_swift(fmt: str, component: Component, value: str) -> str:
        return value.lower() if fmt == "swift" else value

    assert parse_pattern("/swift/acme/*", normalize=lower_swift).namespace == "acme"
    with pytest.raises(Invalid) as err:
        parse_pattern("/swift/Acme/*", normalize=lower_swift)
    assert err.value.message == ('Invalid package group pattern "/swift/Acme/*": swift package '
                                 'namespaces are stored and matched normalized: write "acme" '
                                 'instead of "Acme"')


def test_a_prefix_of_marks_alone_ends_no_word() -> None:
    # A word starts with a letter or digit; a combining mark after "-" starts none.
    assert _refused("/npm//a-\u0301~") == (
        'Invalid package group pattern "/npm//a-\u0301~": ~ matches at a word boundary, so its '
        'prefix must end with a letter or digit; "a-\u0301" ends with "\u0301"')
    assert _refused("/npm//\u0301~").endswith('"\u0301" ends with "\u0301"')
    assert parse_pattern("/npm//cafe\u0301~").name == "cafe\u0301"
