"""``packyard serve --log-format json``: every line the server writes to standard error, from
start to stop and from every worker, is one JSON object."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any

import httpx

from tests.integration.helpers import ServerProcess, run, server_env, tool

RFC3339_MS_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}


def _json_lines(text: str) -> list[dict[str, Any]]:
    """Each line of ``text`` as the JSON object it must be, with the fields every line has."""
    assert text.endswith("\n"), f"the last line is cut short: {text[-200:]!r}"
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            entry = json.loads(line)
        except ValueError:
            raise AssertionError(f"line {number} of standard error is not JSON: {line!r}") \
                from None
        assert isinstance(entry, dict), f"line {number} is not an object: {line!r}"
        assert RFC3339_MS_UTC.fullmatch(entry.get("time", "")), f"line {number}: {line}"
        assert entry.get("level") in LEVELS, f"line {number}: {line}"
        assert isinstance(entry.get("logger"), str) and entry["logger"], f"line {number}: {line}"
        assert isinstance(entry.get("message"), str), f"line {number}: {line}"
        entries.append(entry)
    return entries


def test_every_line_of_a_json_server_log_is_json_with_workers_at_debug(tmp_path: Path) -> None:
    srv = ServerProcess(data_dir=tmp_path / "data", log_path=tmp_path / "stdout.log",
                        stderr_path=tmp_path / "stderr.log", env=server_env(),
                        args=("--log-format", "json", "--workers", "2", "--log-level", "debug"))
    try:
        srv.start(timeout=60)
        with httpx.Client(base_url=srv.url, trust_env=False, timeout=10) as http:
            # uvicorn's access line (at debug) holds the query string: its secrets hidden.
            assert http.get("/health?X-Amz-Signature=feedc0ffee&token=tok3n").status_code == 200
            # A refusal: one line of the request log, naming the request.
            refused = http.get("/caf%C3%A9-000000000000/pypi/r%1B/simple/x/")
            assert refused.status_code in (401, 404), refused.text
            request_id = refused.headers["x-amzn-requestid"]
    finally:
        srv.stop()
    stderr = srv.stderr_path.read_text(encoding="ascii") if srv.stderr_path else ""
    entries = _json_lines(stderr)

    # The start-up banner is log records too, and so are alembic's lines at debug.
    serve = [e["message"] for e in entries if e["logger"] == "packyard.serve"]
    assert serve and serve[0] == f"Packyard {_version()} on {srv.url}"
    assert any("aws configure set endpoint_url" in m for m in serve)
    assert any(e["logger"].startswith("alembic") and e["level"] == "DEBUG" for e in entries)
    # The supervisor's lines and each worker's.
    uvicorn = [e["message"] for e in entries if e["logger"] == "uvicorn.error"]
    assert any(m.startswith("Started parent process") for m in uvicorn)
    workers = {m for m in uvicorn if m.startswith("Started server process")}
    assert len(workers) == 2, uvicorn
    assert any(m.startswith("Stopping parent process") for m in uvicorn)

    access = [e for e in entries if e["logger"] == "uvicorn.access"]
    assert any("/health?X-Amz-Signature=HIDDEN&token=HIDDEN" in e["message"] for e in access)
    for secret in ("feedc0ffee", "tok3n"):
        assert secret not in stderr
    [refusal] = [e for e in entries
                 if e["logger"] == "packyard.request" and e.get("requestId") == request_id]
    assert f"answered {refused.status_code}" in refusal["message"]
    # Read as ASCII above: the path's é arrives escaped in the JSON, and back whole from it.
    assert "/caf\u00e9-000000000000/" in refusal["message"]
    assert all("requestId" not in e for e in entries if e["logger"] == "packyard.serve")
    # Standard output is left to --access-log - (not set here): uvicorn's access lines go to
    # standard error with the rest of the server log.
    assert srv.log_path.read_text() == ""


def _version() -> str:
    from packyard import __version__

    return __version__


def test_a_refusal_to_start_is_a_json_line_too(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run([tool("packyard"), "serve", "--log-format", "json", "--host", "127.0.0.1",
                    "--port", str(port), "--data-dir", str(data_dir)],
                   server_env(), check=False, timeout=30)
    assert proc.returncode == 2
    [entry] = _json_lines(proc.stderr)
    assert (entry["level"], entry["logger"]) == ("ERROR", "packyard.serve")
    assert entry["message"] == (f"port {port} on 127.0.0.1 is in use by another program: "
                                "stop it, or choose another port with --port (or PACKYARD_PORT)")
    # A setting refused: the log format chosen is known all the same.
    proc = run([tool("packyard"), "serve", "--data-dir", str(data_dir)],
               server_env({"PACKYARD_LOG_FORMAT": "Json", "PACKYARD_AUDIT_FSYNC": "ture"}),
               check=False, timeout=30)
    assert proc.returncode == 2
    [entry] = _json_lines(proc.stderr)
    assert entry["message"] == ("PACKYARD_AUDIT_FSYNC must be true or false (or 1/yes/on, "
                                "0/no/off), got 'ture'")
    assert not data_dir.exists()
