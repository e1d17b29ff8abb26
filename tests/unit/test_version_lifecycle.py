"""The lifecycle operations' decision tables: which versions change, and each failure's code and
message.

The worked examples are the CodeArtifact User Guide's ("Update package version status", its
dispose section, and "Copy packages between repositories"), with their exact messages.
"""

from __future__ import annotations

import pytest

from packyard.errors import Invalid
from packyard.lifecycle.version_changes import (
    CopyDestination,
    CopySource,
    ErrorCode,
    Plan,
    Status,
    VersionError,
    VersionState,
    check_target_status,
    plan_copy,
    plan_delete,
    plan_dispose,
    plan_status_update,
    requested_versions,
)

REV_410 = "25/UjBleHs1DZewk+zozoeqH/R80Rc9gL1P8vbzVMJ4="
REV_400 = "E3lhBp0RObRTut4pkjV5c1AQGkgSA7Oxtil6hMMzelc="
CHALK = {"4.1.0": VersionState("Published", REV_410), "4.0.0": VersionState("Published", REV_400)}


def failed(**codes: tuple[ErrorCode, str]) -> Plan:
    return Plan(failed={v.replace("_", "."): VersionError(*e) for v, e in codes.items()})


# ---------------------------------------------------------------------------------------------
# The guide's examples


def test_guide_update_two_versions_to_archived() -> None:
    plan = plan_status_update(["4.1.0", "4.1.1"], {
        "4.1.0": VersionState("Published", "a"), "4.1.1": VersionState("Published", "b")},
        target_status="Archived")
    assert plan == Plan(changes={"4.1.0": Status.ARCHIVED, "4.1.1": Status.ARCHIVED})


def test_guide_expected_status_mismatch() -> None:
    plan = plan_status_update(["4.1.0", "4.0.0"], CHALK, target_status="Archived",
                              expected_status="Unlisted")
    mismatch = (ErrorCode.MISMATCHED_STATUS, "current status: Published, expected status: "
                "Unlisted")
    assert plan.failed_versions() == {
        "4.1.0": {"errorCode": "MISMATCHED_STATUS",
                  "errorMessage": "current status: Published, expected status: Unlisted"},
        "4.0.0": {"errorCode": "MISMATCHED_STATUS",
                  "errorMessage": "current status: Published, expected status: Unlisted"}}
    assert plan == Plan(failed={"4.1.0": VersionError(*mismatch),
                                "4.0.0": VersionError(*mismatch)})


def test_guide_revisions_match() -> None:
    plan = plan_status_update(["4.1.0", "4.0.0"], CHALK, target_status="Published",
                              revisions={"4.1.0": REV_410, "4.0.0": REV_400})
    assert plan == Plan(unchanged=CHALK)  # already Published: nothing to write


def test_guide_a_revision_mismatch_skips_the_other_versions() -> None:
    wrong = "25/UjBleHs1DZewk+zozoeqH/R80Rc9gL1P8vbzVMJ="
    plan = plan_status_update(["4.1.0", "4.0.0"], CHALK, target_status="Archived",
                              revisions={"4.1.0": wrong, "4.0.0": REV_400})
    assert plan == failed(
        **{"4_1_0": (ErrorCode.MISMATCHED_REVISION,
                     f"current revision: {REV_410}, expected revision: {wrong}"),
           "4_0_0": (ErrorCode.SKIPPED, "version 4.0.0 is skipped")})


def test_guide_dispose_with_expected_status() -> None:
    current = {"4.0.0": VersionState("Published", REV_400)}
    assert plan_dispose(["4.0.0"], current, expected_status="Unlisted") == failed(
        **{"4_0_0": (ErrorCode.MISMATCHED_STATUS,
                     "current status: Published, expected status: Unlisted")})
    assert plan_dispose(["4.0.0"], current, expected_status="Published") == Plan(
        changes={"4.0.0": Status.DISPOSED})


def source(status: str = "Published", content: str = "same", revision: str = "r1",
           from_upstream: bool = False) -> CopySource:
    return CopySource(status, revision, content, from_upstream)


def test_guide_copy_two_versions() -> None:
    plan = plan_copy(["6.0.2", "4.0.0"], {"6.0.2": source(), "4.0.0": source()}, {})
    assert plan == Plan(changes={"6.0.2": Status.PUBLISHED, "4.0.0": Status.PUBLISHED})


