"""Run as a separate OS process: append N party registrations to a shared database.

    python -m tests._append_worker DATABASE_URL LOG_KEY_FILE N

Prints one line per receipt: "<index> <base64 leaf hash>".
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from api.keyfiles import read_key
from ledger.logsigner import LogSigner
from ledger.storage.engine import make_engine
from ledger.storage.sequencer import Sequencer
from tests.factories import TEST_ORIGIN, register_envelope, submission

ORIGIN = TEST_ORIGIN


def main() -> None:
    url, key_file, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    engine = make_engine(url)
    sequencer = Sequencer(engine, LogSigner(ORIGIN, read_key(key_file)))
    sequencer.start()
    subs = [submission(register_envelope()[1]) for _ in range(count)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(sequencer.append, subs))
    sequencer.stop()
    engine.dispose()
    for result in results:
        print(result.receipt.index, result.receipt.leaf_hash)


if __name__ == "__main__":
    main()
