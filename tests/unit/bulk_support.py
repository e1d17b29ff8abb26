"""What the tests of ``packyard import`` and ``packyard export`` stand on: the services built on
a data directory, and a data directory holding a domain and its repositories."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from packyard.auth.principal import root_principal
from packyard.bootstrap import Services, build_services
from packyard.settings import load_settings

ACCT = "000000000000"
ROOT = root_principal(ACCT)


def services_on(data_dir: Path, **settings: Any) -> Services:
    """The services of a server on ``data_dir`` (made and migrated if new)."""
    return build_services(load_settings(environ={}, data_dir=data_dir, **settings))


def with_repositories(data_dir: Path, domain: str, *repositories: str,
                      **settings: Any) -> Path:
    """``data_dir``, made, holding ``domain`` and its ``repositories`` (created as the root)."""
    data_dir.mkdir()
    services = services_on(data_dir, **settings)
    services.registry.create_domain(ROOT, domain)
    for repository in repositories:
        services.registry.create_repository(ROOT, domain, repository, None)
    services.catalog.dispose()
    return data_dir
