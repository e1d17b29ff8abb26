"""Admission of uploads: a place each, and a disk reserve counting what uploads in flight declared."""

from __future__ import annotations

import pytest

from packyard.errors import InsufficientStorage, Unavailable
from packyard.services.upload_capacity import UploadCapacity

GiB = 1024 ** 3


def test_uploads_past_the_limit_are_unavailable_until_a_place_frees() -> None:
    capacity = UploadCapacity(2, 0, lambda: 0)
    with capacity.admit(None), capacity.admit(None):
        with pytest.raises(Unavailable) as caught, capacity.admit(None):
            pass
        assert caught.value.retry_after_seconds == 5
        assert caught.value.message == ("Too many uploads in progress on this server (at most 2 "
                                        "at once); try again in a few seconds")
        assert capacity.active == 2
    assert capacity.active == 0
    with capacity.admit(None):
        assert capacity.active == 1


def test_a_place_is_freed_when_the_upload_fails() -> None:
    capacity = UploadCapacity(1, 0, lambda: 0)
    with pytest.raises(RuntimeError), capacity.admit(10):
        raise RuntimeError("client went away")
    with capacity.admit(10):
        pass


def test_the_disk_reserve_counts_the_uploads_in_flight() -> None:
    free = 3 * GiB
    capacity = UploadCapacity(0, GiB, lambda: free)
    with capacity.admit(GiB):
        # 3 GiB free, 1 GiB promised to the first upload, 1 GiB kept: 1 GiB is left.
        with capacity.admit(GiB):
            pass
        with pytest.raises(InsufficientStorage) as caught, capacity.admit(GiB + 1):
            pass
    assert caught.value.message == ("Not enough free disk space on the server for this upload: "
                                    "it keeps 1.0 GiB free; ask its administrator to free space")
    with capacity.admit(2 * GiB):
        pass


def test_zero_turns_each_limit_off() -> None:
    capacity = UploadCapacity(0, 0, lambda: 0)
    with capacity.admit(10 * GiB), capacity.admit(10 * GiB):
        assert capacity.active == 2
