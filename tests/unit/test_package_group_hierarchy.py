"""The package group a package belongs to, and the parent/child relations between groups.

Cases follow the CodeArtifact User Guide, "Package group hierarchy and pattern specificity" and
"Strong and weak match", and the API reference of ListSubPackageGroups ("direct children")
and DeletePackageGroup (children move to the deleted group's parent).
"""

from __future__ import annotations

import pytest

from packyard.package_groups.hierarchy import (
    AssociatedGroup,
    ancestors,
    associated_group,
    parent_group,
    sub_groups,
)
from packyard.package_groups.patterns import (
    ROOT_GROUP,
    Association,
    PackageGroupPattern,
    parse_pattern,
)


def groups(*texts: str) -> list[PackageGroupPattern]:
    return [parse_pattern(t) for t in texts]


STRONG, WEAK = Association.STRONG, Association.WEAK

ASSOCIATIONS = [
    # The guide: given /npm/* and /npm/space/*, /npm//react belongs to the first,
    # /npm/space/aui.components and /npm/space/amplify-ui-core to the second.
    (("/npm/*", "/npm/space/*"), ("npm", None, "react"), "/npm/*", STRONG),
    (("/npm/*", "/npm/space/*"), ("npm", "space", "aui.components"), "/npm/space/*", STRONG),
    (("/npm/*", "/npm/space/*"), ("npm", "space", "amplify-ui-core"), "/npm/space/*", STRONG),
    # The root holds whatever no other group matches, listed or not.
    (("/npm/*",), ("pypi", None, "requests"), "/*", STRONG),
    ((), ("pypi", None, "requests"), "/*", STRONG),
    (("/*", "/pypi/*"), ("pypi", None, "requests"), "/pypi/*", STRONG),
    # Longest matching prefix.
    (("/npm/space/any~", "/npm/space/anycompany~", "/npm/space/anycompany-ui~"),
     ("npm", "space", "anycompany-ui-components"), "/npm/space/anycompany-ui~", STRONG),
    (("/npm/space/any~", "/npm/space/anycompany~", "/npm/space/anycompany-ui~"),
     ("npm", "space", "anycompany-cli"), "/npm/space/anycompany~", STRONG),
    # A namespace prefix is less specific than the exact namespace.
    (("/maven/com.anycompany~", "/maven/com.anycompany/*"),
     ("maven", "com.anycompany", "app"), "/maven/com.anycompany/*", STRONG),
    (("/maven/com.anycompany~", "/maven/com.anycompany/*"),
     ("maven", "com.anycompany.tools", "app"), "/maven/com.anycompany~", STRONG),
    # The guide's weak-match example: the exact casing is strong, another casing weak, and
    # neither rolls up to /npm/*.
    (("/npm/*", "/npm//anycompany-spicy-client$"), ("npm", None, "anycompany-spicy-client"),
     "/npm//anycompany-spicy-client$", STRONG),
    (("/npm/*", "/npm//anycompany-spicy-client$"), ("npm", None, "AnyCompany-spicy-client"),
     "/npm//anycompany-spicy-client$", WEAK),
    (("/npm/*", "/npm//anycompany-spicy-client$"), ("npm", None, "anycompany.spicy_client"),
     "/npm//anycompany-spicy-client$", WEAK),
    # Case sensitivity: three groups for three packages that differ by case; each is strong in
    # its own group.
    (("/npm//AsyncStorage$", "/npm//asyncStorage$", "/npm//asyncstorage$"),
     ("npm", None, "asyncStorage"), "/npm//asyncStorage$", STRONG),
    # A strong match wins over a weak one of the same specificity, whatever the order.
    (("/npm//asyncstorage$", "/npm//AsyncStorage$"), ("npm", None, "AsyncStorage"),
     "/npm//AsyncStorage$", STRONG),
    (("/npm//AsyncStorage$", "/npm//asyncstorage$"), ("npm", None, "AsyncStorage"),
     "/npm//AsyncStorage$", STRONG),
    # Between two weak ones, the first pattern in sort order, whatever the listing order.
    (("/npm//asyncstorage$", "/npm//AsyncStorage$"), ("npm", None, "ASYNCSTORAGE"),
     "/npm//AsyncStorage$", WEAK),
    (("/npm//AsyncStorage$", "/npm//asyncstorage$"), ("npm", None, "ASYNCSTORAGE"),
     "/npm//AsyncStorage$", WEAK),
    # A weak match of a more specific group beats a strong match of a general one.
    (("/pypi/*", "/pypi//acme-internal~"), ("pypi", None, "acme_internal-tools"),
     "/pypi//acme-internal~", WEAK),
]


