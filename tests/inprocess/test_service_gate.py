"""``RepositoryGate``, the check every package-endpoint request passes, on a real catalog, token
service and IAM store: the order of its refusals, and the read grants it reuses for a second."""

from __future__ import annotations

import base64

import pytest

from packyard.auth.environment import RequestEnvironment
from packyard.bootstrap import Container
from packyard.errors import Denied, NotFound, Unauthenticated
from packyard.services.access import RepositoryGate
from tests.inprocess.harness import ROOT_PRINCIPAL
from tests.inprocess.service_support import iam_user

LABEL = "acme-000000000000"


def _basic(token: str) -> str:
    return "Basic " + base64.b64encode(f"aws:{token}".encode()).decode()


@pytest.fixture
def gate(container: Container) -> RepositoryGate:
    registry = container.registry
    registry.create_domain(ROOT_PRINCIPAL, "acme")
    registry.create_repository(ROOT_PRINCIPAL, "acme", "shelf", None)
    return container.core.gate


@pytest.fixture
def token(container: Container, gate: RepositoryGate) -> str:
    return str(container.registry.get_authorization_token(ROOT_PRINCIPAL, "acme", None).token)


def test_open_gives_the_principal_domain_and_repository(gate: RepositoryGate,
                                                        token: str) -> None:
    access = gate.open(LABEL, "shelf", _basic(token))
    assert (access.principal.arn, access.domain.name, access.repository.name) == (
        ROOT_PRINCIPAL.arn, "acme", "shelf")


@pytest.mark.parametrize(("label", "repository", "authorization", "error", "message"), [
    pytest.param(LABEL, "shelf", None, Unauthenticated, "Authentication required: use the "
                 "token from get-authorization-token as the password of user 'aws'",
                 id="anonymous"),
    pytest.param("nowhere-000000000000", "shelf", None, Unauthenticated,
                 "Authentication required", id="anonymous-before-the-domain"),
    # The token is checked before the label is read (issue 10), so a bad token is refused the
    # same way whatever the label.
    pytest.param("acme", "shelf", "Bearer x", Unauthenticated,
                 "Invalid authorization token", id="label-without-owner"),
    pytest.param("acme-12", "shelf", "Bearer x", Unauthenticated,
                 "Invalid authorization token", id="short-owner"),
    pytest.param(LABEL, "shelf", "Bearer not-a-token", Unauthenticated,
                 "Invalid authorization token", id="bad-token"),
])
def test_open_refuses(gate: RepositoryGate, label: str, repository: str,
                      authorization: str | None, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        gate.open(label, repository, authorization)


def test_missing_repository_is_not_found_after_authentication(gate: RepositoryGate,
                                                              token: str) -> None:
    with pytest.raises(NotFound, match="Repository absent not found in domain acme"):
        gate.open(LABEL, "absent", _basic(token))


def test_reading_needs_read_from_repository(container: Container, gate: RepositoryGate) -> None:
    minter = iam_user(container, "minter", {
        "Effect": "Allow", "Action": ["codeartifact:GetAuthorizationToken",
                                      "sts:GetServiceBearerToken"], "Resource": "*"})
    token = container.registry.get_authorization_token(minter, "acme", None).token
    gate.open(LABEL, "shelf", _basic(token))  # authenticated...
    with pytest.raises(Denied, match="codeartifact:ReadFromRepository"):
        gate.open_for_read(LABEL, "shelf", _basic(token))  # ...but not allowed to read
    assert gate.recent_reader(LABEL, "shelf", _basic(token), None) is None


def test_a_read_grant_is_reused_only_for_the_same_header_and_place(gate: RepositoryGate,
                                                                   token: str) -> None:
    granted = gate.open_for_read(LABEL, "shelf", _basic(token))
    # Outside a request the grant is recorded for "no environment"; a request from anywhere
    # (conditions may be on aws:SourceIp or aws:SecureTransport) does not reuse it.
    assert gate.recent_reader(LABEL, "shelf", _basic(token), None) == granted
    for place in (RequestEnvironment(source_ip=None, secure_transport=False),
                  RequestEnvironment(source_ip="10.0.0.1", secure_transport=True)):
        assert gate.recent_reader(LABEL, "shelf", _basic(token), place) is None
    assert gate.recent_reader(LABEL, "shelf", "Bearer " + token, None) is None
    assert gate.recent_reader(LABEL, "other", _basic(token), None) is None


def test_a_grant_made_on_a_connection_serves_the_callers_other_connections_from_that_place(
        gate: RepositoryGate, token: str) -> None:
    granted = gate.open_for_read(LABEL, "shelf", _basic(token), connection=1)
    assert gate.recent_reader(LABEL, "shelf", _basic(token), None, connection=1) == granted
    assert gate.recent_reader(LABEL, "shelf", _basic(token), None, connection=2) == granted
    # Not for a request naming no connection (its grants live a second), nor from elsewhere,
    # nor for another header, nor another repository.
    assert gate.recent_reader(LABEL, "shelf", _basic(token), None) is None
    elsewhere = RequestEnvironment(source_ip="10.0.0.1", secure_transport=False)
    assert gate.recent_reader(LABEL, "shelf", _basic(token), elsewhere, connection=2) is None
    assert gate.recent_reader(LABEL, "shelf", "Bearer " + token, None, connection=2) is None
    assert gate.recent_reader(LABEL, "other", _basic(token), None, connection=2) is None
