"""The npm package endpoint: what npm, pnpm and yarn send, read from the raw path.

Every request under ``/{domain}-{owner}/npm/{repo}/`` reaches one handler per method, which
reads the path still percent-encoded (``names.parse_package_request``: ``@s%2fn``, ``@s%2Fn``
and ``@s/n`` are one package, which Starlette's decoded path cannot tell from others) and
dispatches: the ``-/…`` endpoints first (ping, whoami, search, dist-tags, advisories), then the
package forms (packument, tarball, a version's manifest, publish, deprecate, unpublish).
Handlers are thin: parse, call one service, render. The read grants, caches and answers are the
core's (``PackageReads``); packuments and tarballs across upstreams are the resolver's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from packyard.errors import Invalid, NotFound, TooLarge
from packyard.formats.npm.account_commands import account_command, refuse_account_command
from packyard.formats.npm.audit_queries import (
    ADVISORIES,
    AUDITS,
    package_names,
    queried_names,
    read_query,
    without_names,
)
from packyard.formats.npm.dist_tags import (
    MAX_TAG_BODY_BYTES,
    effective_dist_tags,
    validate_tag,
)
from packyard.formats.npm.errors import ERRORS, error_response, to_response
from packyard.formats.npm.hot_reads import endpoint_url, npm_hot_route, packument_key
from packyard.formats.npm.names import (
    PackageName,
    parse_dist_tags_path,
    parse_package_name,
    parse_package_request,
    validate_new_package_name,
)
from packyard.formats.npm.package_edits import DELETE, PUBLISH, LocalPackage, PackageEdits
from packyard.formats.npm.packument import LISTED_STATUSES, render_full
from packyard.formats.npm.packuments import Kind, Packuments
from packyard.formats.npm.plugin import FORMAT, PUBLIC_NPMJS
from packyard.formats.npm.publish import NpmLimits, NpmPublisher, ReceivedBody, receive
from packyard.formats.npm.publish_body import PublishLimits
from packyard.formats.npm.publish_checks import is_publish
from packyard.formats.npm.search import parse_search_query
from packyard.formats.npm.search_index import search_repository
from packyard.formats.npm.stars import VIEWS, is_star, is_star_command, refuse_stars
from packyard.formats.npm.upstream import NpmUpstream
from packyard.formats.npm.upstream_versions import UpstreamVersions
from packyard.formats.plugin import MountedFormat
from packyard.http.answer import Answer
from packyard.http.login_hint import login_command
from packyard.http.request import base_url, declared_length
from packyard.http.request_note import RequestNote, note_of
from packyard.services.access import RepositoryAccess, WriteCaller
from packyard.services.answers import CachedFile, RenderedPage
from packyard.services.core import Core
from packyard.services.hot_reads import HotKey
from packyard.services.reads import PackageReads
from packyard.services.upload_capacity import UploadCapacity
from packyard.storage.blobs import BlobStore
from packyard.upstream.resolver import UpstreamResolver

_TARBALL = "application/octet-stream"
# npm audit's endpoints, passed on to public:npmjs: npm 7+ posts the bulk advisories query; pnpm
# (up to 10 at least) posts the quick audit, then npm 6's full audit when that is not a 200.
# Each is named in the upstream's refusal as the client knows it.
_AUDITS = {"-/npm/v1/security/advisories/bulk": ADVISORIES,
           "-/npm/v1/security/audits/quick": AUDITS,
           "-/npm/v1/security/audits": AUDITS}
_MAX_ADVISORY_BYTES = 16 * 1024 * 1024
_NO_ATTACHMENTS = Invalid("This request takes a document without a tarball.")


def _json(document: Any, status: int = 200) -> Response:
    return Response(json.dumps(document, ensure_ascii=False).encode(), status_code=status,
                    media_type="application/json")


def _rest(request: Request) -> str:
    """The raw path after ``/{label}/npm/{repo}/``, still percent-encoded, without a query."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    return "/".join(raw.decode("latin-1").split("/")[4:])


