"""Every upload the legacy API refuses, through the app, each with the one line twine shows (the
reason phrase ``packyard serve`` puts on the status line) and the body pip and ``twine
--verbose`` show; nothing is published and no staged bytes are left behind. The README's table
("What an upload must satisfy") is checked row by row first."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.inprocess.conftest import PackyardFactory
from tests.inprocess.harness import InProcessPackyard, InProcessRepo, assert_refused
from tests.integration.helpers import Dist, DistFactory, DistSpec, build_wheel, upload, upload_ok

PKG = DistSpec(name="pkg", version="1.0")
JUNK = b"this is not an archive " * 40


def _nothing_published(packyard: InProcessPackyard, repo: InProcessRepo) -> None:
    assert repo.get("simple/", Accept="application/vnd.pypi.simple.v1+json").json()[
        "projects"] == []
    staging = packyard.settings.blob_dir / ".staging"
    assert list(staging.iterdir()) == [], "the refused upload left staged bytes"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- the README's table, row by row -------------------------------------------------------------

@pytest.mark.parametrize(("filename", "message"), [
    pytest.param("not-a-wheel.whl",
                 "Invalid wheel filename (wrong number of parts): 'not-a-wheel'. See "
                 "https://packaging.python.org/specifications/binary-distribution-format/ for "
                 "the wheel filename format.", id="wheel-wrong-parts"),
    pytest.param("pkg-1.0-py3-none.whl",
                 "Invalid wheel filename (wrong number of parts): 'pkg-1.0-py3-none'. See "
                 "https://packaging.python.org/specifications/binary-distribution-format/ for "
                 "the wheel filename format.", id="wheel-missing-tag"),
    pytest.param("pkg.tar.gz",
                 "Invalid sdist filename: 'pkg.tar.gz'. See https://packaging.python.org/"
                 "specifications/source-distribution-format/ for the sdist filename format.",
                 id="sdist-without-version"),
    pytest.param("pkg-1.0.exe",
                 "Invalid file extension for 'pkg-1.0.exe': use .whl (wheel), .tar.gz (source "
                 "distribution) or legacy .zip. See https://peps.python.org/pep-0527/ for more "
                 "information.", id="unknown-extension"),
    pytest.param("../pkg-1.0-py3-none-any.whl",
                 "Cannot upload a file with '/' or '\\' in the name.", id="parent"),
    pytest.param("sub/pkg-1.0-py3-none-any.whl",
                 "Cannot upload a file with '/' or '\\' in the name.", id="subdirectory"),
    pytest.param("sub\\pkg-1.0-py3-none-any.whl",
                 "Cannot upload a file with '/' or '\\' in the name.", id="backslash"),
])
def test_filename_that_is_not_a_distribution_name(packyard: InProcessPackyard,
                                                  repo: InProcessRepo, dists: DistFactory,
                                                  filename: str, message: str) -> None:
    assert_refused(upload(repo, dists.wheel(PKG), filename=filename), 400, message)
    _nothing_published(packyard, repo)


@pytest.mark.parametrize(("fields", "message"), [
    pytest.param({"version": "2.0"}, "Version in filename should be '2.0' not '1.0'.",
                 id="version"),
    pytest.param({"name": "other"}, "Start filename for 'other' with 'other': "
                 "'pkg-1.0-py3-none-any.whl' is for project 'pkg'.", id="name"),
])
def test_form_and_filename_disagree(packyard: InProcessPackyard, repo: InProcessRepo,
                                    dists: DistFactory, fields: dict[str, str],
                                    message: str) -> None:
    assert_refused(upload(repo, dists.wheel(PKG), fields=fields), 400, message)
    _nothing_published(packyard, repo)


@pytest.mark.parametrize(("spec", "kind", "message"), [
    pytest.param(DistSpec(name="zeta", version="1.0", metadata_name="someone-else"), "wheel",
                 "Name 'someone-else' in zeta-1.0.dist-info/METADATA does not match the name "
                 "'zeta' given in the upload.", id="wheel-name"),
    pytest.param(DistSpec(name="zeta", version="1.0", metadata_name="someone-else"), "sdist",
                 "Name 'someone-else' in zeta-1.0/PKG-INFO does not match the name 'zeta' "
                 "given in the upload.", id="sdist-name"),
    pytest.param(DistSpec(name="theta", version="1.0", metadata_version="9.9"), "wheel",
                 "Version '9.9' in theta-1.0.dist-info/METADATA does not match the version "
                 "'1.0' given in the upload.", id="wheel-version"),
    pytest.param(DistSpec(name="theta", version="1.0", metadata_version="9.9"), "sdist",
                 "Version '9.9' in theta-1.0/PKG-INFO does not match the version '1.0' given "
                 "in the upload.", id="sdist-version"),
])
def test_file_metadata_disagrees_with_the_form(packyard: InProcessPackyard,
                                               repo: InProcessRepo, dists: DistFactory,
                                               spec: DistSpec, kind: str, message: str) -> None:
    dist = dists.wheel(spec) if kind == "wheel" else dists.sdist(spec)
    assert_refused(upload(repo, dist), 400, message)
    _nothing_published(packyard, repo)


def test_wheel_that_is_not_a_zip(packyard: InProcessPackyard, repo: InProcessRepo,
                                 dists: DistFactory) -> None:
    response = upload(repo, dists.wheel(PKG), content=JUNK,
                      fields={"sha256_digest": _sha256(JUNK), "blake2_256_digest": None})
    assert_refused(response, 400, "pkg-1.0-py3-none-any.whl is not a valid wheel: not a zip "
                                  "archive (File is not a zip file).")
    _nothing_published(packyard, repo)


def test_sdist_that_is_not_a_tarball(packyard: InProcessPackyard, repo: InProcessRepo,
                                     dists: DistFactory) -> None:
    fake = b"\x1f\x8b but not gzip" * 40
    response = upload(repo, dists.sdist(PKG), content=fake,
                      fields={"sha256_digest": _sha256(fake), "blake2_256_digest": None})
    assert_refused(response, 400, "pkg-1.0.tar.gz is not a valid source distribution: not a "
                                  "gzip-compressed tar archive (Unknown compression method).")
    _nothing_published(packyard, repo)


def test_wheel_without_a_dist_info_directory(packyard: InProcessPackyard, repo: InProcessRepo,
                                             tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("pkg/__init__.py", "")
    path = tmp_path / "pkg-1.0-py3-none-any.whl"
    path.write_bytes(buffer.getvalue())
    assert_refused(upload(repo, Dist(PKG, path)), 400,
                   "pkg-1.0-py3-none-any.whl is not a valid wheel: it has no .dist-info "
                   "directory.")
    _nothing_published(packyard, repo)


def test_dist_info_directory_of_another_version(packyard: InProcessPackyard,
                                                repo: InProcessRepo, tmp_path: Path) -> None:
    built = build_wheel(DistSpec(name="pkg", version="9.9"), tmp_path)
    renamed = Dist(PKG, built.path.rename(tmp_path / "pkg-1.0-py3-none-any.whl"))
    assert_refused(upload(repo, renamed), 400,
                   "pkg-1.0-py3-none-any.whl is not a valid wheel: its .dist-info directory "
                   "'pkg-9.9.dist-info' does not match the filename (expected "
                   "'pkg-1.0.dist-info').")
    _nothing_published(packyard, repo)


@pytest.mark.parametrize(("field", "wrong", "algorithm"), [
    pytest.param("sha256_digest", "0" * 64, "SHA-256", id="sha256"),
    pytest.param("blake2_256_digest", "0" * 64, "BLAKE2b-256", id="blake2"),
    pytest.param("md5_digest", "0" * 32, "MD5", id="md5"),
])
def test_digest_that_does_not_match_the_bytes(packyard: InProcessPackyard, repo: InProcessRepo,
                                              dists: DistFactory, field: str, wrong: str,
                                              algorithm: str) -> None:
    assert_refused(upload(repo, dists.wheel(PKG), fields={field: wrong}), 400,
                   f"The {field} supplied does not match the {algorithm} digest calculated "
                   "from the uploaded file.")
    _nothing_published(packyard, repo)


def test_file_over_the_size_limit(packyard_factory: PackyardFactory,
                                  dists: DistFactory) -> None:
    packyard = packyard_factory(max_upload_bytes=20_000)
    repo = packyard.pypi_repo()
    big = dists.wheel(DistSpec(name="pkg", version="1.0", padding=50_000))
    assert_refused(upload(repo, big), 400, "File too large: pkg-1.0-py3-none-any.whl is larger "
                                           "than 19.5 KiB, the limit.")
    _nothing_published(packyard, repo)
    upload_ok(repo, dists.wheel(DistSpec(name="pkg", version="1.1")))


def test_same_filename_with_other_bytes_is_409(packyard: InProcessPackyard,
                                               repo: InProcessRepo, dists: DistFactory,
                                               tmp_path: Path) -> None:
    original = dists.wheel(PKG)
    upload_ok(repo, original)
    changed = build_wheel(DistSpec(name="pkg", version="1.0", summary="changed"), tmp_path)
    assert_refused(upload(repo, changed), 409,
                   "File already exists: pkg-1.0-py3-none-any.whl was uploaded before with "
                   "other content; files are never replaced")
    assert repo.get(f"simple/pkg/{original.filename}").content == original.data


def test_identical_reupload_is_a_no_op_success(repo: InProcessRepo, dists: DistFactory) -> None:
    first = upload(repo, dists.wheel(PKG))
    again = upload(repo, dists.wheel(PKG))
    assert (first.status_code, first.text) == (200, "OK\n")
    assert (again.status_code, again.text) == (200, "OK (identical file already present)\n")


# -- the form ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "message"), [
    pytest.param({":action": None}, "Missing ':action' field: send ':action=file_upload' as "
                 "twine does (the legacy upload API).", id="no-action"),
    pytest.param({":action": "remove_pkg"}, "Unsupported ':action' 'remove_pkg': only "
                 "'file_upload' is supported (delete package versions with the CodeArtifact "
                 "API instead).", id="remove-pkg"),
    pytest.param({":action": "remove_everything"}, "Unsupported ':action' "
                 "'remove_everything': only 'file_upload' is supported.", id="unknown-action"),
    pytest.param({"protocol_version": "2"}, "Unknown protocol_version '2': only "
                 "protocol_version 1 is supported.", id="protocol-2"),
    # The name is authorized before the file is read, so a form without one is refused when
    # its file arrives (issue 10: authorize before staging).
    pytest.param({"name": None}, "The upload form must send the 'name' field before the file "
                 "('content'), as twine does: the server checks the project may be published "
                 "before storing it", id="no-name"),
    pytest.param({"version": None}, "Missing 'version' field: the upload must say which "
                 "version it is.", id="no-version"),
    pytest.param({"name": "-bad-"}, "'-bad-' is an invalid value for Name. Error: a name must "
                 "start and end with an ASCII letter or digit and contain only ASCII letters, "
                 "digits, '.', '_' and '-'. See https://packaging.python.org/specifications/"
                 "core-metadata for more information.", id="invalid-name"),
    pytest.param({"filetype": "bdist_egg"}, "Unsupported filetype 'bdist_egg': use "
                 "'bdist_wheel' or 'sdist' (eggs and other formats are no longer accepted, see "
                 "https://peps.python.org/pep-0527/).", id="egg"),
    pytest.param({"filetype": "sdist"}, "Invalid file extension: extension .whl is invalid "
                 "for filetype sdist. See https://peps.python.org/pep-0527/ for more "
                 "information.", id="filetype-contradicts-extension"),
    pytest.param({"metadata_version": "9.9"}, "Unsupported Metadata-Version '9.9' in "
                 "metadata_version: use a version of the core metadata specification, 1.0 or "
                 "later. See https://packaging.python.org/specifications/core-metadata.",
                 id="metadata-version"),
    pytest.param({"sha256_digest": "zz"}, "Invalid sha256_digest: use a hex-encoded SHA-256 "
                 "digest (64 hex digits).", id="digest-not-hex"),
])
def test_form_field_refused(packyard: InProcessPackyard, repo: InProcessRepo,
                            dists: DistFactory, fields: dict[str, str | None],
                            message: str) -> None:
    assert_refused(upload(repo, dists.wheel(PKG), fields=fields), 400, message)
    _nothing_published(packyard, repo)


def test_regression_attestations_are_refused_not_dropped(packyard: InProcessPackyard,
                                                        repo: InProcessRepo,
                                                        dists: DistFactory) -> None:
    # What twine --attestations and uv publish send beside the file (PEP 740): the index must
    # refuse an upload whose attestations it cannot verify, not store the file without them.
    attestation = ('[{"version": 1, "verification_material": {"certificate": "MIIB", '
                   '"transparency_entries": []}, "envelope": {"statement": "e30=", '
                   '"signature": "MEUC"}}]')
    for dist in (dists.wheel(PKG), dists.sdist(PKG)):
        assert_refused(upload(repo, dist, fields={"attestations": attestation}), 400,
                       "Invalid attestations supplied during upload: this server does not "
                       "support PEP 740 attestations (it cannot verify them, so it does not "
                       "store them); upload without them (twine: leave out --attestations; uv "
                       "publish: --no-attestations).")
    _nothing_published(packyard, repo)
    upload_ok(repo, dists.wheel(PKG))


def test_empty_file(packyard: InProcessPackyard, repo: InProcessRepo,
                    dists: DistFactory) -> None:
    response = upload(repo, dists.wheel(PKG), content=b"",
                      fields={"sha256_digest": None, "blake2_256_digest": None})
    assert_refused(response, 400, "The uploaded file pkg-1.0-py3-none-any.whl is empty.")
    _nothing_published(packyard, repo)


@pytest.mark.parametrize(("files", "message"), [
    pytest.param({"comment": (None, b"no file here")}, "Upload payload does not have a file: "
                 "send it in the multipart 'content' field.", id="no-file"),
    pytest.param({"attachment": ("pkg-1.0-py3-none-any.whl", b"x")},
                 "Unexpected file in form field 'attachment'", id="file-in-another-field"),
])
def test_multipart_without_the_content_file(packyard: InProcessPackyard, repo: InProcessRepo,
                                            dists: DistFactory, files: dict[str, Any],
                                            message: str) -> None:
    with repo.client() as http:
        response = http.post(repo.endpoint, data=dists.wheel(PKG).form_fields(), files=files)
    assert_refused(response, 400, message)
    _nothing_published(packyard, repo)


def test_regression_a_pgp_signature_part_is_ignored_as_pypi_ignores_it(
        repo: InProcessRepo, dists: DistFactory) -> None:
    # What twine sends for --sign, or a .asc file given with the dist: a file part before
    # 'content'. PyPI drops it and publishes the file; refusing it failed such uploads.
    wheel = dists.wheel(PKG)
    signature = b"-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n"
    with repo.client() as http:
        response = http.post(repo.endpoint, data=wheel.form_fields(), files=[
            ("gpg_signature", (wheel.filename + ".asc", signature)),
            ("content", (wheel.filename, wheel.data))])
    assert (response.status_code, response.text) == (200, "OK\n")
    assert repo.get(f"simple/pkg/{wheel.filename}").content == wheel.data
    assert repo.get(f"simple/pkg/{wheel.filename}.asc").status_code == 404
    assert "gpg-sig" not in repo.get(
        "simple/pkg/", Accept="application/vnd.pypi.simple.v1+json").json()["files"][0]


def test_two_files_in_one_upload(packyard: InProcessPackyard, repo: InProcessRepo,
                                 dists: DistFactory) -> None:
    wheel = dists.wheel(PKG)
    with repo.client() as http:
        response = http.post(repo.endpoint, data=wheel.form_fields(), files=[
            ("content", (wheel.filename, wheel.data)), ("content", (wheel.filename, wheel.data))])
    assert_refused(response, 400, "Only one file can be uploaded per request")
    _nothing_published(packyard, repo)


def test_upload_that_is_not_multipart(packyard: InProcessPackyard, repo: InProcessRepo,
                                      dists: DistFactory) -> None:
    with repo.client() as http:
        response = http.post(repo.endpoint, data=dists.wheel(PKG).form_fields())
    assert_refused(response, 400, "Uploads must be multipart/form-data (the legacy upload API)")


def test_form_field_that_is_not_utf8(packyard: InProcessPackyard, repo: InProcessRepo) -> None:
    boundary = "xyz"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"summary\"\r\n\r\n"
            .encode() + b"\xff\xfe\r\n" + f"--{boundary}--\r\n".encode())
    with repo.client() as http:
        response = http.post(repo.endpoint, content=body, headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert_refused(response, 400, "Form field 'summary' is not valid UTF-8")
    _nothing_published(packyard, repo)


# -- where and as whom ----------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", ["", "legacy/"])
def test_upload_urls_twine_may_be_given(repo: InProcessRepo, dists: DistFactory,
                                        suffix: str) -> None:
    response = upload(repo, dists.wheel(PKG), url=repo.endpoint + suffix)
    assert (response.status_code, response.text) == (200, "OK\n")


def test_upload_url_without_its_slash_does_not_redirect(repo: InProcessRepo,
                                                        dists: DistFactory) -> None:
    # twine aborts on any redirect, so the endpoint without its slash must answer in place.
    response = upload(repo, dists.wheel(PKG), url=repo.endpoint.rstrip("/"))
    assert (response.status_code, response.text) == (200, "OK\n")


def test_upload_without_credentials_is_401_with_a_basic_challenge(
        packyard: InProcessPackyard, repo: InProcessRepo, dists: DistFactory) -> None:
    with httpx.Client(transport=repo.transport) as anonymous:
        response = upload(repo, dists.wheel(PKG), client=anonymous)
    assert_refused(response, 401, "Authentication required: use the token from "
                                  "get-authorization-token as the password of user 'aws'")
    assert response.headers["www-authenticate"] == 'Basic realm="packyard"'
    _nothing_published(packyard, repo)


def test_regression_a_refused_token_named_no_command_to_log_in_again(
        packyard: InProcessPackyard, repo: InProcessRepo, dists: DistFactory) -> None:
    """Tokens last 12 hours: twine printed only "Invalid authorization token" (or "… has
    expired"). The reason now names the command that gets a new token for this repository,
    at the address the client used, ready to paste (pip and uv show only the status)."""
    stale = httpx.Client(transport=repo.transport, auth=("aws", "not-a-token"))
    with stale:
        response = upload(repo, dists.wheel(PKG), client=stale)
        page = stale.get(repo.endpoint + "simple/demo/")
    assert repo.endpoint == "http://packyard.test/acme-000000000000/pypi/shelf/"
    for refused, tool in ((response, "twine"), (page, "pip")):
        assert refused.status_code == 401
        assert refused.text == (
            "Invalid authorization token; log in again: run `aws codeartifact login --tool "
            f"{tool} --domain acme --domain-owner 000000000000 --repository shelf "
            "--endpoint-url http://packyard.test`\n")
    _nothing_published(packyard, repo)


def test_upload_to_a_missing_repository_is_404(packyard: InProcessPackyard,
                                               repo: InProcessRepo, dists: DistFactory) -> None:
    url = repo.endpoint.replace("/shelf/", "/absent/")
    assert_refused(upload(repo, dists.wheel(PKG), url=url), 404,
                   "Repository absent not found in domain acme")


def test_regression_a_disk_that_fills_during_an_upload_is_a_507_not_a_500(
        packyard_factory: PackyardFactory, dists: DistFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With the reserve off (or filled by another process), the disk filling while an upload
    was staged was a 500 with a traceback in the log, which twine retried five times."""
    import errno

    from packyard.storage.staging import StagedFile

    packyard = packyard_factory(min_free_disk_bytes=0)
    repo = packyard.pypi_repo()

    def full(self: StagedFile, chunk: bytes | memoryview) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(StagedFile, "write", full)
    assert_refused(upload(repo, dists.wheel(PKG)), 507,
                   "The server's disk filled up while storing this upload; ask its "
                   "administrator to free space")
    _nothing_published(packyard, repo)


@pytest.mark.parametrize("deleted", ["repository", "domain"])
def test_regression_an_upload_racing_the_deletion_of_its_repository_is_a_404(
        packyard: InProcessPackyard, repo: InProcessRepo, dists: DistFactory,
        monkeypatch: pytest.MonkeyPatch, deleted: str) -> None:
    """The repository (or its domain) deleted after the upload was let in and before its bytes
    were recorded: the package's insert failed its foreign key, a 500 with a traceback (and
    the bytes stayed); a domain gone was a 404 naming its internal id."""
    container = packyard.container
    catalog = container.catalog
    domain = catalog.get_domain(container.settings.account_id, "acme", with_stats=False)
    shelf = catalog.get_repository(domain, "shelf")
    judged = catalog.release_conflict

    def deleted_meanwhile(*args: Any) -> Any:
        catalog.delete_repository(shelf, container.registry.clock.now())
        if deleted == "domain":
            catalog.delete_domain(domain)
        return judged(*args)

    monkeypatch.setattr(catalog, "release_conflict", deleted_meanwhile)
    wheel = dists.wheel(PKG)
    response = upload(repo, wheel)
    assert response.status_code == 404, response.text
    assert "was deleted while this file was being stored; nothing was published" in (
        response.text)
    assert not list(container.settings.blob_dir.rglob(wheel.sha256))
