"""An npm repository of the in-process app, and requests shaped as npm, pnpm and yarn send
them (bodies from ``tests/unit/npm_samples.py``)."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.inprocess.harness import InProcessPackyard
from tests.integration.helpers import ROOT, Credentials
from tests.unit.npm_samples import Member, manifest_bytes, publish_document, tgz

FULL = "application/json"
CORGI = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"


@dataclass
class NpmRepo:
    """A repository's npm endpoint with a token, as ``aws codeartifact login --tool npm``
    leaves npm set up."""

    app: InProcessPackyard
    domain: str
    repository: str
    endpoint: str
    token: str

    @property
    def path(self) -> str:
        return urlsplit(self.endpoint).path

    def request(self, method: str, path: str, *, token: str | None = "default",
                headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        """``method`` on ``path`` under the endpoint (already encoded as the client does)."""
        sent = dict(headers or {})
        if token is not None:
            sent.setdefault("Authorization",
                            f"Bearer {self.token if token == 'default' else token}")
        return self.app.http.request(method, self.path + path, headers=sent, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def put_json(self, path: str, document: Any, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, content=json.dumps(document).encode(),
                            headers={"Content-Type": "application/json"}, **kwargs)

    def publish(self, name: str, version: str = "1.0.0", *, tag: str = "latest",
                manifest: dict[str, Any] | None = None, readme: str | None = None,
                **kwargs: Any) -> httpx.Response:
        """npm publish of a small package ``name@version`` (its tarball made here)."""
        extra = [Member("package/README.md", readme.encode())] if readme else []
        tarball = tgz([Member("package/package.json",
                              manifest_bytes(name, version, **(manifest or {}))), *extra])
        return self.put_json(escape(name), publish_document(
            name, version, tarball, tag=tag, manifest=manifest,
            attachment=f"{name}-{version}.tgz"), **kwargs)

    def packument(self, name: str, accept: str = FULL) -> dict[str, Any]:
        response = self.get(escape(name), headers={"Accept": accept})
        assert response.status_code == 200, response.text
        document: dict[str, Any] = response.json()
        return document


def escape(name: str) -> str:
    """A name as npm puts it in a path: ``@acme%2futil``."""
    return name.replace("/", "%2f")


def npm_repo(app: InProcessPackyard, domain: str = "acme", repository: str = "npmrepo", *,
             credentials: Credentials = ROOT, create: bool = True) -> NpmRepo:
    api = app.codeartifact()
    if create:
        with contextlib.suppress(api.exceptions.ConflictException):
            api.create_domain(domain=domain)
        with contextlib.suppress(api.exceptions.ConflictException):
            api.create_repository(domain=domain, repository=repository)
    endpoint = api.get_repository_endpoint(domain=domain, repository=repository,
                                           format="npm")["repositoryEndpoint"]
    token = app.codeartifact(credentials).get_authorization_token(
        domain=domain)["authorizationToken"]
    return NpmRepo(app, domain, repository, endpoint, token)
