"""The audit trail under a real server: an acknowledged request's event survives kill -9."""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner

from tests.integration.helpers import (
    DistFactory,
    DistSpec,
    codeartifact_client,
    create_pypi_repo,
    upload_ok,
)


def _audit(data_dir: Any, *args: str) -> list[str]:
    import json

    from packyard.cli.audit import audit

    result = CliRunner().invoke(audit, ["--data-dir", str(data_dir), "--output", "json", *args],
                                env={"PACKYARD_DATA_DIR": None})
    assert result.exit_code == 0, result.stderr
    return [json.loads(line)["eventName"] for line in result.stdout.splitlines()]


def test_kill_right_after_a_publish_keeps_its_audit_event(server_factory: Any,
                                                          dists: DistFactory) -> None:
    server = server_factory()
    repo = create_pypi_repo(codeartifact_client(server.url), server.url, "audited")
    upload_ok(repo, dists.wheel(DistSpec(name="audited-pkg", version="1.0")))
    server.kill()  # SIGKILL: no flush, no clean shutdown
    assert _audit(server.data_dir, "--event", "PublishPackageVersion") == [
        "PublishPackageVersion"]
    assert "CreateRepository" in _audit(server.data_dir)
