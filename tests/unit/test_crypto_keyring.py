"""The local keyring's own rules: its file (mode, umask, crash-safe rewrites, other processes'
changes), the master key, aliases and names. What every provider does is in
``tests/conformance/key_providers/test_contract.py``."""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from packyard.crypto.context import EncryptionContext
from packyard.crypto.errors import KeyUnavailable, UnknownKey
from packyard.crypto.keyring import LocalKeyring, load_master_key
from packyard.errors import Conflict, Invalid

CONTEXT = EncryptionContext("d1", "c3" * 32)
MASTER = bytes(range(32))


@pytest.fixture()
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_the_keyring_is_made_at_first_use_with_mode_0600(tmp_path: Path, umask_022: None) -> None:
    keyring = LocalKeyring.in_data_dir(tmp_path)
    assert keyring.path == tmp_path / "keyring.json"
    assert keyring.path.stat().st_mode & 0o777 == 0o600


def test_a_stricter_umask_is_respected(tmp_path: Path) -> None:
    old = os.umask(0o277)
    try:
        keyring = LocalKeyring.in_data_dir(tmp_path)
    finally:
        os.umask(old)
    assert keyring.path.stat().st_mode & 0o777 == 0o400


def test_a_keyring_others_can_read_is_refused_with_the_fix(tmp_path: Path) -> None:
    keyring = LocalKeyring.in_data_dir(tmp_path)
    keyring.path.chmod(0o644)
    with pytest.raises(KeyUnavailable, match=r"mode 0644.*chmod 600"):
        LocalKeyring.in_data_dir(tmp_path)


def test_a_group_readable_keyring_is_refused_too(tmp_path: Path) -> None:
    keyring = LocalKeyring.in_data_dir(tmp_path)
    keyring.path.chmod(0o640)
    with pytest.raises(KeyUnavailable, match="group or others"):
        LocalKeyring.in_data_dir(tmp_path)


def test_keys_and_versions_survive_a_restart(tmp_path: Path) -> None:
    keyring = LocalKeyring.in_data_dir(tmp_path)
    key = keyring.create_key(description="d1", alias="alias/d1")
    data_key = keyring.generate_data_key("alias/d1", CONTEXT)
    keyring.rotate(key.key_id)
    again = LocalKeyring.in_data_dir(tmp_path)
    assert again.describe_key("alias/d1").versions == (1, 2)
    assert again.decrypt_data_key(data_key.wrapped, CONTEXT) == data_key.plaintext


def test_another_process_changes_are_seen_at_once(tmp_path: Path) -> None:
    one, two = LocalKeyring.in_data_dir(tmp_path), LocalKeyring.in_data_dir(tmp_path)
    key = one.create_key()
    assert two.describe_key(key.key_id).current_version == 1
    two.rotate(key.key_id)
    assert one.generate_data_key(key.key_id, CONTEXT).wrapped.key_version == 2
    # Both wrote; neither lost the other's change.
    other = one.create_key(alias="alias/other")
    assert {k.key_id for k in two.list_keys()} == {key.key_id, other.key_id}


def test_a_rewrite_leaves_no_temporary_file_and_the_old_file_is_replaced_whole(
        tmp_path: Path) -> None:
    keyring = LocalKeyring.in_data_dir(tmp_path)
    before = keyring.path.stat().st_ino
    keyring.create_key()
    assert keyring.path.stat().st_ino != before  # renamed over, never written in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keyring.json", "keyring.json.lock"]


def test_a_crashed_writers_temporary_file_is_ignored(tmp_path: Path) -> None:
    keyring = LocalKeyring.in_data_dir(tmp_path)
    key = keyring.create_key()
    (tmp_path / ".keyring.json.999.dead.tmp").write_text("{half a keyring")
    assert LocalKeyring.in_data_dir(tmp_path).describe_key(key.key_id).key_id == key.key_id


def test_a_damaged_keyring_says_to_restore_it(tmp_path: Path) -> None:
    keyring = LocalKeyring.in_data_dir(tmp_path)
    keyring.path.write_text('{"format": 1, "keys": {"k": {}}, "aliases": {}}')
    with pytest.raises(KeyUnavailable, match=r"damaged .*restore it from a backup"):
        LocalKeyring.in_data_dir(tmp_path)


def test_without_a_master_key_the_material_is_in_the_file(tmp_path: Path) -> None:
    keyring = LocalKeyring.in_data_dir(tmp_path)
    key = keyring.create_key()
    stored = json.loads(keyring.path.read_text())["keys"][key.key_id]["versions"]["1"]
    assert len(base64.b64decode(stored)) == 32