def test_guide_copy_a_version_missing_from_the_source() -> None:
    plan = plan_copy(["0.2.0", "5.6.7"], {"0.2.0": source(), "5.6.7": None}, {})
    assert plan.failed_versions() == {
        "0.2.0": {"errorCode": "SKIPPED", "errorMessage": "Version 0.2.0 was skipped"},
        "5.6.7": {"errorCode": "NOT_FOUND", "errorMessage": "Could not find version 5.6.7"}}
    assert not plan.changes


def test_guide_copy_is_idempotent() -> None:
    plan = plan_copy(["0.2.1", "0.2.0"], {"0.2.1": source(), "0.2.0": source()},
                     {"0.2.1": CopyDestination("Published", "same")})
    assert plan == Plan(changes={"0.2.0": Status.PUBLISHED}, omitted=("0.2.1",))


def test_guide_copy_over_a_different_version() -> None:
    sources = {"0.3.2": source(content="new"), "0.2.1": source()}
    destination = {"0.3.2": CopyDestination("Published", "old")}
    assert plan_copy(["0.3.2", "0.2.1"], sources, destination) == failed(
        **{"0_3_2": (ErrorCode.ALREADY_EXISTS, "Version 0.3.2 already exists"),
           "0_2_1": (ErrorCode.SKIPPED, "Version 0.2.1 was skipped")})
    assert plan_copy(["0.3.2", "0.2.1"], sources, destination, allow_overwrite=True) == Plan(
        changes={"0.3.2": Status.PUBLISHED, "0.2.1": Status.PUBLISHED})


def test_guide_copy_with_version_revisions() -> None:
    sources = {"0.3.2": source(revision="REVISION-1-SAMPLE-6C81EFF7DA55CC")}
    assert plan_copy(["0.3.2"], sources, {},
                     revisions={"0.3.2": "REVISION-1-SAMPLE-6C81EFF7DA55CC"}).changes == {
        "0.3.2": Status.PUBLISHED}
    assert plan_copy(["0.3.2"], sources, {}, revisions={"0.3.2": "OTHER"}) == failed(
        **{"0_3_2": (ErrorCode.MISMATCHED_REVISION,
                     "current revision: REVISION-1-SAMPLE-6C81EFF7DA55CC, expected revision: "
                     "OTHER")})


# ---------------------------------------------------------------------------------------------
# Decision tables, one version at a time

NOT_FOUND = (ErrorCode.NOT_FOUND, "Could not find version 1.0")
DISPOSED_FIXED = (ErrorCode.NOT_ALLOWED, "Version 1.0 is Disposed: its assets are deleted, so "
                  "its status cannot change; it can only be deleted")

UPDATE_TABLE = [
    # current status, target, expected status, outcome: a Status changed to, "unchanged", or
    # (code, message)
    ("Published", "Archived", None, Status.ARCHIVED),
    ("Published", "Unlisted", None, Status.UNLISTED),
    ("Unlisted", "Published", None, Status.PUBLISHED),
    ("Archived", "Unlisted", None, Status.UNLISTED),
    ("Archived", "Published", "Archived", Status.PUBLISHED),
    ("Published", "Published", None, "unchanged"),
    ("Archived", "Archived", "Archived", "unchanged"),
    ("Unlisted", "Archived", "Published",
     (ErrorCode.MISMATCHED_STATUS, "current status: Unlisted, expected status: Published")),
    ("Disposed", "Published", None, DISPOSED_FIXED),
    ("Disposed", "Archived", "Disposed", DISPOSED_FIXED),
    # PublishPackageVersion's reference: an Unfinished version is finished by the last asset
    # "or set the status using UpdatePackageVersionStatus".
    ("Unfinished", "Published", None, Status.PUBLISHED),
    ("Unfinished", "Archived", "Unfinished", Status.ARCHIVED),
    ("Deleted", "Published", None, NOT_FOUND),
    (None, "Published", None, NOT_FOUND),
    (None, "Published", "Published", NOT_FOUND),
]

