"""Every upload Packyard must refuse, and the re-uploads it must accept, on the legacy API.

Raw multipart POSTs (as twine builds them) send what twine itself would never send; real twine
runs where it can produce the case, to check the one-line reason it shows the user.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import secrets
import sqlite3
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.helpers import (
    ClientHome,
    Dist,
    DistFactory,
    DistSpec,
    PypiRepo,
    ServerProcess,
    build_sdist,
    build_wheel,
    codeartifact_client,
    create_pypi_repo,
    normalize,
    run,
    tool,
    upload,
    upload_ok,
)


def _name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def _reason(response: httpx.Response) -> str:
    return response.text.strip()


def _assert_refused(response: httpx.Response, status: int, *any_of: str) -> None:
    """Refused with ``status`` and a one-line reason that mentions one of ``any_of``."""
    assert response.status_code == status, (response.status_code, response.text)
    reason = _reason(response)
    assert reason, "the refusal carries no reason"
    assert "\n" not in reason, f"the reason is not one line: {reason!r}"
    assert any(word.lower() in reason.lower() for word in any_of), (
        f"none of {any_of} in the reason {reason!r}")


def _assert_nothing_published(repo: PypiRepo, project: str) -> None:
    with repo.client() as http:
        page = http.get(repo.project_url(normalize(project)),
                        headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    assert page.status_code == 404 or page.json()["files"] == [], page.text


def _write_pypirc(home: ClientHome, repo: PypiRepo) -> None:
    home.pypirc.write_text(
        "[distutils]\nindex-servers =\n    codeartifact\n\n"
        f"[codeartifact]\nrepository: {repo.endpoint}\nusername: aws\npassword: {repo.token}\n")


def _twine(home: ClientHome, *files: Path) -> Any:
    return run([tool("twine"), "upload", "--non-interactive", "-r", "codeartifact",
                *map(str, files)], home.env(), check=False)


# ------------------------------------------------------------------ bad filenames

@pytest.mark.parametrize("bad", [
    pytest.param("not-a-wheel.whl", id="wheel-wrong-parts"),
    pytest.param("pkg-1.0-py3-none.whl", id="wheel-missing-tag"),
    pytest.param("pkg-1.0.exe", id="unknown-extension"),
    pytest.param("pkg.tar.gz", id="sdist-without-version"),
])
def test_invalid_filename_is_refused(pypi_repo: PypiRepo, dists: DistFactory, bad: str) -> None:
    dist = dists.wheel(DistSpec(name="pkg", version="1.0"))
    response = upload(pypi_repo, dist, filename=bad)
    _assert_refused(response, 400, "filename", bad)
    _assert_nothing_published(pypi_repo, "pkg")


@pytest.mark.parametrize("bad", [
    pytest.param("../pkg-1.0-py3-none-any.whl", id="parent"),
    pytest.param("sub/pkg-1.0-py3-none-any.whl", id="subdirectory"),
    pytest.param("/tmp/pkg-1.0-py3-none-any.whl", id="absolute"),
    pytest.param("sub\\pkg-1.0-py3-none-any.whl", id="backslash"),
])
def test_filename_with_a_path_is_refused(pypi_repo: PypiRepo, dists: DistFactory,
                                         bad: str) -> None:
    dist = dists.wheel(DistSpec(name="pkg", version="1.0"))
    response = upload(pypi_repo, dist, filename=bad)
    _assert_refused(response, 400, "filename", "path", "'/'")
    _assert_nothing_published(pypi_repo, "pkg")


# ------------------------------------------------------------------ characters in filenames

@pytest.mark.parametrize("bad", [
    pytest.param("pkg\u20ac-1.0-py3-none-any.whl", id="euro-sign-in-name"),
    pytest.param("pkg-1.0\u20ac.tar.gz", id="euro-sign-in-version"),
    pytest.param("pkg-1\uff0e0-py3-none-any.whl", id="fullwidth-dot"),
    pytest.param("pkg-1.0-py3-none-any\u20ac.whl", id="euro-sign-in-tag"),
])
def test_non_latin1_filename_is_refused_with_400_not_a_500(pypi_repo: PypiRepo,
                                                           dists: DistFactory,
                                                           bad: str) -> None:
    dist = dists.wheel(DistSpec(name="pkg", version="1.0"))
    response = upload(pypi_repo, dist, filename=bad)
    _assert_refused(response, 400, "invalid")
    # The status line carries the reason too, escaped into ASCII.
    assert response.reason_phrase.isascii() and "Invalid" in response.reason_phrase
    _assert_nothing_published(pypi_repo, "pkg")


def test_kelvin_sign_filename_is_refused_instead_of_a_500_on_its_409(
        pypi_repo: PypiRepo, dists: DistFactory, tmp_path: Path) -> None:
    # The Kelvin sign lower-cases to "k": the name used to pass as "kpkg", and the 409 on a
    # second upload under that filename then failed to encode its reason (a 500).
    kelvin = "\u212apkg-1.0-py3-none-any.whl"
    first = dists.wheel(DistSpec(name="kpkg", version="1.0"))
    second = build_wheel(DistSpec(name="kpkg", version="1.0", summary="other bytes"), tmp_path)
    for dist in (first, second):
        response = upload(pypi_repo, dist, filename=kelvin, fields={"name": "\u212apkg"})
        _assert_refused(response, 400, "Invalid value for Name", "invalid value", "name")
    _assert_nothing_published(pypi_repo, "kpkg")


@pytest.mark.parametrize("homoglyph", ["\u017f", "\u0131"])
def test_homoglyph_project_name_upload_is_refused(pypi_repo: PypiRepo, dists: DistFactory,
                                                  homoglyph: str) -> None:
    # Long s and dotless i case-fold to s and i: "requeſts" must not pass as a name.
    dist = dists.wheel(DistSpec(name="requests-x", version="1.0"))
    name = f"reque{homoglyph}ts-x"
    response = upload(pypi_repo, dist, filename=f"{name.replace('-', '_')}-1.0-py3-none-any.whl",
                      fields={"name": name})
    _assert_refused(response, 400, "name")
    _assert_nothing_published(pypi_repo, "requests-x")


def test_wheel_tag_with_markup_is_refused(pypi_repo: PypiRepo, dists: DistFactory) -> None:
    dist = dists.wheel(DistSpec(name="xss", version="1.0"))
    bad = 'xss-1.0-py3-none-any"><img src=x onerror=alert(1)>.whl'
    response = upload(pypi_repo, dist, filename=bad)
    _assert_refused(response, 400, "Invalid wheel tag")
    _assert_nothing_published(pypi_repo, "xss")


def test_asset_with_a_non_latin1_name_downloads_through_the_api(
        pypi_repo: PypiRepo, dists: DistFactory, server: ServerProcess, api: Any) -> None:
    # A file stored before names were checked (the Kelvin sign passed as "k"): its
    # X-AssetName header used to be a 500.
    dist = dists.wheel(DistSpec(name=_name("asset-kelvin"), version="1.0"))
    upload_ok(pypi_repo, dist)
    renamed = "\u212a" + dist.filename
    with sqlite3.connect(server.data_dir / "packyard.db") as db:
        changed = db.execute("UPDATE assets SET name = ? WHERE name = ?",
                             (renamed, dist.filename)).rowcount
    assert changed == 1
    out = api.get_package_version_asset(
        domain=pypi_repo.domain, repository=pypi_repo.repository, format="pypi",
        package=normalize(dist.spec.name), packageVersion="1.0", asset=renamed)
    assert out["asset"].read() == dist.data
    assert out["assetName"] == "%E2%84%AA" + dist.filename


# ------------------------------------------------------------------ name / version mismatches

def test_form_name_differs_from_filename(pypi_repo: PypiRepo, dists: DistFactory) -> None:
    dist = dists.wheel(DistSpec(name="alpha-pkg", version="1.0"))
    response = upload(pypi_repo, dist, fields={"name": "beta-pkg"})
    _assert_refused(response, 400, "name")
    _assert_nothing_published(pypi_repo, "alpha-pkg")
    _assert_nothing_published(pypi_repo, "beta-pkg")


def test_form_version_differs_from_filename(pypi_repo: PypiRepo, dists: DistFactory) -> None:
    dist = dists.wheel(DistSpec(name="gamma-pkg", version="1.0"))
    response = upload(pypi_repo, dist, fields={"version": "2.0"})
    _assert_refused(response, 400, "version")
    _assert_nothing_published(pypi_repo, "gamma-pkg")


def test_equivalent_name_spelling_is_accepted(pypi_repo: PypiRepo, dists: DistFactory) -> None:
    """Control: twine sends `Delta.Pkg` as `Delta-Pkg`; names compare normalized (PEP 503)."""
    dist = dists.wheel(DistSpec(name="Delta.Pkg", version="1.0"))
    response = upload(pypi_repo, dist, fields={"name": "Delta-Pkg"})
    assert response.status_code == 200, response.text


def test_file_metadata_name_differs_from_form(pypi_repo: PypiRepo, dists: DistFactory) -> None:
    # Filename and form say zeta-pkg; the METADATA inside the wheel says someone-else.
    dist = dists.wheel(DistSpec(name="zeta-pkg", version="1.0", metadata_name="someone-else"))
    response = upload(pypi_repo, dist)
    _assert_refused(response, 400, "someone-else")
    _assert_nothing_published(pypi_repo, "zeta-pkg")


def test_sdist_metadata_name_differs_from_form(pypi_repo: PypiRepo, dists: DistFactory) -> None:
    dist = dists.sdist(DistSpec(name="eta-pkg", version="1.0", metadata_name="someone-else"))
    response = upload(pypi_repo, dist)
    _assert_refused(response, 400, "someone-else")
    _assert_nothing_published(pypi_repo, "eta-pkg")


def test_file_metadata_version_differs_from_form(pypi_repo: PypiRepo,
                                                 dists: DistFactory) -> None:
    # Filename, .dist-info directory and form say 1.0; METADATA inside says 9.9.
    dist = dists.wheel(DistSpec(name="theta-pkg", version="1.0", metadata_version="9.9"))
    response = upload(pypi_repo, dist)
    _assert_refused(response, 400, "9.9")
    _assert_nothing_published(pypi_repo, "theta-pkg")


def test_sdist_metadata_version_differs_from_form(pypi_repo: PypiRepo,
                                                  dists: DistFactory) -> None:
    dist = dists.sdist(DistSpec(name="theta-sd", version="1.0", metadata_version="9.9"))
    response = upload(pypi_repo, dist)
    _assert_refused(response, 400, "9.9")
    _assert_nothing_published(pypi_repo, "theta-sd")


def test_dist_info_directory_differs_from_filename(pypi_repo: PypiRepo, tmp_path: Path) -> None:
    # A wheel built as 9.9 (so its .dist-info says 9.9), renamed to 1.0.
    inner = build_wheel(DistSpec(name="theta-di", version="9.9"), tmp_path)
    dist = Dist(DistSpec(name="theta-di", version="1.0"),
                inner.path.rename(tmp_path / "theta_di-1.0-py3-none-any.whl"))
    response = upload(pypi_repo, dist)
    _assert_refused(response, 400, "dist-info", "metadata")
    _assert_nothing_published(pypi_repo, "theta-di")


# ------------------------------------------------------------------ broken files

def test_wheel_that_is_not_a_zip_is_refused(pypi_repo: PypiRepo, dists: DistFactory) -> None:
    dist = dists.wheel(DistSpec(name="iota-pkg", version="1.0"))
    junk = b"this is not a zip archive " * 40
    response = upload(pypi_repo, dist, content=junk,
                      fields={"sha256_digest": _sha256(junk), "blake2_256_digest": None})
    _assert_refused(response, 400, "invalid", "not a valid", "corrupt")
    _assert_nothing_published(pypi_repo, "iota-pkg")


def test_sdist_that_is_not_a_tarball_is_refused(pypi_repo: PypiRepo,
                                                dists: DistFactory) -> None:
    dist = dists.sdist(DistSpec(name="kappa-pkg", version="1.0"))
    junk = b"\x1f\x8b but not really gzip" * 40
    response = upload(pypi_repo, dist, content=junk,
                      fields={"sha256_digest": _sha256(junk), "blake2_256_digest": None})
    _assert_refused(response, 400, "invalid", "not a valid", "corrupt")
    _assert_nothing_published(pypi_repo, "kappa-pkg")


def test_wheel_without_metadata_is_refused(pypi_repo: PypiRepo, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("lambda_pkg/__init__.py", "")
    data = buffer.getvalue()
    path = tmp_path / "lambda_pkg-1.0-py3-none-any.whl"
    path.write_bytes(data)
    dist = Dist(DistSpec(name="lambda-pkg", version="1.0"), path)
    response = upload(pypi_repo, dist)
    _assert_refused(response, 400, "dist-info", "metadata")
    _assert_nothing_published(pypi_repo, "lambda-pkg")


def test_regression_twine_upload_of_a_wheel_bomb_is_refused_with_pypis_rule(
        pypi_repo: PypiRepo, tmp_path: Path, fresh_home: ClientHome) -> None:
    """A wheel with a member of 128 MiB of zeros (about 130 KiB deflated) was accepted, so
    every pip install of it wrote 128 MiB. Refused, as PyPI refuses it: a zip that unpacks to
    more than 64 MiB and more than 50 times its size."""
    dist = build_wheel(DistSpec(name="bomb-pkg", version="1.0"), tmp_path)
    with zipfile.ZipFile(dist.path, "a", compression=zipfile.ZIP_DEFLATED,
                         compresslevel=9) as zf, \
            zf.open("bomb_pkg/zeros.bin", "w", force_zip64=True) as member:
        for _ in range(128):
            member.write(bytes(1024 * 1024))
    size = dist.path.stat().st_size
    assert size < 1024 * 1024
    _write_pypirc(fresh_home, pypi_repo)
    proc = _twine(fresh_home, dist.path)
    assert proc.returncode != 0
    out = " ".join((proc.stdout + proc.stderr).split())  # twine wraps the reason
    assert "400 Bad Request" in out, out
    assert "exceeds the compression ratio of 50 (a decompression bomb" in out, (
        f"twine does not show why:\n{out}")
    response = upload(pypi_repo, dist)
    assert (response.status_code, _reason(response)) == (400, (
        "Invalid distribution file. bomb_pkg-1.0-py3-none-any.whl exceeds the compression "
        "ratio of 50 (a decompression bomb, refused as PyPI refuses it): its members unpack "
        f"to 128.0 MiB from {size / 1024:.1f} KiB."))
    _assert_nothing_published(pypi_repo, "bomb-pkg")


def test_a_wheel_that_compresses_well_but_unpacks_small_is_accepted(
        pypi_repo: PypiRepo, tmp_path: Path) -> None:
    """PyPI's rule spares small wheels however well they compress (JSON, stubs)."""
    dist = build_wheel(DistSpec(name="squeezed-pkg", version="1.0"), tmp_path)
    with zipfile.ZipFile(dist.path, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("squeezed_pkg/zeros.bin", bytes(8 * 1024 * 1024))
    upload_ok(pypi_repo, dist)


@pytest.mark.parametrize("field", ["sha256_digest", "blake2_256_digest", "md5_digest"])
def test_digest_mismatch_is_refused(pypi_repo: PypiRepo, dists: DistFactory,
                                    field: str) -> None:
    dist = dists.wheel(DistSpec(name="mu-pkg", version="1.0"))
    wrong = "0" * (32 if field == "md5_digest" else 64)
    response = upload(pypi_repo, dist, fields={field: wrong})
    _assert_refused(response, 400, "digest")
    _assert_nothing_published(pypi_repo, "mu-pkg")


def test_missing_content_is_refused(pypi_repo: PypiRepo, dists: DistFactory) -> None:
    dist = dists.wheel(DistSpec(name="nu-pkg", version="1.0"))
    with pypi_repo.client() as http:
        response = http.post(pypi_repo.endpoint, data=dist.form_fields(),
                             # A multipart body whose only non-form part is no file.
                             files={"comment": (None, b"no file here")})
    _assert_refused(response, 400, "content", "file")
    _assert_nothing_published(pypi_repo, "nu-pkg")


def test_upload_that_is_not_multipart_is_refused(pypi_repo: PypiRepo,
                                                 dists: DistFactory) -> None:
    dist = dists.wheel(DistSpec(name="nu-form", version="1.0"))
    with pypi_repo.client() as http:
        response = http.post(pypi_repo.endpoint, data=dist.form_fields())
    _assert_refused(response, 400, "multipart")


def test_unknown_action_is_refused(pypi_repo: PypiRepo, dists: DistFactory) -> None:
    dist = dists.wheel(DistSpec(name="xi-pkg", version="1.0"))
    response = upload(pypi_repo, dist, fields={":action": "remove_everything"})
    _assert_refused(response, 400, "action")
    _assert_nothing_published(pypi_repo, "xi-pkg")


# ------------------------------------------------------------------ size limit

@pytest.fixture
def small_limit_repo(server_factory: Any) -> PypiRepo:
    srv: ServerProcess = server_factory(env={"PACKYARD_MAX_UPLOAD_BYTES": "20000"})
    return create_pypi_repo(codeartifact_client(srv.url), srv.url, "limit")


def test_file_larger_than_the_limit_is_refused(small_limit_repo: PypiRepo,
                                               dists: DistFactory) -> None:
    big = dists.wheel(DistSpec(name="omicron-pkg", version="1.0", padding=50_000))
    assert len(big.data) > 20_000
    response = upload(small_limit_repo, big)
    _assert_refused(response, 400, "too large", "limit", "exceeds")
    _assert_nothing_published(small_limit_repo, "omicron-pkg")
    # Under the limit still works on the same server.
    upload_ok(small_limit_repo, dists.wheel(DistSpec(name="omicron-pkg", version="1.1")))


def test_twine_shows_the_size_limit_reason(small_limit_repo: PypiRepo, dists: DistFactory,
                                           fresh_home: ClientHome) -> None:
    big = dists.wheel(DistSpec(name="pi-pkg", version="1.0", padding=50_000))
    _write_pypirc(fresh_home, small_limit_repo)
    proc = _twine(fresh_home, big.path)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    # twine prints "HTTPError: 400 Bad Request from URL" and then the response's reason phrase.
    assert "400 Bad Request" in out, out
    assert "too large" in out.lower(), f"twine does not show why:\n{out}"


def test_regression_twine_printed_a_refused_token_without_the_command_to_log_in_again(
        pypi_repo: PypiRepo, dists: DistFactory, fresh_home: ClientHome) -> None:
    """Tokens last 12 hours; twine printed only "Invalid authorization token". It now prints
    the command that gets a new one for this repository, which works as pasted."""
    dist = dists.wheel(DistSpec(name="psi-pkg", version="1.0"))
    _write_pypirc(fresh_home, dataclasses.replace(pypi_repo, token="not-a-token"))
    # Wide enough that twine's console does not fold the reason.
    refused = run([tool("twine"), "upload", "--non-interactive", "-r", "codeartifact",
                   str(dist.path)], fresh_home.env(COLUMNS="400"), check=False)
    assert refused.returncode != 0
    out = refused.stdout + refused.stderr
    assert "401 Unauthorized" in out, out
    base, label, _, repository, _ = pypi_repo.endpoint.rsplit("/", 4)
    domain, _, owner = label.rpartition("-")
    command = (f"aws codeartifact login --tool twine --domain {domain} --domain-owner {owner} "
               f"--repository {repository} --endpoint-url {base}")
    assert f"Invalid authorization token; log in again: run `{command}`" in out, out
    run(command.split(), fresh_home.env())
    published = _twine(fresh_home, dist.path)
    assert published.returncode == 0, published.stdout + published.stderr
    with pypi_repo.client() as http:
        assert dist.filename in http.get(pypi_repo.project_url("psi-pkg")).text


# ------------------------------------------------------------------ re-uploads

def test_identical_reupload_is_a_no_op_success(pypi_repo: PypiRepo, dists: DistFactory) -> None:
    dist = dists.wheel(DistSpec(name="rho-pkg", version="1.0"))
    upload_ok(pypi_repo, dist)
    upload_ok(pypi_repo, dist)
    with pypi_repo.client() as http:
        body = http.get(pypi_repo.project_url("rho-pkg"),
                        headers={"Accept": "application/vnd.pypi.simple.v1+json"}).json()
    assert [f["filename"] for f in body["files"]] == [dist.filename]


def test_same_filename_different_bytes_is_409(pypi_repo: PypiRepo, dists: DistFactory,
                                              tmp_path: Path) -> None:
    original = dists.wheel(DistSpec(name="sigma-pkg", version="1.0"))
    upload_ok(pypi_repo, original)
    changed = build_wheel(DistSpec(name="sigma-pkg", version="1.0", summary="changed"), tmp_path)
    assert changed.filename == original.filename and changed.data != original.data
    response = upload(pypi_repo, changed)
    assert response.status_code == 409, response.text
    assert "File already exists" in response.text
    # The version's file was not replaced.
    with pypi_repo.client() as http:
        served = http.get(f"{pypi_repo.project_url('sigma-pkg')}{original.filename}")
    assert served.content == original.data


def test_twine_reports_file_already_exists(pypi_repo: PypiRepo, dists: DistFactory,
                                           fresh_home: ClientHome, tmp_path: Path) -> None:
    original = dists.wheel(DistSpec(name="tau-pkg", version="1.0"))
    _write_pypirc(fresh_home, pypi_repo)
    first = _twine(fresh_home, original.path)
    assert first.returncode == 0, first.stdout + first.stderr
    again = _twine(fresh_home, original.path)
    assert again.returncode == 0, f"identical re-upload failed:\n{again.stdout}{again.stderr}"
    changed = build_wheel(DistSpec(name="tau-pkg", version="1.0", summary="changed"), tmp_path)
    clash = _twine(fresh_home, changed.path)
    assert clash.returncode != 0
    out = clash.stdout + clash.stderr
    assert "409 Conflict" in out, out
    assert "File already exists" in out, out


def test_release_file_cannot_be_shadowed_by_another_spelling_of_its_version(
        pypi_repo: PypiRepo, dists: DistFactory, tmp_path: Path) -> None:
    name = _name("shadow")
    original = dists.wheel(DistSpec(name=name, version="1.0"))
    upload_ok(pypi_repo, original)
    # 1.0.0 is release 1.0: pip would take either file for pkg==1.0.
    shadow = build_wheel(DistSpec(name=name, version="1.0.0", summary="evil"), tmp_path)
    assert shadow.filename != original.filename
    response = upload(pypi_repo, shadow)
    _assert_refused(response, 409, "File already exists")
    expected = f"File already exists ('{original.filename}', with blake2_256 hash "
    assert _reason(response).startswith(expected), _reason(response)
    assert response.reason_phrase.startswith(expected), response.reason_phrase
    with pypi_repo.client() as http:
        page = http.get(pypi_repo.project_url(normalize(name)),
                        headers={"Accept": "application/vnd.pypi.simple.v1+json"}).json()
    assert [f["filename"] for f in page["files"]] == [original.filename]
    # Identical bytes under the original name stay a no-op success.
    upload_ok(pypi_repo, original)


def test_second_sdist_of_a_release_is_refused(pypi_repo: PypiRepo, dists: DistFactory,
                                              tmp_path: Path) -> None:
    name = _name("two-sdists")
    first = dists.sdist(DistSpec(name=name, version="2.0"))
    upload_ok(pypi_repo, first)
    second = build_sdist(DistSpec(name=name, version="2.0.0"), tmp_path)
    response = upload(pypi_repo, second)
    _assert_refused(response, 409, "Only one sdist")
    assert _reason(response) == ("Only one sdist may be uploaded per release: this release has "
                                 f"{first.filename} already; files are never replaced")
    # A wheel of the release is still welcome next to its sdist.
    upload_ok(pypi_repo, dists.wheel(DistSpec(name=name, version="2.0")))


def test_twine_shows_the_file_a_shadow_would_replace(pypi_repo: PypiRepo, dists: DistFactory,
                                                     fresh_home: ClientHome,
                                                     tmp_path: Path) -> None:
    name = _name("shadow-twine")
    original = dists.wheel(DistSpec(name=name, version="3.1"))
    upload_ok(pypi_repo, original)
    _write_pypirc(fresh_home, pypi_repo)
    clash = _twine(fresh_home, build_wheel(DistSpec(name=name, version="3.1.0"), tmp_path).path)
    assert clash.returncode != 0
    out = clash.stdout + clash.stderr
    assert "409 Conflict" in out, out
    assert f"File already exists ('{original.filename}'" in out, out


# ------------------------------------------------------------------ the upload URL itself

def test_upload_without_credentials_is_401(pypi_repo: PypiRepo, dists: DistFactory) -> None:
    dist = dists.wheel(DistSpec(name="upsilon-pkg", version="1.0"))
    with httpx.Client(trust_env=False, follow_redirects=False) as anonymous:
        response = upload(pypi_repo, dist, client=anonymous)
    assert response.status_code == 401
    assert response.headers.get("www-authenticate", "").startswith("Basic")
    _assert_nothing_published(pypi_repo, "upsilon-pkg")


def test_upload_url_never_redirects(pypi_repo: PypiRepo, dists: DistFactory) -> None:
    # twine aborts on any redirect (twine bug 92), so neither the endpoint nor the same URL
    # without its trailing slash may answer an upload with 3xx.
    dist = dists.wheel(DistSpec(name=_name("phi"), version="1.0"))
    for url in (pypi_repo.endpoint, pypi_repo.endpoint.rstrip("/")):
        response = upload(pypi_repo, dist, url=url)
        assert not response.is_redirect, (url, response.status_code, response.headers)
    # And the endpoint accepts it (twine's configured repository URL).
    assert upload(pypi_repo, dist).status_code == 200


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_regression_twine_signatures_publish_and_attestations_are_refused(
        pypi_repo: PypiRepo, dists: DistFactory, fresh_home: ClientHome,
        tmp_path: Path) -> None:
    # A .asc beside the dist makes twine send it as 'gpg_signature' (PyPI ignores it; it was
    # refused here); --attestations sends PEP 740 attestations (dropped without a word).
    _write_pypirc(fresh_home, pypi_repo)
    signed = dists.wheel(DistSpec(name="upsilon-pkg", version="1.0"))
    (tmp_path / signed.filename).write_bytes(signed.data)
    (tmp_path / f"{signed.filename}.asc").write_text(
        "-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n")
    proc = _twine(fresh_home, tmp_path / signed.filename, tmp_path / f"{signed.filename}.asc")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with pypi_repo.client() as http:
        served = http.get(f"{pypi_repo.project_url('upsilon-pkg')}{signed.filename}")
    assert served.content == signed.data

    attested = dists.wheel(DistSpec(name="phi-pkg", version="1.0"))
    (tmp_path / attested.filename).write_bytes(attested.data)
    attestation = tmp_path / f"{attested.filename}.publish.attestation"
    attestation.write_text('{"version": 1, "verification_material": {"certificate": "MIIB", '
                           '"transparency_entries": []}, "envelope": {"statement": "e30=", '
                           '"signature": "MEUC"}}')
    proc = run([tool("twine"), "upload", "--non-interactive", "-r", "codeartifact",
                "--attestations", str(tmp_path / attested.filename), str(attestation)],
               fresh_home.env(), check=False)
    assert proc.returncode != 0
    out = " ".join((proc.stdout + proc.stderr).split())
    assert "400 Bad Request" in out, out
    assert "Invalid attestations supplied during upload" in out, out
    _assert_nothing_published(pypi_repo, "phi-pkg")
