"""`packyard serve`: first start, root credentials, account and region settings, --help."""

from __future__ import annotations

import json
import os
import socket
import stat
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from packyard.processes import pid_alive
from tests.integration.helpers import (
    DEFAULT_ACCOUNT,
    DEFAULT_REGION,
    ROOT_KEY_ID,
    ClientHome,
    Credentials,
    DistFactory,
    DistSpec,
    PypiRepo,
    ServerProcess,
    codeartifact_client,
    create_pypi_repo,
    make_venv,
    run,
    tool,
    unique_name,
    upload_ok,
)

JSON_V1 = "application/vnd.pypi.simple.v1+json"

NO_ENV_KEYS = {"PACKYARD_ROOT_ACCESS_KEY_ID": None, "PACKYARD_ROOT_SECRET_ACCESS_KEY": None}


def _generated_credentials(data_dir: Path) -> Credentials:
    data = json.loads((data_dir / "credentials.json").read_text())
    assert isinstance(data, dict), f"credentials.json is not an object: {data!r}"
    key = next((v for k, v in data.items() if "access_key_id" in k.lower()), None)
    secret = next((v for k, v in data.items() if "secret" in k.lower()), None)
    assert key and secret, f"credentials.json lacks an access key id and secret: {sorted(data)}"
    return Credentials(key, secret)


def test_first_start_generates_root_credentials_readable_only_by_owner(
        server_factory: Any) -> None:
    srv = server_factory(env=NO_ENV_KEYS)
    path = srv.data_dir / "credentials.json"
    assert path.is_file(), "first start without PACKYARD_ROOT_* did not create credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    creds = _generated_credentials(srv.data_dir)
    assert creds.access_key_id.startswith("AKIA") and len(creds.access_key_id) == 20

    # The generated keys are the root keys: the API accepts requests signed with them.
    api = codeartifact_client(srv.url, creds)
    assert api.list_domains()["domains"] == []


def test_first_start_prints_an_aws_cli_profile_with_the_endpoint(server_factory: Any) -> None:
    srv = server_factory(env=NO_ENV_KEYS)
    creds = _generated_credentials(srv.data_dir)
    log = srv.log_text()
    assert creds.access_key_id in log, f"start-up output does not show the access key id:\n{log}"
    assert srv.url in log, f"start-up output does not show the endpoint {srv.url}:\n{log}"
    # An AWS CLI profile sets the endpoint with `endpoint_url` (AWS CLI >= 1.29 / 2.13).
    assert "endpoint_url" in log, f"no AWS CLI profile with endpoint_url in:\n{log}"
    # Server output ends up in logs: the secret itself is never printed.
    assert creds.secret_access_key not in log, "start-up output shows the secret access key"


def test_restart_keeps_the_generated_credentials(server_factory: Any) -> None:
    first = server_factory(env=NO_ENV_KEYS)
    creds = _generated_credentials(first.data_dir)
    domain = unique_name("keep")
    codeartifact_client(first.url, creds).create_domain(domain=domain)
    first.stop()

    second = server_factory(env=NO_ENV_KEYS, data_dir=first.data_dir)
    assert _generated_credentials(second.data_dir) == creds
    described = codeartifact_client(second.url, creds).describe_domain(domain=domain)
    assert described["domain"]["name"] == domain


# What server/fence.py logs when uvicorn lacks something Packyard uses (docs/decisions/0002).
FENCE_WARNING = "lacks what Packyard was tested with"


def test_serve_finds_everything_it_uses_of_uvicorn(server: ServerProcess) -> None:
    assert FENCE_WARNING not in server.log_text()


def test_environment_credentials_are_the_root_keys(server: ServerProcess) -> None:
    api = codeartifact_client(server.url)
    assert isinstance(api.list_domains()["domains"], list)
    # No generated file when the keys come from the environment.
    assert not (server.data_dir / "credentials.json").exists()

    other = codeartifact_client(server.url, Credentials("AKIAOTHERKEY00000000", "x" * 40))
    with pytest.raises(ClientError) as info:
        other.list_domains()
    assert info.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_environment_keys_over_a_generated_key_say_which_key_works(
        server_factory: Any) -> None:
    first = server_factory(env=NO_ENV_KEYS)
    generated = _generated_credentials(first.data_dir)
    first.stop()

    second = server_factory(data_dir=first.data_dir)  # PACKYARD_ROOT_* set, file still there
    log = " ".join(second.log_text().split())
    assert (f"note: The root key is {ROOT_KEY_ID}, from PACKYARD_ROOT_ACCESS_KEY_ID; the key "
            f"{generated.access_key_id} in {first.data_dir.resolve() / 'credentials.json'} does "
            "not work while that is set (unset PACKYARD_ROOT_ACCESS_KEY_ID and "
            "PACKYARD_ROOT_SECRET_ACCESS_KEY to use it).") in log
    # What the line says is true.
    with pytest.raises(ClientError) as info:
        codeartifact_client(second.url, generated).list_domains()
    assert info.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert isinstance(codeartifact_client(second.url).list_domains()["domains"], list)


