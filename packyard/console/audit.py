"""The console's requests in the audit trail and the metrics, through the same hook as every
surface (``http/request_note.py``).

As in AWS, a change made in the console is recorded as the service call it amounts to
(``UpdatePackageVersionsStatus`` from ``codeartifact.amazonaws.com``, ``CreateUser`` from
``iam.amazonaws.com``, …) with the console as the user agent's place (``"viaConsole": true`` in
the parameters), and a sign-in as ``ConsoleLogin`` from ``signin.amazonaws.com``. Pages only
read; they are counted, and recorded when refused (403). Parameters are the path's names
(domain, repository, package, version, user, role, token id) and the form's choices that are
not secrets: never a secret key, a session token or a policy document's text.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from packyard.http.request_note import note_of

Handler = Callable[..., Awaitable[Response]]

CODEARTIFACT = "codeartifact.amazonaws.com"
IAM = "iam.amazonaws.com"
SIGNIN = "signin.amazonaws.com"
CONSOLE = "packyard.console"

# The console's changes, by handler: (event source, event name; a "/delete" path uses the
# second name).
CHANGES: dict[str, tuple[str, str, str]] = {
    "signin": (SIGNIN, "ConsoleLogin", "ConsoleLogin"),
    "signout": (SIGNIN, "ConsoleSignOut", "ConsoleSignOut"),
    "token": (CODEARTIFACT, "GetAuthorizationToken", "GetAuthorizationToken"),
    "domain_policy": (CODEARTIFACT, "PutDomainPermissionsPolicy",
                      "DeleteDomainPermissionsPolicy"),
    "repository_policy": (CODEARTIFACT, "PutRepositoryPermissionsPolicy",
                          "DeleteRepositoryPermissionsPolicy"),
    "package_origin": (CODEARTIFACT, "PutPackageOriginConfiguration",
                       "PutPackageOriginConfiguration"),
    "version_status": (CODEARTIFACT, "UpdatePackageVersionsStatus",
                       "UpdatePackageVersionsStatus"),
    "create_user": (IAM, "CreateUser", "CreateUser"),
    "user_action": (IAM, "ConsoleUserAction", "ConsoleUserAction"),
    "role_action": (IAM, "ConsoleRoleAction", "ConsoleRoleAction"),
    "revoke_token": (CONSOLE, "RevokeAuthorizationToken", "RevokeAuthorizationToken"),
    "package_group_action": (CODEARTIFACT, "ConsolePackageGroupAction", "DeletePackageGroup"),
    "new_role": (IAM, "CreateRole", "CreateRole"),
    "trust_policy": (IAM, "UpdateAssumeRolePolicy", "UpdateAssumeRolePolicy"),
    "user_policy": (IAM, "PutUserPolicy", "PutUserPolicy"),
    "role_policy": (IAM, "PutRolePolicy", "PutRolePolicy"),
    "delete_user_policy": (IAM, "DeleteUserPolicy", "DeleteUserPolicy"),
    "delete_role_policy": (IAM, "DeleteRolePolicy", "DeleteRolePolicy"),
    "dispose_version": (CODEARTIFACT, "DisposePackageVersions", "DisposePackageVersions"),
    "delete_version": (CODEARTIFACT, "DeletePackageVersions", "DeletePackageVersions"),
    "copy_version": (CODEARTIFACT, "CopyPackageVersions", "CopyPackageVersions"),
    "delete_package": (CODEARTIFACT, "DeletePackage", "DeletePackage"),
    "domain_tags": (CODEARTIFACT, "ConsoleTagAction", "ConsoleTagAction"),
    "repository_tags": (CODEARTIFACT, "ConsoleTagAction", "ConsoleTagAction"),
}
# The pages whose forms post to ``…/{action}``: each action is its own service call, and
# recorded under that call's name (an unknown action keeps the handler's name above).
ACTIONS: dict[str, dict[str, str]] = {
    "user_action": {"create-key": "CreateAccessKey", "key-status": "UpdateAccessKey",
                    "delete-key": "DeleteAccessKey", "attach": "AttachUserPolicy",
                    "detach": "DetachUserPolicy", "delete": "DeleteUser"},
    "role_action": {"attach": "AttachRolePolicy", "detach": "DetachRolePolicy",
                    "delete": "DeleteRole"},
    "package_group_action": {"create": "CreatePackageGroup", "update": "UpdatePackageGroup",
                             "origin": "UpdatePackageGroupOriginConfiguration",
                             "add-repository": "UpdatePackageGroupOriginConfiguration",
                             "remove-repository": "UpdatePackageGroupOriginConfiguration",
                             "delete": "DeletePackageGroup"},
    "domain_tags": {"add": "TagResource", "remove": "UntagResource"},
    "repository_tags": {"add": "TagResource", "remove": "UntagResource"},
}
# Form fields worth recording (choices, never secrets or documents).
_FORM_FIELDS = ("target", "expected", "status", "key_id", "policy_arn", "publish", "upstream",
                "user_name", "access_key_id", "role_arn", "session_name", "duration",
                "pattern", "restriction", "repository", "PUBLISH", "EXTERNAL_UPSTREAM",
                "INTERNAL_UPSTREAM", "name", "destination", "allow_overwrite", "tag_key")


def noted(handler: Handler, name: str) -> Handler:
    """``handler`` with the request's note filled: the metrics' labels always, the event for
    a change (a POST) or for a refused page."""

    async def run(request: Request, *args: Any, **kwargs: Any) -> Response:
        note = note_of(request.scope)
        note.surface, note.route = "console", name
        parameters: dict[str, Any] = {k: v for k, v in request.path_params.items()
                                      if isinstance(v, str)}
        parameters["viaConsole"] = True
        note.request_parameters = parameters
        if request.method == "POST" and name in CHANGES:
            source, event, on_delete = CHANGES[name]
            note.source = source
            note.name = on_delete if request.url.path.endswith("/delete") else event
            action = request.path_params.get("action")
            if isinstance(action, str):
                note.name = ACTIONS.get(name, {}).get(action, note.name)
        else:
            note.source, note.name = CONSOLE, "ConsoleView"
            note.read_only, note.record_success = True, False
        return await handler(request, *args, **kwargs)

    return run


def add_form_choices(request: Request, fields: dict[str, str]) -> None:
    """Record the form's non-secret choices with the request's parameters."""
    note = note_of(request.scope)
    chosen = {key: fields[key] for key in _FORM_FIELDS if fields.get(key)}
    note.request_parameters = {**(note.request_parameters or {}), **chosen}


def record_parameter(request: Request, name: str, value: str) -> None:
    """Record ``value`` as the parameter ``name`` instead of what the form said."""
    note = note_of(request.scope)
    if note.request_parameters is not None and name in note.request_parameters:
        note.request_parameters = {**note.request_parameters, name: value}


def refused(request: Request, code: str, message: str, status: int) -> None:
    """A refusal: always recorded for a change; for a page, when the caller was not allowed."""
    note = note_of(request.scope)
    if note.name and (note.record_success or status == 403):
        note.refused(code, message)