def _audited_action(rest: str) -> str:
    """The action a write is recorded under in the audit trail (its authorization is the
    service's): an unpublish names a ``-rev``; dist-tags, deprecations and publishes are
    PublishPackageVersion."""
    if rest.startswith("-/package/") or "/-rev/" not in rest:
        return "PublishPackageVersion"
    return "DeletePackageVersions"


def _noted(request: Request) -> RequestNote:
    """The request's note (``http/request_note.py``) as an npm request; ``get`` names the
    packument and tarball reads (the operations the first-read path notes them under)."""
    note = note_of(request.scope)
    note.surface = FORMAT
    return note


def _note_package(request: Request, name: PackageName, **more: str) -> None:
    """Name the package a write is about in its audit event (and ``packyard audit
    --resource``), as a PyPI upload names its project: before it is authorized, so a refusal
    names it too."""
    note = note_of(request.scope)
    named = {"packageFormat": FORMAT, "packageName": name.full,
             **({"packageNamespace": name.scope} if name.scope is not None else {}), **more}
    note.request_parameters = {**(note.request_parameters or {}), **named}


def _tarball_of(entry: object) -> tuple[PackageName, str]:
    """The package and file name of a tarball's hot key entry (``npm_hot_route``'s)."""
    full, filename = cast(tuple[str, str], entry)
    return parse_package_name(full), filename


def _endpoint(request: Request) -> str:
    base = base_url(request)
    scheme, _, host = base.partition("://")
    return endpoint_url(scheme, host, request.path_params["label"], request.path_params["repo"])


