"""Requires-Dist as CodeArtifact PackageDependency records."""

from __future__ import annotations

from packyard.formats.pypi import upstream
from packyard.formats.pypi.archive import inspect_core_metadata
from packyard.formats.pypi.dependencies import dependency_records, requirement_texts
from packyard.formats.pypi.filenames import parse_distribution_filename


def test_requirements_become_package_dependencies() -> None:
    assert dependency_records(["packaging>=20", "rich", "tomli; python_version < '3.11'",
                               "not a requirement !!"])[0] == [
        {"package": "packaging", "dependencyType": "Requires-Dist", "versionRequirement": ">=20"},
        {"package": "rich", "dependencyType": "Requires-Dist", "versionRequirement": ""},
        {"package": "tomli", "dependencyType": "Requires-Dist", "versionRequirement": ""},
    ]


def test_regression_markers_and_extras_are_kept_beside_the_records_at_upload_and_pull() -> None:
    """The records have no place for a marker or extras, and nothing else kept them: the
    console showed ``colorama; sys_platform == "win32"`` as an unconditional ``colorama``."""
    requires = ['colorama ; sys_platform=="win32"', "requests[socks]>=2; extra == 'net'",
                "idna>=3", "not a requirement !!"]
    records, kept = dependency_records(requires)
    whole = ['colorama; sys_platform == "win32"', 'requests[socks]>=2; extra == "net"',
             "idna>=3"]
    assert kept == {"requires_dist": whole}
    assert requirement_texts(kept, len(records)) == whole
    # Plain requirements need nothing kept; a list that does not match the records is unused.
    assert dependency_records(["idna>=3"])[1] == {}
    assert requirement_texts({}, 1) is None
    assert requirement_texts(kept, 2) is None
    # A version pulled from an upstream keeps them as an uploaded one does.
    metadata = ("Metadata-Version: 2.1\nName: pulled\nVersion: 1.0\n"
                + "".join(f"Requires-Dist: {r}\n" for r in requires[:3])).encode()
    dist = parse_distribution_filename("pulled-1.0-py3-none-any.whl")
    version = upstream._new_version("1.0", "1.0", inspect_core_metadata(
        metadata, dist, "pulled-1.0-py3-none-any.whl.metadata"))
    assert version.attributes == {"requires_dist": whole}
    assert [d["package"] for d in version.dependencies] == ["colorama", "requests", "idna"]
