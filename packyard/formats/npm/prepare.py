"""A tarball's package.json as ``npm publish <tarball>`` sends it: @npmcli/package-json's
``prepare``.

npm publishes a tarball's manifest read with ``PackageJson.prepare`` (pacote's
``fullReadJson``), which rewrites much of what the author wrote, and the registry keeps and
serves what npm sent. ``packyard import`` publishes a tarball as npm would (``tarball_document``),
so it rewrites as npm does, in every step whose input is the tarball (@npmcli/package-json 7,
``normalize.js`` and ``normalize-data.js``, which took over normalize-package-data):

- from the tarball's files: ``scripts.install`` "node-gyp rebuild" (and ``gypfile``) when a
  ``*.gyp`` is at the root, ``scripts.start`` "node server.js" when ``server.js`` is,
  ``contributors`` from an ``AUTHORS`` file, the README as ``readme`` (``ERROR: No README data
  found!`` without one), ``man`` from ``directories.man``, ``bin`` from ``directories.bin``,
  ``types`` when the main file has a ``.d.ts`` beside it;
- from the manifest itself: ``bin`` as an object of bare names to clean relative paths (a
  string is the package's own command), ``man`` a list of clean paths, invalid ``scripts``
  dropped and ``node_modules/.bin/`` taken off them, ``repository`` an object whose git URL is
  written in one form (``"zeit/ms"``: ``git+https://github.com/zeit/ms.git``, through
  ``hosted_git``), ``bugs`` and ``homepage`` made from it, dependencies written as a string or
  an array made objects and git dependencies on known hosts written in one form, the
  ``description`` taken from the README when there is none, ``files`` and ``keywords`` kept to
  strings, ``bundleDependencies`` listed in ``dependencies``, ``author``, ``maintainers`` and
  ``contributors`` made ``{name, email, url}`` objects.

Not made: ``gitHead`` (a tarball has no git checkout). The fields starting with ``_``,
``_id`` and ``bundleDependencies`` are ``tarball_document``'s; name and version are checked
there too.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import Any

from packyard.errors import Invalid
from packyard.formats.npm.hosted_git import from_url

NO_README = "ERROR: No README data found!"
_MARKDOWN = re.compile(r"\.m?a?r?k?d?o?w?n?$", re.IGNORECASE)
_SCRIPT_BIN = re.compile(r"^(\.[/\\])?node_modules[/\\].bin[\\/]")
_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*:")
_SPECIAL = ("http:", "https:", "ws:", "wss:", "ftp:")


def _truthy(value: Any) -> bool:
    """JavaScript's truthiness: an empty list or object is true, ``""``, 0 and null false."""
    if isinstance(value, (list, dict)):
        return True
    return bool(value)


def npm_reads_readme(filename: str | None) -> bool:
    """Whether npm takes this root file as the README (a Markdown name, or one ending in
    ``README``); Packyard also shows other ``README.*`` files, which npm does not read."""
    return filename is not None and (bool(_MARKDOWN.search(filename))
                                     or filename.endswith("README"))


def prepare(manifest: dict[str, Any], files: frozenset[str], readme: str | None,
            authors: str | None) -> None:
    """Rewrite ``manifest`` (a copy of the tarball's package.json, its ``_`` fields gone) in
    place as npm's ``prepare`` does. ``files``: every file's path in the tarball, below the
    package's folder; ``readme``: the README npm reads (``npm_reads_readme``), if any;
    ``authors``: the root ``AUTHORS`` file's text, if any. Invalid when npm would fail (a
    ``main`` that is not a string)."""
    _from_files(manifest, files, readme, authors)
    _scripts(manifest)
    _repository(manifest)
    _dependencies(manifest)
    _normalize_data(manifest)


# -- the steps that read the tarball's files (normalize.js's asyncSteps) ----------------------


