"""npm's account and access commands (``npm access``, ``owner``, ``team``, ``org``, ``token``,
``profile``, ``hook``): refused with one message npm prints as it is.

Who may read, publish or delete a package is IAM's here, as in AWS CodeArtifact, whose npm
support leaves these commands out: there are no npm users, teams, organizations or npm tokens to
list or change. Without a route of their own these requests were 404s, which npm prints as
"Not found: /-/user/root/package … could not be found or you do not have permission to access
it", read as a missing package or a missing permission. Each is now a ``405`` with
``{"error": …}``, as stars are (``stars``): npm prints ``405 Method Not Allowed - GET <url> -
<error>`` and stops, and a 405 is not retried.
"""

from __future__ import annotations

import re

from packyard.errors import Unsupported

# Paths after ``/-/`` as npm 10 and 11 build them (libnpmaccess, libnpmteam, libnpmorg,
# libnpmhook, npm-profile, lib/commands/owner.js), with the command each belongs to.
_PATHS = (
    # ``package/<name>/dist-tags/access`` is a tag named "access", not npm access.
    (re.compile(r"package/(?!.*/dist-tags/)(@[^/]+/)?[^/]+/(collaborators|visibility|access)"),
     "access"),
    (re.compile(r"(user|org|team)/.+/package"), "access"),
    (re.compile(r"user/org\.couchdb\.user:.*"), "owner"),
    (re.compile(r"org/[^/]+/user"), "org"),
    (re.compile(r"org/[^/]+/team|team/.+"), "team"),
    (re.compile(r"npm/v1/tokens(/.*)?"), "token"),
    (re.compile(r"npm/v1/user"), "profile"),
    (re.compile(r"npm/v1/hooks?(/.*)?"), "hook"),
)


def account_command(special: str) -> str | None:
    """The npm command a ``/-/…`` path (without the ``-/``) belongs to, when it is one of
    those Packyard has no part in; None for any other path."""
    for pattern, command in _PATHS:
        if pattern.fullmatch(special):
            return command
    return None


def refuse_account_command(command: str) -> Unsupported:
    return Unsupported(
        f"npm {command} is not supported: this registry (like AWS CodeArtifact) has no npm "
        "users, teams or organizations; IAM policies say who may read, publish and delete "
        "(aws codeartifact put-repository-permissions-policy).")
