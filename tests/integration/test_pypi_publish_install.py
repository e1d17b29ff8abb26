"""The CodeArtifact tutorial against Packyard: login, twine upload, pip and uv install, read API."""

from __future__ import annotations

import configparser
import hashlib
import io
import secrets
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.helpers import (
    DEFAULT_ACCOUNT,
    AwsCli,
    ClientHome,
    Dist,
    DistFactory,
    DistSpec,
    ServerProcess,
    make_venv,
    normalize,
    run,
    tool,
    unique_name,
    wheel_from_installed,
)

README = "# Tutorial package\n\nPublished by the **integration tests**.\n"


@dataclass
class Tutorial:
    """What the module-scoped walkthrough did, for the tests to check."""

    aws: AwsCli
    home: ClientHome
    domain: str
    repository: str
    endpoint: str
    main: DistSpec
    dep: DistSpec
    wheel: Dist
    sdist: Dist
    dep_wheel: Dist
    login_twine: Any
    twine_upload: Any

    def require_upload(self) -> None:
        if self.twine_upload.returncode != 0:
            pytest.fail("the tutorial's twine upload failed (see "
                        "test_twine_upload_publishes_wheel_and_sdist):\n"
                        f"{self.twine_upload.stdout}\n{self.twine_upload.stderr}")

    def api_args(self, package: str | None = None, version: str | None = None) -> list[str]:
        args = ["--domain", self.domain, "--repository", self.repository, "--format", "pypi"]
        if package:
            args += ["--package", package]
        if version:
            args += ["--package-version", version]
        return args


@pytest.fixture(scope="module")
def tutorial(server: ServerProcess, dists: DistFactory,
             tmp_path_factory: pytest.TempPathFactory) -> Tutorial:
    suffix = secrets.token_hex(3)
    home = ClientHome(tmp_path_factory.mktemp("tutorial-home"))
    aws = AwsCli(server.url, home)
    domain, repository = unique_name("tutorial"), "my-repo"
    aws.run("codeartifact", "create-domain", "--domain", domain)
    aws.run("codeartifact", "create-repository", "--domain", domain, "--repository", repository,
            "--description", "Tutorial repository")
    endpoint = aws.json("codeartifact", "get-repository-endpoint", "--domain", domain,
                        "--repository", repository, "--format", "pypi")["repositoryEndpoint"]

    dep = DistSpec(name=f"tut_dep.{suffix}", version="0.3", summary="The tutorial's dependency")
    main = DistSpec(name=f"Tutorial_Pkg.{suffix}", version="1.2.0",
                    summary="The tutorial's package", readme=README,
                    requires_dist=(f"{dep.name}>=0.1",),
                    home_page="https://example.invalid/tutorial")
    wheel, sdist = dists.both(main)
    dep_wheel = dists.wheel(dep)
    dist_dir = tmp_path_factory.mktemp("tutorial-dist")
    for d in (wheel, sdist, dep_wheel):
        (dist_dir / d.filename).write_bytes(d.data)

    login = aws.run("codeartifact", "login", "--tool", "twine", "--domain", domain,
                    "--domain-owner", DEFAULT_ACCOUNT, "--repository", repository, check=False)
    upload = run([tool("twine"), "upload", "--non-interactive", "-r", "codeartifact",
                  *sorted(str(p) for p in dist_dir.iterdir())], home.env(), check=False)
    return Tutorial(aws, home, domain, repository, endpoint, main, dep, wheel, sdist, dep_wheel,
                    login, upload)


# ------------------------------------------------------------------ publish

def test_login_twine_writes_the_pypirc(tutorial: Tutorial) -> None:
    assert tutorial.login_twine.returncode == 0, tutorial.login_twine.stderr
    assert (f"Successfully configured twine to use AWS CodeArtifact repository "
            f"{tutorial.endpoint}") in tutorial.login_twine.stdout
    rc = configparser.ConfigParser()
    rc.read(tutorial.home.pypirc)
    assert rc["codeartifact"]["repository"] == tutorial.endpoint
    assert rc["codeartifact"]["username"] == "aws"
    assert rc["codeartifact"]["password"]


