"""Valuation quote latency through the HTTP API, with a large trading history.

    python scripts/bench_quote_api.py                   # 100,000 past transactions
    python scripts/bench_quote_api.py --trades 20000 --quotes 300

A market with `--trades` confirmed transactions (and usage) is loaded straight into the
projections of a fresh SQLite database (the same loader as bench_audit.py; loading through the
ledger would take hours and is not what is measured). A `dataledger serve` is started on it and a
registered party asks for `--quotes` quotes with `POST /v1/valuations/quote`, one after another,
with random terms. Each quote is priced by the fitted model AND recorded on the ledger (a
`valuation.quote` entry through the sequencer), so the latency includes a durable append. The
first call fits the model; it is reported separately.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bench
import httpx
from bench_audit import load_market

from api.client import Client
from ledger import keys
from ledger.storage.engine import make_engine
from ledger.storage.migrate import upgrade


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trades", type=int, default=100_000)
    parser.add_argument("--usage", type=int, default=200_000)
    parser.add_argument("--parties", type=int, default=2_000)
    parser.add_argument("--quotes", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with _bench.temp_dir() as tmp:
        db = tmp / "quotes.db"
        upgrade(make_engine(f"sqlite:///{db}"))
        load_market(db, args.trades, args.parties, args.usage, args.seed)
        assets = [f"{i:032x}" for i in range(max(1, args.trades // 20))]
        (tmp / "data").mkdir()
        with (
            _bench.Server(tmp / "data", f"sqlite:///{db}") as server,
            Client(server.url, timeout=600, trust_on_first_use=True) as client,
        ):
            key = keys.generate()
            client.register_party(key, "quoting party")
            client.login(key)
            t0 = time.perf_counter()
            first = client.post_json("/v1/valuations/quote", {"asset_id": assets[0], "units": 100})
            fit_s = time.perf_counter() - t0
            latencies = []
            for _ in range(args.quotes):
                body = {
                    "asset_id": rng.choice(assets),
                    "units": rng.choice([None, 10, 100, 1000, 10_000]),
                    "term_days": rng.choice([30, 90, 365]),
                    "exclusive": rng.random() < 0.1,
                    "purpose": rng.choice(["research", "analytics", "ai_training"]),
                }
                t0 = time.perf_counter()
                try:
                    client.post_json(
                        "/v1/valuations/quote", {k: v for k, v in body.items() if v is not None}
                    )
                except httpx.HTTPError as exc:
                    raise SystemExit(f"quote failed: {exc}") from exc
                latencies.append(time.perf_counter() - t0)
        row = {
            "trades": args.trades,
            "first_quote_fit_s": fit_s,
            "quotes": len(latencies),
            **_bench.latency_summary_ms(latencies),
            "example_price": first["price_minor"],
        }
        _bench.print_table([row], list(row), "valuation quotes through POST /v1/valuations/quote")


if __name__ == "__main__":
    main()
