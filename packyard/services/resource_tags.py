"""Tags on domains, repositories and package groups: TagResource, UntagResource,
ListTagsForResource, and the resource tags every authorization decision sees.

The limits and what each operation does to a resource's tags are ``packyard.tagging``'s rules.
``ResourceTagLookup`` gives the authorizer a resource's tags by its ARN for the
``aws:ResourceTag/…`` condition keys, kept in memory until the next write of the catalog that
can change access (its access stamp: a tag change, a resource deleted or made again), here or
announced by another process (``services/cache_invalidation.py``; at most ``TTL_SECONDS``
when unannounced). A publish or a pull-through keep leaves them in place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from packyard.arn import TaggableResource, parse_taggable
from packyard.auth.principal import Principal
from packyard.errors import Invalid, NotFound
from packyard.metadata.catalog import Catalog
from packyard.policy.tags import tag_context
from packyard.services.registry import Registry
from packyard.tagging.resource_tags import tag_list, tag_resource, tags_from_list, untag_resource
from packyard.ttl_cache import TtlCache

TTL_SECONDS: Final = 2.0
_NO_TAGS: Final[Mapping[str, str]] = {}


class ResourceTagLookup:
    """A resource's tags by ARN, for the authorizer (``Authorizer(resource_tags=...)``)."""

    def __init__(self, catalog: Catalog, region: str, account_id: str) -> None:
        self._catalog = catalog
        self._region = region
        self._account_id = account_id
        self._cache: TtlCache[str, Mapping[str, str]] = TtlCache(
            ttl_seconds=TTL_SECONDS, max_entries=4096, version=catalog.access_changes.stamp)

    def __call__(self, resource_arn: str) -> Mapping[str, str]:
        # Package ARNs (most decisions) take no tags: answered without a cache slot, so they
        # cannot push the domains' and repositories' tags out of it.
        if resource_arn.split(":", 5)[-1].startswith("package/"):
            return _NO_TAGS
        cached = self._cache.get(resource_arn)
        if cached is not None:
            return cached
        version = self._cache.version()
        resource = parse_taggable(resource_arn)
        tags: Mapping[str, str] = _NO_TAGS
        if resource is not None and resource.region == self._region:
            tags = self._catalog.resource_tags(resource.kind, resource.owner, resource.domain,
                                               resource.name) or _NO_TAGS
        self._cache.put(resource_arn, tags, version=version)
        return tags


class ResourceTags:
    """TagResource, UntagResource and ListTagsForResource."""

    def __init__(self, registry: Registry) -> None:
        self._catalog = registry.catalog
        self._authorizer = registry.authorizer
        self._region = registry.arns.region

    def _resource(self, arn: str) -> TaggableResource:
        resource = parse_taggable(arn)
        if resource is None:
            raise Invalid(f"{arn} is not the ARN of a CodeArtifact domain, repository or "
                          "package group (the resources that take tags)",
                          resource_id=arn)
        if resource.region != self._region:
            raise NotFound(f"{arn} is in region {resource.region}; this server serves "
                           f"{self._region}", resource_id=arn)
        return resource

    def tag(self, principal: Principal, arn: str,
            tags: Sequence[Mapping[str, str]]) -> None:
        new = tags_from_list(tags)
        resource = self._resource(arn)
        self._authorizer.check(principal, "codeartifact:TagResource", arn,
                               tag_context(request_tags=new))
        self._catalog.change_resource_tags(resource.kind, resource.owner, resource.domain,
                                           resource.name,
                                           lambda current: tag_resource(current, new))

    def untag(self, principal: Principal, arn: str, keys: Sequence[str]) -> None:
        resource = self._resource(arn)
        self._authorizer.check(principal, "codeartifact:UntagResource", arn,
                               tag_context(tag_keys=keys))
        self._catalog.change_resource_tags(resource.kind, resource.owner, resource.domain,
                                           resource.name,
                                           lambda current: untag_resource(current, keys))

    def list_tags(self, principal: Principal, arn: str) -> list[dict[str, str]]:
        resource = self._resource(arn)
        self._authorizer.check(principal, "codeartifact:ListTagsForResource", arn)
        tags = self._catalog.resource_tags(resource.kind, resource.owner, resource.domain,
                                           resource.name)
        if tags is None:
            # Named as TagResource and UntagResource name it (catalog.change_resource_tags).
            raise NotFound(f"Resource {arn} not found",
                           resource_id=resource.name or resource.domain,
                           resource_type=resource.kind)
        return tag_list(tags)