def test_no_note_about_keys_when_there_is_no_generated_one(server: ServerProcess) -> None:
    assert "does not work while" not in server.log_text()


def test_a_busy_port_is_one_line_before_anything_is_set_up(tmp_path: Path,
                                                           session_home: ClientHome) -> None:
    data_dir = tmp_path / "data"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.monotonic()
        proc = run([tool("packyard"), "serve", "--host", "127.0.0.1", "--port", str(port),
                    "--data-dir", str(data_dir)], session_home.env(), check=False, timeout=30)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == (f"error: port {port} on 127.0.0.1 is in use by another program: "
                           "stop it, or choose another port with --port (or PACKYARD_PORT)\n")
    assert not data_dir.exists(), "the data directory was set up before the port was checked"
    assert time.monotonic() - started < 10


def test_default_account_and_region_appear_in_arns(api: Any) -> None:
    domain = unique_name("arn")
    created = api.create_domain(domain=domain)["domain"]
    assert created["owner"] == DEFAULT_ACCOUNT
    assert created["arn"] == f"arn:aws:codeartifact:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}:domain/{domain}"


def test_account_id_and_region_settings_appear_in_every_arn(server_factory: Any) -> None:
    account, region = "123456789012", "eu-west-3"
    srv = server_factory(env={"PACKYARD_ACCOUNT_ID": account, "PACKYARD_REGION": region})
    api = codeartifact_client(srv.url, region=region)
    domain = unique_name("acct")
    created = api.create_domain(domain=domain)["domain"]
    assert created["owner"] == account
    assert created["arn"] == f"arn:aws:codeartifact:{region}:{account}:domain/{domain}"
    repo = api.create_repository(domain=domain, repository="r1")["repository"]
    assert repo["arn"] == f"arn:aws:codeartifact:{region}:{account}:repository/{domain}/r1"
    assert repo["domainOwner"] == account
    assert repo["administratorAccount"] == account
    listed = api.list_domains()["domains"]
    assert [d["arn"] for d in listed if d["name"] == domain] == [created["arn"]]
    endpoint = api.get_repository_endpoint(domain=domain, repository="r1",
                                           format="pypi")["repositoryEndpoint"]
    assert endpoint == f"{srv.url}/{domain}-{account}/pypi/r1/"


def test_invalid_account_id_setting_is_refused_at_start(tmp_path: Path,
                                                        session_home: ClientHome) -> None:
    proc = run([tool("packyard"), "serve", "--host", "127.0.0.1", "--port", "1",
                "--data-dir", str(tmp_path / "data")],
               {**session_home.env(), "PACKYARD_ACCOUNT_ID": "12345"}, check=False, timeout=30)
    assert proc.returncode != 0
    assert "PACKYARD_ACCOUNT_ID" in proc.stdout + proc.stderr


def test_packyard_help(session_home: ClientHome) -> None:
    out = run([tool("packyard"), "--help"], session_home.env()).stdout
    assert "serve" in out


def test_packyard_serve_help(session_home: ClientHome) -> None:
    out = run([tool("packyard"), "serve", "--help"], session_home.env()).stdout
    for option in ("--host", "--port", "--data-dir"):
        assert option in out, f"`packyard serve --help` does not document {option}:\n{out}"



def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _listed_files(repo: PypiRepo, project: str) -> set[str]:
    """The files a project page lists, read on a new connection each time (so any worker)."""
    with repo.client() as client:
        response = client.get(repo.project_url(project), headers={"Accept": JSON_V1})
    assert response.status_code == 200, response.text
    return {f["filename"] for f in response.json()["files"]}


def test_several_workers_share_one_port_and_see_each_others_writes(
        server_factory: Any, dists: DistFactory, fresh_home: ClientHome, tmp_path: Path) -> None:
    srv = server_factory(env={"PACKYARD_WORKERS": "2"})
    assert srv.proc is not None
    assert len(_children(srv.proc.pid)) >= 2, srv.log_text()
    api = codeartifact_client(srv.url)
    repo = create_pypi_repo(api, srv.url, "workers")
    first, second = (dists.wheel(DistSpec(name="workers-probe", version=v))
                     for v in ("1.0", "2.0"))
    upload_ok(repo, first)
    assert all(_listed_files(repo, "workers-probe") == {first.filename} for _ in range(12))

    # Each worker caches pages (and answers repeats from memory); a write through one shows
    # on all of them within the documented 2 s.
    upload_ok(repo, second)
    started = time.monotonic()
    while True:
        seen = [_listed_files(repo, "workers-probe") for _ in range(12)]
        if all(files == {first.filename, second.filename} for files in seen):
            break
        assert time.monotonic() - started < 4.0, f"a worker still lists {seen}"
        time.sleep(0.2)

    python = make_venv(tmp_path / "venv", fresh_home)
    run([tool("uv"), "pip", "install", "--python", python, "--index-url",
         repo.index_url_with_token, "workers-probe"], fresh_home.env())
    out = run([python, "-c", "import importlib.metadata as m; print(m.version('workers-probe'))"],
              fresh_home.env()).stdout
    assert out.strip() == "2.0"
    assert FENCE_WARNING not in srv.log_text()  # each worker checked uvicorn too


