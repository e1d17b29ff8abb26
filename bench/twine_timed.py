"""Upload files with twine's own upload command and print how long the uploads alone took.

Run as a separate process (the harness's interpreter) so each measurement starts from a clean
twine, but time only the upload call: interpreter start-up and imports are the same for every
server and would blur the ratios. Usage: twine_timed.py URL USERNAME FILE...; the password comes
from TWINE_PASSWORD.
"""

from __future__ import annotations

import json
import os
import sys
import time

from twine.commands.upload import upload
from twine.settings import Settings


def main(argv: list[str]) -> int:
    url, username, *files = argv
    settings = Settings(
        repository_url=url,
        username=username,
        password=os.environ.get("TWINE_PASSWORD", ""),
        non_interactive=True,
        disable_progress_bar=True,
    )
    started = time.perf_counter()
    upload(settings, files)
    elapsed = time.perf_counter() - started
    print(json.dumps({"files": len(files), "seconds": elapsed}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
