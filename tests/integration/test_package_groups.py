"""Package groups and tags with a real ``packyard serve`` and real clients: the AWS CLI and
boto3 with the documented error cases, twine refused by a group (the message it prints), and an
upstream fetch a group blocks that is never made (a recording local upstream)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.conftest import ServerFactory
from tests.integration.helpers import (
    DEFAULT_ACCOUNT,
    DEFAULT_REGION,
    AwsCli,
    ClientHome,
    DistFactory,
    DistSpec,
    ServerProcess,
    build_wheel,
    codeartifact_client,
    create_pypi_repo,
    run,
    tool,
    unique_name,
)
from tests.integration.test_upstreams import JSON_V1, StaticIndex, _chain

CA = f"arn:aws:codeartifact:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}"


def _cli_error(proc: Any) -> str:
    return " ".join(proc.stderr.split())


def test_package_groups_through_the_aws_cli(server: ServerProcess,
                                            session_home: ClientHome) -> None:
    aws = AwsCli(server.url, session_home)
    domain = unique_name("groups")
    ca = ("codeartifact",)
    aws.run(*ca, "create-domain", "--domain", domain)
    aws.run(*ca, "create-repository", "--domain", domain, "--repository", "internal")
    created = aws.json(*ca, "create-package-group", "--domain", domain,
                       "--package-group", "/pypi//acme~", "--contact-info", "ops@acme.test",
                       "--description", "Acme's own packages",
                       "--tags", "key=team,value=platform")["packageGroup"]
    assert created["pattern"] == "/pypi//acme~"
    assert created["parent"] == {"arn": f"{CA}:package-group/{domain}/*", "pattern": "/*"}
    updated = aws.json(*ca, "update-package-group-origin-configuration", "--domain", domain,
                       "--package-group", "/pypi//acme~", "--restrictions",
                       "PUBLISH=ALLOW_SPECIFIC_REPOSITORIES,EXTERNAL_UPSTREAM=BLOCK,"
                       "INTERNAL_UPSTREAM=ALLOW",
                       "--add-allowed-repositories",
                       "originRestrictionType=PUBLISH,repositoryName=internal")
    assert updated["allowedRepositoryUpdates"] == {"PUBLISH": {"ADDED": ["internal"]}}
    restrictions = updated["packageGroup"]["originConfiguration"]["restrictions"]
    assert restrictions["EXTERNAL_UPSTREAM"] == {"mode": "BLOCK", "effectiveMode": "BLOCK",
                                                 "repositoriesCount": 0}
    assert aws.json(*ca, "list-allowed-repositories-for-group", "--domain", domain,
                    "--package-group", "/pypi//acme~", "--origin-restriction-type",
                    "PUBLISH")["allowedRepositories"] == ["internal"]
    listed = aws.json(*ca, "list-package-groups", "--domain", domain)["packageGroups"]
    assert [g["pattern"] for g in listed] == ["/*", "/pypi//acme~"]
    assert [g["pattern"] for g in aws.json(*ca, "list-sub-package-groups", "--domain", domain,
                                           "--package-group", "/*")["packageGroups"]] == [
        "/pypi//acme~"]
    associated = aws.json(*ca, "get-associated-package-group", "--domain", domain,
                          "--format", "pypi", "--package", "Acme_Tools")
    assert (associated["packageGroup"]["pattern"], associated["associationType"]) == (
        "/pypi//acme~", "STRONG")
    assert aws.json(*ca, "list-associated-packages", "--domain", domain, "--package-group",
                    "/pypi//acme~", "--preview")["packages"] == []
    assert aws.json(*ca, "describe-package-group", "--domain", domain, "--package-group",
                    "/pypi//acme~")["packageGroup"]["contactInfo"] == "ops@acme.test"

    refused = aws.fails(*ca, "create-package-group", "--domain", domain, "--package-group",
                        "/pypi/acme/*")
    # The CLI may put "(reached max retries: 0)" between the operation and the message.
    assert ("An error occurred (ValidationException) when calling the CreatePackageGroup "
            "operation") in _cli_error(refused)
    assert ('Invalid package group pattern "/pypi/acme/*": pypi packages have no namespace: '
            "leave it empty, as in /pypi//*") in _cli_error(refused)
    refused = aws.fails(*ca, "delete-package-group", "--domain", domain, "--package-group", "/*")
    assert "The root package group /* cannot be deleted" in _cli_error(refused)
    deleted = aws.json(*ca, "delete-package-group", "--domain", domain, "--package-group",
                       "/pypi//acme~")
    assert deleted["packageGroup"]["pattern"] == "/pypi//acme~"


def test_tags_through_the_aws_cli_with_aws_limits(server: ServerProcess,
                                                 session_home: ClientHome) -> None:
    aws = AwsCli(server.url, session_home)
    domain = unique_name("tags")
    aws.run("codeartifact", "create-domain", "--domain", domain, "--tags",
            "key=env,value=prod")
    arn = f"{CA}:domain/{domain}"
    assert aws.json("codeartifact", "list-tags-for-resource", "--resource-arn", arn)[
        "tags"] == [{"key": "env", "value": "prod"}]
    aws.run("codeartifact", "tag-resource", "--resource-arn", arn, "--tags",
            "key=team,value=a")
    aws.run("codeartifact", "untag-resource", "--resource-arn", arn, "--tag-keys", "env")
    assert aws.json("codeartifact", "list-tags-for-resource", "--resource-arn", arn)[
        "tags"] == [{"key": "team", "value": "a"}]

    too_long = aws.fails("codeartifact", "tag-resource", "--resource-arn", arn, "--tags",
                         f"key={'k' * 129},value=v")
    assert "128" in _cli_error(too_long)
    reserved = aws.fails("codeartifact", "tag-resource", "--resource-arn", arn, "--tags",
                         "key=aws:team,value=v")
    assert ('Tag key "aws:team" is not allowed: the aws: prefix is reserved for AWS'
            in _cli_error(reserved))
    many = [f"key=k{i},value=v" for i in range(50)]
    over = aws.fails("codeartifact", "tag-resource", "--resource-arn", arn, "--tags", *many)
    assert ("ServiceQuotaExceededException" in _cli_error(over)
            and "A resource can have at most 50 tags; this request would give it 51"
            in _cli_error(over))


def test_tags_and_groups_through_boto3(server: ServerProcess) -> None:
    api = codeartifact_client(server.url)
    domain = unique_name("boto")
    api.create_domain(domain=domain)
    api.create_repository(domain=domain, repository="shelf",
                          tags=[{"key": "team", "value": "data"}])
    arn = f"{CA}:repository/{domain}/shelf"
    api.tag_resource(resourceArn=arn, tags=[{"key": "cost", "value": "1"}])
    assert api.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"key": "cost", "value": "1"}, {"key": "team", "value": "data"}]
    with pytest.raises(ClientError) as info:
        api.tag_resource(resourceArn=arn, tags=[{"key": f"k{i}", "value": "v"}
                                                for i in range(51)])
    assert info.value.response["Error"]["Code"] == "ServiceQuotaExceededException"
    with pytest.raises(ClientError) as info:
        api.create_package_group(domain=domain, packageGroup="/pypi//Not_Normalized$")
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert info.value.response["Error"]["Message"] == (
        'Invalid package group pattern "/pypi//Not_Normalized$": pypi package names are '
        'stored and matched normalized: write "not-normalized" instead of "Not_Normalized"')
    group = api.create_package_group(domain=domain, packageGroup="/pypi//acme~",
                                     tags=[{"key": "owner", "value": "sec"}])["packageGroup"]
    assert api.list_tags_for_resource(resourceArn=group["arn"])["tags"] == [
        {"key": "owner", "value": "sec"}]


def test_twine_shows_the_package_group_that_refuses_a_publish(
        server: ServerProcess, fresh_home: ClientHome, tmp_path: Path) -> None:
    api = codeartifact_client(server.url)
    repo = create_pypi_repo(api, server.url, "grp")
    api.create_package_group(domain=repo.domain, packageGroup="/pypi//acme~")
    api.update_package_group_origin_configuration(domain=repo.domain,
                                                  packageGroup="/pypi//acme~",
                                                  restrictions={"PUBLISH": "BLOCK"})
    fresh_home.pypirc.write_text(
        "[distutils]\nindex-servers =\n    codeartifact\n\n"
        f"[codeartifact]\nrepository: {repo.endpoint}\nusername: aws\npassword: {repo.token}\n")
    wheel = build_wheel(DistSpec(name="acme-tools", version="1.0"), tmp_path)
    proc = run([tool("twine"), "upload", "--non-interactive", "-r", "codeartifact",
                str(wheel.path)], fresh_home.env(), check=False)
    assert proc.returncode != 0
    out = " ".join((proc.stdout + proc.stderr).split())
    assert "403" in out
    assert (f"Publishing acme-tools to repository {repo.repository} is blocked: package group "
            "/pypi//acme~ blocks publishing (PUBLISH: BLOCK)") in out, out


@pytest.fixture
def index() -> Iterator[StaticIndex]:
    upstream = StaticIndex().start()
    yield upstream
    upstream.stop()


def test_an_upstream_fetch_a_group_blocks_is_never_made(
        server_factory: ServerFactory, index: StaticIndex, dists: DistFactory,
        tmp_path: Path) -> None:
    # The public index has a package with our internal prefix: dependency confusion bait.
    index.add(dists.wheel(DistSpec(name="acme-tools", version="99.0")))
    index.add(dists.wheel(DistSpec(name="six-like", version="1.0")))
    server = server_factory(env={"PACKYARD_PYPI_UPSTREAM_URL": index.url})
    chain = _chain(server, tmp_path)
    chain.api.create_package_group(domain=chain.domain, packageGroup="/pypi//acme~")
    chain.api.update_package_group_origin_configuration(
        domain=chain.domain, packageGroup="/pypi//acme~",
        restrictions={"EXTERNAL_UPSTREAM": "BLOCK"})
    with chain.http() as http:
        blocked = http.get(chain.endpoint() + "simple/acme-tools/", headers={"Accept": JSON_V1})
        assert blocked.status_code == 404, blocked.text
        assert index.requests["/simple/acme-tools/"] == 0
        wheel = dists.wheel(DistSpec(name="acme-tools", version="99.0"))
        assert http.get(chain.endpoint() + f"simple/acme-tools/{wheel.filename}"
                        ).status_code == 404
        assert index.file_requests(wheel.filename) == 0
        # Everything else still comes through.
        allowed = http.get(chain.endpoint() + "simple/six-like/", headers={"Accept": JSON_V1})
        assert allowed.status_code == 200 and index.requests["/simple/six-like/"] == 1
    assert chain.packages() == []