def test_regression_metrics_of_several_workers_count_every_workers_requests(
        server_factory: Any) -> None:
    # With --workers 2 a scrape reached one worker and showed its counts only: about half of
    # the requests, and a different half on each scrape, which Prometheus reads as resets.
    from prometheus_client.parser import text_string_to_metric_families

    srv = server_factory(env={"PACKYARD_WORKERS": "2"})
    sent = 60
    for index in range(sent):
        with httpx.Client() as client:  # a new connection each: either worker
            assert client.get(f"{srv.url}/nowhere-{index}").status_code == 404

    def not_found() -> list[float]:
        seen = []
        for _ in range(6):
            with httpx.Client() as client:
                text = client.get(f"{srv.url}/metrics").text
            [family] = [family for family in text_string_to_metric_families(text)
                        if family.name == "packyard_http_requests"]
            seen.append(sum(sample.value for sample in family.samples
                            if sample.labels["surface"] == "other"
                            and sample.labels["status"] == "404"))
        return seen

    deadline = time.monotonic() + 10
    while (seen := not_found()) != [float(sent)] * 6:
        assert time.monotonic() < deadline, seen  # the others' figures: within a second
        time.sleep(0.3)


def test_regression_workers_end_when_serve_is_killed_and_a_restart_finds_the_port_free(
        server_factory: Any) -> None:
    # `kill -9` of `packyard serve --workers 2` (or the OOM killer choosing it) left both
    # workers serving the port, orphaned; the restart said "port … is in use by another
    # program".
    srv = server_factory(env={"PACKYARD_WORKERS": "2"})
    assert srv.proc is not None
    workers = _children(srv.proc.pid)
    assert len(workers) >= 2, srv.log_text()
    srv.kill()
    started = time.monotonic()
    while any(pid_alive(pid) for pid in workers):
        assert time.monotonic() - started < 15.0, (
            [pid for pid in workers if pid_alive(pid)], srv.log_text())
        time.sleep(0.05)
    srv.start()
    assert httpx.get(f"{srv.url}/health", trust_env=False).status_code == 200
    srv.stop()


def _worker_pids(pid: int) -> list[int]:
    """The worker processes of ``serve --workers N`` (its other child is multiprocessing's
    resource tracker)."""
    return [child for child in _children(pid)
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()]


@pytest.mark.parametrize("level", ["info", "warning"])
def test_regression_a_worker_killed_under_workers_2_was_logged_at_info_only(
        server_factory: Any, level: str) -> None:
    # uvicorn's supervisor starts another worker and said only "Child process [N] died", at
    # INFO: below what a log shipper alerting on warnings reads, and not at all with
    # --log-level warning.
    import signal

    srv = server_factory(env={"PACKYARD_WORKERS": "2", "PACKYARD_LOG_LEVEL": level})
    assert srv.proc is not None
    deadline = time.monotonic() + 20
    while len(workers := _worker_pids(srv.proc.pid)) < 2:
        assert time.monotonic() < deadline, srv.log_text()
        time.sleep(0.1)
    os.kill(workers[0], signal.SIGKILL)
    while f"worker process {workers[0]} died" not in srv.log_text():
        assert time.monotonic() < deadline, srv.log_text()
        time.sleep(0.1)
    [line] = [line for line in srv.log_text().splitlines()
              if f"worker process {workers[0]} died" in line]
    assert line.startswith("WARNING") and "a new worker was started" in line, line
    while len(replaced := _worker_pids(srv.proc.pid)) < 2:  # one started in its place
        assert time.monotonic() < deadline, srv.log_text()
        time.sleep(0.1)
    assert workers[0] not in replaced
    assert httpx.get(f"{srv.url}/health", trust_env=False).status_code == 200
    # What is below the server's level stays out of its log.
    assert ("Started server process" in srv.log_text()) == (level == "info")


def test_a_world_readable_data_directory_is_made_owner_only_and_new_files_are_too(
        server_factory: Any, dists: DistFactory, tmp_path: Path) -> None:
    data_dir = tmp_path / "loose" / "data"
    data_dir.mkdir(parents=True)
    os.chmod(data_dir, 0o755)  # as made by hand or by an earlier Packyard
    srv = server_factory(data_dir=data_dir)
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    repo = create_pypi_repo(codeartifact_client(srv.url), srv.url, "perm")
    upload_ok(repo, dists.wheel(DistSpec(name=unique_name("perm"), version="1.0")))
    created = list(data_dir.rglob("*"))
    assert data_dir / "blobs" / ".staging" in created
    assert data_dir / "packyard.db" in created
    assert sum(1 for p in created if p.is_file() and len(p.name) == 64) >= 2  # file + metadata
    loose = {str(p.relative_to(data_dir)): oct(stat.S_IMODE(p.stat().st_mode))
             for p in created if stat.S_IMODE(p.stat().st_mode) & 0o077}
    assert loose == {}, f"readable by others: {loose}"
