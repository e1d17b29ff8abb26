"""What CodeArtifact says about every package format, served here or not.

A format's own rules live in its plug-in (``formats/<name>/``); these are the facts the neutral
parts need about formats in general, including the ones Packyard does not serve yet: which
names botocore's model knows, and which formats have namespaces (package-group patterns are
checked against them whether or not the format is served).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final


@lru_cache(maxsize=1)
def codeartifact_formats() -> tuple[str, ...]:
    """Every format name CodeArtifact knows, in its model's order (``PackageFormat``)."""
    import botocore.loaders

    model = botocore.loaders.create_loader().load_service_model("codeartifact", "service-2")
    return tuple(model["shapes"]["PackageFormat"]["enum"])


# The CodeArtifact User Guide's terms for each format's namespace ("Package namespace" in its
# concepts page); None: the format has no namespaces. npm's is optional (unscoped packages).
NAMESPACE_TERMS: Final[dict[str, str | None]] = {
    "npm": "its scope",
    "pypi": None,
    "maven": "its groupId",
    "nuget": None,
    "generic": "its namespace",
    "ruby": None,
    "swift": "its scope",
    "cargo": None,
}
NAMESPACE_OPTIONAL: Final = frozenset({"npm"})


def has_namespaces(fmt: str) -> bool:
    return NAMESPACE_TERMS.get(fmt) is not None


def namespace_required(fmt: str) -> bool:
    return has_namespaces(fmt) and fmt not in NAMESPACE_OPTIONAL
