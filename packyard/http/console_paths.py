"""Where the web console shows things: its URL paths, built in one place.

The console (``packyard/console/``) routes these paths, and other surfaces link to them: the
PyPI endpoint sends the pages hatch and flit print after a publish (``<endpoint>NAME/VERSION/``,
``<endpoint>/NAME``) to the version's and the package's console page. Packages are addressed
by format, namespace (``-`` when the package has none) and name; every segment is
percent-encoded.
"""

from __future__ import annotations

from urllib.parse import quote

ROOT = "/console"
NO_NAMESPACE = "-"


def _seg(text: str) -> str:
    return quote(text, safe="")


def domain_path(domain: str) -> str:
    return f"{ROOT}/domains/{_seg(domain)}"


def package_group_path(domain: str, pattern: str) -> str:
    """A package group's page. The pattern (``/pypi//acme~``) is a query parameter: its
    slashes would not survive a proxy that merges or decodes them in a path."""
    return f"{domain_path(domain)}/package-group?pattern={_seg(pattern)}"


def repository_path(domain: str, repository: str) -> str:
    return f"{domain_path(domain)}/repositories/{_seg(repository)}"


def package_path(domain: str, repository: str, fmt: str, namespace: str | None,
                 name: str) -> str:
    return (f"{repository_path(domain, repository)}/packages/{_seg(fmt)}/"
            f"{_seg(namespace or NO_NAMESPACE)}/{_seg(name)}")


def version_path(domain: str, repository: str, fmt: str, namespace: str | None, name: str,
                 version: str) -> str:
    return (f"{package_path(domain, repository, fmt, namespace, name)}/versions/"
            f"{_seg(version)}")


def namespace_of(segment: str) -> str | None:
    """The namespace a path segment names (None for ``-``)."""
    return None if segment == NO_NAMESPACE else segment
