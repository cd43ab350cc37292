"""`dataledger valuation ...`: price licence requests and backtest the valuation model.

This module does the file I/O (Parquet via polars) and calls the pure functions in
`valuation/`. Inputs follow the valuation data contract (DESIGN section 7); `--usage` and
`--data DIR/usage` may be a single Parquet file or a directory of them (the export's
`usage/<YYYY-MM>/part-<n>.parquet` layout), read lazily.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import polars as pl

from api.cli_common import current, json_option
from valuation.backtest import Report, backtest
from valuation.contract import ASSETS, REQUESTS, TRANSACTIONS, USAGE, conform
from valuation.model import predict_frame

STAGES = ("features", "flags", "kernel", "history", "approaches", "calibration", "state")


def _read(path: Path, schema: pl.Schema, what: str) -> pl.DataFrame:
    try:
        return conform(pl.read_parquet(path), schema)
    except (OSError, pl.exceptions.PolarsError, ValueError) as exc:
        raise click.ClickException(f"cannot read {what} from {path}: {exc}") from exc


def _scan_usage(path: Path) -> pl.LazyFrame:
    if path.is_dir():
        files = sorted(str(p) for p in path.rglob("*.parquet"))
        if not files:
            return pl.LazyFrame(schema=USAGE)
        source: str | list[str] = files
    elif path.exists():
        source = str(path)
    else:
        raise click.ClickException(f"no usage at {path}")
    return pl.scan_parquet(source).select(pl.col(n).cast(d) for n, d in USAGE.items())


def _parse_time(value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO date/time: {value}") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@contextmanager
def _progress(label: str, steps: int, enabled: bool) -> Iterator[Any]:
    """A click progress bar on stderr, advanced once per reported stage."""
    if not enabled:
        yield lambda _stage: None
        return
    with click.progressbar(length=steps, label=label, file=sys.stderr, show_pos=True) as bar:
        seen: set[str] = set()

        def advance(stage: str) -> None:
            bar.label = f"{label}: {stage}"
            if stage not in seen:
                seen.add(stage)
                bar.update(1)

        yield advance


@click.group("valuation")
def valuation() -> None:
    """Estimate licence prices from usage and comparable trades (DESIGN section 7)."""


@valuation.command("predict")
@click.option("--assets", "assets_path", type=click.Path(path_type=Path), required=True)
@click.option("--usage", "usage_path", type=click.Path(path_type=Path), required=True)
@click.option("--transactions", "tx_path", type=click.Path(path_type=Path), required=True)
@click.option("--requests", "requests_path", type=click.Path(path_type=Path), required=True)
@click.option("--out", "out_path", type=click.Path(path_type=Path), required=True)
@click.option(
    "--refit-days",
    type=float,
    default=90.0,
    show_default=True,
    help="Refit the model every N days of requests (0: one fit).",
)
@click.option(
    "--detail/--no-detail",
    default=False,
    help="Also write the approaches, weights and kind per request.",
)
@click.option("--progress/--no-progress", default=True, help="Progress bar on stderr.")
@json_option
def predict_cmd(
    assets_path: Path,
    usage_path: Path,
    tx_path: Path,
    requests_path: Path,
    out_path: Path,
    refit_days: float,
    detail: bool,
    progress: bool,
) -> None:
    """Write PREDICTIONS (request_id, price_minor, low_minor, high_minor) for every request,
    each from the history strictly before its own `at`. With --json, a summary on stdout."""
    as_json = current().as_json
    assets = _read(assets_path, ASSETS, "assets")
    tx = _read(tx_path, TRANSACTIONS, "transactions")
    requests = _read(requests_path, REQUESTS, "requests")
    usage = _scan_usage(usage_path)
    try:
        with _progress("predict", len(STAGES), progress and not as_json) as say:
            out = predict_frame(
                assets, usage, tx, requests, refit_days=refit_days, detail=detail, progress=say
            )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out.write_parquet(out_path)
    if as_json:
        click.echo(json.dumps({"predictions": out.height, "out": str(out_path)}))
    else:
        click.echo(f"{out.height} predictions -> {out_path}", err=True)


@valuation.command("backtest")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="assets.parquet, transactions.parquet, usage/ "
    "(and truth.parquet from scripts/market_gen.py, if any).",
)
@click.option("--cutoff", default=None, help="ISO date; default: when 80 % of trades had happened.")
@click.option("--refit-days", type=float, default=0.0, show_default=True)
@click.option("--progress/--no-progress", default=True, help="Progress bar on stderr.")
@json_option
def backtest_cmd(data_dir: Path, cutoff: str | None, refit_days: float, progress: bool) -> None:
    """Score the model against baselines on the trades after the cutoff."""
    as_json = current().as_json
    assets = _read(data_dir / "assets.parquet", ASSETS, "assets")
    tx = _read(data_dir / "transactions.parquet", TRANSACTIONS, "transactions")
    usage_path = data_dir / "usage"
    usage = _scan_usage(usage_path if usage_path.exists() else data_dir / "usage.parquet")
    truth_path = data_dir / "truth.parquet"
    truth = pl.read_parquet(truth_path) if truth_path.exists() else None
    steps = len(STAGES) + 5
    try:
        with _progress("backtest", steps, progress and not as_json) as say:
            report = backtest(
                assets,
                usage,
                tx,
                cutoff=_parse_time(cutoff) if cutoff else None,
                truth=truth,
                refit_days=refit_days,
                progress=say,
            )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(_jsonable(report.to_dict()), indent=2))
    else:
        click.echo(render(report))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def render(report: Report) -> str:
    """The backtest as a plain table with notes."""
    cols = (
        "method",
        "n",
        "MdAPE",
        "mean|log|",
        "bias",
        "within20",
        "cover90",
        "width",
        "violations",
    )

    def f(v: float | None, pct: bool = False) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "-"
        return f"{v:.1%}" if pct else f"{v:.3f}"

    rows = [
        (
            s.method,
            str(s.n),
            f(s.mdape, True),
            f(s.mean_abs_log),
            f(s.bias, True),
            f(s.within_20, True),
            f(s.coverage, True),
            f(s.width),
            str(s.violations),
        )
        for s in report.scores
    ]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
    lines = [
        f"cutoff {report.cutoff.isoformat()}: {report.n_history} trades of history, "
        f"{report.n_requests} requests scored",
        "  ".join(c.rjust(w) for c, w in zip(cols, widths, strict=True)),
        "  ".join("-" * w for w in widths),
        *("  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in rows),
    ]
    if report.noise_floor is not None:
        model = report.score("model").mdape
        lines.append(
            f"noise floor (generator's noise-free price): MdAPE {report.noise_floor:.1%}; "
            f"model / floor = {model / report.noise_floor:.3f}"
        )
    kinds = ", ".join(
        f"{k} n={int(v['n'])} MdAPE {v['mdape']:.1%} cover {v['coverage']:.1%}"
        for k, v in sorted(report.by_kind.items())
    )
    lines.append(f"by kind: {kinds}")
    lines.append(
        "property violations (model): "
        + ", ".join(f"{k} {v}" for k, v in report.violations.items())
    )
    if report.excluded:
        lines.append(
            "excluded / down-weighted trades: "
            + ", ".join(f"{k} {v}" for k, v in sorted(report.excluded.items()))
        )
    if report.detection:
        d = report.detection
        lines.append(
            f"wash trades: {int(d['wash_trades'])}, flagged {int(d['flagged'])}, precision "
            f"{d['precision']:.1%}, recall {d['recall']:.1%}"
        )
    return "\n".join(lines)
