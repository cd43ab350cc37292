"""Erasure that erases: erased contact details leave no trace in any file of the database, the
files are private to the service's user, and a contact salt is long enough that a commitment
cannot be dictionary-searched."""

from __future__ import annotations

import os
import secrets
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import nacl.signing
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from api.cli import main
from api.client import ApiError
from api.service import contact_commitment, new_salt
from ledger.storage.engine import make_engine, scrub_after_erasure
from ledger.storage.migrate import upgrade
from ledger.storage.schema import party_contacts
from tests.world import World, pid


def files_under(root: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """Create files under the most permissive umask: the modes must not depend on it."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def contact_owner(
    world: World, salt: str, details: dict[str, str | None]
) -> nacl.signing.SigningKey:
    owner = nacl.signing.SigningKey.generate()
    world.client().register_party(owner, "Erasable", contact_commitment(salt, details))
    return owner


def stored_contacts(world: World) -> int:
    with world.service.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(party_contacts)).scalar_one())


# --- (a) nothing erased stays on disk -----------------------------------------------------------


def test_erased_contact_details_leave_no_bytes_behind(world: World, tmp_path: Path) -> None:
    marker = secrets.token_hex(8)
    details: dict[str, str | None] = {
        "email": f"erase-me-{marker}@example.test",
        "phone": f"+86-{marker}-phone",
        "address": f"{marker} Erasure Street",
    }
    salt = new_salt()
    owner = contact_owner(world, salt, details)
    me = world.client(owner)
    me.put_contact(pid(owner), salt, **details)
    me.put_contact(pid(owner), salt, **details)  # replaced once: an older row version too
    for n in range(20):  # traffic after the details were stored
        world.party(f"Bystander {n}")
    needles = [salt.encode(), *(value.encode() for value in details.values() if value)]

    sqlite = world.service.engine.dialect.name == "sqlite"
    if sqlite:
        before = b"".join(files_under(tmp_path).values())
        assert all(needle in before for needle in needles), "the test would not see a leak"

    me.erase_contact(pid(owner))
    assert stored_contacts(world) == 0
    with pytest.raises(ApiError) as gone:
        me.contact(pid(owner))
    assert gone.value.status == 404
    if not sqlite:
        return  # PostgreSQL: the row is deleted and the table vacuumed (outside a transaction)

    files = files_under(tmp_path)
    names = {path.name for path in files}
    assert "ledger.db" in names
    assert "ledger.db-wal" not in names or files[tmp_path / "ledger.db-wal"] == b""
    for path, content in files.items():
        for needle in needles:
            assert needle not in content, f"{needle!r} survived the erasure in {path}"


def test_scrub_truncates_the_wal(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'scrub.db'}")
    try:
        upgrade(engine)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA secure_delete").scalar_one() == 1
        wal = tmp_path / "scrub.db-wal"
        assert wal.exists() and wal.stat().st_size > 0
        assert scrub_after_erasure(engine, party_contacts) is True
        assert wal.stat().st_size == 0
    finally:
        engine.dispose()


# --- (b) private files ---------------------------------------------------------------------------


def test_database_wal_shm_and_keys_are_mode_0600(
    permissive_umask: None, world: World, tmp_path: Path
) -> None:
    assert mode(tmp_path / "data" / "log-key.json") == 0o600

    database = tmp_path / "fresh" / "ledger.db"
    engine = make_engine(f"sqlite:///{database}")
    try:
        upgrade(engine)
        with engine.connect() as conn:  # held open, so -wal and -shm stay
            conn.exec_driver_sql("SELECT 1").scalar_one()
            for suffix in ("", "-wal", "-shm"):
                companion = database.with_name(database.name + suffix)
                assert companion.exists(), companion
                assert mode(companion) == 0o600, f"{companion}: {mode(companion):04o}"
    finally:
        engine.dispose()

    key_file = tmp_path / "keys" / "owner.key"
    result = CliRunner().invoke(main, ["keygen", "--out", str(key_file)])
    assert result.exit_code == 0, result.output
    assert mode(key_file) == 0o600


def test_an_existing_world_readable_database_is_tightened(tmp_path: Path) -> None:
    database = tmp_path / "old.db"
    sqlite3.connect(database).close()
    os.chmod(database, 0o644)
    engine = make_engine(f"sqlite:///{database}")
    try:
        upgrade(engine)
        assert mode(database) == 0o600
        assert mode(database.with_name("old.db-wal")) == 0o600
    finally:
        engine.dispose()


def test_world_database_files_are_private(world: World, tmp_path: Path) -> None:
    if world.service.engine.dialect.name != "sqlite":
        pytest.skip("file modes are SQLite's")
    world.party("Someone")
    for path in files_under(tmp_path):
        assert mode(path) == 0o600, f"{path}: {mode(path):04o}"


# --- (c) salts -----------------------------------------------------------------------------------


def test_new_salt_is_32_random_bytes() -> None:
    salt = new_salt()
    assert len(salt) == 64 and bytes.fromhex(salt).hex() == salt
    assert new_salt() != salt


@pytest.mark.parametrize(
    ("salt", "code"),
    [
        ("", "salt-too-short"),
        ("a" * 31, "salt-too-short"),
        ("00" * 8, "salt-too-short"),
        ("AB" * 16, "salt-not-hex"),
        ("zz" * 16, "salt-not-hex"),
        ("a" * 33, "salt-not-hex"),
    ],
)
def test_short_or_non_hex_salts_are_refused(world: World, salt: str, code: str) -> None:
    details: dict[str, str | None] = {"email": "short@example.test", "phone": None, "address": None}
    owner = contact_owner(world, salt, details)  # the commitment matches: only the salt is wrong
    me = world.client(owner)
    with pytest.raises(ApiError) as refused:
        me.put_contact(pid(owner), salt, email=details["email"])
    assert refused.value.status == 422, refused.value.problem
    problem = refused.value.problem
    assert problem["type"] == f"urn:dataledger:problem:{code}"
    assert problem["status"] == 422 and problem["detail"]
    assert stored_contacts(world) == 0
    with pytest.raises(ApiError) as none:
        me.contact(pid(owner))
    assert none.value.status == 404


def test_a_32_hex_char_salt_is_enough(world: World) -> None:
    salt = secrets.token_hex(16)
    details: dict[str, str | None] = {"email": "ok@example.test", "phone": None, "address": None}
    owner = contact_owner(world, salt, details)
    me = world.client(owner)
    me.put_contact(pid(owner), salt, **details)
    assert me.contact(pid(owner))["email"] == "ok@example.test"
