"""What the key-provider fault tests (transit's, KMS's) start from: one file uploaded under the
server's default key, which the test then disables, denies, deletes or cuts off."""

from __future__ import annotations

from tests.inprocess.harness import InProcessPackyard, InProcessRepo
from tests.integration.helpers import Dist, DistFactory, DistSpec, upload_ok


def one_file_under_the_default_key(packyard: InProcessPackyard, dists: DistFactory,
                                   name: str) -> tuple[str, InProcessRepo, Dist]:
    """The default key, the repository and the wheel ``name`` 1.0 uploaded to it."""
    assert packyard.settings.default_encryption_key is not None
    repo = packyard.pypi_repo()
    dist = dists.wheel(DistSpec(name=name, version="1.0"))
    upload_ok(repo, dist)
    return packyard.settings.default_encryption_key, repo, dist
