"""``/metrics`` through the app, parsed with prometheus-client's own parser."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families

from tests.inprocess.conftest import PackyardFactory
from tests.inprocess.harness import InProcessPackyard
from tests.inprocess.npm_support import npm_repo
from tests.integration.helpers import DistFactory, DistSpec, upload, upload_ok


def _samples(packyard: InProcessPackyard) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = packyard.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_api_requests_are_counted_by_operation_and_status(packyard: InProcessPackyard) -> None:
    api = packyard.codeartifact()
    api.create_domain(domain="acme")
    with pytest.raises(ClientError):
        api.create_domain(domain="acme")
    samples = _samples(packyard)
    assert _value(samples, "packyard_http_requests_total", surface="codeartifact",
                  operation="CreateDomain", status="200") == 1
    assert _value(samples, "packyard_http_requests_total", surface="codeartifact",
                  operation="CreateDomain", status="409") == 1
    assert _value(samples, "packyard_http_request_duration_seconds_count",
                  surface="codeartifact", operation="CreateDomain") == 2
    assert _value(samples, "packyard_http_request_duration_seconds_bucket",
                  surface="codeartifact", operation="CreateDomain", le="+Inf") == 2
    assert _value(samples, "packyard_http_request_bytes_total", surface="codeartifact") > 0
    assert _value(samples, "packyard_http_response_bytes_total", surface="codeartifact") > 0
    assert _value(samples, "packyard_audit_events_total") >= 2


def test_uploads_reads_tokens_and_caches_are_counted(packyard: InProcessPackyard,
                                                     dists: DistFactory) -> None:
    repo = packyard.pypi_repo()
    wheel = dists.wheel(DistSpec(name="pkg", version="1.0"))
    upload_ok(repo, wheel)
    upload_ok(repo, wheel)
    assert upload(repo, wheel, content=b"other bytes").status_code == 400
    for _ in range(3):
        assert repo.get("simple/pkg/").status_code == 200
    samples = _samples(packyard)
    assert _value(samples, "packyard_uploads_total", format="pypi", outcome="created") == 1
    assert _value(samples, "packyard_uploads_total", format="pypi", outcome="identical") == 1
    refused = {labels: value for (name, labels), value in samples.items()
               if name == "packyard_uploads_total" and ("outcome", "created") not in labels
               and ("outcome", "identical") not in labels}
    assert sum(refused.values()) == 1
    assert _value(samples, "packyard_tokens_minted_total") == 1
    assert _value(samples, "packyard_hot_answers_total", format="pypi", kind="page",
                  status="200") == 2  # the first read rendered the page, the others reused it
    assert _value(samples, "packyard_hot_answers_sent_total", way="asgi") == 2
    assert _value(samples, "packyard_http_requests_total", surface="pypi",
                  operation="project_page", status="200") == 1
    assert _value(samples, "packyard_cache_entries", cache="pypi_pages") >= 1
    assert _value(samples, "packyard_cache_hits_total", cache="read_grants") >= 1


def test_labels_never_come_from_what_a_caller_sends(packyard: InProcessPackyard) -> None:
    for path in ("/v1/made-up-operation", "/nowhere/at/all", "/v1/another-one"):
        packyard.http.post(path)
    text = packyard.http.get("/metrics").text
    assert "made-up" not in text and "nowhere" not in text and "another-one" not in text


def test_metrics_can_be_turned_off(packyard_factory: PackyardFactory) -> None:
    packyard = packyard_factory(metrics=False)
    assert packyard.http.get("/metrics").status_code == 404


def test_an_unreachable_upstream_is_counted_as_a_fetch_and_an_error(
        packyard: InProcessPackyard) -> None:
    repo = packyard.pypi_repo(repository="public")
    packyard.codeartifact().associate_external_connection(
        domain="acme", repository="public", externalConnection="public:pypi")
    assert repo.get("simple/requests/").status_code == 502
    samples = _samples(packyard)
    assert _value(samples, "packyard_upstream_document_fetches_total") == 1
    assert _value(samples, "packyard_upstream_errors_total") == 1
    assert _value(samples, "packyard_upstream_document_hits_total") == 0
    assert _value(samples, "packyard_upstream_stale_answers_total") == 0


def test_regression_readiness_probes_are_counted_as_the_servers_ready_route(
        packyard: InProcessPackyard) -> None:
    """A balancer's /ready probes (its 503s above all) were counted as surface and operation
    "other", with every unknown path."""
    for _ in range(2):
        assert packyard.http.get("/ready").status_code == 200
    assert packyard.http.get("/no/such/path").status_code == 404
    samples = _samples(packyard)
    assert _value(samples, "packyard_http_requests_total", surface="server", operation="ready",
                  status="200") == 2
    assert _value(samples, "packyard_http_requests_total", surface="other", operation="other",
                  status="200") == 0


def test_regression_npm_publishes_are_counted_as_uploads_and_by_route(
        packyard: InProcessPackyard) -> None:
    """An npm publish was not in packyard_uploads_total (only a refused one was), and every npm
    write was operation "other"."""
    npm = npm_repo(packyard)
    assert npm.publish("left-pad", "1.0.0").status_code == 201
    assert npm.publish("left-pad", "1.0.0").status_code == 200  # the same again
    assert npm.get("-/whoami").status_code == 200
    samples = _samples(packyard)
    assert _value(samples, "packyard_uploads_total", format="npm", outcome="created") == 1
    assert _value(samples, "packyard_uploads_total", format="npm", outcome="identical") == 1
    assert _value(samples, "packyard_http_requests_total", surface="npm", operation="publish",
                  status="201") == 1
    assert _value(samples, "packyard_http_requests_total", surface="npm", operation="whoami",
                  status="200") == 1
    assert not [labels for (name, labels), _ in samples.items()
                if name == "packyard_http_requests_total" and ("surface", "npm") in labels
                and ("operation", "other") in labels]
