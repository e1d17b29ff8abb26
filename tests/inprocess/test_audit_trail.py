"""The audit trail through the app: one CloudTrail-shaped event per API call, publish and refusal,
recorded before the answer goes out, with no secret in it (issue 18, "Checked how")."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner

from packyard.audit.query import AuditFilter
from packyard.audit.trail import open_trail
from packyard.cli.audit import audit
from packyard.metadata.engine import DatabaseUnavailable
from tests.inprocess.conftest import PackyardFactory
from tests.inprocess.harness import InProcessPackyard, InProcessRepo, assert_refused
from tests.inprocess.npm_support import npm_repo
from tests.inprocess.test_outages import DATABASE_DOWN, _database_down
from tests.integration.helpers import (
    DEFAULT_ACCOUNT,
    ROOT,
    ROOT_SECRET,
    Credentials,
    DistFactory,
    DistSpec,
    upload,
    upload_ok,
)

ROOT_ARN = f"arn:aws:iam::{DEFAULT_ACCOUNT}:root"


def _raw_log(packyard: InProcessPackyard) -> str:
    directory = packyard.settings.data_dir / "audit"
    return "".join(path.read_text() for path in sorted(directory.glob("audit-*.jsonl")))


def _events(packyard: InProcessPackyard, **wanted: Any) -> list[dict[str, Any]]:
    """What the trail holds now (read as ``packyard audit`` reads it: from another handle)."""
    trail = open_trail(packyard.settings, packyard.container.catalog.engines)
    try:
        return list(trail.events(AuditFilter(**wanted)))
    finally:
        trail.close()


def _one(packyard: InProcessPackyard, name: str) -> dict[str, Any]:
    found = _events(packyard, name=name)
    assert len(found) == 1, [event["eventName"] for event in _events(packyard)]
    return found[0]


def test_an_allowed_call_is_recorded_with_who_what_and_the_request_id(
        packyard: InProcessPackyard) -> None:
    packyard.codeartifact().create_domain(domain="acme")
    request_id = packyard.last_aws_response.headers["x-amzn-RequestId"]
    event = _one(packyard, "CreateDomain")
    assert event["eventSource"] == "codeartifact.amazonaws.com"
    assert event["requestID"] == request_id
    assert event["userIdentity"]["arn"] == ROOT_ARN
    assert event["userIdentity"]["accessKeyId"] == ROOT.access_key_id
    assert event["userIdentity"]["type"] == "Root"
    assert event["requestParameters"] == {"domain": "acme"}
    assert event["responseElements"]["domain"]["name"] == "acme"
    assert event["resources"][0]["ARN"] == (
        f"arn:aws:codeartifact:us-east-1:{DEFAULT_ACCOUNT}:domain/acme")
    assert event["sourceIPAddress"] and event["userAgent"].startswith("Botocore")
    assert event["eventTime"].endswith("Z") and "errorCode" not in event


def test_a_read_only_call_leaves_its_answer_out(packyard: InProcessPackyard) -> None:
    packyard.codeartifact().list_domains()
    event = _one(packyard, "ListDomains")
    assert event["readOnly"] is True and "responseElements" not in event


def test_a_denied_call_is_recorded_with_its_error(packyard: InProcessPackyard) -> None:
    iam = packyard.iam()
    iam.create_user(UserName="alice")
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    alice = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    with pytest.raises(ClientError):
        packyard.codeartifact(alice).create_domain(domain="acme")
    event = _one(packyard, "CreateDomain")
    assert event["errorCode"] == "AccessDeniedException"
    assert "not authorized" in event["errorMessage"]
    assert event["userIdentity"]["arn"].endswith(":user/alice")
    assert event["userIdentity"]["accessKeyId"] == key["AccessKeyId"]
    assert _events(packyard, errors_only=True) == [event]


def test_an_unknown_key_is_recorded_as_a_refusal(packyard: InProcessPackyard) -> None:
    with pytest.raises(ClientError):
        packyard.codeartifact(Credentials("AKIANOBODYATALL00000", "x" * 40)).list_domains()
    event = _one(packyard, "ListDomains")
    assert event["errorCode"] == "UnrecognizedClientException"
    assert event["userIdentity"]["type"] == "Unknown"


def test_no_secret_or_token_reaches_the_log(packyard: InProcessPackyard) -> None:
    api = packyard.codeartifact()
    api.create_domain(domain="acme")
    token = api.get_authorization_token(domain="acme")["authorizationToken"]
    iam = packyard.iam()
    iam.create_user(UserName="alice")
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    raw = _raw_log(packyard)
    for secret in (token, key["SecretAccessKey"], ROOT_SECRET):
        assert secret not in raw
    minted = _one(packyard, "GetAuthorizationToken")
    assert minted["readOnly"] is True and "responseElements" not in minted
    created = _one(packyard, "CreateAccessKey")
    assert created["eventSource"] == "iam.amazonaws.com"
    assert created["responseElements"]["AccessKey"]["SecretAccessKey"] == (
        "HIDDEN_DUE_TO_SECURITY_REASONS")
    assert created["responseElements"]["AccessKey"]["AccessKeyId"] == key["AccessKeyId"]


def test_sts_calls_are_recorded(packyard: InProcessPackyard) -> None:
    packyard.sts().get_caller_identity()
    event = _one(packyard, "GetCallerIdentity")
    assert event["eventSource"] == "sts.amazonaws.com"


def test_kms_calls_are_recorded_and_a_refused_one_too(packyard: InProcessPackyard) -> None:
    kms = packyard.aws("kms")
    key = kms.create_key(Description="audited")["KeyMetadata"]
    event = _one(packyard, "CreateKey")
    assert event["eventSource"] == "kms.amazonaws.com"
    assert event["requestParameters"] == {"Description": "audited"}
    assert event["requestID"] == packyard.last_aws_response.headers["x-amzn-RequestId"]
    with pytest.raises(ClientError):
        kms.create_alias(AliasName="alias/aws/mine", TargetKeyId=key["KeyId"])
    assert _one(packyard, "CreateAlias")["errorCode"] == "InvalidAliasNameException"


def test_a_publish_is_recorded_and_a_refused_one_too(packyard: InProcessPackyard,
                                                     dists: DistFactory) -> None:
    repo = packyard.pypi_repo()
    upload_ok(repo, dists.wheel(DistSpec(name="pkg", version="1.0")))
    published = _one(packyard, "PublishPackageVersion")
    assert published["requestParameters"]["packageName"] == "pkg"
    assert published["requestParameters"]["repositoryName"] == "shelf"
    assert published["requestParameters"]["domainName"] == "acme"
    assert published["responseElements"]["created"] is True
    refused = upload(repo, dists.wheel(DistSpec(name="pkg", version="1.0")),
                     content=b"not the same bytes")
    assert refused.status_code >= 400
    failures = _events(packyard, name="PublishPackageVersion", errors_only=True)
    assert len(failures) == 1 and failures[0]["errorMessage"]
    assert repo.token not in _raw_log(packyard)


def test_reads_are_not_recorded_unless_refused(repo: InProcessRepo,
                                               packyard: InProcessPackyard) -> None:
    assert repo.get("simple/").status_code == 200
    assert _events(packyard, name="ReadFromRepository") == []
    with repo.client(auth=("aws", "not-a-token")) as http:
        assert http.get(repo.endpoint + "simple/").status_code == 401
    refused = _one(packyard, "ReadFromRepository")
    assert refused["errorCode"] and refused["requestParameters"]["repositoryName"] == "shelf"
    assert "not-a-token" not in _raw_log(packyard)


def test_downloads_are_recorded_when_asked_for(packyard_factory: PackyardFactory,
                                               dists: DistFactory) -> None:
    packyard = packyard_factory(audit_downloads=True)
    repo = packyard.pypi_repo()
    wheel = dists.wheel(DistSpec(name="pkg", version="1.0"))
    upload_ok(repo, wheel)
    for _ in range(2):  # the second time the hot path would answer from memory
        assert repo.get(f"simple/pkg/{wheel.path.name}").status_code == 200
    downloads = _events(packyard, name="ReadFromRepository")
    assert len(downloads) == 2
    assert downloads[0]["requestParameters"]["assetName"] == wheel.path.name


def test_the_database_sink_keeps_the_same_events(packyard_factory: PackyardFactory) -> None:
    packyard = packyard_factory(audit_log="database")
    packyard.codeartifact().create_domain(domain="acme")
    event = _one(packyard, "CreateDomain")
    assert event["userIdentity"]["arn"] == ROOT_ARN
    assert not (packyard.settings.data_dir / "audit").exists()


def test_off_records_nothing(packyard_factory: PackyardFactory) -> None:
    packyard = packyard_factory(audit_log="off")
    packyard.codeartifact().create_domain(domain="acme")
    assert not (packyard.settings.data_dir / "audit").exists()


def test_every_line_is_one_json_event(packyard: InProcessPackyard) -> None:
    packyard.codeartifact().create_domain(domain="acme")
    packyard.codeartifact().list_domains()
    lines = _raw_log(packyard).splitlines()
    assert [json.loads(line)["eventName"] for line in lines] == ["CreateDomain", "ListDomains"]
    assert all(Path(p).stat().st_mode & 0o077 == 0
               for p in (packyard.settings.data_dir / "audit").iterdir())


def _audit_failures_logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records
            if "in the audit trail" in record.getMessage()]


def test_an_event_that_cannot_be_kept_turns_the_answer_into_a_500(
        packyard: InProcessPackyard, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    observer = packyard.app.observer
    assert observer is not None

    async def fail(_event: dict[str, Any]) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(observer.trail, "record_async", fail)
    with pytest.raises(ClientError):
        packyard.codeartifact().list_domains()
    response = packyard.last_aws_response
    assert response.status_code == 500
    assert response.text == ("The request could not be recorded in the audit trail; see the "
                             "server log\n")
    assert response.headers["x-amzn-requestid"]
    assert observer.traffic.audit_failures >= 1  # botocore may retry a 500
    logged = _audit_failures_logged(caplog)
    assert logged and all(record.levelno == logging.ERROR and record.exc_info
                          for record in logged)  # a bug: its traceback
    assert "answering 500 instead of 200" in logged[0].getMessage()


def test_an_event_lost_to_a_database_outage_is_a_503_to_retry(
        packyard: InProcessPackyard, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    # The scaled setup's trail is the database: while it restarts, an audited request is
    # answered as every other outage is, not as a bug.
    observer = packyard.app.observer
    assert observer is not None

    async def fail(_event: dict[str, Any]) -> None:
        raise DatabaseUnavailable("The metadata database is unavailable right now; try again "
                                  "shortly", retry_after_seconds=2)

    monkeypatch.setattr(observer.trail, "record_async", fail)
    with pytest.raises(ClientError):
        packyard.codeartifact().list_domains()
    response = packyard.last_aws_response
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.text == ("The request could not be recorded in the audit trail; see the "
                             "server log\n")
    # An outage is one line per request, as every other outage is, not a traceback each.
    logged = _audit_failures_logged(caplog)
    assert logged and all(record.levelno == logging.WARNING and not record.exc_info
                          for record in logged)
    assert "database is unavailable right now" in logged[0].getMessage()


def test_regression_an_event_lost_to_a_full_disk_is_a_503_to_retry(
        packyard: InProcessPackyard, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    # With the data directory's disk full, every audited request was a 500 "see the server
    # log" with a traceback in the log each time, as if Packyard had a bug.
    import errno

    observer = packyard.app.observer
    assert observer is not None

    async def fail(_event: dict[str, Any]) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(observer.trail, "record_async", fail)
    with pytest.raises(ClientError):
        packyard.codeartifact().list_domains()
    response = packyard.last_aws_response
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.text == ("The request could not be recorded in the audit trail: the "
                             "server's disk is full; try again shortly\n")
    logged = _audit_failures_logged(caplog)
    assert logged and all(record.levelno == logging.WARNING and not record.exc_info
                          for record in logged)
    assert "No space left on device" in logged[0].getMessage()


def test_refused_iam_calls_are_recorded(packyard: InProcessPackyard) -> None:
    iam = packyard.iam()
    iam.create_user(UserName="alice")
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    with pytest.raises(ClientError):
        packyard.iam(Credentials(key["AccessKeyId"], key["SecretAccessKey"])).list_users()
    denied = _one(packyard, "ListUsers")
    assert denied["eventSource"] == "iam.amazonaws.com"
    assert denied["errorCode"] == "AccessDenied"
    assert denied["userIdentity"]["userName"] == "alice"
    # An unknown key is refused before the body (and the action in it) is read.
    with pytest.raises(ClientError):
        packyard.iam(Credentials("AKIANOBODYATALL00000", "x" * 40)).list_users()
    unknown = _one(packyard, "Unknown")
    assert unknown["eventSource"] == "iam.amazonaws.com"
    assert unknown["errorCode"] == "InvalidClientTokenId"


# -- the console ----------------------------------------------------------------------------------

def test_console_sign_ins_and_changes_are_recorded_as_their_service_calls(
        packyard: InProcessPackyard, dists: DistFactory) -> None:
    from tests.inprocess.console_support import ConsoleUser

    repo = packyard.pypi_repo()
    upload_ok(repo, dists.wheel(DistSpec(name="demo", version="1.0")))
    browser = ConsoleUser(packyard)
    try:
        assert browser.sign_in(Credentials(ROOT.access_key_id, "wrong-secret-value")
                               ).status_code == 401
        assert browser.sign_in().status_code == 303
        version = "/console/domains/acme/repositories/shelf/packages/pypi/-/demo/versions/1.0"
        assert browser.get(version).status_code == 200
        assert browser.post(version + "/status", {"target": "Unlisted",
                                                  "expected": "Published"}).status_code == 303
    finally:
        browser.close()
    logins = _events(packyard, name="ConsoleLogin")
    assert [(e["eventSource"], e.get("errorCode")) for e in logins] == [
        ("signin.amazonaws.com", "Unauthenticated"), ("signin.amazonaws.com", None)]
    assert logins[1]["userIdentity"]["arn"] == ROOT_ARN
    assert logins[1]["requestParameters"]["access_key_id"] == ROOT.access_key_id
    changed = _one(packyard, "UpdatePackageVersionsStatus")
    assert changed["eventSource"] == "codeartifact.amazonaws.com"
    assert changed["userIdentity"]["arn"] == ROOT_ARN
    assert {k: changed["requestParameters"][k] for k in ("domain", "repo", "name", "version",
                                                         "target", "viaConsole")} == {
        "domain": "acme", "repo": "shelf", "name": "demo", "version": "1.0",
        "target": "Unlisted", "viaConsole": True}
    assert _events(packyard, name="ConsoleView") == []  # pages only read
    raw = _raw_log(packyard)
    assert ROOT_SECRET not in raw and "wrong-secret-value" not in raw and "csrf" not in raw


def test_regression_a_secret_typed_into_the_console_key_id_field_is_not_recorded(
        packyard: InProcessPackyard) -> None:
    """A user who pastes the secret access key into "Access key ID" (or swaps the fields)
    is refused, and the trail recorded what was typed there as the access key id: the secret,
    in clear, for every reader of the trail (the console's Audit page, packyard audit).
    CloudTrail hides an unknown user name of a failed ConsoleLogin; so does Packyard now,
    while a key it issued is still recorded, refused or not."""
    from tests.inprocess.console_support import ConsoleUser

    iam = packyard.iam()
    iam.create_user(UserName="alice")
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    secret = key["SecretAccessKey"]
    browser = ConsoleUser(packyard)
    try:
        assert browser.sign_in(Credentials(secret, key["AccessKeyId"])).status_code == 401
        assert browser.sign_in(Credentials(key["AccessKeyId"], "wrong")).status_code == 401
        assert browser.sign_in(Credentials(key["AccessKeyId"], secret)).status_code == 303
    finally:
        browser.close()
    logins = _events(packyard, name="ConsoleLogin")
    assert [e["requestParameters"]["access_key_id"] for e in logins] == [
        "HIDDEN_DUE_TO_SECURITY_REASONS", key["AccessKeyId"], key["AccessKeyId"]]
    assert secret not in _raw_log(packyard)


def test_the_console_shows_the_trail_to_whoever_may_look_events_up(
        packyard: InProcessPackyard) -> None:
    from tests.inprocess.console_support import ConsoleUser

    api = packyard.codeartifact()
    api.create_domain(domain="acme")
    with pytest.raises(ClientError):
        api.create_domain(domain="acme")
    iam = packyard.iam()
    iam.create_user(UserName="carol")
    key = iam.create_access_key(UserName="carol")["AccessKey"]
    carol = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    root, other = ConsoleUser(packyard), ConsoleUser(packyard)
    try:
        root.sign_in()
        page = root.get("/console/audit?event=CreateDomain")
        assert page.status_code == 200
        assert page.text.count("<code title=\"codeartifact.amazonaws.com\">CreateDomain") == 2
        assert "ConflictException" in page.text
        errors = root.get("/console/audit?event=CreateDomain&errors=1").text
        assert errors.count(">CreateDomain<") == 1
        assert root.get("/console/audit?since=yesterday").status_code == 400
        other.sign_in(carol)
        refused = other.get("/console/audit")
        assert refused.status_code == 403 and "cloudtrail:LookupEvents" in refused.text
        iam.put_user_policy(UserName="carol", PolicyName="audit", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "cloudtrail:LookupEvents", "Resource": "*"}]}))
        assert other.get("/console/audit").status_code == 200
    finally:
        root.close()
        other.close()
    # Refused pages (the look-up, and carol's home page: she may not list domains either)
    # are in the trail too.
    views = _events(packyard, name="ConsoleView", errors_only=True)
    assert views and all(e["errorCode"] == "Denied" and e["userIdentity"]["userName"] == "carol"
                         for e in views)


def test_the_console_says_when_the_trail_is_off(packyard_factory: PackyardFactory) -> None:
    from tests.inprocess.console_support import ConsoleUser

    browser = ConsoleUser(packyard_factory(audit_log="off"))
    try:
        browser.sign_in()
        page = browser.get("/console/audit")
        assert page.status_code == 404
        assert "The audit trail is off (PACKYARD_AUDIT_LOG=off)." in page.text
    finally:
        browser.close()


def test_regression_console_actions_are_recorded_as_the_service_calls_they_make(
        packyard: InProcessPackyard) -> None:
    """The actions of a user's, a role's and a package group's pages were recorded as
    ConsoleUserAction, ConsoleRoleAction and ConsolePackageGroupAction, so an auditor looking
    for DeleteUser or AttachRolePolicy did not find the ones made in the console."""
    from tests.inprocess.console_support import ConsoleUser

    packyard.codeartifact().create_domain(domain="acme")
    iam = packyard.iam()
    iam.create_user(UserName="erin")
    iam.create_role(RoleName="builder", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
            "Action": "sts:AssumeRole"}]}))
    read_only = "arn:aws:iam::aws:policy/AWSCodeArtifactReadOnlyAccess"
    browser = ConsoleUser(packyard)
    try:
        browser.sign_in()
        browser.get("/console/access")
        posts = [("/console/access/users/erin/create-key", {}),
                 ("/console/access/users/erin/attach", {"policy_arn": read_only}),
                 ("/console/access/users/erin/detach", {"policy_arn": read_only}),
                 ("/console/access/roles/builder/attach", {"policy_arn": read_only}),
                 ("/console/access/roles/builder/detach", {"policy_arn": read_only}),
                 ("/console/access/roles/builder/delete", {}),
                 ("/console/domains/acme/package-groups/create", {"pattern": "/pypi//acme~"}),
                 ("/console/domains/acme/package-groups/update",
                  {"pattern": "/pypi//acme~", "description": "ours"}),
                 ("/console/domains/acme/package-groups/delete", {"pattern": "/pypi//acme~"}),
                 ("/console/domains/acme/tags/add", {"tag_key": "team", "tag_value": "a"}),
                 ("/console/domains/acme/tags/remove", {"tag_key": "team"})]
        for path, form in posts:
            assert browser.post(path, form).status_code in (200, 303), path
        key = iam.list_access_keys(UserName="erin")["AccessKeyMetadata"][0]["AccessKeyId"]
        for path, form in [("/console/access/users/erin/delete-key", {"key_id": key}),
                           ("/console/access/users/erin/delete", {})]:
            assert browser.post(path, form).status_code == 303, path
    finally:
        browser.close()
    changes = [e["eventName"] for e in _events(packyard)
               if e.get("requestParameters", {}).get("viaConsole")
               and e["eventName"] != "ConsoleLogin"]
    assert changes == ["CreateAccessKey", "AttachUserPolicy", "DetachUserPolicy",
                       "AttachRolePolicy", "DetachRolePolicy", "DeleteRole",
                       "CreatePackageGroup", "UpdatePackageGroup", "DeletePackageGroup",
                       "TagResource", "UntagResource", "DeleteAccessKey", "DeleteUser"]


def test_regression_the_audit_command_reads_the_replicas_trail_in_their_database(
        packyard_factory: PackyardFactory, tmp_path: Path) -> None:
    """Replicas keep their trail in the database (``PACKYARD_AUDIT_LOG=database``, the default
    on PostgreSQL), and ``packyard audit`` took no --database-url (``token`` and ``import``
    do): 'no audit trail in ./data'."""
    packyard = packyard_factory(audit_log="database")
    packyard.codeartifact().create_domain(domain="acme")
    url = f"sqlite:///{packyard.settings.data_dir / 'packyard.db'}"
    result = CliRunner().invoke(audit, [
        "--data-dir", str(tmp_path / "replica"), "--database-url", url,
        "--event", "CreateDomain", "--output", "json"], env={"PACKYARD_AUDIT_LOG": "database"})
    assert result.exit_code == 0, result.output
    [event] = [json.loads(line) for line in result.output.splitlines()]
    assert event["eventName"] == "CreateDomain" and "acme" in json.dumps(event)


def test_regression_an_outage_refused_in_its_own_protocol_keeps_that_answer(
        packyard: InProcessPackyard, dists: DistFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Replicas on PostgreSQL keep the trail in the database: while it was down, the AWS CLI
    # said "An error occurred (503) ...: The request could not be recorded in the audit
    # trail", twine and npm publish a bare "503 Service Unavailable", where the surface had
    # answered the outage in its own protocol with its reason.
    repo = packyard.pypi_repo()
    npm = npm_repo(packyard)
    observer = packyard.app.observer
    assert observer is not None

    async def trail_down(_event: dict[str, Any]) -> None:
        raise DatabaseUnavailable(DATABASE_DOWN, retry_after_seconds=2)

    monkeypatch.setattr(observer.trail, "record_async", trail_down)
    with _database_down(monkeypatch):
        api = packyard.signed("POST", "/v1/domains")
        uploaded = upload(repo, dists.wheel(DistSpec(name="pkg", version="1.0")))
        published = npm.publish("left-pad")
    assert api.status_code == 503 and api.headers["retry-after"] == "2"
    assert api.headers["x-amzn-errortype"] == "ServiceUnavailableException"
    assert api.json() == {"message": DATABASE_DOWN}
    assert_refused(uploaded, 503, DATABASE_DOWN)
    assert uploaded.headers["retry-after"] == "2"
    assert published.status_code == 503
    assert published.json() == {"error": DATABASE_DOWN}
    assert observer.traffic.audit_failures >= 3


def test_regression_tagging_events_name_the_resource_tagged(packyard: InProcessPackyard) -> None:
    # TagResource and UntagResource name their resource by ARN, not by domain and repository:
    # their events had no resources, and ``packyard audit`` showed an empty resource column.
    api = packyard.codeartifact()
    api.create_domain(domain="acme")
    api.create_repository(domain="acme", repository="shelf")
    arn = f"arn:aws:codeartifact:us-east-1:{DEFAULT_ACCOUNT}:repository/acme/shelf"
    api.tag_resource(resourceArn=arn, tags=[{"key": "team", "value": "ops"}])
    api.untag_resource(resourceArn=arn, tagKeys=["team"])
    for name in ("TagResource", "UntagResource"):
        assert _one(packyard, name)["resources"] == [{
            "ARN": arn, "accountId": DEFAULT_ACCOUNT, "type": "AWS::CodeArtifact::Repository"}]
    result = CliRunner().invoke(audit, ["--data-dir", str(packyard.settings.data_dir),
                                        "--event", "TagResource"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    [row] = [line for line in result.output.splitlines() if "TagResource" in line]
    assert arn in row
