"""Packyard in this process: the app on a temporary data directory, and the clients that drive it.

Requests go through ``httpx.ASGITransport`` into ``PackyardApp`` (hot path first, then Starlette),
on one event loop that a blocking portal runs beside the tests, so tests stay synchronous and
read top to bottom. Clients are the real ones where that is cheap: botocore clients (so requests
are serialized and SigV4-signed exactly as the AWS CLI and boto3 do, and answers parsed by
botocore's own parsers) whose sending is redirected into the app, and twine-shaped multipart
uploads built by ``tests/integration/helpers.py``.

What only a real server does is not here: uvicorn and ``server/protocol.py`` (the fast lane,
coalesced writes, dropping a HEAD answer's body), and ``server/reason.py``, which moves the
``x-packyard-reason`` header onto the status line: ``twine_reason`` computes that line from the
header instead.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

import botocore.auth
import botocore.config
import botocore.credentials
import botocore.session
import httpx
from anyio.from_thread import BlockingPortal
from botocore.awsrequest import AWSPreparedRequest, AWSRequest, AWSResponse
from starlette.types import Receive, Scope, Send

from packyard import bootstrap
from packyard.auth.principal import Principal, root_principal
from packyard.bootstrap import Container
from packyard.http.server_hints import REASON_HEADER
from packyard.metadata.transactions import CatalogBase
from packyard.server.app import PackyardApp, create_app
from packyard.settings import Settings
from packyard.thread_hop import ThreadHop
from tests.integration.helpers import (
    DEFAULT_ACCOUNT,
    DEFAULT_REGION,
    ROOT,
    Credentials,
    PypiRepo,
)

HOST = "packyard.test"
BASE_URL = f"http://{HOST}"
# Where requests come from, as uvicorn would report the peer (aws:SourceIp sees this).
CLIENT_ADDRESS = ("127.0.0.1", 50000)
ROOT_PRINCIPAL: Principal = root_principal(DEFAULT_ACCOUNT, ROOT.access_key_id)


def settings_for(data_dir: Path, **overrides: Any) -> Settings:
    """Settings of a test server: the integration suite's root keys, nothing from outside."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "root_access_key_id": ROOT.access_key_id,
        "root_secret_access_key": ROOT.secret_access_key,
        # Never reach the internet: a repository with public:pypi gets a refused connection.
        "pypi_upstream_url": "http://127.0.0.1:9/simple/",
        "npm_upstream_url": "http://127.0.0.1:9/",
        "upstream_retries": 0,
    }
    values.update(overrides)
    return Settings(**values)


def migrated_data_dir(path: Path) -> Path:
    """A data directory whose database is migrated to head, to copy for each test (migrating
    takes ~50 ms, copying ~1 ms)."""
    path.mkdir(mode=0o700, parents=True)
    services = bootstrap.build_services(settings_for(path))
    services.catalog.dispose()  # the last close checkpoints the WAL into the database file
    return path


def copy_data_dir(template: Path, target: Path) -> Path:
    shutil.copytree(template, target)
    return target


def close_container(container: Container) -> None:
    """Stop what a container may have started (the audit trail's writer, the webhooks' sender):
    the app's lifespan does it under a server; ASGITransport runs no lifespan."""
    if container.webhooks is not None:
        container.webhooks.close()
    if container.trail is not None:
        container.trail.close()


def build_on_copy(settings: Settings) -> Container:
    """``bootstrap.build`` on a copy of the migrated template, without the start-up migration
    check: it would find nothing to do, after loading and compiling every Alembic revision
    script (~25 ms an app). Migrations have tests of their own (tests/unit/test_migrations.py)."""
    with mock.patch.object(CatalogBase, "migrate", lambda _self: None):
        return bootstrap.build(settings)


# -- the ASGI bridge ------------------------------------------------------------------------------

class _CountingStarlette:
    """Counts the requests that reach Starlette (the hot path answered the others)."""

    def __init__(self, app: Any) -> None:
        self.inner = app
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.calls += 1
        await self.inner(scope, receive, send)