@pytest.mark.parametrize(("listed", "package", "expected", "association"), ASSOCIATIONS)
def test_associated_group(listed: tuple[str, ...], package: tuple[str, str | None, str],
                          expected: str, association: Association) -> None:
    assert associated_group(groups(*listed), *package) == AssociatedGroup(
        parse_pattern(expected), association)


DOMAIN = groups("/*", "/npm/*", "/npm/space/*", "/npm/space/anycompany~",
                "/npm/space/anycompany-ui~", "/npm/space/anycompany-ui-core$",
                "/npm/space/other$", "/pypi/*", "/pypi//acme~", "/maven/com~",
                "/maven/com.anycompany~", "/maven/com.anycompany/app$")

PARENTS = [
    ("/*", None),
    ("/npm/*", "/*"),
    ("/npm/space/*", "/npm/*"),
    ("/npm/space/anycompany~", "/npm/space/*"),
    ("/npm/space/anycompany-ui~", "/npm/space/anycompany~"),
    ("/npm/space/anycompany-ui-core$", "/npm/space/anycompany-ui~"),
    ("/npm/space/other$", "/npm/space/*"),
    ("/pypi//acme~", "/pypi/*"),
    ("/maven/com.anycompany~", "/maven/com~"),
    ("/maven/com.anycompany/app$", "/maven/com.anycompany~"),
    ("/maven/com~", "/*"),
    # A pattern that is not (yet) a group has a parent too: where it would go.
    ("/npm/space/anycompany-cli$", "/npm/space/anycompany~"),
    ("/swift/acme/*", "/*"),
]


@pytest.mark.parametrize(("group", "parent"), PARENTS)
def test_parent_group(group: str, parent: str | None) -> None:
    expected = parse_pattern(parent) if parent else None
    assert parent_group(parse_pattern(group), DOMAIN) == expected


def test_the_root_is_every_groups_parent_when_it_is_not_listed() -> None:
    assert parent_group(parse_pattern("/npm/*"), groups("/npm/*")) == ROOT_GROUP


SUB_GROUPS = [
    ("/*", ["/maven/com~", "/npm/*", "/pypi/*"]),
    ("/npm/*", ["/npm/space/*"]),
    ("/npm/space/*", ["/npm/space/anycompany~", "/npm/space/other$"]),
    ("/npm/space/anycompany~", ["/npm/space/anycompany-ui~"]),
    ("/npm/space/anycompany-ui-core$", []),
    ("/maven/com~", ["/maven/com.anycompany~"]),
]


@pytest.mark.parametrize(("group", "children"), SUB_GROUPS)
def test_sub_groups_are_direct_children_only(group: str, children: list[str]) -> None:
    assert [g.text for g in sub_groups(parse_pattern(group), DOMAIN)] == children


def test_deleting_a_group_moves_its_children_to_its_parent() -> None:
    deleted = parse_pattern("/npm/space/*")
    remaining = [g for g in DOMAIN if g != deleted]
    assert [g.text for g in sub_groups(parse_pattern("/npm/*"), remaining)] == [
        "/npm/space/anycompany~", "/npm/space/other$"]
    assert parent_group(parse_pattern("/npm/space/other$"), remaining) == parse_pattern(
        "/npm/*")


def test_ancestors_run_from_the_parent_up_to_the_root() -> None:
    assert [g.text for g in ancestors(parse_pattern("/npm/space/anycompany-ui-core$"),
                                      DOMAIN)] == [
        "/npm/space/anycompany-ui~", "/npm/space/anycompany~", "/npm/space/*", "/npm/*", "/*"]
    assert ancestors(ROOT_GROUP, DOMAIN) == []
