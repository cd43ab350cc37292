"""Hostile input: malformed envelopes and payloads, bad base64, Unicode edge cases, huge
numbers, deep nesting, oversized bodies, replays with a new nonce, SQL-injection-shaped text.
Each gets a 4xx problem-details answer, never a 5xx, and nothing is appended."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import nacl.signing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from api.app import create_app
from api.client import new_statement, party_register_statement, seal_and_sign, sign_statement
from api.settings import RateLimits, Settings
from ledger.dsse import STATEMENT_PAYLOAD_TYPE, Envelope, Signature
from ledger.encoding import canonical_json
from ledger.statements import statement_id
from tests.factories import TEST_ORIGIN

MAX_BODY = 32 * 1024
INJECTIONS = [
    "'; DROP TABLE ledger_entries; --",
    '" OR 1=1 --',
    "1; DELETE FROM assets",
    "x') UNION SELECT * FROM party_contacts --",
    "%' OR '%'='",
    "\\x00\\u0000",
]


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient[Any]]:
    data = Path(tmp_path_factory.mktemp("hostile"))
    settings = Settings(
        data_dir=data,
        origin=TEST_ORIGIN,
        max_body_bytes=MAX_BODY,
        certify_interval_seconds=0,
        # These tests send every operation hostile input as fast as they can; the rate limits
        # would refuse that burst (tests/test_throttle.py tests them).
        rate_limits=RateLimits(enabled=False),
    )
    with TestClient(create_app(settings)) as client:
        yield client


def size(client: TestClient[Any]) -> int:
    return int(client.get("/v1/log/checkpoint").text.splitlines()[1])


def post(client: TestClient[Any], body: bytes, path: str = "/v1/statements") -> Any:
    return client.post(path, content=body, headers={"content-type": "application/json"})


def assert_refused(response: Any) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"].startswith("urn:dataledger:problem:") and body["detail"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=json_values)
def test_arbitrary_json_bodies_are_refused(app_client: TestClient[Any], body: Any) -> None:
    before = size(app_client)
    assert_refused(post(app_client, json.dumps(body).encode()))
    assert size(app_client) == before


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(max_size=512))
def test_arbitrary_bytes_are_refused(app_client: TestClient[Any], raw: bytes) -> None:
    before = size(app_client)
    assert_refused(post(app_client, raw))
    assert size(app_client) == before


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    payload=json_values,
    payload_b64=st.one_of(st.none(), st.text(max_size=64)),
    sig=st.text(max_size=100),
)
def test_malformed_envelopes_and_payloads_are_refused(
    app_client: TestClient[Any], payload: Any, payload_b64: str | None, sig: str
) -> None:
    encoded = (
        payload_b64
        if payload_b64 is not None
        else base64.b64encode(json.dumps(payload).encode()).decode()
    )
    envelope = {
        "payloadType": STATEMENT_PAYLOAD_TYPE,
        "payload": encoded,
        "signatures": [{"keyid": "ab" * 32, "sig": sig}],
    }
    before = size(app_client)
    assert_refused(post(app_client, json.dumps(envelope).encode()))
    assert size(app_client) == before


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.text(min_size=1, max_size=200), big=st.integers(min_value=2**63, max_value=2**200))
def test_unicode_names_are_kept_exactly_and_huge_numbers_refused(
    app_client: TestClient[Any], name: str, big: int
) -> None:
    key = nacl.signing.SigningKey.generate()
    statement = party_register_statement(key, name, origin=TEST_ORIGIN)
    response = post(app_client, canonical_json(sign_statement(key, statement)), "/v1/parties")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in name):
        assert_refused(response)  # lone surrogates cannot be UTF-8
    else:
        assert response.status_code == 201, response.text
        entry = json.loads(base64.b64decode(response.json()["entry"]))
        assert json.loads(base64.b64decode(entry["envelope"]["payload"]))["name"] == name
    other = nacl.signing.SigningKey.generate()
    asset = {
        "kind": "asset.register",
        "issued_at": statement["issued_at"],
        "nonce": "ab" * 16,
        "title": "t",
        "description": "d",
        "category": "c",
        "classification": "general",
        "personal_info": "none",
        "fingerprint": "00" * 32,
        "size_bytes": big,
        "record_count": 1,
    }
    before = size(app_client)
    assert_refused(post(app_client, canonical_json(sign_statement(other, asset))))
    assert size(app_client) == before


def test_deeply_nested_and_oversized_bodies(app_client: TestClient[Any]) -> None:
    before = size(app_client)
    deep = b"[" * 100_000 + b"]" * 100_000
    assert_refused(post(app_client, deep))
    nested = b'{"payload":' * 5000 + b"1" + b"}" * 5000
    assert_refused(post(app_client, nested))
    too_big = b'{"payload": "' + b"A" * (MAX_BODY + 1) + b'"}'
    response = post(app_client, too_big)
    assert response.status_code == 413
    assert size(app_client) == before


def test_a_replay_with_a_new_nonce_but_the_old_signature_is_refused(
    app_client: TestClient[Any],
) -> None:
    key = nacl.signing.SigningKey.generate()
    envelope = sign_statement(key, party_register_statement(key, "Original", origin=TEST_ORIGIN))
    assert post(app_client, canonical_json(envelope), "/v1/parties").status_code == 201
    statement = json.loads(base64.b64decode(envelope.payload))
    statement["nonce"] = "cd" * 16
    replay = Envelope(
        base64.b64encode(canonical_json(statement)).decode(),
        envelope.payloadType,
        [Signature(envelope.signatures[0].sig, envelope.signatures[0].keyid)],
    )
    before = size(app_client)
    response = post(app_client, canonical_json(replay), "/v1/parties")
    assert_refused(response)
    assert response.json()["type"].endswith("bad-signature")
    assert size(app_client) == before


@pytest.mark.parametrize("text", INJECTIONS)
def test_sql_shaped_text_is_just_text(app_client: TestClient[Any], text: str) -> None:
    key = nacl.signing.SigningKey.generate()
    response = post(
        app_client,
        canonical_json(
            sign_statement(key, party_register_statement(key, text, origin=TEST_ORIGIN))
        ),
        "/v1/parties",
    )
    assert response.status_code == 201
    party_id = json.loads(
        base64.b64decode(
            json.loads(base64.b64decode(response.json()["entry"]))["envelope"]["payload"]
        )
    )
    assert party_id["name"] == text
    for path, params in (
        ("/v1/assets", {"q": text}),
        ("/v1/assets", {"category": text}),
        ("/v1/assets", {"owner": text}),
        ("/v1/offers", {"asset_id": text}),
        ("/v1/log/entries", {"start": text}),
        ("/v1/log/proof/inclusion", {"index": text}),
    ):
        answer = app_client.get(path, params=params)
        assert answer.status_code < 500, (path, answer.text)
        if answer.status_code == 200 and path == "/v1/assets":
            assert answer.json()["assets"] == []
    for path in (f"/v1/assets/{text}", f"/v1/parties/{text}", f"/v1/licences/{text}"):
        assert app_client.get(path).status_code in (400, 401, 404)
    assert size(app_client) >= 1


def _get_operations(client: TestClient[Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    document = client.get("/schema/openapi.json").json()
    return [
        (path, item["get"].get("parameters", []))
        for path, item in document["paths"].items()
        if "get" in item
    ]


@pytest.mark.parametrize("text", INJECTIONS)
def test_sql_shaped_text_in_every_query_and_path_parameter(
    app_client: TestClient[Any], text: str
) -> None:
    """Every GET operation of the OpenAPI document, each parameter in turn set to the text:
    an answer, never a 5xx, and the log unchanged."""
    before = size(app_client)
    tried = 0
    for template, parameters in _get_operations(app_client):
        for parameter in parameters:
            path, params = template, {}
            for other in parameters:  # the path must still have every segment
                if other["in"] == "path" and other is not parameter:
                    path = path.replace("{" + other["name"] + "}", "0")
            if parameter["in"] == "path":
                path = path.replace("{" + parameter["name"] + "}", quote(text, safe=""))
            elif parameter["in"] == "query":
                params[parameter["name"]] = text
            else:
                continue
            answer = app_client.get(path, params=params)
            tried += 1
            assert answer.status_code < 500, (template, parameter["name"], answer.text[:300])
    assert tried > 40  # every parameter of every read, not a handful
    assert size(app_client) == before


def test_sql_shaped_text_in_every_text_field_of_an_asset(app_client: TestClient[Any]) -> None:
    key = nacl.signing.SigningKey.generate()
    register = party_register_statement(key, INJECTIONS[0], origin=TEST_ORIGIN)
    assert post(app_client, canonical_json(sign_statement(key, register)), "/v1/parties").is_success
    fields = {
        "title": INJECTIONS[1],
        "description": " ".join(INJECTIONS),
        "category": "transport",
        "classification": "general",
        "personal_info": "none",
        "fingerprint": secrets.token_hex(32),
        "size_bytes": 1,
        "record_count": 1,
        "schema": [{"name": text, "type": "string"} for text in INJECTIONS],
    }
    signed = seal_and_sign(key, new_statement("asset.register", origin=TEST_ORIGIN, **fields))
    envelope = signed.envelope
    assert envelope is not None
    answer = post(app_client, canonical_json(signed), "/v1/assets")
    assert answer.status_code == 201, answer.text
    asset_id = statement_id(base64.b64decode(envelope.payload))
    stored = app_client.get(f"/v1/assets/{asset_id}").json()
    assert stored["title"] == INJECTIONS[1] and stored["description"] == fields["description"]
    found = app_client.get("/v1/assets", params={"q": "DROP TABLE"}).json()["assets"]
    assert [a["asset_id"] for a in found] == [asset_id]
    assert app_client.get("/v1/assets", params={"q": INJECTIONS[4]}).status_code < 500


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/static/explorer.js%00.css", 400),  # reached the static files: 500 before
        ("/v1/assets/%0d%0aSet-Cookie:x", 400),
        ("/asset/%7f", 404),  # no route takes it: the router's 404 comes first
        ("/%1b[2J", 404),
    ],
)
def test_control_bytes_in_a_path_never_reach_a_handler(
    app_client: TestClient[Any], path: str, status: int
) -> None:
    before = app_client.get("/v1/log/checkpoint").text
    response = app_client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    if status == 400:
        assert response.json()["type"] == "urn:dataledger:problem:malformed"
    assert app_client.get("/v1/log/checkpoint").text == before
