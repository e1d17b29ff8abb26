"""Wiring: builds every adapter and service from the settings, in one place."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from packyard.api.codeartifact.endpoint import CodeArtifactEndpoint
from packyard.api.codeartifact.operations import Operations
from packyard.arn import ArnBuilder
from packyard.auth.authorize import Authorizer
from packyard.auth.credentials import RootCredentials, load_root_credentials
from packyard.auth.package_auth import PackageAuthenticator
from packyard.auth.signed import SignedRequestAuthenticator
from packyard.auth.tokens import TokenService
from packyard.clock import Clock
from packyard.formats.pypi.plugin import PypiFormat
from packyard.formats.pypi.publish import PypiPublisher
from packyard.formats.pypi.routes import PypiServices
from packyard.formats.registry import FormatRegistry
from packyard.metadata.catalog import Catalog
from packyard.services.access import RepositoryGate
from packyard.services.registry import Registry
from packyard.settings import Settings
from packyard.storage.local import LocalBlobStore

log = logging.getLogger("packyard")


@dataclass
class Container:
    """Everything a running server holds."""

    settings: Settings
    root: RootCredentials
    catalog: Catalog
    registry: Registry
    api: CodeArtifactEndpoint
    pypi: PypiServices
    formats: FormatRegistry


def build(settings: Settings) -> Container:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    root = load_root_credentials(settings)
    catalog = Catalog(settings.effective_database_url)
    catalog.migrate()
    blobs = LocalBlobStore(settings.blob_dir)
    leftovers = blobs.recover()
    if leftovers:
        log.warning("removed %d incomplete upload(s) left by an earlier stop", leftovers)
    clock = Clock(settings.clock_offset_seconds)
    arns = ArnBuilder(settings.region, settings.account_id)
    authorizer = Authorizer(settings.account_id)
    tokens = TokenService(catalog)
    formats = FormatRegistry([PypiFormat()])
    registry = Registry(catalog, blobs, authorizer, arns, tokens, formats, clock)
    signed = SignedRequestAuthenticator(root, settings.account_id, clock,
                                        settings.max_signature_skew_seconds)
    api = CodeArtifactEndpoint(Operations(registry), signed, settings.public_url)
    gate = RepositoryGate(registry, PackageAuthenticator(tokens, settings.account_id, clock))
    pypi = PypiServices(gate, PypiPublisher(registry, settings.max_upload_bytes))
    return Container(settings, root, catalog, registry, api, pypi, formats)
