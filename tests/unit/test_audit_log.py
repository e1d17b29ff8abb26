"""The audit trail's pieces: redaction, the file segments, group commit, the filters, and the
``packyard audit`` command."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from packyard.audit.events import HIDDEN, MAX_STRING, local_event, redacted
from packyard.audit.file_log import FileAuditLog, encode, read_segments
from packyard.audit.group_commit import GroupCommit
from packyard.audit.query import AuditFilter, select
from packyard.audit.trail import FILE, AuditTrail
from packyard.cli.audit import audit, parse_moment
from packyard.metadata.engine import DatabaseUnavailable

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


# -- redaction -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["SecretAccessKey", "secret_access_key", "Password",
                                  "NewPassword", "authorizationToken", "SessionToken",
                                  "privateKey"])
def test_a_secret_member_is_hidden_wherever_it_is_nested(name: str) -> None:
    value = {"outer": [{name: "s3cr3t", "UserName": "alice"}]}
    assert redacted(value) == {"outer": [{name: HIDDEN, "UserName": "alice"}]}


@pytest.mark.parametrize("name", ["nextToken", "Marker", "PaginationToken", "AccessKeyId"])
def test_paging_cursors_and_key_ids_are_kept(name: str) -> None:
    assert redacted({name: "abc"}) == {name: "abc"}


def test_long_strings_are_cut() -> None:
    cut = redacted({"policyDocument": "x" * (MAX_STRING + 10)})["policyDocument"]
    assert cut.startswith("x" * MAX_STRING) and cut.endswith("(10 more characters)")


def test_a_large_answer_is_left_out_of_a_local_event() -> None:
    big = local_event("Thing", user="root", time=NOW, parameters={}, account_id="0" * 12,
                      region="us-east-1", response={"items": ["x" * 1000] * 10})
    small = local_event("Thing", user="root", time=NOW, parameters={}, account_id="0" * 12,
                        region="us-east-1", response={"count": 1})
    assert "responseElements" not in big and small["responseElements"] == {"count": 1}


# -- the file segments -----------------------------------------------------------------------------

def _event(name: str, when: datetime = NOW, **extra: Any) -> dict[str, Any]:
    return {"eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "eventName": name, **extra}


def test_segments_rotate_by_size_and_are_all_read(tmp_path: Path) -> None:
    log = FileAuditLog(tmp_path, max_bytes=200, fsync=True)
    for index in range(10):
        log.write_batch([encode(_event(f"E{index}", detail="y" * 50))])
    log.close()
    segments = sorted(tmp_path.glob("audit-*.jsonl"))
    assert len(segments) >= 4
    assert all(path.stat().st_size <= 200 for path in segments)
    assert [event["eventName"] for event in read_segments(tmp_path)] == [
        f"E{index}" for index in range(10)]


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    log = FileAuditLog(tmp_path, max_bytes=1 << 20)
    log.write_batch([encode(_event("Kept"))])
    log.close()
    segment = next(tmp_path.glob("audit-*.jsonl"))
    with segment.open("ab") as handle:
        handle.write(b'{"eventName":"Torn"')  # a crash in the middle of a write
    assert [event["eventName"] for event in read_segments(tmp_path)] == ["Kept"]


@pytest.mark.parametrize("truncate_fails", [False, True])
def test_regression_an_event_written_after_a_full_disk_is_read_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, truncate_fails: bool) -> None:
    # A full disk took the first 40 bytes of a batch and refused the rest; once there was room
    # again the next acknowledged event was appended to that torn fragment, and the reader
    # skipped the line as unparseable: the event was lost.
    import errno
    import os

    from packyard.audit import file_log

    log = FileAuditLog(tmp_path, max_bytes=1 << 20)
    log.write_batch([encode(_event("Before"))])
    real_write = os.write
    calls = 0

    def full_disk(fd: int, data: Any) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            return real_write(fd, bytes(data[:40]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(file_log.os, "write", full_disk)
    if truncate_fails:
        def no_truncate(fd: int, size: int) -> None:
            raise OSError(errno.EIO, "Input/output error")
        monkeypatch.setattr(file_log.os, "ftruncate", no_truncate)
    with pytest.raises(OSError):
        log.write_batch([encode(_event("Refused", detail="z" * 100))])
    monkeypatch.setattr(file_log.os, "write", real_write)
    log.write_batch([encode(_event("After"))])
    log.close()
    assert [event["eventName"] for event in read_segments(tmp_path)] == ["Before", "After"]


def test_each_process_writes_its_own_segments(tmp_path: Path) -> None:
    first, second = FileAuditLog(tmp_path, 1 << 20), FileAuditLog(tmp_path, 1 << 20)
    first.write_batch([encode(_event("A"))])
    second.write_batch([encode(_event("B"))])
    first.close()
    second.close()
    assert len(list(tmp_path.glob("audit-*.jsonl"))) == 2


# -- group commit ----------------------------------------------------------------------------------

def test_group_commit_keeps_every_item_in_few_flushes() -> None:
    flushed: list[list[int]] = []
    gate = threading.Event()

    def flush(batch: Sequence[int]) -> None:
        gate.wait(5)
        flushed.append(list(batch))

    commit: GroupCommit[int] = GroupCommit(flush, "test")
    futures = [commit.submit(index) for index in range(50)]
    gate.set()
    for future in futures:
        future.result(timeout=5)
    commit.close()
    assert sorted(item for batch in flushed for item in batch) == list(range(50))
    assert commit.flushes == len(flushed) < 50 and commit.items == 50


@pytest.mark.parametrize(("failure", "level"), [
    (OSError("disk full"), logging.ERROR),
    (DatabaseUnavailable("The metadata database is unavailable right now; try again shortly"),
     logging.WARNING),  # an outage: a warning, as everywhere else
])
def test_group_commit_tells_every_waiter_of_a_failed_flush(
        failure: Exception, level: int, caplog: pytest.LogCaptureFixture) -> None:
    def flush(_batch: Sequence[int]) -> None:
        raise failure

    commit: GroupCommit[int] = GroupCommit(flush, "test")
    with pytest.raises(type(failure), match=str(failure)):
        commit.write(1)
    commit.close()
    logged = [r for r in caplog.records if "could not write 1 audit event(s)" in r.getMessage()]
    assert [r.levelno for r in logged] == [level]


def test_a_closed_trail_refuses_new_events(tmp_path: Path) -> None:
    trail = AuditTrail(FILE, directory=tmp_path)
    trail.record(_event("A"))
    trail.close()
    with pytest.raises(RuntimeError, match="closed"):
        trail.record(_event("B"))


# -- the filters -----------------------------------------------------------------------------------

ALICE = {"arn": "arn:aws:iam::000000000000:user/team/alice", "accessKeyId": "AKIAALICE",
         "userName": "alice"}
EVENTS = [
    _event("CreateDomain", NOW - timedelta(hours=2), userIdentity=ALICE,
           requestParameters={"domain": "acme"}),
    _event("CreateRepository", NOW - timedelta(hours=1), userIdentity={"arn": "arn:root"},
           requestParameters={"domain": "acme", "repository": "shelf"}),
    _event("PublishPackageVersion", NOW, userIdentity=ALICE, errorCode="AccessDenied",
           requestParameters={"domainName": "other", "packageName": "pkg"}),
]


@pytest.mark.parametrize(("wanted", "names"), [
    (AuditFilter(), ["CreateDomain", "CreateRepository", "PublishPackageVersion"]),
    (AuditFilter(since=NOW - timedelta(minutes=90)), ["CreateRepository",
                                                      "PublishPackageVersion"]),
    (AuditFilter(until=NOW - timedelta(hours=1)), ["CreateDomain"]),
    (AuditFilter(principal="user/team/alice"), ["CreateDomain", "PublishPackageVersion"]),
    (AuditFilter(principal="AKIAALICE"), ["CreateDomain", "PublishPackageVersion"]),
    (AuditFilter(principal="alice"), ["CreateDomain", "PublishPackageVersion"]),
    (AuditFilter(name="CreateRepository"), ["CreateRepository"]),
    (AuditFilter(resource="shelf"), ["CreateRepository"]),
    (AuditFilter(resource="acme"), ["CreateDomain", "CreateRepository"]),
    (AuditFilter(errors_only=True), ["PublishPackageVersion"]),
], ids=["all", "since", "until", "arn-end", "key-id", "user-name", "name", "repository",
        "domain", "errors"])
def test_filters(wanted: AuditFilter, names: list[str]) -> None:
    assert [event["eventName"] for event in select(reversed(EVENTS), wanted)] == names


# -- packyard audit --------------------------------------------------------------------------------

def test_times_and_ages_are_understood() -> None:
    assert parse_moment("2h", NOW) == NOW - timedelta(hours=2)
    assert parse_moment("2026-05-01", NOW) == datetime(2026, 5, 1, tzinfo=UTC)
    assert parse_moment("2026-05-01T10:00:00Z", NOW) == datetime(2026, 5, 1, 10, tzinfo=UTC)


def test_a_bad_time_is_refused_with_the_forms_it_takes() -> None:
    with pytest.raises(click.BadParameter, match=r"neither a time .* nor an age"):
        parse_moment("yesterday", NOW)


def _recorded(data_dir: Path) -> None:
    trail = AuditTrail(FILE, directory=data_dir / "audit")
    for event in EVENTS:
        trail.record(event)
    trail.close()


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(audit, list(args), env={"PACKYARD_DATA_DIR": None})
    return result.exit_code, result.stdout, result.stderr


def test_audit_prints_json_lines_filtered(tmp_path: Path) -> None:
    _recorded(tmp_path)
    code, out, _ = _run("--data-dir", str(tmp_path), "--principal", "alice", "--output",
                        "json")
    assert code == 0
    assert [json.loads(line)["eventName"] for line in out.splitlines()] == [
        "CreateDomain", "PublishPackageVersion"]


def test_audit_prints_a_table(tmp_path: Path) -> None:
    _recorded(tmp_path)
    code, out, err = _run("--data-dir", str(tmp_path), "--errors")
    assert code == 0 and "PublishPackageVersion" in out and "AccessDenied" in out
    assert "CreateDomain" not in out and "1 event(s)" in err


def test_regression_piped_each_event_is_one_line_that_grep_finds(tmp_path: Path) -> None:
    """Piped (``packyard audit | grep alice``), rows were folded at 80 columns: a long ARN or
    resource went on the next lines, and grep found a piece of the row."""
    session = ("arn:aws:sts::000000000000:assumed-role/a-rather-long-role-name-for-ci/"
               "a-long-session-name-from-the-pipeline-that-ran")
    trail = AuditTrail(FILE, directory=tmp_path / "audit")
    for n in range(3):
        trail.record(_event("PublishPackageVersion", NOW, userIdentity={"arn": session},
                            requestParameters={"domainName": "a-long-domain-name-of-the-team",
                                               "repositoryName": "the-shared-repository",
                                               "packageName": f"package-number-{n}"}))
    trail.close()
    code, out, _ = _run("--data-dir", str(tmp_path))  # CliRunner's stdout is no terminal
    assert code == 0
    for n in range(3):
        [row] = [line for line in out.splitlines() if f"package-number-{n}" in line]
        assert "PublishPackageVersion" in row and session in row
        assert "a-long-domain-name-of-the-team/the-shared-repository/" in row


def test_audit_without_a_trail_says_where_it_looked(tmp_path: Path) -> None:
    code, _, err = _run("--data-dir", str(tmp_path))
    assert code == 2 and "no audit trail in" in err and "--data-dir" in err


def test_audit_when_the_trail_is_off(tmp_path: Path) -> None:
    result = CliRunner().invoke(audit, ["--data-dir", str(tmp_path)],
                                env={"PACKYARD_DATA_DIR": None, "PACKYARD_AUDIT_LOG": "off"})
    assert result.exit_code == 2
    assert "the audit trail is off (PACKYARD_AUDIT_LOG=off)" in result.stderr


def test_audit_with_a_bad_time(tmp_path: Path) -> None:
    _recorded(tmp_path)
    code, _, err = _run("--data-dir", str(tmp_path), "--since", "yesterday")
    assert code == 2 and "neither a time" in err


def test_audit_reads_the_database_sink(tmp_path: Path) -> None:
    from packyard.audit.database_log import DatabaseAuditLog
    from packyard.metadata.catalog import SqlCatalog

    catalog = SqlCatalog(f"sqlite:///{(tmp_path / 'packyard.db').resolve()}")
    catalog.migrate()
    reader, writer = catalog.engines
    DatabaseAuditLog(writer, reader).write_batch(EVENTS)
    catalog.dispose()
    result = CliRunner().invoke(audit, ["--data-dir", str(tmp_path), "--output", "json",
                                        "--resource", "shelf"],
                                env={"PACKYARD_DATA_DIR": None, "PACKYARD_AUDIT_LOG": "database"})
    assert result.exit_code == 0, result.stderr
    assert [json.loads(line)["eventName"] for line in result.stdout.splitlines()] == [
        "CreateRepository"]


def test_an_unknown_audit_sink_is_refused() -> None:
    from packyard.settings import load_settings

    with pytest.raises(ValueError, match="PACKYARD_AUDIT_LOG must be file, database or off, "
                                         "got 'syslog'"):
        load_settings({"PACKYARD_AUDIT_LOG": "syslog"})


def test_a_resource_arn_and_bad_times_are_handled() -> None:
    event = _event("DescribeRepository", NOW, resources=[
        {"ARN": "arn:aws:codeartifact:us-east-1:000000000000:repository/acme/shelf"}])
    assert AuditFilter(resource="repository/acme/shelf").matches(event)
    assert not AuditFilter(resource="repository/acme/other").matches(event)
    undated = {"eventName": "X", "eventTime": "not a time"}
    assert not AuditFilter(since=NOW).matches(undated)
    assert not AuditFilter(until=NOW).matches({"eventName": "X"})


def test_the_access_log_can_go_to_standard_output(capfd: pytest.CaptureFixture[str]) -> None:
    from packyard.server.access_log import AccessLog

    log = AccessLog("-")
    log.write({"requestId": "r1", "status": 200})
    log.close()  # standard output stays open
    assert json.loads(capfd.readouterr().out) == {"requestId": "r1", "status": 200}
