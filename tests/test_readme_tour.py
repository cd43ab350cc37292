"""The README's long tour runs exactly as written: its ```sh block (the one after `<!-- tour -->`)
is run verbatim by `bash -euo pipefail`, with the venv's `dataledger` on PATH and the tour's own
server on a free port (`PORT`)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from api.demo import free_port

ROOT = Path(__file__).resolve().parents[1]
TOUR = re.compile(r"^<!-- tour -->\n```sh\n(.*?)^```", re.S | re.M)


def tour() -> str:
    found = TOUR.findall((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(found) == 1, "README.md needs exactly one ```sh block after <!-- tour -->"
    return str(found[0])


def test_the_tour_sets_what_it_uses() -> None:
    script = tour()
    assigned = set(re.findall(r"^(?:export )?([A-Za-z_]\w*)=", script, re.M))
    used = set(re.findall(r"\$\{?([A-Za-z_]\w*)", script)) - {"PWD", "PATH", "PORT"}
    assert used <= assigned, used - assigned  # PORT has a default: ${PORT:-8000}
    assert not re.search(r"<[A-Z_]+>", script)  # no <ASSET_ID> to fill in by hand
    for must in (
        "keygen",
        "party register",
        "grant-role",
        "asset register",
        "asset object",
        "objection resolve",
        "asset certificate",
        "offer publish",
        "licence request",
        "licence approve",
        "usage report",
        "payment record",
        "payment confirm",
        "export --out",
        "verify --vkey",
        "replay --check",
        'cd "$(mktemp -d)"',
    ):
        assert must in script, must


@pytest.mark.slow
def test_the_readme_tour_runs_as_written(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATALEDGER_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)  # this checkout's code, in every `dataledger` it runs
    env["PORT"] = str(free_port())
    env["TMPDIR"] = str(tmp_path)  # where `mktemp -d` puts the tour's directory
    before = sorted(p.name for p in ROOT.iterdir())
    process = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", tour()],
        cwd=ROOT,  # pasted from the repository root, as the README says
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=600)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, f"{out}\n{err}"
    assert re.search(r"^OK: \d+ entries verified", out, re.M), out
    assert re.search(r"^OK: \d+ entries replayed", out, re.M), out
    assert "confirmed payment" in out and "approved licence" in out
    (made,) = tmp_path.glob("tmp.*")  # the tour's `mktemp -d` directory, with all it made
    assert (made / "certificate.html").stat().st_size > 0
    assert (made / "export" / "assets.parquet").is_file()
    assert (made / "data" / "dataledger.db").is_file()
    assert sorted(p.name for p in ROOT.iterdir()) == before  # nothing landed in the checkout