def _from_files(data: dict[str, Any], files: frozenset[str], readme: str | None,
                authors: str | None) -> None:
    scripts = data["scripts"] if _truthy(data.get("scripts")) else {}
    if isinstance(scripts, dict):
        if (not scripts.get("install") and not scripts.get("preinstall")
                and data.get("gypfile") is not False
                and any("/" not in f and f.endswith(".gyp") and not f.startswith(".")
                        for f in files)):
            scripts["install"] = "node-gyp rebuild"
            data["scripts"] = scripts
            data["gypfile"] = True
        if not scripts.get("start") and "server.js" in files:
            scripts["start"] = "node server.js"
            data["scripts"] = scripts
    if not _truthy(data.get("contributors")) and authors is not None:
        lines = (re.sub(r"^\s*#.*$", "", line).strip() for line in re.split(r"\r?\n", authors))
        data["contributors"] = [line for line in lines if line]
    if not data.get("readme"):
        data["readme"] = readme if readme else NO_README
    directories = data.get("directories")
    man_dir = directories.get("man") if isinstance(directories, Mapping) else None
    if _truthy(man_dir) and not _truthy(data.get("man")):
        base = _secure(_text(man_dir))
        data["man"] = sorted(f for f in _under(files, base)
                             if re.search(r"\.[0-9]$", f) and _visible(f, base))
    _man(data)
    bin_dir = directories.get("bin") if isinstance(directories, Mapping) else None
    if _truthy(bin_dir) and not _truthy(data.get("bin")):
        base = _secure(_text(bin_dir))
        found: dict[str, str] = {}
        for entry in sorted(_entries_under(files, base)):
            relative = entry[len(base) + 1:] if base else entry
            if relative and not relative.startswith(".") and _visible(entry, base):
                found[posixpath.basename(relative)] = f"{base}/{_secure(relative)}"
        data["bin"] = found
    else:
        _bin(data)
    _types(data, files)


