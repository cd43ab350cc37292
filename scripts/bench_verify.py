"""Whole-log verification speed (`dataledger verify`), and where its time goes.

How the log is built: N `party.register` envelopes, each by a fresh key, are signed up front (on
all cores), then all go through `LedgerService.verify` (the server's own checks: shape,
signature, freshness), then all are submitted at once to a `ledger.storage.sequencer.Sequencer`
on a fresh database (SQLite in a temp dir, or a fresh PostgreSQL database dropped afterwards):
the real write path minus HTTP, with group commit. Both steps are timed, so the sequencer's own
append rate (batches of up to 1000) is reported too.

What is measured, on a `dataledger serve` started on that database:
  * end to end: `api.verify.verify_log` in this process (what `dataledger verify` runs), and the
    `dataledger verify` CLI itself as a subprocess;
  * its parts, separately: downloading all pages (`Client.entries`), decoding + `LogAuditor.add`
    over every entry (tree rebuild, shape checks, signature jobs), and
    `api.verify.verify_signatures` on 1 core and on all cores;
  * the raw PyNaCl rate on the same messages: `nacl.signing.VerifyKey(pk).verify(msg, sig)` in a
    loop on one core, and in a process pool on all cores;
and reports the end-to-end rate as a fraction of the raw rate.

    python scripts/bench_verify.py --size 50000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bench
import nacl.signing

from api.client import Client
from api.keyfiles import write_new_key
from api.service import LedgerService
from api.verify import PAGE, verify_log, verify_signatures
from ledger import dsse, keys
from ledger.encoding import b64decode
from ledger.logsigner import LogSigner
from ledger.note import parse_vkey
from ledger.storage.engine import make_engine
from ledger.storage.migrate import upgrade
from ledger.storage.sequencer import Sequencer
from ledger.verification import LogAuditor, SignatureJob

RAW_CHUNK = 2000


def build(url: str, signer: LogSigner, bodies: list[bytes]) -> tuple[float, float]:
    """Check every envelope with LedgerService.verify, then append them all through the
    Sequencer; return (checking seconds, sequencing seconds)."""
    engine = make_engine(url)
    upgrade(engine)
    sequencer = Sequencer(engine, signer)
    service = LedgerService(
        engine=engine, sequencer=sequencer, signer=signer, max_skew=timedelta(minutes=5)
    )
    sequencer.start()
    try:
        t0 = time.perf_counter()
        submissions = [service.verify(dsse.decode_envelope(b)) for b in bodies]
        t1 = time.perf_counter()
        futures = [sequencer.submit(s) for s in submissions]
        for future in futures:
            if not future.result(timeout=600).created:
                raise RuntimeError("an envelope was already in the log")
        t2 = time.perf_counter()
    finally:
        sequencer.stop()
        engine.dispose()
    return t1 - t0, t2 - t1


def _raw_verify(chunk: list[tuple[bytes, bytes, bytes]]) -> int:
    for public_key, message, signature in chunk:
        nacl.signing.VerifyKey(public_key).verify(message, signature)
    return len(chunk)


def measure(url: str, vkey: str, size: int, workers: int) -> dict[str, float]:
    """Every timing, in seconds, against the server at `url`."""
    t: dict[str, float] = {}
    verifier = parse_vkey(vkey)
    with Client(url, vkey=vkey, timeout=120) as client:
        t0 = time.perf_counter()
        report = verify_log(client, verifier, workers=workers)
        t["verify_log"] = time.perf_counter() - t0
        if report.entries != size:
            raise RuntimeError(f"verified {report.entries} entries, expected {size}")

        t0 = time.perf_counter()
        items: list[dict[str, Any]] = []
        while len(items) < size:  # bounded: each round either grows `items` or raises
            page = client.entries(len(items), min(PAGE, size - len(items)))
            if not page:
                raise RuntimeError(f"the log did not serve entry {len(items)}")
            items += page
        t["download"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    auditor = LogAuditor(keys.keyid(verifier.public_key), verifier.public_key)
    jobs: list[SignatureJob] = [
        auditor.add(int(it["index"]), b64decode(it["entry"]), b64decode(it["leaf_hash"]))
        for it in items
    ]
    root = auditor.tree.root()
    t["decode+add"] = time.perf_counter() - t0
    if root != report.checkpoint.root_hash:
        raise RuntimeError("rebuilt root differs from the checkpoint")

    t0 = time.perf_counter()
    verify_signatures(jobs, workers=1)
    t["signatures_1"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    verify_signatures(jobs, workers=workers)
    t["signatures_all"] = time.perf_counter() - t0

    triples = [(j.public_key, j.message, j.signature) for j in jobs]
    t0 = time.perf_counter()
    _raw_verify(triples)
    t["raw_1"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        chunks = [triples[s : s + RAW_CHUNK] for s in range(0, len(triples), RAW_CHUNK)]
        done = sum(pool.map(_raw_verify, chunks))
    t["raw_all"] = time.perf_counter() - t0
    assert done == size
    return t


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=50_000, help="entries in the log")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="processes for signature checks (default: all cores)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = parser.parse_args()
    n, cores = args.size, args.workers

    t0 = time.perf_counter()
    bodies = _bench.party_envelopes(n)
    sign_s = time.perf_counter() - t0
    with _bench.temp_dir() as tmp, _bench.database(args.db, tmp) as url:
        key = keys.generate()
        write_new_key(tmp / "log-key.json", key)
        signer = LogSigner(_bench.BENCH_ORIGIN, key)
        print(
            f"signed {n:,} envelopes in {sign_s:.1f} s; appending ...", file=sys.stderr, flush=True
        )
        check_s, build_s = build(url, signer, bodies)
        del bodies
        print(
            f"checked in {check_s:.1f} s, sequenced in {build_s:.1f} s; verifying ...",
            file=sys.stderr,
            flush=True,
        )
        with _bench.Server(tmp, url if args.db == "postgres" else "") as server:
            if server.vkey != signer.vkey:
                raise RuntimeError("the server does not use the log key the log was built with")
            background = _bench.warn_if_busy()
            t = measure(server.url, server.vkey, n, cores)
            t["cli_verify"], out = _bench.run_cli_verify(server.url, server.vkey)
            if out["tree_size"] != n:
                raise RuntimeError(f"dataledger verify saw {out['tree_size']} entries")

    raw1 = n / t["raw_1"]
    e2e = n / t["verify_log"]
    notes = {
        "verify_log": "end to end, in process (what `dataledger verify` runs)",
        "cli_verify": "`dataledger verify` subprocess (incl. interpreter start)",
        "download": f"GET /v1/log/entries, {PAGE} per page",
        "decode+add": "base64 + LogAuditor.add (tree, shape, jobs)",
        "signatures_1": "api.verify.verify_signatures, 1 process",
        "signatures_all": f"api.verify.verify_signatures, {cores} processes",
        "raw_1": "raw PyNaCl VerifyKey(pk).verify loop, 1 core",
        "raw_all": f"raw PyNaCl in a process pool, {cores} processes (incl. pool start)",
    }
    rows = [
        {
            "phase": k,
            "seconds": t[k],
            "entries/s": n / t[k],
            "vs_raw_1core": (n / t[k]) / raw1,
            "what": notes[k],
        }
        for k in notes
    ]
    print(
        f"\nlog of {n:,} party.register entries ({args.db}): signing {sign_s:.1f} s; "
        f"LedgerService.verify {check_s:.1f} s ({n / check_s:,.0f}/s); "
        f"Sequencer appends {build_s:.1f} s ({n / build_s:,.0f}/s)"
    )
    _bench.print_table(
        rows,
        ["phase", "seconds", "entries/s", "vs_raw_1core", "what"],
        title="verification (vs_raw_1core = rate / raw PyNaCl rate on one core)",
    )
    summary = {
        "size": n,
        "db": args.db,
        "cores": cores,
        "service_verify_s": check_s,
        "sequencer_s": build_s,
        "verify_entries_per_s": e2e,
        "raw_verify_per_s_1core": raw1,
        "raw_verify_per_s_all": n / t["raw_all"],
        "verify_fraction_of_raw_all_cores": e2e / (n / t["raw_all"]),
        "verify_fraction_of_raw_per_core": e2e / (raw1 * cores),
        "seconds": t,
        "background_cpu_percent": background,
    }
    print(
        f"\nverify_log: {e2e:,.0f} entries/s = {summary['verify_fraction_of_raw_per_core']:.0%} of "
        f"raw PyNaCl x {cores} cores ({raw1 * cores:,.0f}/s), "
        f"{summary['verify_fraction_of_raw_all_cores']:.0%} of the measured raw pool rate"
    )
    if args.json:
        _bench.emit_json(summary)


if __name__ == "__main__":
    main()
