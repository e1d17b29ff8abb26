"""The ``aws codeartifact login`` command that logs a client in to the repository it asked.

A refused token (they last 12 hours) is answered with the command that gets a new one. It is
made from the request's own URL (``/{domain}-{owner}/{format}/{repository}/…``) and host, as
the client reached the server, so it can be pasted as it stands; nothing is looked up, so it
tells no more than the URL the client sent. A part that could not be pasted safely into a
shell (or is missing) is left as the placeholder the README uses.
"""

from __future__ import annotations

import re
from typing import Any

from packyard.http.request import HOST, forwarded_host

# Letters, digits, '.', '_' and '-' (every domain and repository name CodeArtifact allows):
# nothing a shell would read otherwise.
_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")
_OWNER = re.compile(r"\d{12}")


def login_command(tool: str, scope: Any = None) -> str:
    """``aws codeartifact login --tool TOOL --domain … --repository … --endpoint-url …`` for
    the repository the request in ``scope`` names; placeholders without one."""
    domain, owner, repository, endpoint = "DOMAIN", "", "REPOSITORY", ""
    if scope is not None:
        parts = str(scope.get("path", "")).split("/")
        if len(parts) > 3:
            name, _, account = parts[1].rpartition("-")
            if _NAME.fullmatch(name) and _OWNER.fullmatch(account):
                domain, owner = name, account
            if _NAME.fullmatch(parts[3]):
                repository = parts[3]
        host = forwarded_host(scope) or _header(scope, b"host")
        if host and HOST.fullmatch(host) and scope.get("scheme") in ("http", "https"):
            endpoint = f"{scope['scheme']}://{host}"
    command = f"aws codeartifact login --tool {tool} --domain {domain}"
    if owner:
        command += f" --domain-owner {owner}"
    command += f" --repository {repository}"
    if endpoint:
        command += f" --endpoint-url {endpoint}"
    return command


def _header(scope: Any, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return bytes(value).decode("latin-1")
    return None
