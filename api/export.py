"""`dataledger export --format parquet`: the valuation contract's tables as Parquet files.

Layout under the output directory: `assets.parquet`, `transactions.parquet`, and
`usage/<YYYY-MM>/part-<n>.parquet`. Usage, which can run to tens of millions of rows, is
partitioned by month and written chunk by chunk, so memory stays bounded however many rows there
are; assets and transactions (one row per asset or deal) are read in chunks but written as one
file each. Every file has exactly the contract's schema.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
from sqlalchemy import Engine

from api.client import Client
from ledger.storage import export
from valuation.contract import ASSETS, TRANSACTIONS

Chunks = Callable[[str], Iterator[pl.DataFrame]]


def write_all(
    out: Path, chunks: Chunks, progress: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Write every contract table under `out`; returns rows written per table."""
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for table, schema in (("assets", ASSETS), ("transactions", TRANSACTIONS)):
        frames = list(chunks(table))
        whole = pl.concat(frames) if frames else pl.DataFrame(schema=schema)
        whole.write_parquet(out / f"{table}.parquet")
        counts[table] = whole.height
        if progress:
            progress(table, whole.height)
    counts["usage"] = _write_usage(out / "usage", chunks("usage"), progress)
    return counts


def _write_usage(
    directory: Path, frames: Iterator[pl.DataFrame], progress: Callable[[str, int], None] | None
) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    total, part = 0, 0
    for chunk in frames:
        months = chunk.with_columns(pl.col("at").dt.strftime("%Y-%m").alias("_month"))
        for (month,), rows in months.partition_by("_month", as_dict=True).items():
            target = directory / str(month)
            target.mkdir(exist_ok=True)
            rows.drop("_month").write_parquet(target / f"part-{part:05d}.parquet")
            part += 1
        total += chunk.height
        if progress:
            progress("usage", chunk.height)
    return total


def database_chunks(engine: Engine, chunk: int = 200_000) -> Chunks:
    """Chunks read straight from a database (the server's machine)."""

    def read(table: str) -> Iterator[pl.DataFrame]:
        with engine.connect() as conn:
            yield from export.chunks(conn, table, chunk)

    return read


def server_chunks(client: Client, chunk: int = 50_000) -> Chunks:
    """Chunks paged from a running server's regulator-only export endpoint."""

    def read(table: str) -> Iterator[pl.DataFrame]:
        after: int | None = None
        while True:
            params: dict[str, int] = {"limit": chunk}
            if after is not None:
                params["after"] = after
            body = client.get_json(f"/v1/export/{table}", **params)
            rows = [tuple(r) for r in body["rows"]]
            if rows:
                yield export.frame(table, rows)
            after = body["next"]
            if after is None:
                return

    return read
