"""Shared helpers for the valuation tests: the synthetic market generator (scripts/market_gen.py)
loaded as a module (no tests here)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_PATH = Path(__file__).resolve().parent.parent / "scripts" / "market_gen.py"
_spec = importlib.util.spec_from_file_location("market_gen", _PATH)
assert _spec is not None and _spec.loader is not None
market_gen = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("market_gen", market_gen)
_spec.loader.exec_module(market_gen)
