"""The ASGI application: one Starlette app for the API and every package endpoint."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from packyard import __version__
from packyard.auth.environment import RequestEnvironmentMiddleware
from packyard.bootstrap import Container, build
from packyard.settings import Settings


async def health(_request: Request) -> Response:
    return JSONResponse({"status": "ok", "version": __version__})


def create_app(settings: Settings | None = None, container: Container | None = None) -> Starlette:
    if container is None:
        from packyard.settings import load_settings

        container = build(settings or load_settings())
    api_methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]
    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/v1/{path:path}", container.api.__call__, methods=api_methods),
        *container.formats.get("pypi").routes(container.pypi),
    ]
    if container.iam_api is not None:
        # IAM and STS (AWS Query protocol) share the endpoint's root, as --endpoint-url sends them.
        routes.append(Route("/", container.iam_api.__call__, methods=["POST", "GET"]))
    app = Starlette(routes=routes, middleware=[Middleware(RequestEnvironmentMiddleware)])
    app.state.container = container
    return app


def app_from_environment() -> Starlette:
    """The app for one worker process, configured from PACKYARD_* variables (``--workers``)."""
    from packyard import server_reason
    from packyard.settings import load_settings

    server_reason.install()
    return create_app(load_settings())