def test_twine_upload_publishes_wheel_and_sdist(tutorial: Tutorial) -> None:
    proc = tutorial.twine_upload
    assert proc.returncode == 0, f"twine upload failed:\n{proc.stdout}\n{proc.stderr}"
    out = proc.stdout + proc.stderr
    for d in (tutorial.wheel, tutorial.sdist, tutorial.dep_wheel):
        assert d.filename in out


def test_twine_upload_again_is_a_no_op_success(tutorial: Tutorial) -> None:
    tutorial.require_upload()
    proc = run([tool("twine"), "upload", "--non-interactive", "-r", "codeartifact",
                str(tutorial.wheel.path)], tutorial.home.env(), check=False)
    assert proc.returncode == 0, f"re-upload of identical file failed:\n{proc.stdout}{proc.stderr}"


# ------------------------------------------------------------------ install

def test_login_pip_then_pip_install_in_a_fresh_venv(tutorial: Tutorial, tmp_path: Path) -> None:
    tutorial.require_upload()
    home = ClientHome(tmp_path / "home")
    aws = AwsCli(tutorial.aws.endpoint, home)
    login = aws.run("codeartifact", "login", "--tool", "pip", "--domain", tutorial.domain,
                    "--repository", tutorial.repository)
    assert "Successfully configured pip to use AWS CodeArtifact repository" in login.stdout
    conf = configparser.ConfigParser()
    conf.read(home.pip_conf)
    index_url = conf["global"]["index-url"]
    host_path = tutorial.endpoint.split("://", 1)[1]
    assert index_url.startswith("http://aws:") and index_url.endswith(f"@{host_path}simple/"), (
        index_url)

    python = make_venv(tmp_path / "venv", home)
    run([tool("pip"), "--python", python, "install", "--no-cache-dir", tutorial.main.name],
        home.env())
    shown = run([python, "-c",
                 f"import {tutorial.main.module} as m, {tutorial.dep.module} as d; "
                 "print(m.VALUE); print(d.VALUE)"], home.env()).stdout.split("\n")
    assert shown[:2] == [f"{tutorial.main.name} 1.2.0", f"{tutorial.dep.name} 0.3"]


def test_uv_pip_install_from_the_same_url(tutorial: Tutorial, tmp_path: Path) -> None:
    tutorial.require_upload()
    token = tutorial.aws.json("codeartifact", "get-authorization-token", "--domain",
                              tutorial.domain)["authorizationToken"]
    scheme, rest = tutorial.endpoint.split("://", 1)
    index_url = f"{scheme}://aws:{token}@{rest}simple/"
    home = tutorial.home
    python = make_venv(tmp_path / "venv", home)
    run([tool("uv"), "pip", "install", "--python", python, "--index-url", index_url,
         tutorial.main.name], home.env())
    out = run([python, "-c", f"import {tutorial.main.module} as m; print(m.VALUE)"],
              home.env()).stdout
    assert out.strip() == f"{tutorial.main.name} 1.2.0"


# ------------------------------------------------------------------ read API

def test_list_packages(tutorial: Tutorial) -> None:
    tutorial.require_upload()
    out = tutorial.aws.json("codeartifact", "list-packages", "--domain", tutorial.domain,
                            "--repository", tutorial.repository)
    packages = {p["package"]: p for p in out["packages"]}
    # CodeArtifact stores Python names normalized (PEP 503), see "Python package name
    # normalization" in the CodeArtifact user guide.
    assert set(packages) == {normalize(tutorial.main.name), normalize(tutorial.dep.name)}
    assert all(p["format"] == "pypi" for p in packages.values())
    assert all("namespace" not in p for p in packages.values())


def test_list_packages_with_prefix_and_format(tutorial: Tutorial) -> None:
    tutorial.require_upload()
    out = tutorial.aws.json("codeartifact", "list-packages", "--domain", tutorial.domain,
                            "--repository", tutorial.repository, "--format", "pypi",
                            "--package-prefix", "tutorial-pkg")
    assert [p["package"] for p in out["packages"]] == [normalize(tutorial.main.name)]