DISPOSE_TABLE = [
    ("Published", None, Status.DISPOSED),
    ("Unlisted", None, Status.DISPOSED),
    ("Archived", "Archived", Status.DISPOSED),
    ("Unfinished", None, Status.DISPOSED),
    ("Disposed", None, "unchanged"),
    ("Archived", "Unlisted",
     (ErrorCode.MISMATCHED_STATUS, "current status: Archived, expected status: Unlisted")),
    ("Deleted", None, NOT_FOUND),
    (None, None, NOT_FOUND),
]

DELETE_TABLE = [
    ("Published", None, Status.DELETED),
    ("Unlisted", None, Status.DELETED),
    ("Archived", None, Status.DELETED),
    ("Unfinished", None, Status.DELETED),
    ("Disposed", "Disposed", Status.DELETED),  # what a disposed version can still undergo
    ("Published", "Archived",
     (ErrorCode.MISMATCHED_STATUS, "current status: Published, expected status: Archived")),
    ("Deleted", None, NOT_FOUND),
    (None, None, NOT_FOUND),
]

Outcome = Status | str | tuple[ErrorCode, str]


def expected_plan(state: VersionState | None, outcome: Outcome) -> Plan:
    if isinstance(outcome, Status):
        return Plan(changes={"1.0": outcome})
    if outcome == "unchanged":
        assert state is not None
        return Plan(unchanged={"1.0": state})
    assert isinstance(outcome, tuple)
    return Plan(failed={"1.0": VersionError(*outcome)})


def state_of(status: str | None) -> VersionState | None:
    return VersionState(status, "rev") if status else None


@pytest.mark.parametrize(("status", "target", "expected", "outcome"), UPDATE_TABLE)
def test_update_status_table(status: str | None, target: str, expected: str | None,
                             outcome: Outcome) -> None:
    state = state_of(status)
    assert plan_status_update(["1.0"], {"1.0": state}, target_status=target,
                              expected_status=expected) == expected_plan(state, outcome)


@pytest.mark.parametrize(("status", "expected", "outcome"), DISPOSE_TABLE)
def test_dispose_table(status: str | None, expected: str | None, outcome: Outcome) -> None:
    state = state_of(status)
    assert plan_dispose(["1.0"], {"1.0": state}, expected_status=expected) == expected_plan(
        state, outcome)


@pytest.mark.parametrize(("status", "expected", "outcome"), DELETE_TABLE)
def test_delete_table(status: str | None, expected: str | None, outcome: Outcome) -> None:
    state = state_of(status)
    assert plan_delete(["1.0"], {"1.0": state}, expected_status=expected) == expected_plan(
        state, outcome)


def test_status_is_checked_before_the_revision() -> None:
    plan = plan_dispose(["1.0"], {"1.0": VersionState("Archived", "now")},
                        expected_status="Published", revisions={"1.0": "before"})
    assert plan.failed["1.0"].code is ErrorCode.MISMATCHED_STATUS


def test_a_revision_for_one_version_leaves_the_others_unchecked() -> None:
    current = {"1.0": VersionState("Published", "a"), "2.0": VersionState("Published", "b")}
    assert plan_dispose(["1.0", "2.0"], current, revisions={"1.0": "a"}).changes == {
        "1.0": Status.DISPOSED, "2.0": Status.DISPOSED}


def test_delete_is_all_or_nothing_too() -> None:
    plan = plan_delete(["1.0", "2.0"], {"1.0": VersionState("Published", "a"), "2.0": None})
    assert plan == failed(**{"1_0": (ErrorCode.SKIPPED, "version 1.0 is skipped"),
                             "2_0": (ErrorCode.NOT_FOUND, "Could not find version 2.0")})


