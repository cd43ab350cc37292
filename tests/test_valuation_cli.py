"""`dataledger valuation predict|backtest` (api/cli_valuation.py) on a written synthetic market."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

from api.cli_valuation import valuation
from tests.test_valuation_helpers import market_gen
from valuation.contract import PREDICTIONS


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("market")
    market_gen.generate(seed=2, n_assets=150, wash_rate=0.1).write(out)
    return out


def test_predict_writes_the_contract(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.parquet"
    result = CliRunner().invoke(
        valuation,
        ["predict", "--assets", str(data_dir / "assets.parquet"), "--usage",
         str(data_dir / "usage"), "--transactions", str(data_dir / "transactions.parquet"),
         "--requests", str(data_dir / "requests.parquet"), "--out", str(out), "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    got = pl.read_parquet(out)
    requests = pl.read_parquet(data_dir / "requests.parquet")
    assert got.schema == PREDICTIONS
    assert got["request_id"].to_list() == requests["request_id"].to_list()
    assert got.null_count().sum_horizontal().item() == 0
    assert (
        (got["low_minor"] <= got["price_minor"]) & (got["price_minor"] <= got["high_minor"])
    ).all()


def test_backtest_json(data_dir: Path) -> None:
    result = CliRunner().invoke(valuation, ["backtest", "--data", str(data_dir), "--json"])
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    methods = {s["method"]: s for s in report["scores"]}
    assert set(methods) == {
        "model",
        "global_median",
        "category_median",
        "last_price",
        "hedonic",
        "robust_loglinear",
    }
    for s in methods.values():
        assert {"mdape", "mean_abs_log", "bias", "within_20", "coverage", "width",
                "mean_width", "p95_ratio", "violations"} <= set(s)  # fmt: skip
    assert methods["model"]["mdape"] < methods["category_median"]["mdape"]
    assert report["noise_floor"] is not None and report["detection"]["wash_trades"] > 0


def test_backtest_table_and_bad_input(data_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        valuation, ["backtest", "--data", str(data_dir), "--cutoff", "2024-06-01", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "noise floor" in result.stdout and "hedonic" in result.stdout
    missing = CliRunner().invoke(valuation, ["backtest", "--data", str(tmp_path)])
    assert missing.exit_code != 0 and "cannot read" in missing.output