def test_with_a_master_key_the_file_holds_only_sealed_material(tmp_path: Path) -> None:
    keyring = LocalKeyring.in_data_dir(tmp_path, master_key=MASTER)
    key = keyring.create_key()
    data_key = keyring.generate_data_key(key.key_id, CONTEXT)
    document = json.loads(keyring.path.read_text())
    material = keyring._keys[key.key_id].versions[1]
    assert base64.b64encode(material).decode() not in keyring.path.read_text()
    assert "master_key_check" in document
    again = LocalKeyring.in_data_dir(tmp_path, master_key=MASTER)
    assert again.decrypt_data_key(data_key.wrapped, CONTEXT) == data_key.plaintext


def test_a_sealed_keyring_without_its_master_key_says_which_setting(tmp_path: Path) -> None:
    LocalKeyring.in_data_dir(tmp_path, master_key=MASTER).create_key()
    with pytest.raises(KeyUnavailable, match="PACKYARD_MASTER_KEY"):
        LocalKeyring.in_data_dir(tmp_path)


def test_a_wrong_master_key_is_refused(tmp_path: Path) -> None:
    LocalKeyring.in_data_dir(tmp_path, master_key=MASTER).create_key()
    with pytest.raises(KeyUnavailable, match="does not open"):
        LocalKeyring.in_data_dir(tmp_path, master_key=os.urandom(32))


def test_a_master_key_for_a_plain_keyring_is_refused(tmp_path: Path) -> None:
    LocalKeyring.in_data_dir(tmp_path).create_key()
    with pytest.raises(KeyUnavailable, match="made without a master key"):
        LocalKeyring.in_data_dir(tmp_path, master_key=MASTER)


def test_master_key_from_the_variable_or_a_file(tmp_path: Path) -> None:
    encoded = base64.b64encode(MASTER).decode()
    assert load_master_key(encoded) == MASTER
    assert load_master_key(None, None) is None
    path = tmp_path / "master.key"
    path.write_text(encoded + "\n")
    path.chmod(0o600)
    assert load_master_key(path=path) == MASTER


@pytest.mark.parametrize("value", ["not base64!", base64.b64encode(b"short").decode()])
def test_a_master_key_that_is_not_32_base64_bytes_says_how_to_make_one(value: str) -> None:
    with pytest.raises(Invalid, match="head -c 32 /dev/urandom"):
        load_master_key(value)


def test_a_master_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.write_text(base64.b64encode(MASTER).decode())
    path.chmod(0o644)
    with pytest.raises(KeyUnavailable, match="chmod 600"):
        load_master_key(path=path)


def test_both_master_key_settings_at_once_are_refused(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="not both"):
        load_master_key("x", tmp_path / "master.key")


def test_keys_are_named_by_id_arn_alias_and_alias_arn(tmp_path: Path) -> None:
    keyring = LocalKeyring(tmp_path / "keyring.json", account_id="123456789012", region="eu-west-1")
    key = keyring.create_key(alias="alias/aws/codeartifact")
    assert key.arn == f"arn:aws:kms:eu-west-1:123456789012:key/{key.key_id}"
    for ref in (key.key_id, key.arn, "alias/aws/codeartifact",
                "arn:aws:kms:eu-west-1:123456789012:alias/aws/codeartifact"):
        assert keyring.describe_key(ref).key_id == key.key_id
    with pytest.raises(UnknownKey):  # another account's ARN is not ours
        keyring.describe_key(f"arn:aws:kms:eu-west-1:999999999999:key/{key.key_id}")


def test_an_alias_is_unique_and_well_formed(tmp_path: Path) -> None:
    keyring = LocalKeyring.in_data_dir(tmp_path)
    key = keyring.create_key(alias="alias/a")
    with pytest.raises(Conflict, match="already names"):
        keyring.create_alias("alias/a", key.key_id)
    with pytest.raises(Invalid, match="must start with alias/"):
        keyring.create_alias("team-a", key.key_id)
    keyring.create_alias("alias/b", key.key_id)
    assert keyring.list_aliases() == {"alias/a": key.key_id, "alias/b": key.key_id}
    assert keyring.describe_key(key.key_id).aliases == ("alias/a", "alias/b")