COPY_TABLE = [
    # source, destination, options, outcome
    (source("Published"), None, {}, Status.PUBLISHED),
    (source("Unlisted"), None, {}, Status.UNLISTED),
    (source("Archived"), None, {}, Status.ARCHIVED),  # its assets are kept: it copies as is
    (source("Disposed"), None, {}, (ErrorCode.NOT_ALLOWED, "Version 1.0 is Disposed: its "
                                    "assets are deleted, so it cannot be copied")),
    (source("Unfinished"), None, {}, (ErrorCode.NOT_ALLOWED, "Version 1.0 is Unfinished: only "
                                      "Published, Unlisted and Archived versions can be "
                                      "copied")),
    (source("Deleted"), None, {}, NOT_FOUND),
    (None, None, {}, NOT_FOUND),
    # Only an upstream of the source has it: found only when asked to look there.
    (source(from_upstream=True), None, {}, NOT_FOUND),
    (source(from_upstream=True), None, {"include_from_upstream": True}, Status.PUBLISHED),
    # The destination: identical, different, deleted.
    (source(), CopyDestination("Published", "same"), {}, "omitted"),
    (source(), CopyDestination("Archived", "same"), {"allow_overwrite": True}, "omitted"),
    (source(content="new"), CopyDestination("Unlisted", "old"), {},
     (ErrorCode.ALREADY_EXISTS, "Version 1.0 already exists")),
    (source(content="new"), CopyDestination("Disposed", "old"), {},
     (ErrorCode.ALREADY_EXISTS, "Version 1.0 already exists")),
    (source(content="new"), CopyDestination("Published", "old"), {"allow_overwrite": True},
     Status.PUBLISHED),
    (source(content="new"), CopyDestination("Deleted", "old"), {}, Status.PUBLISHED),
    # The destination's origin controls.
    (source(), None, {"publish_refusal": "package group /pypi/* blocks publishing (PUBLISH: "
                                         "BLOCK)"},
     (ErrorCode.NOT_ALLOWED, "Version 1.0 cannot be copied: package group /pypi/* blocks "
                             "publishing (PUBLISH: BLOCK)")),
]


@pytest.mark.parametrize(("offered", "present", "options", "outcome"), COPY_TABLE)
def test_copy_table(offered: CopySource | None, present: CopyDestination | None,
                    options: dict[str, object], outcome: Outcome) -> None:
    plan = plan_copy(["1.0"], {"1.0": offered}, {"1.0": present}, **options)  # type: ignore[arg-type]
    if outcome == "omitted":
        assert plan == Plan(omitted=("1.0",))
    else:
        assert plan == expected_plan(None, outcome)


# ---------------------------------------------------------------------------------------------
# The request as a whole


def test_requested_versions_are_deduplicated_in_order() -> None:
    assert requested_versions(["2.0", "1.0", "2.0"], None) == (["2.0", "1.0"], {})
    assert requested_versions(["1.0", "2.0"], {"2.0": "r"}) == (["1.0", "2.0"], {"2.0": "r"})
    assert requested_versions(None, {"1.0": "r"}, copy=True) == (["1.0"], {"1.0": "r"})
    assert requested_versions(["1.0"], None, copy=True) == (["1.0"], {})


@pytest.mark.parametrize(("versions", "revisions", "copy", "message"), [
    (["1.0"], {"1.0": "r"}, True, "You must specify versions or versionRevisions. You cannot "
     "specify both."),
    (None, None, True, "You must specify versions or versionRevisions. You cannot specify "
     "both."),
    (["1.0"], {"2.0": "r"}, False, "versionRevisions names version 2.0, which is not in "
     "versions: give every version in versions too"),
    ([], None, False, "Name at least one package version"),
    (None, {}, True, "Name at least one package version"),
])
def test_requested_versions_refusals(versions: list[str] | None, revisions: dict[str, str] | None,
                                     copy: bool, message: str) -> None:
    with pytest.raises(Invalid) as err:
        requested_versions(versions, revisions, copy=copy)
    assert err.value.message == message


@pytest.mark.parametrize(("target", "message"), [
    ("Disposed", "targetStatus cannot be Disposed: dispose of versions with "
     "DisposePackageVersions"),
    ("Deleted", "targetStatus cannot be Deleted: delete versions with DeletePackageVersions"),
    ("Unfinished", "targetStatus cannot be Unfinished: a published version cannot become "
     "unfinished again"),
    ("Gone", "targetStatus must be Published, Unlisted or Archived, not Gone"),
])
def test_target_status_refusals(target: str, message: str) -> None:
    with pytest.raises(Invalid) as err:
        check_target_status(target)
    assert err.value.message == message
    with pytest.raises(Invalid):
        plan_status_update(["1.0"], {"1.0": VersionState("Published", "r")},
                           target_status=target)
