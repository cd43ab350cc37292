"""Engines per dialect: SQLite (embedded default) and PostgreSQL (production).

SQLite runs in WAL mode with `synchronous=FULL`, so a committed transaction survives power loss,
and with pysqlite's own transaction handling switched off so that we emit BEGIN ourselves
(the documented SQLAlchemy workaround); writers use BEGIN IMMEDIATE to take the write lock up
front instead of failing to upgrade a read lock later.

Erasable personal data (contact details, openings of private fields) must not survive on disk:
SQLite runs with `secure_delete=ON` (deleted content is overwritten with zeros), the database
file and its `-wal`/`-shm` companions are private to the service's user (mode 0600), and
`scrub_after_erasure` checkpoints and truncates the WAL after an erasure so that no older copy of
an erased row stays in it. On PostgreSQL it vacuums the tables erased from.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.engine import URL, make_url

log = logging.getLogger(__name__)

# Execution option that makes a connection's next BEGIN an IMMEDIATE one (SQLite only).
WRITE_LOCK_OPTION = "dataledger_write_lock"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# The database file and everything SQLite keeps beside it hold personal data: owner only.
PRIVATE_FILE_MODE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def normalise_url(url: str | URL) -> URL:
    """Accept `postgresql://` and `postgres://` and pick the psycopg 3 driver for them."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """Create an engine for `url` with the ledger's durability settings."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "postgresql":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(parsed, **kwargs)
    raise ValueError(
        f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql"
    )


def _sqlite_engine(url: URL, **kwargs: Any) -> Engine:
    if url.database and url.database != ":memory:" and not url.query.get("uri"):
        path = Path(url.database)
        path.parent.mkdir(parents=True, exist_ok=True)
        _make_private(path)
    kwargs.setdefault("connect_args", {})["check_same_thread"] = False
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA secure_delete=ON")  # erased rows are zeroed, not just unlinked
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(WRITE_LOCK_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write. On SQLite it takes the write lock at BEGIN (waiting up to
    the busy timeout): a deferred transaction that reads first cannot upgrade to a writer once
    another process has committed, and fails at once with "database is locked"."""
    with engine.connect().execution_options(**{WRITE_LOCK_OPTION: True}) as conn, conn.begin():
        yield conn


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _make_private(path: Path) -> None:
    """Create the database file with mode 0600 before SQLite opens it (SQLite then gives its
    `-wal`, `-shm` and `-journal` files the database file's mode), and tighten an existing
    database and its companions that are readable by others."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        pass
    else:
        os.close(fd)  # an empty file is a valid, empty SQLite database
        return
    for each in (path, *(path.with_name(path.name + suffix) for suffix in SQLITE_COMPANIONS)):
        try:
            mode = stat.S_IMODE(each.stat().st_mode)
            if mode & 0o077:
                os.chmod(each, mode & 0o700)
                log.warning("tightened the mode of %s from %04o to %04o", each, mode, mode & 0o700)
        except FileNotFoundError:
            continue
        except PermissionError:
            log.warning("%s is readable by others and not ours to chmod: make it 0600", each)


def scrub_after_erasure(engine: Engine, *tables: str | Table) -> bool:
    """Make an erasure physical, after the transaction that deleted the rows has committed.

    SQLite (with `secure_delete=ON`, set on every connection) has zeroed the deleted rows in the
    pages it rewrote, but older copies of those pages stay in the WAL until a checkpoint
    overwrites the file: `wal_checkpoint(TRUNCATE)` copies the WAL into the database and cuts
    it to zero bytes. It waits (up to the busy timeout) for readers still using the WAL.

    PostgreSQL: `VACUUM` each of `tables` (the ones erased from), outside any transaction, so
    the dead row versions are removed from the table's pages. PostgreSQL's own WAL segments and
    the backups keep them until they are recycled or expire (see docs/operations.md).

    Returns True if the scrub completed; False (and logs a warning) if SQLite could not
    truncate the WAL because a reader kept it busy: the next checkpoint then does it. Call it
    outside any open transaction of this thread on `engine`.
    """
    if is_sqlite(engine):
        raw = engine.raw_connection()  # pysqlite in autocommit: no BEGIN around the pragma
        try:
            cursor = raw.cursor()
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            row = cursor.fetchone()
            cursor.close()
        finally:
            raw.close()
        busy = row is not None and row[0] != 0
        if busy:
            log.warning("erasure: the SQLite WAL was busy and is not yet truncated")
        return not busy
    if engine.dialect.name == "postgresql":
        if not tables:
            raise ValueError("scrub_after_erasure on PostgreSQL needs the tables erased from")
        prepare = engine.dialect.identifier_preparer
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in tables:
                name = (
                    prepare.format_table(table)
                    if isinstance(table, Table)
                    else prepare.quote(table)
                )
                conn.exec_driver_sql(f"VACUUM {name}")
        return True
    return True
