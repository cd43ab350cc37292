"""What a server checks and does on its own: it refuses a log key that would fork the log, and
its background rounds both certify and expire."""

from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import nacl.signing
import pytest
from alembic.script import ScriptDirectory
from litestar.testing import TestClient

from api.app import LogKeyMismatch, build_service, create_app
from api.client import Client
from api.keyfiles import write_new_key
from api.settings import Settings
from ledger.storage.engine import make_engine
from ledger.storage.migrate import alembic_config, current_revision
from tests.factories import TEST_ORIGIN

ROOT = Path(__file__).resolve().parents[1]


def _settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        origin=TEST_ORIGIN,
        certify_interval_seconds=0,
    )


def _log_with_one_entry(settings: Settings) -> None:
    with TestClient(create_app(settings)) as http:
        key = nacl.signing.SigningKey.generate()
        Client("http://testserver.local", http=http).register_party(key, "First")


def test_a_missing_log_key_is_not_silently_replaced(database_url: str, tmp_path: Path) -> None:
    settings = _settings(database_url, tmp_path)
    _log_with_one_entry(settings)
    settings.resolved_log_key_file.rename(tmp_path / "elsewhere.json")
    with pytest.raises(LogKeyMismatch, match="is missing but the database already holds a log"):
        build_service(settings)
    assert not settings.resolved_log_key_file.exists()  # no new key was made


def test_another_key_or_origin_is_refused(database_url: str, tmp_path: Path) -> None:
    settings = _settings(database_url, tmp_path)
    _log_with_one_entry(settings)
    other = tmp_path / "other-key.json"
    write_new_key(other)
    with pytest.raises(LogKeyMismatch, match="does not fit this database"):
        build_service(replace(settings, log_key_file=other))
    with pytest.raises(LogKeyMismatch, match="does not fit this database"):
        build_service(replace(settings, origin="example.org/another-log"))
    build_service(settings).engine.dispose()  # its own key and origin: fine


def test_serve_says_why_it_will_not_start(tmp_path: Path) -> None:
    settings = _settings(f"sqlite:///{tmp_path}/ledger.db", tmp_path)
    _log_with_one_entry(settings)
    other = tmp_path / "other-key.json"
    write_new_key(other)
    result = subprocess.run(
        [sys.executable, "-m", "api.cli", "serve", "--data-dir", str(settings.data_dir),
         "--database-url", settings.database_url or "", "--log-key-file", str(other)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "does not fit this database" in result.stderr


def test_the_background_rounds_certify_and_expire(tmp_path: Path) -> None:
    settings = replace(
        _settings(f"sqlite:///{tmp_path}/ledger.db", tmp_path), certify_interval_seconds=0.05
    )
    service = build_service(settings)
    called = {"certify_due": threading.Event(), "expire_due": threading.Event()}

    def recorder(name: str):  # type: ignore[no-untyped-def]
        def record(*_: object) -> list[str]:
            called[name].set()
            return []

        return record

    service.certify_due = recorder("certify_due")  # type: ignore[method-assign]
    service.expire_due = recorder("expire_due")  # type: ignore[method-assign]
    with TestClient(create_app(settings, service)):
        for event in called.values():
            assert event.wait(10)


def test_concurrent_migrations_all_succeed(database_url: str) -> None:
    """Three processes migrating one empty database at once: one migrates, the others wait and
    then find it current (they used to race and fail on PostgreSQL)."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "api.cli", "migrate", "--database-url", database_url],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], outputs
    engine = make_engine(database_url)
    try:
        assert (
            current_revision(engine)
            == ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
        )
    finally:
        engine.dispose()