class AsgiBridge(httpx.BaseTransport):
    """A synchronous httpx transport that sends each request through ``httpx.ASGITransport``
    into the app, on the portal's event loop."""

    def __init__(self, app: PackyardApp, portal: BlockingPortal,
                 client: tuple[str, int] = CLIENT_ADDRESS) -> None:
        self._asgi = httpx.ASGITransport(app=app, client=client)
        self._portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def send() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            inner = httpx.Request(request.method, request.url, headers=request.headers,
                                  content=body)
            response = await self._asgi.handle_async_request(inner)
            # As sent: the client decodes Content-Encoding itself, once.
            content = b"".join([chunk async for chunk in response.aiter_raw()])
            return response.status_code, response.headers.raw, content

        status, headers, content = self._portal.call(send)
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(content),
                              request=request)

    def close(self) -> None:
        # Shared by every client of a test; the app lives as long as the test.
        pass


class _RawBody(io.BytesIO):
    """What botocore reads a response body from (``stream()`` for whole bodies, ``read`` for
    streaming payloads such as GetPackageVersionAsset)."""

    def stream(self, **_kwargs: Any) -> Iterator[bytes]:
        yield self.getvalue()


# -- botocore clients ------------------------------------------------------------------------------

# The app a botocore call is being made for (set around each call by ``_Lent``).
_target: ContextVar[InProcessPackyard | None] = ContextVar("inprocess_target", default=None)


class AwsClients:
    """botocore clients, made once per service, key and validation setting for the whole run
    (making one costs ~15 ms: endpoint rules, event hooks) and lent to each test's app."""

    def __init__(self, session: botocore.session.Session) -> None:
        self._session = session
        self._clients: dict[tuple[str, str, str, str | None, bool], Any] = {}

    def lend(self, app: InProcessPackyard, service: str, credentials: Credentials,
             session_token: str | None, validate: bool) -> Any:
        key = (service, credentials.access_key_id, credentials.secret_access_key,
               session_token, validate)
        client = self._clients.get(key)
        if client is None:
            config = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"},
                                            parameter_validation=validate)
            client = self._session.create_client(
                service, region_name=DEFAULT_REGION, endpoint_url=BASE_URL,
                aws_access_key_id=credentials.access_key_id,
                aws_secret_access_key=credentials.secret_access_key,
                aws_session_token=session_token, config=config)
            # botocore asks ``before-send`` handlers first; one that returns a response is
            # used instead of sending (the request is already serialized and signed by then).
            client.meta.events.register("before-send", _send_to_target)
            self._clients[key] = client
        return _Lent(client, app)


def _send_to_target(request: AWSPreparedRequest, **_kwargs: Any) -> AWSResponse:
    app = _target.get()
    assert app is not None, "a botocore client was used outside InProcessPackyard.aws()"
    return app.send_aws(request)


class _Lent:
    """A botocore client lent to one app: its calls, and the pages of its paginators, go to
    that app."""

    def __init__(self, client: Any, app: InProcessPackyard) -> None:
        self._client = client
        self._app = app

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if name == "get_paginator":
            return lambda operation: _LentPaginator(attr(operation), self._app)
        if not callable(attr):
            return attr  # meta, exceptions
        return _routed(attr, self._app)


class _LentPaginator:
    def __init__(self, paginator: Any, app: InProcessPackyard) -> None:
        self._paginator = paginator
        self._app = app

    def paginate(self, **kwargs: Any) -> list[Any]:
        """Every page, fetched now (botocore fetches them lazily, after the call returned)."""
        return _routed(lambda: list(self._paginator.paginate(**kwargs)), self._app)()


def _routed(call: Callable[..., Any], app: InProcessPackyard) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        token = _target.set(app)
        try:
            return call(*args, **kwargs)
        finally:
            _target.reset(token)

    return run


# -- the in-process server -------------------------------------------------------------------------

@dataclass
class InProcessRepo(PypiRepo):
    """A ``PypiRepo`` whose client reaches the in-process app (so the integration suite's
    ``upload``/``upload_ok`` work unchanged)."""

    transport: AsgiBridge | None = field(default=None, repr=False)

    def client(self, **kwargs: Any) -> httpx.Client:
        kwargs.setdefault("auth", self.auth)
        return httpx.Client(transport=self.transport, follow_redirects=False, **kwargs)

    def get(self, path: str, **headers: str) -> httpx.Response:
        """GET a path under the repository's endpoint (``simple/...``) with the token."""
        with self.client() as http:
            return http.get(self.endpoint + path, headers=headers)


