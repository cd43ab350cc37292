"""Synthetic data-licence markets, each structurally different from scripts/market_gen.py.

Every module has `generate(seed, wash_rate, n_assets) -> market_gen.Market` (the four contract
frames + truth), deterministic per seed; its docstring states the price law and noise.
`GENERATORS` maps a market's name to its generator (market_gen included).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from markets import costplus, heavytail, income, interactions
from markets._common import mg


def _market_gen(seed: int = 0, wash_rate: float = 0.0, n_assets: int = 400) -> Any:
    return mg.generate(seed=seed, wash_rate=wash_rate, n_assets=n_assets)


GENERATORS: dict[str, Callable[..., Any]] = {
    "market_gen": _market_gen,
    "income": income.generate,
    "costplus": costplus.generate,
    "interactions": interactions.generate,
    "heavytail": heavytail.generate,
}