def test_list_package_versions(tutorial: Tutorial) -> None:
    tutorial.require_upload()
    package = normalize(tutorial.main.name)
    out = tutorial.aws.json("codeartifact", "list-package-versions",
                            *tutorial.api_args(package))
    assert out["format"] == "pypi"
    assert out["package"] == package
    assert out["defaultDisplayVersion"] == "1.2.0"
    [version] = out["versions"]
    assert version["version"] == "1.2.0"
    assert version["status"] == "Published"
    assert version["revision"]
    assert version["origin"]["originType"] == "INTERNAL"
    assert version["origin"]["domainEntryPoint"]["repositoryName"] == tutorial.repository


def test_describe_package_version(tutorial: Tutorial, api: Any) -> None:
    tutorial.require_upload()
    package = normalize(tutorial.main.name)
    described = api.describe_package_version(
        domain=tutorial.domain, repository=tutorial.repository, format="pypi",
        package=package, packageVersion="1.2.0")["packageVersion"]
    assert described["format"] == "pypi"
    assert described["packageName"] == package
    assert described["displayName"] == tutorial.main.name
    assert described["version"] == "1.2.0"
    assert described["summary"] == "The tutorial's package"
    assert described["homePage"] == "https://example.invalid/tutorial"
    assert described["status"] == "Published"
    assert described["revision"]
    assert [lic["name"] for lic in described["licenses"]] == ["MIT"]
    assert described["origin"]["originType"] == "INTERNAL"
    published = described["publishedTime"]
    assert abs(datetime.now(UTC) - published) < timedelta(minutes=10)


def test_list_package_version_assets_with_hashes(tutorial: Tutorial) -> None:
    tutorial.require_upload()
    package = normalize(tutorial.main.name)
    out = tutorial.aws.json("codeartifact", "list-package-version-assets",
                            *tutorial.api_args(package, "1.2.0"))
    assert out["package"] == package and out["version"] == "1.2.0" and out["format"] == "pypi"
    assert out["versionRevision"]
    assets = {a["name"]: a for a in out["assets"]}
    assert set(assets) == {tutorial.wheel.filename, tutorial.sdist.filename}
    for dist in (tutorial.wheel, tutorial.sdist):
        asset = assets[dist.filename]
        assert asset["size"] == len(dist.data)
        data = dist.data
        assert asset["hashes"] == {
            "MD5": hashlib.md5(data).hexdigest(),
            "SHA-1": hashlib.sha1(data).hexdigest(),
            "SHA-256": hashlib.sha256(data).hexdigest(),
            "SHA-512": hashlib.sha512(data).hexdigest(),
        }


def test_get_package_version_asset_to_a_file_with_the_cli(tutorial: Tutorial,
                                                          tmp_path: Path) -> None:
    tutorial.require_upload()
    target = tmp_path / "downloaded.whl"
    out = tutorial.aws.json("codeartifact", "get-package-version-asset",
                            *tutorial.api_args(normalize(tutorial.main.name), "1.2.0"),
                            "--asset", tutorial.wheel.filename, str(target))
    assert target.read_bytes() == tutorial.wheel.data
    assert out["assetName"] == tutorial.wheel.filename
    assert out["packageVersion"] == "1.2.0"
    assert out["packageVersionRevision"]


def test_get_package_version_asset_with_boto3(tutorial: Tutorial, api: Any) -> None:
    tutorial.require_upload()
    out = api.get_package_version_asset(
        domain=tutorial.domain, repository=tutorial.repository, format="pypi",
        package=normalize(tutorial.main.name), packageVersion="1.2.0",
        asset=tutorial.sdist.filename)
    assert out["asset"].read() == tutorial.sdist.data


def test_get_missing_asset_is_not_found(tutorial: Tutorial, api: Any) -> None:
    tutorial.require_upload()
    with pytest.raises(ClientError) as info:
        api.get_package_version_asset(
            domain=tutorial.domain, repository=tutorial.repository, format="pypi",
            package=normalize(tutorial.main.name), packageVersion="1.2.0",
            asset="nothing-1.2.0.tar.gz")
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_get_package_version_readme(tutorial: Tutorial) -> None:
    tutorial.require_upload()
    out = tutorial.aws.json("codeartifact", "get-package-version-readme",
                            *tutorial.api_args(normalize(tutorial.main.name), "1.2.0"))
    assert out["readme"].strip() == README.strip()
    assert out["version"] == "1.2.0"
    assert out["package"] == normalize(tutorial.main.name)