class InProcessPackyard:
    """One Packyard app on its own data directory, and clients for it."""

    def __init__(self, settings: Settings, portal: BlockingPortal, clients: AwsClients) -> None:
        self.settings = settings
        self.container: Container = build_on_copy(settings)
        self.app = create_app(container=self.container)
        self._starlette = _CountingStarlette(self.app.app)
        self.app.app = self._starlette  # type: ignore[assignment]
        self.portal = portal
        self.transport = AsgiBridge(self.app, portal)
        self.http = httpx.Client(transport=self.transport, base_url=BASE_URL,
                                 follow_redirects=False)
        self._clients = clients
        self._last_aws_response: httpx.Response | None = None

    def close(self) -> None:
        self.http.close()
        close_container(self.container)
        self.container.catalog.dispose()

    @property
    def last_aws_response(self) -> httpx.Response:
        """The raw HTTP answer to the last botocore call (for headers and body shapes)."""
        assert self._last_aws_response is not None, "no AWS call was made"
        return self._last_aws_response

    @property
    def starlette_calls(self) -> int:
        """How many HTTP requests reached Starlette (the rest the hot path answered)."""
        return self._starlette.calls

    # -- AWS clients (CodeArtifact, IAM, STS) -------------------------------------------------

    def aws(self, service: str, credentials: Credentials = ROOT,
            session_token: str | None = None, *, validate: bool = True) -> Any:
        """A botocore client for ``service`` whose requests go to this app, never the network;
        ``validate=False`` sends what botocore's own parameter checks would stop."""
        return self._clients.lend(self, service, credentials, session_token, validate)

    def codeartifact(self, credentials: Credentials = ROOT,
                     session_token: str | None = None, *, validate: bool = True) -> Any:
        return self.aws("codeartifact", credentials, session_token, validate=validate)

    def iam(self, credentials: Credentials = ROOT, session_token: str | None = None, *,
            validate: bool = True) -> Any:
        return self.aws("iam", credentials, session_token, validate=validate)

    def sts(self, credentials: Credentials = ROOT, session_token: str | None = None) -> Any:
        return self.aws("sts", credentials, session_token)

    def send_aws(self, request: AWSPreparedRequest) -> AWSResponse:
        """Send a request botocore serialized and signed through this app."""
        body = request.body
        if body is None:
            content = b""
        elif isinstance(body, str):
            content = body.encode("utf-8")
        elif isinstance(body, bytes | bytearray):
            content = bytes(body)
        else:
            content = body.read()
        headers = [(k, v.decode("latin-1") if isinstance(v, bytes) else str(v))
                   for k, v in request.headers.items()]
        response = self.http.request(request.method, request.url, headers=headers,
                                     content=content)
        self._last_aws_response = response
        return AWSResponse(request.url, response.status_code, dict(response.headers),
                           _RawBody(response.content))

    # -- raw signed requests --------------------------------------------------------------------

    def signed(self, method: str, path: str, *, body: bytes = b"",
               service: str = "codeartifact", credentials: Credentials = ROOT,
               headers: Mapping[str, str] | None = None, when: datetime | None = None,
               session_token: str | None = None) -> httpx.Response:
        """A request SigV4-signed by botocore's signer (optionally at another time), sent as is."""
        signed = sign(method, BASE_URL + path, body=body, service=service,
                      credentials=credentials, headers=headers, when=when,
                      session_token=session_token)
        return self.http.request(method, path, headers=signed, content=body)

    # -- PyPI ---------------------------------------------------------------------------------

    def pypi_repo(self, domain: str = "acme", repository: str = "shelf", *,
                  credentials: Credentials = ROOT, create: bool = True,
                  duration_seconds: int | None = None) -> InProcessRepo:
        """A repository (created with its domain unless ``create`` is false) with a token
        minted for ``credentials`` and its PyPI endpoint, as ``aws codeartifact login`` sets
        pip up."""
        api = self.codeartifact()
        if create:
            with contextlib.suppress(api.exceptions.ConflictException):
                api.create_domain(domain=domain)
            api.create_repository(domain=domain, repository=repository)
        endpoint = api.get_repository_endpoint(domain=domain, repository=repository,
                                               format="pypi")["repositoryEndpoint"]
        token_args: dict[str, Any] = {"domain": domain}
        if duration_seconds is not None:
            token_args["durationSeconds"] = duration_seconds
        token = self.codeartifact(credentials).get_authorization_token(
            **token_args)["authorizationToken"]
        return InProcessRepo(BASE_URL, domain, repository, endpoint, token,
                             transport=self.transport)


