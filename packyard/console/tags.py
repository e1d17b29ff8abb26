"""The console's resource tags: a domain's or a repository's tags, and adding or removing one.

Every read and change goes through ``ResourceTags``, the service the API's ListTagsForResource,
TagResource and UntagResource call, authorized there for the signed-in principal: a principal
without ListTagsForResource sees why the tags are not shown, never the tags. ``may`` only
decides which forms to offer (the service checks again, with the tag keys and values as
condition keys).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from packyard.auth.principal import Principal
from packyard.console.services import ConsoleServices, Section, section


@dataclass(frozen=True)
class TagsView:
    """A resource's tags as its page shows them, with the forms offered."""

    tags: Section[list[dict[str, str]]] = field(default_factory=Section)
    can_tag: bool = False
    can_untag: bool = False


def tags_view(c: ConsoleServices, p: Principal, arn: str) -> TagsView:
    return TagsView(section(lambda: c.tags.list_tags(p, arn)),
                    c.may(p, "codeartifact:TagResource", arn),
                    c.may(p, "codeartifact:UntagResource", arn))


def resource_arn(c: ConsoleServices, domain: str, repository: str | None) -> str:
    """The ARN of the domain, or of its repository when one is named."""
    if repository is None:
        return c.registry.arns.domain(domain)
    return c.registry.arns.repository(domain, repository)


def add_tag(c: ConsoleServices, p: Principal, arn: str, key: str, value: str) -> None:
    """TagResource with one tag (a key it has already takes the new value), as the API."""
    c.tags.tag(p, arn, [{"key": key, "value": value}])


def remove_tag(c: ConsoleServices, p: Principal, arn: str, key: str) -> None:
    """UntagResource of one key, as the API (a key the resource has not is no error)."""
    c.tags.untag(p, arn, [key])