def test_a_disabled_key_works_again_once_enabled(tmp_path: Path) -> None:
    keyring = LocalKeyring.in_data_dir(tmp_path)
    key = keyring.create_key()
    data_key = keyring.generate_data_key(key.key_id, CONTEXT)
    assert not keyring.set_enabled(key.key_id, False).enabled
    with pytest.raises(KeyUnavailable, match="disabled"):
        keyring.decrypt_data_key(data_key.wrapped, CONTEXT)
    keyring.set_enabled(key.key_id, True)
    assert keyring.decrypt_data_key(data_key.wrapped, CONTEXT) == data_key.plaintext


def test_the_rotation_period_survives_a_restart_and_older_files_read_without_one(
        tmp_path: Path) -> None:
    ring = LocalKeyring(tmp_path / "keyring.json")
    key = ring.create_key()
    other = ring.create_key()
    assert ring.rotation_period(key.key_id) is None
    ring.set_rotation_period(key.key_id, 90)
    again = LocalKeyring(tmp_path / "keyring.json")
    assert (again.rotation_period(key.key_id), again.rotation_period(other.key_id)) == (90, None)
    document = json.loads((tmp_path / "keyring.json").read_text())
    del document["keys"][other.key_id]["rotation_period_days"]  # as earlier releases wrote it
    (tmp_path / "keyring.json").write_text(json.dumps(document))
    assert LocalKeyring(tmp_path / "keyring.json").rotation_period(other.key_id) is None


def test_retiring_old_versions_leaves_the_current_one_only(tmp_path: Path) -> None:
    ring = LocalKeyring(tmp_path / "keyring.json")
    key = ring.create_key()
    context = EncryptionContext("d1", "ab" * 32)
    old = ring.generate_data_key(key.key_id, context)
    ring.rotate(key.key_id)
    new = ring.rewrap(old.wrapped, context)
    assert ring.retire_versions_below(key.key_id, 2).versions == (2,)
    assert ring.decrypt_data_key(new, context) == old.plaintext
    with pytest.raises(Invalid, match="cannot be retired"):
        ring.retire_versions_below(key.key_id, 3)


# -- unwrapping on the event loop's thread (``decrypt_data_key_now``) --------------------------

def test_a_data_key_unwrapped_now_is_the_one_decrypt_data_key_gives(tmp_path: Path) -> None:
    keyring = LocalKeyring.in_data_dir(tmp_path, master_key=MASTER)
    key = keyring.create_key()
    data_key = keyring.generate_data_key(key.key_id, CONTEXT)
    assert keyring.decrypt_data_key_now(data_key.wrapped, CONTEXT) == data_key.plaintext


def test_a_keyring_another_thread_holds_is_not_waited_for(tmp_path: Path) -> None:
    keyring = LocalKeyring.in_data_dir(tmp_path)
    data_key = keyring.generate_data_key(keyring.create_key().key_id, CONTEXT)
    holder_has_it, release = threading.Event(), threading.Event()

    def hold() -> None:
        with keyring._mutex:  # noqa: SLF001 - what a rotation's write holds
            holder_has_it.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holder_has_it.wait(10)
        assert keyring.decrypt_data_key_now(data_key.wrapped, CONTEXT) is None
    finally:
        release.set()
        holder.join()
    assert keyring.decrypt_data_key_now(data_key.wrapped, CONTEXT) == data_key.plaintext


def test_a_keyring_changed_by_another_process_is_left_to_decrypt_data_key(
        tmp_path: Path) -> None:
    one, two = LocalKeyring.in_data_dir(tmp_path), LocalKeyring.in_data_dir(tmp_path)
    key = one.create_key()
    data_key = one.generate_data_key(key.key_id, CONTEXT)
    assert two.decrypt_data_key_now(data_key.wrapped, CONTEXT) is None  # not read since
    assert two.decrypt_data_key(data_key.wrapped, CONTEXT) == data_key.plaintext  # reads it
    assert two.decrypt_data_key_now(data_key.wrapped, CONTEXT) == data_key.plaintext


def test_what_decrypt_data_key_refuses_is_none_now(tmp_path: Path) -> None:
    keyring = LocalKeyring.in_data_dir(tmp_path)
    key = keyring.create_key()
    data_key = keyring.generate_data_key(key.key_id, CONTEXT)
    other = EncryptionContext("d2", "c3" * 32)
    for wrapped, context in ((data_key.wrapped, other),
                             (replace(data_key.wrapped, key_id="no-such-key"), CONTEXT),
                             (replace(data_key.wrapped, ciphertext=b"short"), CONTEXT)):
        assert keyring.decrypt_data_key_now(wrapped, context) is None
    keyring.set_enabled(key.key_id, False)
    assert keyring.decrypt_data_key_now(data_key.wrapped, CONTEXT) is None
