"""The settings of ``PACKYARD_KEY_PROVIDER=transit`` a server refuses at start, each saying
what to set."""

from __future__ import annotations

from pathlib import Path

import pytest

from packyard.encryption.providers import open_key_provider
from packyard.errors import CannotStart
from packyard.settings import load_settings

_TRANSIT = {"PACKYARD_KEY_PROVIDER": "transit", "PACKYARD_TRANSIT_URL": "http://127.0.0.1:9"}


def test_transit_without_a_token_nor_a_token_file_is_refused_naming_both() -> None:
    with pytest.raises(ValueError) as refused:
        load_settings(_TRANSIT)
    assert str(refused.value) == ("PACKYARD_KEY_PROVIDER=transit needs PACKYARD_TRANSIT_URL and "
                                  "PACKYARD_TRANSIT_TOKEN (or PACKYARD_TRANSIT_TOKEN_FILE)")


def test_a_transit_token_file_that_cannot_be_read_is_refused_at_start(tmp_path: Path) -> None:
    missing = tmp_path / "transit-token"
    settings = load_settings({**_TRANSIT, "PACKYARD_TRANSIT_TOKEN_FILE": str(missing)})
    with pytest.raises(CannotStart) as refused:
        open_key_provider(settings)
    assert str(refused.value) == ("PACKYARD_TRANSIT_TOKEN_FILE cannot be read: [Errno 2] No "
                                  f"such file or directory: '{missing}'")