def test_list_package_version_dependencies(tutorial: Tutorial) -> None:
    tutorial.require_upload()
    out = tutorial.aws.json("codeartifact", "list-package-version-dependencies",
                            *tutorial.api_args(normalize(tutorial.main.name), "1.2.0"))
    assert out["versionRevision"]
    deps = out["dependencies"]
    assert [normalize(d["package"]) for d in deps] == [normalize(tutorial.dep.name)]
    assert ">=0.1" in deps[0]["versionRequirement"]


def test_dependency_free_version_lists_no_dependencies(tutorial: Tutorial) -> None:
    tutorial.require_upload()
    out = tutorial.aws.json("codeartifact", "list-package-version-dependencies",
                            *tutorial.api_args(normalize(tutorial.dep.name), "0.3"))
    assert out["dependencies"] == []


def test_describe_missing_version_is_not_found(tutorial: Tutorial) -> None:
    tutorial.require_upload()
    proc = tutorial.aws.fails("codeartifact", "describe-package-version",
                              *tutorial.api_args(normalize(tutorial.main.name), "9.9.9"))
    assert "(ResourceNotFoundException) when calling the DescribePackageVersion" in proc.stderr


def test_list_versions_of_missing_package_is_not_found(tutorial: Tutorial) -> None:
    proc = tutorial.aws.fails("codeartifact", "list-package-versions",
                              *tutorial.api_args("no-such-package"))
    assert "(ResourceNotFoundException) when calling the ListPackageVersions" in proc.stderr



# ------------------------------------------------------------------ an sdist's metadata (PEP 643)

def _setuptools_sdist(out_dir: Path, name: str, version: str, install_requires: str) -> Path:
    """An sdist as setuptools < 68 made it: PKG-INFO 2.1 with no Requires-Dist, the
    dependencies in setup.py's install_requires alone."""
    base = f"{name.replace('-', '_')}-{version}"
    module = name.replace("-", "_")
    members = {
        f"{base}/PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{base}/setup.py": (f"from setuptools import setup\nsetup(name={name!r}, "
                             f"version={version!r}, packages=[{module!r}], "
                             f"install_requires=[{install_requires!r}])\n"),
        f"{base}/{module}/__init__.py": f"VALUE = {name + ' ' + version!r}\n",
    }
    path = out_dir / f"{base}.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for member, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_regression_pip_installs_a_legacy_sdists_dependencies(tutorial: Tutorial,
                                                              tmp_path: Path) -> None:
    # pip took the PKG-INFO Packyard served as the sdist's .metadata for the truth and
    # installed it without the dependency its setup.py declares.
    tutorial.require_upload()
    name = f"legacy-sdist-{secrets.token_hex(3)}"
    sdist = _setuptools_sdist(tmp_path, name, "1.0", tutorial.dep.name)
    run([tool("twine"), "upload", "--non-interactive", "-r", "codeartifact", str(sdist)],
        tutorial.home.env())
    # The build's setuptools from a local directory: nothing from the internet.
    build_wheels = tmp_path / "build-wheels"
    build_wheels.mkdir()
    wheel_from_installed("setuptools", build_wheels)
    token = tutorial.aws.json("codeartifact", "get-authorization-token", "--domain",
                              tutorial.domain)["authorizationToken"]
    scheme, rest = tutorial.endpoint.split("://", 1)
    home = tutorial.home
    python = make_venv(tmp_path / "venv", home)
    run([tool("pip"), "--python", python, "install", "--no-cache-dir",
         "--index-url", f"{scheme}://aws:{token}@{rest}simple/",
         "--find-links", str(build_wheels), name], home.env())
    shown = run([python, "-c", f"import {tutorial.dep.module} as d; print(d.VALUE)"],
                home.env()).stdout
    assert shown.strip() == f"{tutorial.dep.name} 0.3"
