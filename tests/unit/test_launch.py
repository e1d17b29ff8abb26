"""The ``packyard`` command's start: its modules loaded without the garbage collector, which is
on again when the command runs."""

from __future__ import annotations

import gc
import json
import subprocess
import sys

from packyard.server.app import freeze_startup_objects

_LOAD = """
import gc, json
from packyard import launch
before = [generation["collections"] for generation in gc.get_stats()]
launch.load()
after = [generation["collections"] for generation in gc.get_stats()]
print(json.dumps({"collections": [b - a for a, b in zip(before, after)],
                  "enabled": gc.isenabled(), "frozen": gc.get_freeze_count(),
                  "loaded": "packyard.bootstrap" in __import__("sys").modules}))
"""


def test_the_commands_modules_load_without_a_collection_and_the_collector_is_on_after() -> None:
    # A fresh interpreter: this one has loaded everything already.
    out = subprocess.run([sys.executable, "-c", _LOAD], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    report = json.loads(out)
    assert report["loaded"]
    assert report["collections"] == [0, 0, 0]  # with the collector on: hundreds of them
    assert report["enabled"] is True
    assert report["frozen"] > 50_000  # the modules' objects, never walked again


def test_the_server_turns_the_collector_back_on_when_start_up_is_done() -> None:
    gc.disable()
    try:
        freeze_startup_objects()
        assert gc.isenabled()
    finally:
        gc.unfreeze()
        gc.enable()