class NpmEndpoint:
    """Request handlers bound to the services they call."""

    def __init__(self, core: Core, reads: PackageReads, resolver: UpstreamResolver,
                 publisher: NpmPublisher) -> None:
        self._core = core
        self._reads = reads
        self._resolver = resolver
        self._publisher = publisher
        self._packuments = Packuments(core.catalog, resolver)
        self._edits = PackageEdits(core.registry, publisher)
        self._upstream_versions = UpstreamVersions(core.registry, resolver, self._packuments,
                                                   self._edits)
        self._capacity: UploadCapacity = core.uploads
        self._blobs: BlobStore = core.blobs

    # -- GET and HEAD ------------------------------------------------------------------------

    async def get(self, request: Request) -> Response:
        note = _noted(request)
        access = await self._reads.open_read(request)
        rest = _rest(request)
        if rest.startswith("-/") or rest == "-":
            special = rest[2:]
            note.route = _SPECIAL_ROUTES.get(special, "dist_tag" if special.startswith(
                "package/") else "other")
            return await self._special_get(request, access, special)
        if not rest:
            raise NotFound("Not found: this is a registry; ask for a package by name.")
        wanted = parse_package_request(rest)
        name = wanted.package
        if wanted.tarball is not None and wanted.rev is None:
            note.route = "tarball"
            return await self._tarball(request, access, name, wanted.tarball)
        if wanted.version_or_tag is not None:
            note.route = "version"
            return await self._version(request, access, name, wanted.version_or_tag)
        if wanted.tarball is not None or wanted.rev is not None:
            raise NotFound(f"Not found: /{rest}")
        if request.query_params.get("write") == "true":
            note.route = "packument_write"
            if is_star_command(request.headers.get("npm-command")):
                raise refuse_stars()
            return await self._write_document(request, access, name)
        endpoint = _endpoint(request)
        note.route = "packument"
        key = packument_key(name.full, request.headers.get("accept"), endpoint)
        page = await self._reads.page(
            access, key, lambda: self._packuments.page(access.domain, access.repository, name,
                                                       key[1], endpoint))  # type: ignore[arg-type]
        return self._reads.page_response(request, page)

    async def _tarball(self, request: Request, access: RepositoryAccess, name: PackageName,
                       filename: str) -> Response:
        domain, repo = access.domain, access.repository
        cached = await self._reads.stored_file(
            access, (name.full, filename),
            lambda: self._resolver.find_own(domain, repo, name.bare, filename, name.namespace),
            _TARBALL)
        if cached is not None:
            return self._reads.cached_file_response(request, cached)
        located = await self._resolver.locate(domain, repo, name.bare, filename, name.namespace,
                                              own_checked=True,
                                              asked=self._reads.file_request(request))
        return self._reads.file_response(request, located, _TARBALL)

    async def first_read(self, access: RepositoryAccess, key: HotKey
                         ) -> RenderedPage | CachedFile | None:
        """The packument or tarball ``key`` (``npm_hot_route``'s) as ``get`` makes it, for the
        first-read path; None where ``get`` would answer otherwise (a tarball the repository
        does not hold itself: its pull-through or its 404)."""
        kind, entry = key
        if kind == "page":
            full, form, endpoint = cast(tuple[str, Kind, str], entry)
            name = parse_package_name(full)
            return await self._reads.page(
                access, entry, lambda: self._packuments.page(
                    access.domain, access.repository, name, form, endpoint))
        name, filename = _tarball_of(entry)
        domain, repo = access.domain, access.repository
        return await self._reads.stored_file(
            access, entry,
            lambda: self._resolver.find_own(domain, repo, name.bare, filename, name.namespace),
            _TARBALL)

    def first_read_now(self, access: RepositoryAccess, key: HotKey
                       ) -> RenderedPage | CachedFile | None:
        """The tarball ``key`` names as ``first_read`` finds it, when that takes no waiting
        (its record looked up on this thread, a small tarball's bytes read there where the
        blob store can: ``PackageReads.stored_file_now``); None otherwise, and for packuments,
        which are rendered from a merged listing (worker threads)."""
        kind, entry = key
        if kind != "file":
            return None
        name, filename = _tarball_of(entry)
        domain, repo = access.domain, access.repository
        return self._reads.stored_file_now(
            access, entry,
            lambda: self._resolver.find_own_now(domain, repo, name.bare, filename,
                                                name.namespace),
            _TARBALL)

    async def _version(self, request: Request, access: RepositoryAccess, name: PackageName,
                       version_or_tag: str) -> Response:
        """``GET /<name>/<version-or-tag>``: one version's manifest, as the public registry
        serves it (``npm view pkg@1.0.0`` without a packument)."""
        package = await self._packuments.package(access.domain, access.repository, name)
        base_url = _endpoint(request)
        # Rendered and read back in a worker thread: typescript's is 10 MB.
        document = await run_in_threadpool(
            lambda: json.loads(render_full(package, base_url).body))
        version = document["dist-tags"].get(version_or_tag, version_or_tag)
        manifest = document["versions"].get(version)
        if manifest is None:
            raise NotFound(f"version not found: {name.full}@{version_or_tag}")
        return _json(manifest)

    async def _write_document(self, request: Request, access: RepositoryAccess,
                              name: PackageName) -> Response:
        """``GET /<name>?write=true``: the document npm deprecate and unpublish edit and send
        back: every version the packument lists (so ``npm deprecate`` finds one only the
        upstreams have, which the PUT then keeps), with the ``_rev`` of the repository's own
        document, which those writes are checked against."""
        try:
            local: LocalPackage | None = await run_in_threadpool(self._edits.local,
                                                                  access.repository, name)
        except NotFound:
            local = None
        package = await self._packuments.package(access.domain, access.repository, name)
        document = await run_in_threadpool(
            lambda: render_full(package, _endpoint(request), write=True,
                                revision=local.revision if local is not None else None))
        return Response(document.body, media_type="application/json",
                        headers={"Cache-Control": "no-store"})

    async def _special_get(self, request: Request, access: RepositoryAccess,
                           rest: str) -> Response:
        if rest == "ping":
            return _json({})
        if rest == "whoami":
            return _json({"username": access.principal.name})
        if rest == "v1/search":
            query = parse_search_query(request.query_params)
            found = await run_in_threadpool(search_repository, self._core.catalog,
                                            access.repository, query, self._core.clock.now())
            return _json(found)
        if rest.startswith(VIEWS):
            raise refuse_stars()
        _refuse_account_command(rest)
        if rest.startswith("package/"):
            name, tag = parse_dist_tags_path(rest.removeprefix("package/"))
            tags = await self._dist_tags(access, name)
            if tag is None:
                return _json(tags)
            if tag not in tags:
                raise NotFound(f"{tag} is not a dist-tag on {name.full}")
            return _json(tags[tag])
        raise NotFound(f"Not found: /-/{rest}")

    async def _dist_tags(self, access: RepositoryAccess, name: PackageName) -> dict[str, str]:
        """The package's tags as its packument has them: the repository's own merged with its
        upstreams' (a repository that keeps only some versions must not list the tags of
        those alone: ``latest`` would name an older version than installs get)."""
        package = await self._packuments.package(access.domain, access.repository, name)
        listed = [v.version for v in package.versions if v.status in LISTED_STATUSES]
        return effective_dist_tags(package.dist_tags, listed)

    # -- PUT -----------------------------------------------------------------------------------

    async def put(self, request: Request) -> Response:
        note = _noted(request)
        # The caller is known, and allowed, before a byte of the body is read.
        rest = _rest(request)
        caller = await self._reads.open(request, _audited_action(rest))
        if rest.startswith("-/user/"):
            raise Invalid("npm login and adduser are not how Packyard signs you in: run "
                          f"`{login_command('npm', request.scope)}` (it writes the token into "
                          ".npmrc)")
        if rest.startswith("-/"):
            _refuse_account_command(rest[2:])
        if rest.startswith("-/package/"):
            note.route = "dist_tag"
            return await self._put_tag(request, caller, rest.removeprefix("-/package/"))
        if rest.startswith("-") or not rest:
            raise NotFound(f"Not found: /{rest}")
        wanted = parse_package_request(rest)
        name = wanted.package
        _note_package(request, name)
        if wanted.rev is not None and wanted.tarball is None:
            note.route = "unpublish"
            return await self._unpublish_versions(request, caller, name, wanted.rev)
        if wanted.tarball is not None or wanted.version_or_tag is not None:
            raise NotFound(f"Not found: PUT /{rest}")
        note.route = "publish"
        access = await self._authorize(caller, name, PUBLISH)

        def refuse_early() -> None:
            self._publisher.refuse_early(access.domain, access.repository, name)

        with self._capacity.admit(declared_length(request)):
            received = await receive(request.stream(), self._blobs,
                                     self._publisher.limits.publish, refuse_early)
            if received.staged is not None or is_publish(received.body.document):
                validate_new_package_name(name.full)
                outcome = await run_in_threadpool(self._publisher.publish, access.principal,
                                                  access.domain, access.repository, name,
                                                  received)
                # Counted in packyard_uploads_total{format="npm"}, as a twine upload is.
                note.upload_outcome = "created" if outcome.created else "identical"
                _note_package(request, name, packageVersion=outcome.version)
                return _json({"ok": True, "id": outcome.name.full,
                              "created": outcome.created},
                             status=201 if outcome.created else 200)
        note.route = "deprecate"
        if is_star(received.body.document):
            raise refuse_stars()
        await self._upstream_versions.keep_to_deprecate(access, name, received.body.document)
        changed = await run_in_threadpool(self._edits.deprecate, access.principal,
                                          access.domain, access.repository, name,
                                          received.body.document)
        return _json({"ok": True, "id": name.full, "changed": changed})

    async def _authorize(self, caller: WriteCaller, name: PackageName,
                         action: str) -> RepositoryAccess:
        """Authorize a write on the names in its URL, then find its repository: a caller who
        may not make it is refused whether or not the repository exists."""

        def authorize() -> RepositoryAccess:
            self._publisher.authorize(caller.principal, caller.domain, caller.repository_name,
                                      name, action)
            return self._reads.repository_for(caller)

        return await run_in_threadpool(authorize)

    async def _unpublish_versions(self, request: Request, caller: WriteCaller,
                                  name: PackageName, rev: str) -> Response:
        access = await self._authorize(caller, name, DELETE)
        received = await self._document(request)
        removed = await run_in_threadpool(self._edits.unpublish_versions, access.domain,
                                          access.repository, name, rev,
                                          received.body.document)
        return _json({"ok": True, "id": name.full, "removed": removed})

    async def _document(self, request: Request) -> ReceivedBody:
        """A document body that may carry no tarball (a deprecate or unpublish PUT)."""
        limits = self._publisher.limits.publish
        document_only = PublishLimits(max_body_bytes=limits.max_document_bytes,
                                      max_document_bytes=limits.max_document_bytes)
        received = await receive(request.stream(), self._blobs, document_only)
        if received.staged is not None:
            self._blobs.discard(received.staged)
            raise _NO_ATTACHMENTS
        return received

    async def _put_tag(self, request: Request, caller: WriteCaller,
                       rest: str) -> Response:
        name, tag = parse_dist_tags_path(rest)
        if tag is None:
            raise Invalid("PUT /-/package/<name>/dist-tags/<tag> with the version as a JSON "
                          "string sets a tag.")
        validate_tag(tag)
        _note_package(request, name, tag=tag)
        access = await self._authorize(caller, name, PUBLISH)
        body = await _small_body(request, MAX_TAG_BODY_BYTES)
        await self._upstream_versions.keep_to_tag(access, name, body)
        await run_in_threadpool(self._edits.set_tag, access.principal, access.domain,
                                access.repository, name, tag, body)
        return _json({"ok": True, **await self._dist_tags(access, name)}, status=201)

    # -- DELETE --------------------------------------------------------------------------------

    async def delete(self, request: Request) -> Response:
        note = _noted(request)
        rest = _rest(request)
        caller = await self._reads.open(request, _audited_action(rest))
        note.route = "unpublish"
        if rest.startswith("-/"):
            _refuse_account_command(rest[2:])
        if rest.startswith("-/package/"):
            note.route = "dist_tag"
            name, tag = parse_dist_tags_path(rest.removeprefix("-/package/"))
            if tag is None:
                raise NotFound(f"Not found: DELETE /{rest}")
            _note_package(request, name, tag=tag)
            access = await self._authorize(caller, name, PUBLISH)
            await run_in_threadpool(self._edits.delete_tag, access.principal, access.domain,
                                    access.repository, name, tag)
            return _json({"ok": True, **await self._dist_tags(access, name)})
        if rest.startswith("-") or not rest:
            raise NotFound(f"Not found: DELETE /{rest}")
        wanted = parse_package_request(rest)
        if wanted.rev is None:
            raise Invalid("An unpublish names the document revision it is based on: DELETE "
                          "/<name>/-rev/<rev> or /<name>/-/<tarball>/-rev/<rev>.")
        _note_package(request, wanted.package, **(
            {"packageVersion": wanted.tarball_version} if wanted.tarball_version else {}))
        access = await self._authorize(caller, wanted.package, DELETE)
        if wanted.tarball is not None:
            assert wanted.tarball_version is not None
            await run_in_threadpool(self._edits.unpublish_tarball, access.principal,
                                    access.domain, access.repository, wanted.package,
                                    wanted.tarball_version, wanted.rev)
            return _json({"ok": True})
        removed = await run_in_threadpool(self._edits.unpublish_package, access.principal,
                                          access.domain, access.repository, wanted.package,
                                          wanted.rev)
        return _json({"ok": True, "id": wanted.package.full, "removed": removed})

    # -- POST ----------------------------------------------------------------------------------

    async def post(self, request: Request) -> Response:
        _noted(request).route = "advisories"
        access = await self._reads.open_read(request)
        rest = _rest(request)
        kind = _AUDITS.get(rest)
        if kind is None:
            if rest.startswith("-/"):
                _refuse_account_command(rest[2:])
            raise NotFound(f"Not found: POST /{rest}")
        # Only a repository that reaches the public registry can say what it knows of
        # vulnerabilities; anything else is a 404, never a made-up "0 vulnerabilities".
        upstream = await self._resolver.external_url(access.domain, access.repository,
                                                     PUBLIC_NPMJS.name)
        if upstream is None:
            raise NotFound("This repository has no npm advisories: it does not reach "
                           "public:npmjs.")
        body = await _small_body(request, _MAX_ADVISORY_BYTES)
        headers = {"Content-Type": request.headers.get("content-type", "application/json")}
        if request.headers.get("content-encoding"):
            headers["Content-Encoding"] = request.headers["content-encoding"]
        public = await self._public_query(access, kind, body, headers)
        if public is not None:
            if kind == ADVISORIES and not public:
                return _json({})  # nothing left to ask about: no advisories
            body = json.dumps(public, ensure_ascii=False).encode()
            headers.pop("Content-Encoding", None)
        status, content_type, answer = await self._core.upstreams.http.post(
            upstream + rest, body, headers, _MAX_ADVISORY_BYTES, upstream=upstream)
        if status != 200:
            # A refusal of the body sent is the client's to see; anything else (a mirror
            # without the endpoint: 404, 405; the npm registry retiring pnpm's audits: 410)
            # is the upstream failing it, with the upstream's own reason when it gives one.
            return error_response(status if status in _BODY_REFUSALS else 502,
                                  f"The upstream's {kind} endpoint answered {status}"
                                  + _upstream_reason(answer))
        return Response(answer, media_type=content_type or "application/json")

    async def _public_query(self, access: RepositoryAccess, kind: str, body: bytes,
                            headers: Mapping[str, str]) -> Any:
        """The audit query without the packages the repository never asks public:npmjs
        about (``audit_queries.py``); None when it names none of them (sent as it came)."""
        document = read_query(body, headers.get("Content-Encoding"), _MAX_ADVISORY_BYTES)
        parsed = package_names(queried_names(kind, document))
        pairs = {(name.namespace, name.bare) for name in parsed.values() if name is not None}
        kept_from = await run_in_threadpool(self._resolver.withheld_from, access.domain,
                                            access.repository, PUBLIC_NPMJS.name, pairs)
        # A key no package could have is not a package: pnpm's importers ("." and workspace
        # paths) hold the dependencies under them.
        withheld = {text for text, name in parsed.items()
                    if name is not None and (name.namespace, name.bare) in kept_from}
        if not withheld:
            return None
        return without_names(kind, document, withheld)


