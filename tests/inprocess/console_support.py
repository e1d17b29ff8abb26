"""A browser's side of the console in process: cookies, forms with their CSRF tokens."""

from __future__ import annotations

import re
from html import unescape

import httpx

from tests.inprocess.harness import BASE_URL, InProcessPackyard
from tests.integration.helpers import ROOT, Credentials

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
NONCE = re.compile(r'name="nonce" value="([^"]+)"')


class ConsoleUser:
    """One browser: its own cookie jar, signed in (or not) to the in-process app."""

    def __init__(self, packyard: InProcessPackyard) -> None:
        self.http = httpx.Client(transport=packyard.transport, base_url=BASE_URL,
                                 follow_redirects=False, headers={"accept": "text/html"})
        self.csrf = ""

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        response = self.http.get(path, **kwargs)  # type: ignore[arg-type]
        found = CSRF.search(response.text)
        if found:
            self.csrf = unescape(found.group(1))
        return response

    def post(self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True,
             headers: dict[str, str] | None = None) -> httpx.Response:
        fields = dict(data or {})
        if csrf:
            fields.setdefault("csrf", self.csrf)
        return self.http.post(path, data=fields, headers=headers)

    def sign_in(self, credentials: Credentials = ROOT, **extra: str) -> httpx.Response:
        page = self.get("/console/sign-in")
        nonce = unescape(NONCE.search(page.text).group(1))  # type: ignore[union-attr]
        response = self.post("/console/sign-in", {
            "nonce": nonce, "access_key_id": credentials.access_key_id,
            "secret_access_key": credentials.secret_access_key, **extra}, csrf=False)
        if response.status_code == 303:
            self.get("/console/")
        return response

    def close(self) -> None:
        self.http.close()
