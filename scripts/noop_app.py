"""The do-nothing baseline for the append benchmarks: a Litestar app whose POST handlers decode
the same JSON bodies `dataledger serve` takes (a signed statement) and answer 201, and nothing
else. Served by the same ASGI server as the real service, it is what "the framework's speed"
means on this machine (scripts/bench_append.py starts it beside every run).

    python -m uvicorn --app-dir scripts noop_app:app --port 8001
"""

from __future__ import annotations

from litestar import Litestar, get, post
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED

from ledger.privacy import SignedStatement


@post(["/v1/parties", "/v1/assets", "/v1/statements"], status_code=HTTP_201_CREATED)
async def accept(data: JSONBody[SignedStatement]) -> dict[str, int]:
    data.parts()  # the same shape check the service makes before verifying
    return {"index": 0}


@get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


app = Litestar([accept, healthz], openapi_config=None)
