"""The HTTP API: party registration, log reads, and problem details for every kind of bad input."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import nacl.signing
import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.client import party_register_statement, sign_statement
from api.settings import Settings
from ledger import merkle
from ledger.checkpoint import open_checkpoint
from ledger.dsse import Envelope, Signature
from ledger.encoding import canonical_json
from ledger.note import parse_vkey
from ledger.receipts import Receipt, verify_receipt
from tests.factories import TEST_ORIGIN, issued, register_envelope

PROBLEM = "application/problem+json"


@pytest.fixture
def client(database_url: str, tmp_path: Path) -> Iterator[TestClient[Any]]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        origin=TEST_ORIGIN,
        max_body_bytes=65536,
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def post_envelope(client: TestClient[Any], envelope: Envelope | bytes) -> Any:
    body = envelope if isinstance(envelope, bytes) else canonical_json(envelope)
    return client.post("/v1/parties", content=body, headers={"content-type": "application/json"})


def tree_size(client: TestClient[Any]) -> int:
    return int(client.get("/v1/log/checkpoint").text.splitlines()[1])


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["type"] == f"urn:dataledger:problem:{code}", body
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def test_register_party_returns_a_receipt_that_verifies_offline(client: TestClient[Any]) -> None:
    _, envelope = register_envelope(name="Acme Data Ltd")
    response = post_envelope(client, envelope)
    assert response.status_code == 201, response.text
    receipt = msgspec.convert(response.json(), Receipt)
    verifier = parse_vkey(client.get("/v1/log/key").text.strip())
    entry, checkpoint = verify_receipt(receipt, verifier)
    assert entry.envelope == envelope and checkpoint.size == 1
    statement = json.loads(base64.b64decode(entry.envelope.payload))
    assert statement["kind"] == "party.register" and statement["name"] == "Acme Data Ltd"


def test_log_endpoints(client: TestClient[Any]) -> None:
    receipts = [post_envelope(client, register_envelope()[1]).json() for _ in range(5)]
    vkey = client.get("/v1/log/key")
    assert vkey.headers["content-type"].startswith("text/plain")
    verifier = parse_vkey(vkey.text.strip())
    note = client.get("/v1/log/checkpoint")
    assert note.headers["content-type"].startswith("text/plain")
    checkpoint, _ = open_checkpoint(note.text, verifier)
    assert checkpoint.size == 5

    one = client.get("/v1/log/entries/3").json()
    assert one["entry"] == receipts[3]["entry"] and one["index"] == 3
    assert base64.b64decode(one["leaf_hash"]) == merkle.leaf_hash(base64.b64decode(one["entry"]))
    page = client.get("/v1/log/entries", params={"start": 1, "limit": 3}).json()["entries"]
    assert [e["index"] for e in page] == [1, 2, 3]

    receipt = msgspec.convert(client.get("/v1/log/entries/0/receipt").json(), Receipt)
    assert verify_receipt(receipt, verifier)[1].size == 5

    proof = client.get("/v1/log/proof/inclusion", params={"index": 2, "tree_size": 5}).json()
    merkle.verify_inclusion(
        2,
        5,
        base64.b64decode(proof["leaf_hash"]),
        [base64.b64decode(h) for h in proof["hashes"]],
        checkpoint.root_hash,
    )
    first = open_checkpoint(receipts[1]["checkpoint"], verifier)[0]
    cons = client.get("/v1/log/proof/consistency", params={"first": first.size, "second": 5}).json()
    merkle.verify_consistency(
        first.size,
        5,
        [base64.b64decode(h) for h in cons["hashes"]],
        first.root_hash,
        checkpoint.root_hash,
    )
    assert client.get("/healthz").json() == {"status": "ok"}
    assert "/v1/parties" in client.get("/schema/openapi.json").json()["paths"]


def test_the_api_docs_page_loads_nothing_from_elsewhere(client: TestClient[Any]) -> None:
    """Issue 16: Swagger UI loaded scripts from a CDN without Subresource Integrity. The docs
    page is now the service's own: no script at all (so none without an integrity hash), no
    inline style, every resource same-origin, and a policy that allows exactly its stylesheet."""
    document = client.get("/schema/openapi.json").json()
    for path in ("/schema/docs", "/schema/swagger"):
        response = client.get(path)
        assert response.status_code == 200 and response.headers["content-type"].startswith(
            "text/html"
        )
        page = response.text
        for tag in re.findall(r"<script\b[^>]*>", page, re.I):  # none; were one added...
            assert "integrity=" in tag and "crossorigin=" in tag, tag
        assert "<script" not in page.lower() and "<style" not in page.lower()
        assert " style=" not in page and "<img" not in page and "<iframe" not in page
        resources = re.findall(r"<(link|script|img)\b[^>]*?(?:href|src)='([^']*)'", page)
        assert resources == [("link", "/static/explorer.css")]
        links = re.findall(r"href='([^']*)'", page)
        assert all(link.startswith("/") and not link.startswith("//") for link in links), links
        assert "/schema/openapi.json" in links
        for path_item in document["paths"].values():
            for operation in path_item.values():
                assert f"<code>{operation['operationId']}</code>" in page
        assert response.headers["content-security-policy"] == (
            "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'"
        )
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
    css = client.get("/static/explorer.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    # Descriptions are the handlers' docstrings, in the document and on the page alike.
    getparty = document["paths"]["/v1/parties/{party_id}"]["get"]
    assert "public record" in getparty["description"]


def test_identical_resubmission_returns_the_original_receipt(client: TestClient[Any]) -> None:
    _, envelope = register_envelope()
    first = post_envelope(client, envelope)
    again = post_envelope(client, envelope)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["index"] == first.json()["index"]
    assert again.json()["entry"] == first.json()["entry"]
    assert tree_size(client) == 1


def _tamper_signature(envelope: Envelope) -> Envelope:
    sig = bytearray(base64.b64decode(envelope.signatures[0].sig))
    sig[5] ^= 0x40
    return Envelope(
        envelope.payload,
        envelope.payloadType,
        [Signature(base64.b64encode(bytes(sig)).decode(), envelope.signatures[0].keyid)],
    )


def _signed(key: nacl.signing.SigningKey, **overrides: Any) -> Envelope:
    statement = party_register_statement(key, "Acme", origin=TEST_ORIGIN)
    statement.update(overrides)
    return sign_statement(key, statement)


def _other_keys_signature() -> Envelope:
    owner, mallory = nacl.signing.SigningKey.generate(), nacl.signing.SigningKey.generate()
    return sign_statement(mallory, party_register_statement(owner, "Owner", origin=TEST_ORIGIN))


BAD_ENVELOPES = {
    "bad-signature": (403, "bad-signature", lambda: _tamper_signature(register_envelope()[1])),
    "another-key": (403, "bad-signature", _other_keys_signature),
    "unknown-field": (
        422,
        "invalid-statement",
        lambda: _signed(nacl.signing.SigningKey.generate(), colour="red"),
    ),
    "float": (
        422,
        "invalid-statement",
        lambda: _signed(nacl.signing.SigningKey.generate(), name=1.5),
    ),
    "stale": (
        422,
        "stale-statement",
        lambda: _signed(nacl.signing.SigningKey.generate(), issued_at=issued(-timedelta(hours=1))),
    ),
    "future": (
        422,
        "future-statement",
        lambda: _signed(nacl.signing.SigningKey.generate(), issued_at=issued(timedelta(hours=1))),
    ),
    "wrong-payload-type": (
        400,
        "malformed",
        lambda: Envelope(
            register_envelope()[1].payload, "text/plain", register_envelope()[1].signatures
        ),
    ),
    "two-signatures": (
        403,
        "bad-signature",
        lambda: (lambda e: Envelope(e.payload, e.payloadType, e.signatures * 2))(
            register_envelope()[1]
        ),
    ),
    "payload-not-base64": (
        400,
        "malformed",
        lambda: Envelope(
            "%%%", "application/vnd.dataledger.statement+json", register_envelope()[1].signatures
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_ENVELOPES))
def test_bad_envelopes_get_problem_details_and_append_nothing(
    client: TestClient[Any], case: str
) -> None:
    status, code, make = BAD_ENVELOPES[case]
    assert_problem(post_envelope(client, make()), status, code)
    assert tree_size(client) == 0


def test_key_already_registered_and_reused_nonce(client: TestClient[Any]) -> None:
    key, envelope = register_envelope()
    assert post_envelope(client, envelope).status_code == 201
    assert_problem(post_envelope(client, _signed(key, name="Again")), 409, "key-already-registered")
    nonce = json.loads(base64.b64decode(envelope.payload))["nonce"]
    assert_problem(
        post_envelope(client, _signed(key, nonce=nonce, name="Replay")), 409, "nonce-reused"
    )
    assert tree_size(client) == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "malformed"),
        (b"[]", "malformed"),
        (b'{"payload": "", "payloadType": "x", "signatures": [], "extra": 1}', "malformed"),
        (b"", "malformed"),
    ],
    ids=["malformed-json", "array", "unknown-envelope-field", "empty"],
)
def test_malformed_bodies(client: TestClient[Any], body: bytes, code: str) -> None:
    assert_problem(post_envelope(client, body), 400, code)
    assert tree_size(client) == 0


def test_oversized_body_is_refused(client: TestClient[Any]) -> None:
    response = post_envelope(client, b'{"payload": "' + b"A" * 70_000 + b'"}')
    assert_problem(response, 413, "body-too-large")
    assert tree_size(client) == 0


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/v1/log/entries/99", {}, 404),
        ("/v1/log/entries/99/receipt", {}, 404),
        ("/v1/log/proof/inclusion", {"index": 5, "tree_size": 3}, 404),
        ("/v1/log/proof/consistency", {"first": 0, "second": 1}, 404),
        ("/v1/log/proof/inclusion", {"index": "x"}, 400),
        ("/v1/log/entries", {"limit": 100000}, 400),
        ("/v1/nothing-here", {}, 404),
    ],
)
def test_unknown_ids_and_bad_parameters(
    client: TestClient[Any], path: str, params: dict[str, Any], status: int
) -> None:
    post_envelope(client, register_envelope()[1])
    response = client.get(path, params=params)
    assert response.status_code == status
    assert response.headers["content-type"].startswith(PROBLEM)


def test_metrics_move_after_appends_and_requests_carry_an_id(client: TestClient[Any]) -> None:
    def scrape() -> dict[str, float]:
        found = {}
        for line in client.get("/metrics").text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                found[name] = float(value)
        return found

    before = scrape()
    for _ in range(3):
        post_envelope(client, register_envelope()[1])
    post_envelope(client, _tamper_signature(register_envelope()[1]))
    client.get("/v1/log/proof/inclusion", params={"index": 0})
    after = scrape()
    assert after["dataledger_appends_total"] == before["dataledger_appends_total"] + 3
    assert after["dataledger_batch_size_count"] > before["dataledger_batch_size_count"]
    assert after['dataledger_refused_total{reason="bad-signature"}'] == 1
    assert after["dataledger_proof_seconds_count"] >= 1
    response = client.get("/healthz", headers={"x-request-id": "trace-42"})
    assert response.headers["x-request-id"] == "trace-42"
    assert len(client.get("/healthz").headers["x-request-id"]) == 16


def test_metrics_can_be_kept_behind_a_bearer_token(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", origin=TEST_ORIGIN, metrics_token="s3cret")
    with TestClient(create_app(settings)) as guarded:
        anonymous = guarded.get("/metrics")
        assert anonymous.status_code == 401
        assert anonymous.json()["type"].endswith(":unauthorized")
        wrong = guarded.get("/metrics", headers={"authorization": "Bearer guess"})
        assert wrong.status_code == 401
        right = guarded.get("/metrics", headers={"authorization": "Bearer s3cret"})
        assert right.status_code == 200 and "dataledger_appends_total" in right.text
    assert Settings.from_env({"DATALEDGER_METRICS_TOKEN": "t"}).metrics_token == "t"


def test_an_entries_page_stops_at_its_byte_limit_and_says_where_to_go_on(
    client: TestClient[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.controllers import log as log_controller

    for _ in range(5):
        post_envelope(client, register_envelope()[1])
    whole = client.get("/v1/log/entries", params={"start": 0, "limit": 1000}).json()
    assert len(whole["entries"]) == 5 and whole["next_start"] is None
    one = len(base64.b64decode(whole["entries"][0]["entry"]))
    monkeypatch.setattr(log_controller, "ENTRIES_PAGE_BYTES", 2 * one + 10)
    collected, start = [], 0
    while True:
        page = client.get("/v1/log/entries", params={"start": start, "limit": 1000}).json()
        assert 1 <= len(page["entries"]) <= 2
        collected += page["entries"]
        if page["next_start"] is None:
            break
        start = page["next_start"]
    assert collected == whole["entries"]
