"""HTTP edges (issue 18, point 6): writes are JSON only (415 otherwise), malformed JSON says
where, 413 states the limit, and a body nested 100,000 levels deep gets 400 on every route that
takes one, never a 500. Each refusal appends nothing.

The routes are enumerated from the app's route table, so a new route is covered by itself."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api.app import create_app
from api.bodies import json_media_type_problem
from api.client import party_register_statement, sign_statement
from api.settings import RateLimits, Settings
from ledger.dsse import STATEMENT_PAYLOAD_TYPE
from ledger.encoding import MAX_JSON_DEPTH, b64encode, canonical_json, json_too_deep
from tests.factories import TEST_ORIGIN

PROBLEM = "application/problem+json"
DEPTH = 100_000
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# A valid-looking value for each kind of path parameter (ids are hex).
PATH_VALUES = {"str": "ab" * 32, "int": "0", "path": "0/0"}
# Routes that take a body, as of this change: the enumeration must find at least these.
KNOWN_JSON_ROUTES = {
    ("POST", "/v1/statements"),
    ("POST", "/v1/auth/login"),
    ("POST", "/v1/parties"),
    ("PUT", "/v1/parties/{party_id:str}/contact"),
    ("POST", "/v1/assets"),
    ("POST", "/v1/log/cosignatures"),
    ("POST", "/v1/valuations/quote"),
    ("POST", "/web/session"),
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Litestar:
    settings = Settings(
        data_dir=Path(tmp_path_factory.mktemp("edges")),
        origin=TEST_ORIGIN,
        certify_interval_seconds=0,
        rate_limits=RateLimits(enabled=False),  # many refusals in a row, on purpose
    )
    return create_app(settings)


@pytest.fixture(scope="module")
def client(app: Litestar) -> Iterator[TestClient[Any]]:
    with TestClient(app) as http:
        yield http


def size(client: TestClient[Any]) -> int:
    return int(client.get("/v1/log/checkpoint").text.splitlines()[1])


def routes(app: Litestar) -> list[tuple[str, str, bool]]:
    """(method, path template, takes a body) for every route that can carry one."""
    found = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            takes_body = "data" in handler.parsed_fn_signature.parameters
            for method in sorted(getattr(handler, "http_methods", ())):
                if method in WRITE_METHODS:
                    found.append((method, route.path, takes_body))
    return found


def concrete(path: str) -> str:
    return re.sub(r"\{\w+:(\w+)\}", lambda m: PATH_VALUES[m.group(1)], path)


def json_routes(app: Litestar) -> list[tuple[str, str]]:
    return [(method, path) for method, path, body in routes(app) if body]


def envelope_bytes() -> bytes:
    key = nacl.signing.SigningKey.generate()
    return canonical_json(
        sign_statement(key, party_register_statement(key, "Edge Case", origin=TEST_ORIGIN))
    )


def problem_of(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:dataledger:problem:{code}" and body["status"] == status
    return body


def test_the_route_table_is_enumerated(app: Litestar) -> None:
    assert set(json_routes(app)) >= KNOWN_JSON_ROUTES
    # The explorer's plain forms read no body: they are not JSON routes.
    no_body = {(m, p) for m, p, body in routes(app) if not body}
    assert {("POST", "/web/needs-js"), ("POST", "/web/session/logout")} <= no_body


# --- 1. writes are application/json -----------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
)
def test_a_signed_envelope_not_sent_as_json_is_refused_with_415(
    client: TestClient[Any], content_type: str | None
) -> None:
    before = size(client)
    headers = {} if content_type is None else {"content-type": content_type}
    response = client.post("/v1/statements", content=envelope_bytes(), headers=headers)
    body = problem_of(response, 415, "unsupported-media-type")
    assert "application/json" in body["detail"]
    if content_type is None:
        assert "no Content-Type" in body["detail"]
    else:
        assert content_type.split(";")[0] in body["detail"]  # says what was sent
    assert size(client) == before


def test_a_form_encoded_envelope_is_refused(client: TestClient[Any]) -> None:
    before = size(client)
    fields = {"payloadType": STATEMENT_PAYLOAD_TYPE, "payload": b64encode(b"{}"), "sig": "x"}
    response = client.post("/v1/statements", data=fields)  # application/x-www-form-urlencoded
    assert "x-www-form-urlencoded" in problem_of(response, 415, "unsupported-media-type")["detail"]
    assert size(client) == before


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON; charset=UTF-8"],
)
def test_json_media_types_are_accepted(client: TestClient[Any], content_type: str) -> None:
    before = size(client)
    response = client.post(
        "/v1/parties", content=envelope_bytes(), headers={"content-type": content_type}
    )
    assert response.status_code == 201, response.text
    assert size(client) == before + 1


def test_structured_json_suffix_is_accepted() -> None:
    assert json_media_type_problem("application/json") is None
    assert json_media_type_problem("application/merge-patch+json") is None
    assert json_media_type_problem("application/vnd.dataledger+json; charset=utf-8") is None
    assert json_media_type_problem("application/json; charset=latin-1") is not None
    assert json_media_type_problem("text/json") is not None
    assert json_media_type_problem("application/jsonx") is not None
    assert json_media_type_problem("") is not None


def test_every_route_with_a_body_refuses_other_media_types(
    app: Litestar, client: TestClient[Any]
) -> None:
    before = size(client)
    for method, path in json_routes(app):
        for headers in ({"content-type": "text/plain"}, {}):
            response = client.request(
                method, concrete(path), content=envelope_bytes(), headers=headers
            )
            problem_of(response, 415, "unsupported-media-type")
    assert size(client) == before


def test_the_explorers_forms_still_take_form_data(client: TestClient[Any]) -> None:
    landing = client.post("/web/needs-js", data={"kind": "asset.register"})
    assert landing.status_code == 200 and "text/html" in landing.headers["content-type"]
    signout = client.post("/web/session/logout", data={}, follow_redirects=False)
    assert signout.status_code == 303


def test_the_explorer_script_posts_json() -> None:
    script = (Path(__file__).parent.parent / "api/web/static/explorer.js").read_text()
    posts = [m.start() for m in re.finditer(r'method:\s*"(POST|PUT|PATCH|DELETE)"', script)]
    assert posts, "the explorer posts its statements"
    for at in posts:
        assert '"content-type": "application/json"' in script[at : at + 300]


# --- 2. malformed JSON says where -------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b'{"payloadType": "x", ', "at byte 21"),  # truncated: where it ends
        (b'{"payload": @}', "at byte 12: invalid character"),
        (b'{"payload": "x"} trailing', "at byte 18: trailing characters"),
        (b'{"payload": "\xff"}', "at byte 13: not UTF-8"),
    ],
)
def test_malformed_json_says_where(client: TestClient[Any], body: bytes, where: str) -> None:
    before = size(client)
    response = client.post(
        "/v1/statements", content=body, headers={"content-type": "application/json"}
    )
    detail = problem_of(response, 400, "malformed")["detail"]
    assert detail.startswith("invalid JSON") and where in detail, detail
    assert "Input data was truncated" not in detail
    assert size(client) == before


# --- 3. 413 states the limit -------------------------------------------------------------------


def test_too_large_states_the_limit(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        origin=TEST_ORIGIN,
        max_body_bytes=4096,
        certify_interval_seconds=0,
        rate_limits=RateLimits(enabled=False),
    )
    with TestClient(create_app(settings)) as small:
        before = size(small)
        response = small.post(
            "/v1/statements",
            content=b'{"payload": "' + b"A" * 5000 + b'"}',
            headers={"content-type": "application/json"},
        )
        body = problem_of(response, 413, "body-too-large")
        assert "4096 bytes" in body["detail"] and "DATALEDGER_MAX_BODY_BYTES" in body["detail"]
        assert body["limit"] == 4096
        assert size(small) == before


# --- 4. deep nesting ---------------------------------------------------------------------------


def deep_body() -> bytes:
    return b'{"payloadType":' + b"[" * DEPTH + b"]" * DEPTH + b"}"


def test_deep_nesting_is_refused_with_400_on_every_route_with_a_body(
    app: Litestar, client: TestClient[Any]
) -> None:
    before = size(client)
    body = deep_body()
    for method, path in json_routes(app):
        response = client.request(
            method, concrete(path), content=body, headers={"content-type": "application/json"}
        )
        detail = problem_of(response, 400, "malformed")["detail"]
        assert f"more than {MAX_JSON_DEPTH} levels" in detail, (method, path, detail)
    assert size(client) == before


def test_deep_nesting_never_gets_a_5xx_on_any_post(app: Litestar, client: TestClient[Any]) -> None:
    """Every POST route, the ones that read no body too (they ignore it)."""
    before = size(client)
    body = deep_body()
    posts = [(m, p, b) for m, p, b in routes(app) if m == "POST"]
    assert posts
    for method, path, takes_body in posts:
        response = client.request(
            method,
            concrete(path),
            content=body,
            headers={"content-type": "application/json"},
            follow_redirects=False,
        )
        assert response.status_code < 500, (path, response.status_code, response.text[:300])
        if takes_body:
            problem_of(response, 400, "malformed")
    assert size(client) == before


def test_a_deeply_nested_statement_payload_is_refused(client: TestClient[Any]) -> None:
    """The DSSE payload is JSON too, decoded by the ledger: nesting inside it is refused as
    well (20,000 levels: within the statement size limit, and a 500 before)."""
    key = nacl.signing.SigningKey.generate()
    inner = b'{"kind":"party.register","x":' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    from ledger.dsse import sign_envelope

    before = size(client)
    response = client.post(
        "/v1/statements",
        content=canonical_json(sign_envelope(inner, key)),
        headers={"content-type": "application/json"},
    )
    body = problem_of(response, 422, "invalid-statement")
    assert f"more than {MAX_JSON_DEPTH} levels" in body["detail"]
    assert size(client) == before


@pytest.mark.parametrize(
    ("body", "deep"),
    [
        (b"[" * 64 + b"]" * 64, False),
        (b"[" * 65 + b"]" * 65, True),
        (b"{" + b'"a":{' * 64 + b"1" + b"}" * 65, True),
        (b'"' + b"[" * 10_000 + b'"', False),  # brackets in a string do not count
        (b'["\\"' + b"[" * 100 + b'"]', False),  # nor after an escaped quote
        (b"[" + b"[]," * 10_000 + b"[]]", False),  # many, but shallow
        (b"[" * DEPTH, True),  # unclosed
        (b"]" * 1000 + b"[" * 10, False),  # malformed, but shallow: the decoder says where
        (b'"' + b'\\"[' * 10_000, False),  # an unterminated string
    ],
)
def test_depth_scan(body: bytes, deep: bool) -> None:
    assert json_too_deep(body) is deep
