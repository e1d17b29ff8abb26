"""What the console is built on: the same services as the API, and the helpers its pages share.

Every page calls these services with the signed-in principal, so each read and each action is
authorized by the one ``Authorizer`` exactly as the API would authorize it. ``may`` asks the
same authorizer whether to offer an action at all: a principal sees the buttons it may use,
and a forged request for one it may not is refused by the service (403) all the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Generic, TypeVar

from packyard.auth.principal import Principal
from packyard.console.readme import Readmes
from packyard.errors import Denied, NotFound
from packyard.services.audit_log import AuditLog
from packyard.services.iam import IamService
from packyard.services.package_groups import PackageGroups
from packyard.services.permissions_policies import PermissionsPolicies
from packyard.services.registry import Registry
from packyard.services.resource_tags import ResourceTags
from packyard.services.token_admin import TokenAdministration
from packyard.settings import Settings

T = TypeVar("T")


@dataclass(frozen=True)
class ConsoleServices:
    settings: Settings
    registry: Registry
    permissions: PermissionsPolicies
    iam: IamService
    tokens: TokenAdministration
    # The audit trail's reader (services/audit_log.py); none when the trail is off.
    audit: AuditLog | None = None
    # Issue 13's version lifecycle (dispose, delete, copy) plugs in here when the services
    # offer it; until then the console shows what these offer.

    @cached_property
    def readmes(self) -> Readmes:
        """READMEs rendered once for every view of them (console/readme.py)."""
        return Readmes()

    @cached_property
    def groups(self) -> PackageGroups:
        """The package group operations' service (the API builds its own on the same
        registry: it holds no state but the registry's)."""
        return PackageGroups(self.registry)

    @cached_property
    def tags(self) -> ResourceTags:
        """Resource tags' operations, as the API's (they hold no state but the registry's)."""
        return ResourceTags(self.registry)

    def may(self, principal: Principal, action: str, resource_arn: str) -> bool:
        """Whether to offer an action (the service checks again when it is taken)."""
        return self.registry.authorizer.is_allowed(principal, action, resource_arn)


@dataclass(frozen=True)
class Section(Generic[T]):
    """A part of a page the principal may or may not read: its value, or why not."""

    value: T | None = None
    denied: str | None = None
    missing: str | None = None

    @property
    def shown(self) -> bool:
        return self.denied is None and self.missing is None


def section(read: Callable[[], T]) -> Section[T]:
    """``read()`` as a page section: a refusal or an absence is shown in its place instead of
    failing the whole page."""
    try:
        return Section(read())
    except Denied as exc:
        return Section(denied=exc.message)
    except NotFound as exc:
        return Section(missing=exc.message)
