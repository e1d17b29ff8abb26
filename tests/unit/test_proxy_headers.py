"""Which X-Forwarded-* headers count: only those from a trusted proxy address."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.requests import Request

from packyard.http.request import base_url, forwarded_host
from packyard.server.protocol import apply_proxy_headers, find_hot_answer
from packyard.server.proxy_headers import TrustedProxyHeaders
from packyard.settings import load_settings

FORWARDED = [(b"host", b"10.0.0.5:8080"), (b"x-forwarded-host", b"packages.example.com"),
             (b"x-forwarded-proto", b"https"), (b"x-forwarded-for", b"203.0.113.9")]


class App:
    """Records the scope it is called with; has a hot path like PackyardApp."""

    def __init__(self) -> None:
        self.scope: dict[str, Any] | None = None

    def hot_answer(self, scope: Any) -> None:
        return None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scope = scope


def _scope(client: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": "/", "raw_path": b"/", "query_string": b"",
            "scheme": "http", "server": ("10.0.0.5", 8080), "client": (client, 50000),
            "headers": list(headers), "http_version": "1.1"}


def _through(client: str, headers: list[tuple[bytes, bytes]],
             trusted: str = "127.0.0.1") -> dict[str, Any]:
    app = App()
    asyncio.run(TrustedProxyHeaders(app, trusted_hosts=trusted)(  # type: ignore[arg-type]
        _scope(client, headers), None, None))  # type: ignore[arg-type]
    assert app.scope is not None
    return app.scope


def test_forwarded_headers_from_an_untrusted_client_are_ignored() -> None:
    scope = _through("198.51.100.7", FORWARDED)
    assert forwarded_host(scope) is None
    assert scope["scheme"] == "http" and scope["client"] == ("198.51.100.7", 50000)
    assert base_url(Request(scope)) == "http://10.0.0.5:8080"


def test_forwarded_headers_from_a_trusted_proxy_are_used() -> None:
    scope = _through("127.0.0.1", FORWARDED)
    assert forwarded_host(scope) == "packages.example.com"
    assert scope["scheme"] == "https" and scope["client"][0] == "203.0.113.9"
    assert base_url(Request(scope)) == "https://packages.example.com"


def test_trusted_networks_and_star() -> None:
    assert forwarded_host(_through("10.1.2.3", FORWARDED, trusted="10.0.0.0/8")) == (
        "packages.example.com")
    assert forwarded_host(_through("198.51.100.7", FORWARDED, trusted="*")) == (
        "packages.example.com")


@pytest.mark.parametrize(("value", "expected"), [
    (b"packages.example.com:8443", "packages.example.com:8443"),
    (b"[2001:db8::1]:8443", "[2001:db8::1]:8443"),
    (b"client.example, proxy.example", "proxy.example"),  # the nearest proxy's value
    (b"evil.example/path?x=", None),
    (b"user@evil.example", None),
    (b"", None),
])
def test_forwarded_host_must_be_a_host(value: bytes, expected: str | None) -> None:
    scope = _through("127.0.0.1", [(b"host", b"h"), (b"x-forwarded-host", value)])
    assert forwarded_host(scope) == expected


def test_the_fast_lane_finds_the_app_beneath_and_applies_the_same_rules() -> None:
    app = App()
    hot, proxy = find_hot_answer(TrustedProxyHeaders(app, trusted_hosts="127.0.0.1"))  # type: ignore[arg-type]
    assert hot == app.hot_answer and proxy is not None
    scope = _scope("127.0.0.1", FORWARDED)
    apply_proxy_headers(proxy, scope)  # type: ignore[arg-type]
    assert scope["client"][0] == "203.0.113.9" and scope["scheme"] == "https"
    untrusted = _scope("198.51.100.7", FORWARDED)
    apply_proxy_headers(proxy, untrusted)  # type: ignore[arg-type]
    assert untrusted["client"][0] == "198.51.100.7"


def test_the_setting_falls_back_to_uvicorns_variable() -> None:
    assert load_settings({}).forwarded_allow_ips == "127.0.0.1"
    assert load_settings({"FORWARDED_ALLOW_IPS": "10.0.0.1"}).forwarded_allow_ips == "10.0.0.1"
    assert load_settings({"FORWARDED_ALLOW_IPS": "10.0.0.1",
                          "PACKYARD_FORWARDED_ALLOW_IPS": "10.0.0.2"}).forwarded_allow_ips == (
        "10.0.0.2")
    assert load_settings({}, forwarded_allow_ips="10.0.0.3").forwarded_allow_ips == "10.0.0.3"