def _text(value: Any) -> str:
    """A value as JavaScript turns it into a string in a template."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _under(files: frozenset[str], base: str) -> list[str]:
    prefix = f"{base}/" if base else ""
    return [f for f in files if f.startswith(prefix)]


def _entries_under(files: frozenset[str], base: str) -> set[str]:
    """The files under ``base`` and the folders they are in (glob's ``**`` lists both)."""
    entries: set[str] = set()
    for path in _under(files, base):
        entries.add(path)
        folder = posixpath.dirname(path)
        while folder and folder != base and len(folder) > len(base):
            entries.add(folder)
            folder = posixpath.dirname(folder)
    return entries


def _visible(path: str, base: str) -> bool:
    """glob leaves out names starting with a dot (below ``base``)."""
    relative = path[len(base) + 1:] if base else path
    return not any(part.startswith(".") for part in relative.split("/"))


def _types(data: dict[str, Any], files: frozenset[str]) -> None:
    index = data["main"] if _truthy(data.get("main")) else "index.js"
    if not isinstance(index, str):
        raise Invalid('The "main" attribute must be of type string.')
    if "types" in data or "typings" in data:
        return
    folder, name = posixpath.split(index)
    stem = name[:-len(_extension(name))] if _extension(name) else name
    extless = posixpath.normpath(posixpath.join(folder or ".", stem)) if stem else (
        posixpath.normpath(folder or "."))
    declared = f"./{extless}.d.ts"
    inside = posixpath.normpath(declared)
    if not inside.startswith("../") and inside in files:
        data["types"] = declared


def _extension(name: str) -> str:
    """Node's ``path.extname``: from the last dot, unless the name starts with it."""
    dot = name.rfind(".")
    return name[dot:] if dot > 0 else ""


def _secure(ref: str) -> str:
    """npm's ``secureAndUnixifyPath``: a path kept inside the package, with ``/``; ``""``
    for none."""
    unix = ref.replace("\\", "/").replace(":", "/")
    secured = posixpath.normpath("/" + unix).lstrip("/")
    if unix.endswith("/") and secured:
        secured += "/"  # Node's path.join keeps a trailing separator
    return secured


def _bin(data: dict[str, Any]) -> None:
    """npm's ``normalizePackageBin``."""
    value = data.get("bin")
    if not _truthy(value):
        data.pop("bin", None)
        return
    name = data.get("name")
    if isinstance(value, str) and name:
        value = {name: value}
    elif isinstance(value, list):
        if not all(isinstance(k, str) for k in value):
            # npm publish fails on it (path.basename of a number).
            raise Invalid("Every entry of the package.json's bin list must be a path (a "
                          "string), as npm requires to publish it.")
        value = {posixpath.basename(k): k for k in value}
    if not isinstance(value, dict):
        data.pop("bin", None)
        return
    found = dict(value)  # a JavaScript object's order: a key set again keeps its place
    for key in list(found):
        if key not in found:
            continue
        target = found[key]
        base = posixpath.basename(_secure(key).rstrip("/"))
        secured = _secure(target) if isinstance(target, str) else ""
        if not base or not secured:
            del found[key]
            continue
        if base != key:
            del found[key]
        found[base] = secured
    if found:
        data["bin"] = found
    else:
        data.pop("bin", None)


def _man(data: dict[str, Any]) -> None:
    """npm's ``normalizePackageMan``."""
    man = data.get("man")
    if _truthy(man):
        kept = [_secure(m) for m in (man if isinstance(man, list) else [man])
                if isinstance(m, str)]
        if kept:
            data["man"] = kept
            return
    data.pop("man", None)


# -- the steps on the manifest alone (normalize.js's syncSteps, normalize-data.js) ------------


def _scripts(data: dict[str, Any]) -> None:
    if "scripts" not in data:
        return
    scripts = data["scripts"]
    if isinstance(scripts, dict):
        for name in list(scripts):
            if not isinstance(scripts[name], str):
                del scripts[name]
            else:
                scripts[name] = _SCRIPT_BIN.sub("", scripts[name], count=1)
    elif scripts is not None and not isinstance(scripts, list):
        del data["scripts"]


def _repository(data: dict[str, Any]) -> None:
    repositories = data.get("repositories")
    if _truthy(repositories):
        if isinstance(repositories, (list, str)) and repositories:
            data["repository"] = repositories[0]
        else:  # [][0]: undefined, which JSON leaves out
            data.pop("repository", None)
    repository = data.get("repository")
    if not _truthy(repository):
        return
    if isinstance(repository, str):
        repository = data["repository"] = {"type": "git", "url": repository}
    if isinstance(repository, dict) and repository.get("url"):
        hosted = from_url(repository["url"])
        if hosted is not None:
            written = hosted.https() if hosted.default == "shortcut" else hosted.text()
            if written is not None and written != repository["url"]:
                repository["url"] = written


def _dependencies(data: dict[str, Any]) -> None:
    for kind in ("dependencies", "devDependencies", "optionalDependencies"):
        value = data.get(kind)
        if not _truthy(value):
            continue
        if isinstance(value, str):
            value = re.split(r"[\n\r\s\t ,]+", value.strip())
        if isinstance(value, list):
            made: dict[str, str] = {}
            for entry in value:
                if isinstance(entry, str):
                    parts = re.split(r"(:?[@\s><=])", entry.strip())
                    made[parts[0]] = re.sub(r"^@", "", "".join(parts[1:])).strip()
            value = made
        data[kind] = value
    for kind in ("dependencies", "devDependencies"):
        if kind not in data:
            continue
        value = data[kind]
        if not _truthy(value) or not isinstance(value, dict):
            del data[kind]
            continue
        for name in list(value):
            spec = value[name]
            if not isinstance(spec, str):
                del value[name]
                continue
            hosted = from_url(spec)
            written = hosted.text() if hosted is not None else None
            if written and written != spec:
                value[name] = written


def _normalize_data(data: dict[str, Any]) -> None:
    """normalize-data.js, in its order."""
    if _truthy(data.get("description")) and not isinstance(data["description"], str):
        del data["description"]
    readme = data.get("readme")
    if _truthy(readme) and not _truthy(data.get("description")) and readme != NO_README:
        data["description"] = _description_of(_text(readme))
    if _truthy(data.get("modules")):
        del data["modules"]
    if _truthy(data.get("files")):
        if not isinstance(data["files"], list):
            del data["files"]
        else:
            data["files"] = [f for f in data["files"] if f and isinstance(f, str)]
    if isinstance(data.get("man"), str) and data["man"]:
        data["man"] = [data["man"]]
    _bugs(data)
    keywords = data.get("keywords")
    if isinstance(keywords, str):
        keywords = data["keywords"] = re.split(r",\s+", keywords)
    if isinstance(keywords, list):
        data["keywords"] = [k for k in keywords if k and isinstance(k, str)]
    elif _truthy(keywords):
        del data["keywords"]
    _bundled(data)
    _homepage(data)
    if not _truthy(data.get("readme")):
        data["readme"] = NO_README
    if _truthy(data.get("author")):
        data["author"] = _person(data["author"])
    for field in ("maintainers", "contributors"):
        if isinstance(data.get(field), list):
            data[field] = [_person(p) for p in data[field]]


def _description_of(readme: str) -> str:
    """The first paragraph of a README that is not a heading (normalize-data's
    ``extractDescription``)."""
    lines = readme.strip().split("\n")
    start = 0
    while start < len(lines) and re.match(r"^(#|$)", lines[start].strip()):
        start += 1
    end = start + 1
    while end < len(lines) and lines[end].strip():
        end += 1
    return " ".join(lines[start:end]).strip()


def _bugs(data: dict[str, Any]) -> None:
    bugs = data.get("bugs")
    repository = data.get("repository")
    if not _truthy(bugs) and isinstance(repository, dict) and repository.get("url"):
        hosted = from_url(repository["url"])
        made = hosted.bugs() if hosted is not None else None
        if made:
            data["bugs"] = {"url": made}
    elif _truthy(bugs):
        if isinstance(bugs, str):
            if _is_email(bugs):
                data["bugs"] = {"email": bugs}
            elif _parses_as_url(bugs):
                data["bugs"] = {"url": bugs}
        else:
            if not isinstance(bugs, dict):
                bugs = data["bugs"] = {}
            for key in ("web", "name"):
                if key in bugs:
                    bugs["url"] = bugs.pop(key)
            kept: dict[str, Any] = {}
            if bugs.get("url") and isinstance(bugs["url"], str) and _parses_as_url(
                    bugs["url"]):
                kept["url"] = bugs["url"]
            if bugs.get("email") and isinstance(bugs["email"], str) and _is_email(
                    bugs["email"]):
                kept["email"] = bugs["email"]
            if kept:
                data["bugs"] = kept
            else:
                del data["bugs"]


def _bundled(data: dict[str, Any]) -> None:
    bundled = data.get("bundleDependencies")
    if _truthy(bundled) and not isinstance(bundled, list):
        del data["bundleDependencies"]
    elif isinstance(bundled, list):
        kept = []
        for name in bundled:
            if not name or not isinstance(name, str):
                continue
            if not _truthy(data.get("dependencies")):
                data["dependencies"] = {}
            if isinstance(data["dependencies"], dict) and name not in data["dependencies"]:
                data["dependencies"][name] = "*"
            kept.append(name)
        data["bundleDependencies"] = kept


def _homepage(data: dict[str, Any]) -> None:
    repository = data.get("repository")
    if not _truthy(data.get("homepage")) and isinstance(repository, dict) and repository.get(
            "url"):
        hosted = from_url(repository["url"])
        if hosted is not None:
            data["homepage"] = hosted.docs()
    homepage = data.get("homepage")
    if _truthy(homepage):
        if not isinstance(homepage, str):
            del data["homepage"]
        elif not _parses_as_url(homepage):
            data["homepage"] = "http://" + homepage


def _is_email(text: str) -> bool:
    return "@" in text and text.index("@") < text.rfind(".")


def _parses_as_url(text: str) -> bool:
    """Whether WHATWG's parser takes ``text`` as an absolute URL (``URL.canParse``), as far as
    it matters here: a scheme, and for web schemes a host."""
    text = text.strip("".join(chr(c) for c in range(0x21)))
    match = _URL_SCHEME.match(text)
    if match is None:
        return False
    scheme = match.group(0).lower()
    if scheme in _SPECIAL:
        host = re.split(r"[/\\?#]", text[len(scheme):].lstrip("/\\"), maxsplit=1)[0]
        host = host.rpartition("@")[2]
        return bool(host.split(":", 1)[0]) and not re.search(r"[\s<>^|%\[\]]", host)
    return True


def _person(person: Any) -> dict[str, str]:
    """normalize-data's ``stringifyPerson``: a person as ``{name, email, url}``."""
    if not isinstance(person, str):
        fields = person if isinstance(person, Mapping) else {}
        name = fields.get("name") or ""
        url = fields.get("url") or fields.get("web")
        email = fields.get("email") or fields.get("mail")
        person = (_text(name) + (f" <{_text(email)}>" if email else "")
                  + (f" ({_text(url)})" if url else ""))
    parsed: dict[str, str] = {}
    name_match = re.match(r"^([^(<]+)", person)
    if name_match and name_match.group(0).strip():
        parsed["name"] = name_match.group(0).strip()
    email_match = re.search(r"<([^<>]+)>", person)
    if email_match:
        parsed["email"] = email_match.group(1)
    url_match = re.search(r"\(([^()]+)\)", person)
    if url_match:
        parsed["url"] = url_match.group(1)
    return parsed
