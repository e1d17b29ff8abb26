"""The console's routes: thin handlers that parse, call one page function, render.

Mounted at ``/console`` (``console_paths.ROOT``); ``GET /`` from a browser is sent here
(``browser_root``) while the AWS Query API keeps its answers at ``/``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from packyard.audit.query import AuditFilter, parse_moment
from packyard.console import access, audit, browse, groups, iam_documents, lifecycle, tags
from packyard.console.audit import Handler, noted
from packyard.console.errors import console_errors, status_of
from packyard.console.services import ConsoleServices
from packyard.console.signin import SignIn, SignInForm
from packyard.console.web import (
    MAX_SIGNIN_BYTES,
    STATIC,
    Caller,
    ConsoleHeaders,
    Web,
    safe_next,
)
from packyard.errors import Denied, Invalid, PackyardError
from packyard.http import console_paths as paths
from packyard.http.request import client_ip, header_text
from packyard.http.request_note import note_of

T = TypeVar("T")
Endpoint = Callable[[Request], Awaitable[Response]]


def _loaded(load: Callable[[], T]) -> T | None:
    """``load()``, or None when it is refused (an editor shown again after a failed save
    falls back to a plain error page then)."""
    try:
        return load()
    except PackyardError:
        return None


def _package_args(request: Request) -> tuple[str, str, str, str | None, str]:
    pp = request.path_params
    return (pp["domain"], pp["repo"], pp["format"], paths.namespace_of(pp["namespace"]),
            pp["name"])


# Where an action goes back to, quoted again from the path's parameters: the request's own
# path is decoded, and a generic package's name or version may hold "%2F".
def _package_page(request: Request) -> str:
    return paths.package_path(*_package_args(request))


def _version_page(request: Request) -> str:
    return paths.version_path(*_package_args(request), request.path_params["version"])


class Console:
    """Request handlers bound to the services they call."""

    def __init__(self, services: ConsoleServices, web: Web, signin: SignIn) -> None:
        self.c = services
        self.web = web
        self._signin = signin

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await run_in_threadpool(fn, *args)

    def _caller(self, request: Request) -> Caller:
        return self.web.caller(request)

    # -- signing in and out ------------------------------------------------------------------

    async def signin_page(self, request: Request) -> Response:
        if self.web.session(request) is not None:
            return self.web.redirect(safe_next(request.query_params.get("next")))
        return self._signin_form(request, None, 200)

    def _signin_form(self, request: Request, error: str | None, status: int,
                     form: dict[str, str] | None = None) -> Response:
        nonce = self.web.new_signin_nonce()
        response = self.web.render(request, "signin.html", status, error=error,
                                   nonce=nonce, form=form or {},
                                   next=safe_next(request.query_params.get("next")))
        response.headers.append("set-cookie", self.web.signin_cookie(request, nonce))
        return response

    async def signin(self, request: Request) -> Response:
        fields = await self.web.form(request, None, MAX_SIGNIN_BYTES)
        audit.record_parameter(request, "access_key_id", await self._call(
            self._signin.recorded_key_id, fields.get("access_key_id", "")))
        kept = {k: fields.get(k, "") for k in ("access_key_id", "role_arn", "session_name")}
        request.state.redisplay = lambda exc, status: self._signin_form(
            request, exc.message, status, kept)
        nonce = self.web.signin_nonce(request)
        if not nonce or nonce != fields.get("nonce"):
            raise Denied("The sign-in form has expired or came from another site; sign in "
                         "again from this page.")
        form = SignInForm(fields.get("access_key_id", ""), fields.get("secret_access_key", ""),
                          fields.get("session_token", ""), fields.get("role_arn", ""),
                          fields.get("session_name", ""))
        principal = await self._call(self._signin.sign_in, form, client_ip(request) or "")
        note_of(request.scope).caller = principal
        self.web.set_session_cookie(request, self.web.codec.start(principal.arn,
                                                                  principal.access_key_id))
        response = self.web.redirect(safe_next(fields.get("next")))
        # The nonce has served: it is not sent along with every later request.
        response.headers.append("set-cookie", self.web.signin_cookie(request, ""))
        return response

    async def signout(self, request: Request) -> Response:
        caller = self._caller(request)
        await self.web.form(request, caller)
        self.web.codec.sign_out(caller.session)
        self.web.set_session_cookie(request, None)
        return self.web.redirect(paths.ROOT + "/sign-in")

    # -- browsing ----------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        caller = self._caller(request)
        found = await self._call(browse.domains, self.c, caller.principal)
        return self.web.render(request, "domains.html", domains=found)

    async def domain(self, request: Request) -> Response:
        caller = self._caller(request)
        page = await self._call(browse.domain_page, self.c, caller.principal,
                                request.path_params["domain"])
        return self.web.render(request, "domain.html", page=page)

    # -- package groups ----------------------------------------------------------------------

    async def package_group(self, request: Request) -> Response:
        caller = self._caller(request)
        page = await self._call(groups.group_page, self.c, caller.principal,
                                request.path_params["domain"],
                                request.query_params.get("pattern", ""))
        return self.web.render(request, "group.html", page=page, modes=groups.MODES)

    async def package_group_action(self, request: Request) -> Response:
        """The POSTs of the package group pages; each names one package group operation.
        The group's pattern is a form field."""
        caller = self._caller(request)
        fields = await self.web.form(request, caller)
        p, domain = caller.principal, request.path_params["domain"]
        action, pattern = request.path_params["action"], fields.get("pattern", "")
        if action == "create":
            pattern = await self._call(groups.create_group, self.c, p, domain, pattern,
                                       fields.get("description", ""),
                                       fields.get("contact_info", ""))
        elif action == "update":
            await self._call(groups.update_group, self.c, p, domain, pattern,
                             fields.get("description", ""), fields.get("contact_info", ""))
        elif action == "origin":
            await self._call(groups.set_origin_modes, self.c, p, domain, pattern, fields)
        elif action in ("add-repository", "remove-repository"):
            await self._call(groups.change_allowed_repository, self.c, p, domain, pattern,
                             fields.get("restriction", ""), fields.get("repository", ""),
                             action == "add-repository")
        elif action == "delete":
            await self._call(groups.delete_group, self.c, p, domain, pattern)
            return self.web.redirect(paths.domain_path(domain) + "#package-groups")
        else:
            return self.web.render(request, "error.html", 404, title="Not found",
                                   message=f"No action {action!r}")
        return self.web.redirect(paths.package_group_path(domain, pattern))

    # -- resource tags -----------------------------------------------------------------------

    async def _tags(self, request: Request, repository: str | None) -> Response:
        """The POSTs of a domain's or repository's tags: ``add`` (TagResource, a key it has
        takes the new value) or ``remove`` (UntagResource)."""
        caller = self._caller(request)
        fields = await self.web.form(request, caller)
        domain, action = request.path_params["domain"], request.path_params["action"]
        arn = tags.resource_arn(self.c, domain, repository)
        if action == "add":
            await self._call(tags.add_tag, self.c, caller.principal, arn,
                             fields.get("tag_key", ""), fields.get("tag_value", ""))
        elif action == "remove":
            await self._call(tags.remove_tag, self.c, caller.principal, arn,
                             fields.get("tag_key", ""))
        else:
            return self.web.render(request, "error.html", 404, title="Not found",
                                   message=f"No action {action!r}")
        back = (paths.domain_path(domain) if repository is None
                else paths.repository_path(domain, repository))
        return self.web.redirect(back + "#tags")

    # One handler for each resource: each is its own event in the audit trail.
    async def domain_tags(self, request: Request) -> Response:
        return await self._tags(request, None)

    async def repository_tags(self, request: Request) -> Response:
        return await self._tags(request, request.path_params["repo"])

    async def repository(self, request: Request, token: tuple[str, Any] | None = None
                         ) -> Response:
        caller = self._caller(request)
        q = request.query_params
        page_number = q.get("page", "1")
        f = browse.PackageFilter(q.get("format", ""), q.get("namespace", ""),
                                 q.get("prefix", ""), q.get("status", ""),
                                 int(page_number) if page_number.isdigit() else 0)
        page = await self._call(browse.repository_page, self.c, caller.principal,
                                request.path_params["domain"], request.path_params["repo"], f,
                                self.web.base_url(request), token)
        return self.web.render(request, "repository.html", page=page,
                               statuses=browse.STATUSES)

    async def token(self, request: Request) -> Response:
        caller = self._caller(request)
        await self.web.form(request, caller)
        minted = await self._call(browse.mint_token, self.c, caller.principal,
                                  request.path_params["domain"])
        return await self.repository(request, minted)

    async def package(self, request: Request) -> Response:
        caller = self._caller(request)
        page = await self._call(browse.package_page, self.c, caller.principal,
                                *_package_args(request))
        return self.web.render(request, "package.html", page=page)

    async def package_origin(self, request: Request) -> Response:
        caller = self._caller(request)
        fields = await self.web.form(request, caller)
        await self._call(browse.set_origin_configuration, self.c, caller.principal,
                         *_package_args(request), fields.get("publish", ""),
                         fields.get("upstream", ""))
        return self.web.redirect(_package_page(request))

    async def version(self, request: Request) -> Response:
        caller = self._caller(request)
        page = await self._call(browse.version_page, self.c, caller.principal,
                                *_package_args(request), request.path_params["version"])
        return self.web.render(request, "version.html", page=page)

    async def version_status(self, request: Request) -> Response:
        caller = self._caller(request)
        fields = await self.web.form(request, caller)
        args = (*_package_args(request), request.path_params["version"])
        await self._call(browse.set_version_status, self.c, caller.principal, *args,
                         fields.get("target", ""), fields.get("expected", ""))
        return self.web.redirect(_version_page(request))

    # Dispose, delete and copy: one handler each, so each is its own event in the audit trail.
    async def dispose_version(self, request: Request) -> Response:
        caller = self._caller(request)
        fields = await self.web.form(request, caller)
        await self._call(lifecycle.dispose_version, self.c, caller.principal,
                         *_package_args(request), request.path_params["version"],
                         fields.get("expected", ""))
        return self.web.redirect(_version_page(request))

    async def delete_version(self, request: Request) -> Response:
        caller = self._caller(request)
        fields = await self.web.form(request, caller)
        await self._call(lifecycle.delete_version, self.c, caller.principal,
                         *_package_args(request), request.path_params["version"],
                         fields.get("expected", ""))
        return self.web.redirect(_package_page(request))

    async def copy_version(self, request: Request) -> Response:
        caller = self._caller(request)
        fields = await self.web.form(request, caller)
        destination, version = fields.get("destination", ""), request.path_params["version"]
        await self._call(lifecycle.copy_version, self.c, caller.principal,
                         *_package_args(request), version, destination,
                         fields.get("allow_overwrite") == "true")
        domain, _, fmt, namespace, name = _package_args(request)
        return self.web.redirect(paths.version_path(domain, destination, fmt, namespace, name,
                                                    version))

    async def delete_package(self, request: Request) -> Response:
        caller = self._caller(request)
        await self.web.form(request, caller)
        await self._call(lifecycle.delete_package, self.c, caller.principal,
                         *_package_args(request))
        pp = request.path_params
        return self.web.redirect(paths.repository_path(pp["domain"], pp["repo"]))

    async def asset(self, request: Request) -> Response:
        caller = self._caller(request)
        ref, found = await self._call(browse.asset_download, self.c, caller.principal,
                                      *_package_args(request), request.path_params["version"],
                                      request.path_params["asset"])
        disposition = f"attachment; filename*=UTF-8''{quote(found.name, safe='')}"
        return StreamingResponse(
            self.c.registry.blobs.read(ref.domain.blob_key, found.sha256),
            media_type="application/octet-stream",
            headers={"Content-Length": str(found.size), "Content-Disposition": disposition,
                     "X-AssetName": header_text(found.name)})

    # -- policies ----------------------------------------------------------------------------

    async def _policy(self, request: Request, load: Callable[[], access.PolicyEditor],
                      save: Callable[[str, str | None], None],
                      remove: Callable[[str | None], None], back: str) -> Response:
        caller = self._caller(request)
        if request.method == "GET":
            editor = await self._call(load)
            return self.web.render(request, "policy.html", editor=editor, back=back)
        fields = await self.web.form(request, caller)
        if request.url.path.endswith("/delete"):
            await self._call(remove, fields.get("revision"))
            return self.web.redirect(back)
        document = fields.get("document", "")
        editor = await self._call(load)

        def redisplay(exc: PackyardError, status: int) -> Response:
            shown = access.PolicyEditor(editor.what, editor.resource_arn, document,
                                        fields.get("revision") or None, editor.exists,
                                        editor.can_edit, editor.can_delete, exc.message)
            return self.web.render(request, "policy.html", status, editor=shown, back=back)

        request.state.redisplay = redisplay
        await self._call(save, document, fields.get("revision"))
        return self.web.redirect(back)

    async def domain_policy(self, request: Request) -> Response:
        p, d = self._caller(request).principal, request.path_params["domain"]
        return await self._policy(
            request, lambda: access.domain_policy(self.c, p, d),
            lambda doc, rev: access.put_domain_policy(self.c, p, d, doc, rev),
            lambda rev: access.delete_domain_policy(self.c, p, d, rev), paths.domain_path(d))

    async def repository_policy(self, request: Request) -> Response:
        p = self._caller(request).principal
        d, r = request.path_params["domain"], request.path_params["repo"]
        return await self._policy(
            request, lambda: access.repository_policy(self.c, p, d, r),
            lambda doc, rev: access.put_repository_policy(self.c, p, d, r, doc, rev),
            lambda rev: access.delete_repository_policy(self.c, p, d, r, rev),
            paths.repository_path(d, r))

    # -- access ------------------------------------------------------------------------------

    async def access_page(self, request: Request) -> Response:
        caller = self._caller(request)
        page = await self._call(access.access_page, self.c, caller.principal)
        return self.web.render(request, "access.html", page=page)

    async def audit(self, request: Request) -> Response:
        caller = self._caller(request)
        reader = self.c.audit
        if reader is None:
            return self.web.render(request, "error.html", 404, title="Not found",
                                   message="The audit trail is off (PACKYARD_AUDIT_LOG=off).")
        query = request.query_params
        shown = {key: query.get(key, "") for key in ("since", "until", "principal", "event",
                                                     "resource")}
        shown["since"] = shown["since"] or "24h"
        errors_only = query.get("errors") == "1"
        now = datetime.now(UTC)
        try:
            wanted = AuditFilter(
                since=parse_moment(shown["since"], now),
                until=parse_moment(shown["until"], now) if shown["until"] else None,
                principal=shown["principal"] or None, name=shown["event"] or None,
                resource=shown["resource"] or None, errors_only=errors_only)
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        events = await self._call(reader.lookup, caller.principal, wanted)
        return self.web.render(request, "audit.html", events=events, shown=shown,
                               errors_only=errors_only)

    async def create_user(self, request: Request) -> Response:
        caller = self._caller(request)
        fields = await self.web.form(request, caller)
        user = await self._call(access.create_user, self.c, caller.principal,
                                fields.get("user_name", ""))
        return self.web.redirect(f"{paths.ROOT}/access/users/{quote(user.name, safe='')}")

    async def user(self, request: Request, new_key: tuple[str, str] | None = None
                   ) -> Response:
        caller = self._caller(request)
        page = await self._call(access.user_page, self.c, caller.principal,
                                request.path_params["user"], new_key)
        return self.web.render(request, "user.html", page=page)

    async def user_action(self, request: Request) -> Response:
        """The POSTs of a user's page; each names one IAM operation."""
        caller = self._caller(request)
        fields = await self.web.form(request, caller)
        p, user = caller.principal, request.path_params["user"]
        action = request.path_params["action"]
        back = f"{paths.ROOT}/access/users/{quote(user, safe='')}"
        if action == "create-key":
            new_key = await self._call(access.create_access_key, self.c, p, user)
            # Shown once, in the answer to this POST: never stored, never in a URL.
            return await self.user(request, new_key)
        if action == "key-status":
            await self._call(access.set_access_key_status, self.c, p, user,
                             fields.get("key_id", ""), fields.get("status", ""))
        elif action == "delete-key":
            await self._call(access.delete_access_key, self.c, p, user,
                             fields.get("key_id", ""))
        elif action == "attach":
            await self._call(access.attach_user_policy, self.c, p, user,
                             fields.get("policy_arn", ""))
        elif action == "detach":
            await self._call(access.detach_user_policy, self.c, p, user,
                             fields.get("policy_arn", ""))
        elif action == "delete":
            await self._call(access.delete_user, self.c, p, user)
            return self.web.redirect(paths.ROOT + "/access")
        else:
            return self.web.render(request, "error.html", 404, title="Not found",
                                   message=f"No action {action!r}")
        return self.web.redirect(back)

    async def role(self, request: Request) -> Response:
        caller = self._caller(request)
        page = await self._call(access.role_page, self.c, caller.principal,
                                request.path_params["role"])
        return self.web.render(request, "role.html", page=page)

    async def role_action(self, request: Request) -> Response:
        """The POSTs of a role's page: attach or detach a managed policy, delete the role."""
        caller = self._caller(request)
        fields = await self.web.form(request, caller)
        role, action = request.path_params["role"], request.path_params["action"]
        if action == "delete":
            await self._call(iam_documents.delete_role, self.c, caller.principal, role)
            return self.web.redirect(paths.ROOT + "/access#roles")
        change = {"attach": access.attach_role_policy,
                  "detach": access.detach_role_policy}.get(action)
        if change is None:
            return self.web.render(request, "error.html", 404, title="Not found",
                                   message=f"No action {action!r}")
        await self._call(change, self.c, caller.principal, role, fields.get("policy_arn", ""))
        return self.web.redirect(f"{paths.ROOT}/access/roles/{quote(role, safe='')}")

    # -- roles and inline policies, edited as JSON --------------------------------------------

    async def _document(self, request: Request,
                        load: Callable[[], iam_documents.DocumentEditor],
                        save: Callable[[dict[str, str]], str], action: str,
                        delete_action: str | None = None) -> Response:
        """A JSON document's editor: GET shows it, POST saves it through ``save`` (which
        returns where to go next); a refusal comes back in the editor, with what was typed."""
        caller = self._caller(request)
        if request.method in ("GET", "HEAD"):
            editor = await self._call(load)
            return self.web.render(request, "document.html", editor=editor, action=action,
                                   delete_action=delete_action)
        fields = await self.web.form(request, caller)
        shown = await self._call(_loaded, load)

        def redisplay(exc: PackyardError, status: int) -> Response:
            if shown is None:
                return self.web.render(request, "error.html", status,
                                       title=status_of(exc)[1], message=exc.message)
            editor = shown.with_error(exc.message, fields.get("document", ""),
                                      fields.get("name") or shown.name,
                                      fields.get("description"))
            return self.web.render(request, "document.html", status, editor=editor,
                                   action=action, delete_action=delete_action)

        request.state.redisplay = redisplay
        return self.web.redirect(await self._call(save, fields))

    async def new_role(self, request: Request) -> Response:
        p = self._caller(request).principal
        return await self._document(
            request, lambda: iam_documents.new_role(self.c, p),
            lambda f: iam_documents.access_path("role", iam_documents.create_role(
                self.c, p, f.get("name", ""), f.get("description", ""),
                f.get("document", "")).name),
            paths.ROOT + "/access/roles")

    async def trust_policy(self, request: Request) -> Response:
        p, role = self._caller(request).principal, request.path_params["role"]

        def save(fields: dict[str, str]) -> str:
            iam_documents.update_trust_policy(self.c, p, role, fields.get("document", ""))
            return iam_documents.access_path("role", role)

        return await self._document(request, lambda: iam_documents.trust_policy(self.c, p, role),
                                    save, request.url.path)

    async def _inline_policy(self, request: Request, kind: iam_documents.Owner) -> Response:
        """A user's or role's inline policy: a new one, or one by name; POST saves."""
        p, pp = self._caller(request).principal, request.path_params
        owner, name = pp[kind], pp.get("policy")
        policies = iam_documents.access_path(kind, owner) + "/inline-policies"

        def save(fields: dict[str, str]) -> str:
            iam_documents.put_inline_policy(self.c, p, kind, owner,
                                            name or fields.get("name", ""),
                                            fields.get("document", ""))
            return iam_documents.access_path(kind, owner)

        this = f"{policies}/{quote(name, safe='')}" if name else policies
        return await self._document(
            request, lambda: iam_documents.inline_policy(self.c, p, kind, owner, name), save,
            this, f"{this}/delete" if name else None)

    async def _delete_inline_policy(self, request: Request, kind: iam_documents.Owner
                                    ) -> Response:
        caller = self._caller(request)
        await self.web.form(request, caller)
        pp = request.path_params
        await self._call(iam_documents.delete_inline_policy, self.c, caller.principal, kind,
                         pp[kind], pp["policy"])
        return self.web.redirect(iam_documents.access_path(kind, pp[kind]))

    # One handler per owner and operation: each is its own event in the audit trail.
    async def user_policy(self, request: Request) -> Response:
        return await self._inline_policy(request, "user")

    async def role_policy(self, request: Request) -> Response:
        return await self._inline_policy(request, "role")

    async def delete_user_policy(self, request: Request) -> Response:
        return await self._delete_inline_policy(request, "user")

    async def delete_role_policy(self, request: Request) -> Response:
        return await self._delete_inline_policy(request, "role")

    async def revoke_token(self, request: Request) -> Response:
        caller = self._caller(request)
        await self.web.form(request, caller)
        await self._call(access.revoke_token, self.c, caller.principal,
                         request.path_params["token"])
        return self.web.redirect(paths.ROOT + "/access#tokens")

    # -- the routes --------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        repo = "/domains/{domain}/repositories/{repo}"
        pkg = repo + "/packages/{format}/{namespace}/{name}"
        version = pkg + "/versions/{version}"
        get, post = ["GET", "HEAD"], ["POST"]

        def route(path: str, handler: Handler, methods: list[str]) -> Route:
            # Each request noted for the audit trail and the metrics (console/audit.py).
            return Route(path, noted(handler, handler.__name__), methods=methods)

        inner: list[BaseRoute] = [
            route("/", self.home, get),
            route("/sign-in", self.signin_page, get),
            route("/sign-in", self.signin, post),
            route("/sign-out", self.signout, post),
            route("/domains/{domain}", self.domain, get),
            route("/domains/{domain}/policy", self.domain_policy, get + post),
            route("/domains/{domain}/policy/delete", self.domain_policy, post),
            route("/domains/{domain}/package-group", self.package_group, get),
            route("/domains/{domain}/package-groups/{action}", self.package_group_action, post),
            route("/domains/{domain}/tags/{action}", self.domain_tags, post),
            route(repo, self.repository, get),
            route(repo + "/tags/{action}", self.repository_tags, post),
            route(repo + "/token", self.token, post),
            route(repo + "/policy", self.repository_policy, get + post),
            route(repo + "/policy/delete", self.repository_policy, post),
            route(pkg, self.package, get),
            route(pkg + "/origin", self.package_origin, post),
            route(version, self.version, get),
            route(pkg + "/delete", self.delete_package, post),
            route(version + "/status", self.version_status, post),
            route(version + "/dispose", self.dispose_version, post),
            route(version + "/delete", self.delete_version, post),
            route(version + "/copy", self.copy_version, post),
            route(version + "/assets/{asset}", self.asset, get),
            route("/access", self.access_page, get),
            route("/audit", self.audit, get),
            route("/access/users", self.create_user, post),
            route("/access/users/{user}", self.user, get),
            route("/access/users/{user}/new-inline-policy", self.user_policy, get),
            route("/access/users/{user}/inline-policies", self.user_policy, post),
            route("/access/users/{user}/inline-policies/{policy}", self.user_policy, get + post),
            route("/access/users/{user}/inline-policies/{policy}/delete",
                  self.delete_user_policy, post),
            route("/access/users/{user}/{action}", self.user_action, post),
            route("/access/new-role", self.new_role, get),
            route("/access/roles", self.new_role, post),
            route("/access/roles/{role}", self.role, get),
            route("/access/roles/{role}/trust-policy", self.trust_policy, get + post),
            route("/access/roles/{role}/new-inline-policy", self.role_policy, get),
            route("/access/roles/{role}/inline-policies", self.role_policy, post),
            route("/access/roles/{role}/inline-policies/{policy}", self.role_policy, get + post),
            route("/access/roles/{role}/inline-policies/{policy}/delete",
                  self.delete_role_policy, post),
            route("/access/roles/{role}/{action}", self.role_action, post),
            route("/access/tokens/{token}/revoke", self.revoke_token, post),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]
        return [
            Route(paths.ROOT, lambda _r: RedirectResponse(paths.ROOT + "/", 308),
                  methods=get),
            Mount(paths.ROOT, routes=inner,
                  middleware=[Middleware(ConsoleHeaders), console_errors(self.web)]),
        ]


def browser_root(api: Endpoint) -> Endpoint:
    """``/``: a browser's plain ``GET`` (it asks for HTML, names no action and signs
    nothing) is sent to the console; everything else is the AWS Query API's, as before."""

    async def root(request: Request) -> Response:
        if (request.method == "GET" and not request.url.query
                and "authorization" not in request.headers
                and "text/html" in request.headers.get("accept", "")):
            return RedirectResponse(paths.ROOT + "/", status_code=303)
        return await api(request)

    return root