_BODY_REFUSALS = frozenset({400, 413, 415, 422})
_MAX_REASON = 500
# The route classes of /-/… reads in /metrics and the access log (a fixed set: never the path).
_SPECIAL_ROUTES = {"ping": "ping", "whoami": "whoami", "v1/search": "search"}


def _refuse_account_command(special: str) -> None:
    """``npm access``, ``owner``, ``team`` and the like: refused (``account_commands``)."""
    command = account_command(special)
    if command is not None:
        raise refuse_account_command(command)


def _upstream_reason(answer: bytes) -> str:
    """``: <error>`` from an upstream's npm error body (``{"error": …}``), else nothing: the
    npm registry says why it refuses ("This endpoint is being retired. Use the bulk advisory
    endpoint instead. …"), which the client should see."""
    try:
        error = json.loads(answer).get("error") if len(answer) <= 64 * 1024 else None
    except (ValueError, AttributeError):
        return ""
    if not isinstance(error, str) or not error.strip():
        return ""
    return ": " + " ".join(error.split())[:_MAX_REASON]


async def _small_body(request: Request, limit: int) -> bytes:
    declared = declared_length(request)
    if declared is not None and declared > limit:
        raise TooLarge(f"The request body is larger than {limit} bytes.")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"The request body is larger than {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def mount_npm(core: Core) -> MountedFormat:
    """The npm package endpoint on the core's services."""
    settings = core.settings
    limits = NpmLimits.of(settings.npm_max_tarball_bytes, settings.npm_max_document_bytes)
    reads = core.package_reads()
    resolver = core.upstreams.resolver_for(NpmUpstream(limits.tarball))
    endpoint = NpmEndpoint(core, reads, resolver, NpmPublisher(core.registry, limits))
    return MountedFormat(
        hot_path=reads.hot_path(FORMAT, npm_hot_route, raw_path=True),
        first_read=reads.first_reads(
            FORMAT, npm_hot_route, endpoint.first_read,
            lambda error, scope: Answer.of(to_response(error, scope)),
            {"page": "packument", "file": "tarball"}, endpoint.first_read_now,
            raw_path=True),
        routes=[Mount("/{label}/npm/{repo}", middleware=[ERRORS], routes=[
            Route("/{path:path}", endpoint.get, methods=["GET", "HEAD"]),
            Route("/{path:path}", endpoint.put, methods=["PUT"]),
            Route("/{path:path}", endpoint.delete, methods=["DELETE"]),
            Route("/{path:path}", endpoint.post, methods=["POST"]),
        ])])

