"""Crash safety, short form (the long form: `python scripts/crash_test.py --kills 50`): a loaded
server is SIGKILLed at random moments and restarted; every acknowledged entry must survive."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "crash_test.py"


def _crash_test():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("crash_test", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["crash_test"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_acknowledged_entries_survive_sigkill(database_url: str, tmp_path: Path) -> None:
    report = _crash_test().run(5, database_url=database_url, threads=6, seed=7, workdir=tmp_path)
    assert report.kills == 5
    assert report.failures == []
    assert report.acknowledged > 0 and report.tree_size >= report.acknowledged
