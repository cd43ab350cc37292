"""The CLI reference in docs/ is the CLI's own help, word for word."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gen_cli_reference.py"


def test_cli_reference_matches_the_cli() -> None:
    spec = importlib.util.spec_from_file_location("gen_cli_reference", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_cli_reference"] = module
    spec.loader.exec_module(module)
    assert module.DOC.read_text() == module.render(), (
        "docs/cli.md is out of date: run python scripts/gen_cli_reference.py"
    )
