"""The registry document Verdaccio keeps beside a package's tarballs: what ``packyard import``
takes of it, and how ``packyard export`` merges its own with an earlier export's."""

from __future__ import annotations

import json
from typing import Any

import pytest

from packyard.errors import Conflict, Invalid
from packyard.formats.npm.names import parse_package_name
from packyard.formats.npm.registry_document import merge_document, read_registry_document


def _document(**fields: Any) -> bytes:
    return json.dumps({"name": "pkg", "versions": {"1.0.0": {"name": "pkg"}},
                       "dist-tags": {"latest": "1.0.0"}, **fields}).encode()


def test_the_dist_tags_and_non_empty_deprecations_are_taken() -> None:
    read = read_registry_document(_document(versions={
        "1.0.0": {"deprecated": "old"}, "1.1.0": {"deprecated": ""}, "1.2.0": {}},
        **{"dist-tags": {"latest": "1.2.0", "next": "1.1.0"}}))
    assert read is not None
    assert (read.name, dict(read.dist_tags), dict(read.deprecations)) == (
        parse_package_name("pkg"), {"latest": "1.2.0", "next": "1.1.0"}, {"1.0.0": "old"})


@pytest.mark.parametrize("data", [
    b'{"name": "pkg", "version": "1.0.0"}',  # a project's own
    b'{"name": "pkg", "versions": {}}',
    b"[]",
    b'"text"',
])
def test_a_package_json_that_is_no_registry_document_is_passed_over(data: bytes) -> None:
    assert read_registry_document(data) is None


@pytest.mark.parametrize(("data", "message"), [
    (b'{"name": ', "not a JSON document ("),
    (b"\xff\xfe", "not a JSON document ("),
    (_document(name=7), "its name must be a string"),
    (_document(name="../x"), 'Invalid package name "../x": name cannot contain "..".'),
    (_document(**{"dist-tags": {"latest": 1}}),
     "its dist-tags must be a JSON object of tag names and versions"),
    (_document(**{"dist-tags": []}),
     "its dist-tags must be a JSON object of tag names and versions"),
    (_document(versions=[]), "its versions must be a JSON object"),
    (_document(versions={"1.0.0": "x"}), 'versions["1.0.0"] must be a JSON object'),
    (_document(versions={"1.0.0": {"deprecated": True}}),
     'versions["1.0.0"].deprecated must be a string.'),
])
def test_a_malformed_document_is_refused_saying_what_is_wrong(data: bytes,
                                                              message: str) -> None:
    with pytest.raises(Invalid) as refused:
        read_registry_document(data)
    assert refused.value.message.startswith(message)


def test_merging_keeps_the_earlier_versions_and_writes_this_runs_tags_over() -> None:
    earlier = {"name": "pkg", "_rev": "1-a", "users": {"someone": True},
               "versions": {"1.0.0": {"v": 1}, "0.9.0": {"v": 0}},
               "time": {"created": "2020-01-01T00:00:00.000Z", "0.9.0": "t0", "1.0.0": "t1"},
               "_attachments": {"pkg-0.9.0.tgz": {}, "pkg-1.0.0.tgz": {}},
               "dist-tags": {"latest": "1.0.0", "old": "0.9.0", "gone": "0.1.0"}}
    now = {"name": "pkg", "_rev": "1-b", "versions": {"1.0.0": {"v": 2}, "2.0.0": {"v": 3}},
           "time": {"created": "2026-01-01T00:00:00.000Z", "1.0.0": "u1", "2.0.0": "u2"},
           "_attachments": {"pkg-1.0.0.tgz": {}, "pkg-2.0.0.tgz": {}},
           "dist-tags": {"latest": "2.0.0"}}

    merged = json.loads(merge_document(json.dumps(earlier).encode(), now))

    assert merged["versions"] == {"0.9.0": {"v": 0}, "1.0.0": {"v": 2}, "2.0.0": {"v": 3}}
    assert merged["dist-tags"] == {"latest": "2.0.0", "old": "0.9.0"}
    assert merged["time"] == {"created": "2020-01-01T00:00:00.000Z", "0.9.0": "t0",
                              "1.0.0": "u1", "2.0.0": "u2"}
    assert sorted(merged["_attachments"]) == ["pkg-0.9.0.tgz", "pkg-1.0.0.tgz",
                                              "pkg-2.0.0.tgz"]
    assert (merged["_rev"], merged["users"]) == ("1-b", {"someone": True})
    assert json.loads(merge_document(None, now)) == now


@pytest.mark.parametrize(("existing", "message"), [
    (b'{"name": "pkg", "version": "1.0.0"}', "the package.json of pkg in the destination is "
                                             "no registry document"),
    (b"not json", "the package.json of pkg in the destination is no registry document"),
    (b'{"name": "other", "versions": {}, "dist-tags": {}}',
     'the package.json of pkg in the destination is the document of "other"'),
])
def test_merging_over_what_is_no_document_of_the_package_is_refused(existing: bytes,
                                                                   message: str) -> None:
    with pytest.raises(Conflict) as refused:
        merge_document(existing, {"name": "pkg", "versions": {}, "dist-tags": {}})
    assert refused.value.message.startswith(message)