def sign(method: str, url: str, *, body: bytes = b"", service: str = "codeartifact",
         credentials: Credentials = ROOT, headers: Mapping[str, str] | None = None,
         when: datetime | None = None, session_token: str | None = None) -> dict[str, str]:
    """The headers of a request SigV4-signed by botocore's ``SigV4Auth``, as the AWS CLI signs
    (at ``when`` instead of now, if given)."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    signer = botocore.auth.SigV4Auth(
        botocore.credentials.Credentials(credentials.access_key_id,
                                         credentials.secret_access_key, session_token),
        service, DEFAULT_REGION)
    if when is None:
        signer.add_auth(request)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=when):
            signer.add_auth(request)
    return {k: str(v) for k, v in request.headers.items()}


# -- what users see ------------------------------------------------------------------------------

def twine_reason(response: httpx.Response) -> str:
    """The reason phrase ``packyard serve`` puts on the status line (what twine prints): the
    private reason header, cleaned as ``server/reason.py`` does for the status line."""
    from packyard.server.reason import _clean

    raw = response.headers.get(REASON_HEADER)
    assert raw is not None, f"no {REASON_HEADER} header: {response.status_code} {response.text}"
    return _clean(raw.encode("latin-1")).decode("ascii")


def login_hint(request: httpx.Request) -> str:
    """What a PyPI 401 for a refused token adds to its reason: the command that logs in to the
    repository ``request`` asked, at the address it asked (twine's for an upload)."""
    _, label, _, repository = request.url.path.split("/")[:4]
    domain, _, owner = label.rpartition("-")
    tool = "twine" if request.method == "POST" else "pip"
    return (f"; log in again: run `aws codeartifact login --tool {tool} --domain {domain} "
            f"--domain-owner {owner} --repository {repository} --endpoint-url "
            f"{request.url.scheme}://{request.url.netloc.decode()}`")


def assert_refused(response: httpx.Response, status: int, message: str) -> None:
    """A package-endpoint refusal: ``status``, ``message`` as twine's reason phrase, and the
    same message as the one-line body pip and ``twine --verbose`` show; a refused token's 401
    followed by the command that logs in again (``login_hint``)."""
    assert response.status_code == status, (response.status_code, response.text)
    if status == 401 and not message.startswith("Authentication required"):
        message += login_hint(response.request)
    assert twine_reason(response) == message
    assert response.text == message + "\n"


def aws_error(response: httpx.Response) -> tuple[int, str, dict[str, Any]]:
    """(status, x-amzn-ErrorType, JSON body) of a CodeArtifact error response."""
    return (response.status_code, response.headers.get("x-amzn-errortype", ""),
            response.json())


def client_error(info: Any) -> tuple[str, int, str]:
    """(code, HTTP status, message) of a botocore ``ClientError`` (from ``pytest.raises``)."""
    response = info.value.response
    return (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"],
            response["Error"]["Message"])


def thread_hops(monkeypatch: Any) -> list[str]:
    """The worker-thread hops made from now on (``ThreadHop.run``), by the function they run:
    empty where a read was answered on the event loop's thread."""
    hops: list[str] = []
    real = ThreadHop.run

    async def counted(self: ThreadHop, fn: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(fn, "__name__", repr(fn)))
        return await real(self, fn, *args, **kwargs)

    monkeypatch.setattr(ThreadHop, "run", counted)
    return hops


TOKEN_ONLY = ["codeartifact:GetAuthorizationToken", "sts:GetServiceBearerToken"]
"""The actions of a user who may get a token and do nothing with it."""


def user_with(app: InProcessPackyard, name: str, actions: list[str]) -> Credentials:
    """A new IAM user allowed ``actions`` on every resource, and its access key."""
    iam = app.iam()
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Resource": "*", "Action": actions}]}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"])
