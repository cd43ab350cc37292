"""The web explorer's server-rendered pages, without a browser, on SQLite and PostgreSQL: each
page renders with what it must show, receipts embedded in pages verify offline, private fields
and pages follow the JSON API's visibility, the session cookie, languages, errors, escaping."""

from __future__ import annotations

import html
import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import nacl.signing
import pytest
from litestar.testing import TestClient

from api.client import Submitted
from api.web import charts
from api.web.i18n import MESSAGES, from_accept_language, negotiate
from api.web.render import receipt_json, when
from api.witness import witness_once
from ledger.encoding import format_rfc3339_utc
from ledger.note import parse_vkey
from ledger.receipts import InclusionProof, Receipt, verify_receipt
from ledger.statements import STATEMENT_KINDS
from tests.world import World, _clone, asset_fields, pid

RECEIPT_BLOCK = re.compile(
    r'<div class="dl-receipt" data-index="(\d+)"><script type="application/json" '
    r'class="dl-receipt-json">(.*?)</script>',
    re.S,
)


# --- a small market to look at -------------------------------------------------------------------


class Scene:
    """An owner's personal-data asset with an offer, an objection, and a licence that was
    requested, approved, used and paid; a regulator, a buyer and a stranger."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.owner = world.party("Owner Data Co")
        self.buyer = world.party("Buyer Analytics")
        self.stranger = world.party("Stranger")
        self.regulator = world.regulator()
        self.asset = world.client().register_asset(
            self.owner,
            **asset_fields(
                title="城市交通 Traffic <b>flows</b>",
                personal_info="personal",
                declared_cost={"amount_minor": 777_001, "currency": "CNY"},
            ),
        )
        self.objection = self.sign(
            self.stranger,
            "asset.object",
            asset_id=self.asset.id,
            grounds="I collected it myself in 2024",
            evidence_fingerprint="e" * 64,
        )
        self.offer = self.sign(
            self.owner,
            "offer.publish",
            asset_id=self.asset.id,
            policy={
                "actions": ["use"],
                "purposes": ["research", "analytics"],
                "term_days": 365,
                "territory": ["CN"],
                "max_units": 1000,
                "pricing": {"model": "fixed", "currency": "CNY", "fixed_minor": 50_000},
            },
        )
        self.licence = self.request(self.buyer)
        self.sign(
            self.owner,
            "licence.approve",
            licence_id=self.licence.id,
            price={"amount_minor": 48_000, "currency": "CNY"},
        )
        stamp = format_rfc3339_utc(datetime.now(UTC))
        self.sign(
            self.buyer,
            "usage.report",
            licence_id=self.licence.id,
            units=250,
            period_start=stamp,
            period_end=stamp,
        )
        payment = self.sign(
            self.buyer,
            "payment.record",
            licence_id=self.licence.id,
            amount={"amount_minor": 48_000, "currency": "CNY"},
            reference="INV-1",
        )
        self.sign(self.owner, "payment.confirm", payment_id=payment.id)

    def sign(self, key: nacl.signing.SigningKey, kind: str, **fields: Any) -> Submitted:
        return self.world.client().sign_and_submit(key, kind, **fields)

    def request(self, key: nacl.signing.SigningKey) -> Submitted:
        return self.sign(
            key,
            "licence.request",
            offer_id=self.offer.id,
            purpose="research",
            term_days=30,
            territory=["CN"],
            units=500,
            lawful_basis="consent",
        )


def browser(world: World, key: nacl.signing.SigningKey | None = None) -> TestClient[Any]:
    """A client with its own cookie jar, signed in to the pages as `key` (if given) the way
    the browser does it: log in with a signed statement, then hand the token to /web/session."""
    http = _clone(world.http)
    if key is not None:
        token = world.client(key).login(key)["token"]
        response = http.post("/web/session", json={"token": token})
        assert response.status_code == 200, response.text
    return http


def receipts_in(page: str) -> dict[int, Receipt]:
    found = {}
    for index, body in RECEIPT_BLOCK.findall(page):
        found[int(index)] = msgspec.json.decode(body.encode(), type=Receipt)
    return found


def meta(page: str, name: str) -> str:
    match = re.search(rf'<meta name="{name}" content="([^"]*)">', page)
    assert match, f"no meta {name}"
    return html.unescape(match.group(1))


def action_forms(page: str) -> dict[str, list[dict[str, str]]]:
    """kind -> [{input name: value}] of every signed-action form on a page."""
    forms: dict[str, list[dict[str, str]]] = {}
    for kind, endpoint, body in re.findall(
        r'<form class="dl-action"[^>]*data-kind="([^"]+)" data-endpoint="([^"]+)"[^>]*>'
        r"(.*?)</form>",
        page,
        re.S,
    ):
        assert endpoint == "/v1/statements"
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', body))
        for name in re.findall(r'<(?:input|select|textarea) id="[^"]+" name="([^"]+)"', body):
            fields.setdefault(name, "")
        forms.setdefault(kind, []).append(fields)
    return forms


def statement_fields(kind: str) -> set[str]:
    struct = next(s for s in STATEMENT_KINDS if s.__struct_config__.tag == kind)
    return {f.name for f in msgspec.structs.fields(struct)} - {"issued_at", "nonce", "origin"}


# --- pages -------------------------------------------------------------------------------------


def test_every_page_carries_the_contract_head(world: World) -> None:
    scene = Scene(world)
    http = browser(world, scene.regulator)
    vkey = world.http.get("/v1/log/key").text.strip()
    paths = [
        "/",
        f"/assets/{scene.asset.id}",
        f"/parties/{pid(scene.owner)}",
        f"/licences/{scene.licence.id}",
        "/log",
        "/log/entries/0",
        "/regulator",
        "/signin",
    ]
    for path in paths:
        response = http.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        page = response.text
        assert response.headers["content-type"].startswith("text/html")
        assert meta(page, "dl-log-vkey") == vkey
        assert meta(page, "dl-origin") == vkey.split("+")[0]
        assert '<link rel="stylesheet" href="/static/explorer.css">' in page
        assert '<script type="module" src="/static/explorer.js"></script>' in page
        assert '<html lang="en" data-lang="en">' in page
        assert 'class="dl-skip" href="#main"' in page and '<main id="main"' in page
        assert "?lang=zh" in page  # the switcher
        assert "script-src 'self'" in response.headers["content-security-policy"]
    css = world.http.get("/static/explorer.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]
    assert ":focus-visible" in css.text


def test_catalog_searches_and_filters(world: World) -> None:
    owner = world.party("Catalog Owner")
    client = world.client()
    weather = client.register_asset(
        owner, **asset_fields(title="Rainfall 降水 2025", category="weather")
    )
    traffic = client.register_asset(
        owner, **asset_fields(title="Road sensors", category="transport")
    )
    http = browser(world)
    page = http.get("/").text
    assert f"/assets/{weather.id}" in page and f"/assets/{traffic.id}" in page
    assert page.index(weather.id) > page.index(traffic.id)  # newest first
    only = http.get("/", params={"category": "weather"}).text
    assert f"/assets/{weather.id}" in only and f"/assets/{traffic.id}" not in only
    found = http.get("/", params={"q": "降水"}).text
    assert f"/assets/{weather.id}" in found and f"/assets/{traffic.id}" not in found
    assert f"/assets/{weather.id}" not in http.get("/", params={"status": "certified"}).text
    assert '<option value="weather" selected>' in only
    assert "Catalog Owner" in page  # owners by name
    bad = http.get("/", params={"classification": "secret"})
    assert bad.status_code == 400 and "text/html" in bad.headers["content-type"]


def test_catalog_pages_with_a_cursor(world: World) -> None:
    owner = world.party("Prolific")
    client = world.client()
    ids = [client.register_asset(owner, **asset_fields(category="pages")).id for _ in range(27)]
    http = browser(world)
    first = http.get("/", params={"category": "pages"}).text
    match = re.search(r'href="([^"]*cursor=\d+[^"]*)" rel="next"', first)
    assert match, "no next page link"
    second = http.get(html.unescape(match.group(1))).text
    shown = {i for i in ids if f"/assets/{i}" in first} | {
        i for i in ids if f"/assets/{i}" in second
    }
    assert shown == set(ids)
    assert not {i for i in ids if f"/assets/{i}" in first} & {
        i for i in ids if f"/assets/{i}" in second
    }


def test_asset_page_shows_the_record_and_receipts_that_verify_offline(world: World) -> None:
    scene = Scene(world)
    page = browser(world).get(f"/assets/{scene.asset.id}").text
    a = world.client().asset(scene.asset.id)
    assert a["fingerprint"] in page
    assert "Owner Data Co" in page  # rights holders by name
    for right in ("Holding right", "Processing/use right", "Product operation right"):
        assert right in page
    # The objection's grounds are private (ledger.privacy): its parties and regulators only.
    assert "I collected it" not in page and "only as a commitment" in page
    owners_view = browser(world, scene.owner).get(f"/assets/{scene.asset.id}").text
    assert "I collected it" in owners_view
    assert f'id="offer-{scene.offer.id}"' in page
    assert "on public notice" in page or "The public notice is over." in page
    assert "Valuation" in page and "No valuation yet." in page  # never waits for a fit
    assert "7,770.01" not in page  # the declared cost is the owner's business
    receipts = receipts_in(page)
    assert scene.asset.receipt.index in receipts
    assert len(receipts) >= 5  # registration, objection, offer, licence, usage...
    verifier = parse_vkey(meta(page, "dl-log-vkey"))
    for index, receipt in receipts.items():
        entry, _ = verify_receipt(receipt, verifier, origin=meta(page, "dl-origin"))
        assert entry.index == index
    # The very receipt the JSON API hands out (same checkpoint: nothing appended since).
    index = scene.asset.receipt.index
    api = world.http.get(f"/v1/log/entries/{index}/receipt").content
    embedded = dict(RECEIPT_BLOCK.findall(page))[str(index)]
    assert embedded.replace("\\u003c", "<").encode() == api  # byte for byte
    assert all("<" not in body for _, body in RECEIPT_BLOCK.findall(page))
    assert page.count('role="status" aria-live="polite">not yet verified in your browser') == len(
        receipts
    )


def test_private_fields_need_the_right_session(world: World) -> None:
    scene = Scene(world)
    path = f"/assets/{scene.asset.id}"
    assert "7,770.01 CNY" not in browser(world).get(path).text
    assert "7,770.01 CNY" not in browser(world, scene.stranger).get(path).text
    assert "7,770.01 CNY" in browser(world, scene.owner).get(path).text
    assert "7,770.01 CNY" in browser(world, scene.regulator).get(path).text
    # A party's licences are its own business (and regulators').
    party = f"/parties/{pid(scene.buyer)}"
    assert f"/licences/{scene.licence.id}" not in browser(world).get(party).text
    assert f"/licences/{scene.licence.id}" not in browser(world, scene.stranger).get(party).text
    assert f"/licences/{scene.licence.id}" in browser(world, scene.buyer).get(party).text
    assert f"/licences/{scene.licence.id}" in browser(world, scene.regulator).get(party).text


def test_contact_details_show_only_to_the_party_and_regulators(world: World) -> None:
    key = world.party("Contactable")
    client = world.client(key)
    salt = "00" * 16
    from api.service import contact_commitment

    details = {"email": "ops@example.test", "phone": None, "address": None}
    client.sign_and_submit(
        key, "party.set_contact", contact_commitment=contact_commitment(salt, details)
    )
    client.put_contact(pid(key), salt, email="ops@example.test")
    path = f"/parties/{pid(key)}"
    assert "ops@example.test" not in browser(world).get(path).text
    assert "ops@example.test" not in browser(world, world.party("Nosy")).get(path).text
    assert "ops@example.test" in browser(world, key).get(path).text
    assert "ops@example.test" in browser(world, world.regulator()).get(path).text


def test_licence_page_follows_the_api_visibility_and_charts_usage(world: World) -> None:
    scene = Scene(world)
    path = f"/licences/{scene.licence.id}"
    anonymous = browser(world).get(path)
    assert anonymous.status_code == 401 and 'href="/signin"' in anonymous.text
    stranger = browser(world, scene.stranger).get(path)
    assert stranger.status_code == 403 and "text/html" in stranger.headers["content-type"]
    page = browser(world, scene.buyer).get(path).text
    assert "480.00 CNY" in page  # agreed price and the confirmed payment
    assert "INV-1" in page
    svg = re.search(r"<svg[^>]*>.*?</svg>", page, re.S)
    assert svg is not None
    assert 'role="img"' in svg.group(0) and "<title" in svg.group(0) and "<desc" in svg.group(0)
    assert "Quota 500" in svg.group(0)
    assert '<th scope="row">' in page and ">250<" in page  # the data table under the chart
    verifier = parse_vkey(meta(page, "dl-log-vkey"))
    assert receipts_in(page)
    for receipt in receipts_in(page).values():
        verify_receipt(receipt, verifier)
    assert browser(world, scene.regulator).get(path).status_code == 200
    assert browser(world, scene.owner).get(path).status_code == 200


def test_licence_and_asset_timelines_hold_usage_reports(world: World) -> None:
    scene = Scene(world)
    reported = []
    for _ in range(55):  # more than a page of the licence's entries (50)
        stamp = format_rfc3339_utc(datetime.now(UTC))
        usage = scene.sign(
            scene.buyer,
            "usage.report",
            licence_id=scene.licence.id,
            units=1,
            period_start=stamp,
            period_end=stamp,
        )
        reported.append(usage.receipt.index)
    http = browser(world, scene.buyer)
    licence = http.get(f"/licences/{scene.licence.id}").text
    first = receipts_in(licence)
    assert len(first) == 50 and reported[-1] in first and max(first) == reported[-1]
    older = re.search(r'href="([^"]*before=(\d+))#entries" rel="next"', licence)
    assert older is not None
    rest = receipts_in(http.get(html.unescape(older.group(1))).text)
    assert reported[0] in rest and scene.licence.receipt.index in rest  # the request, too
    assert not set(first) & set(rest)
    asset = browser(world).get(f"/assets/{scene.asset.id}").text
    newest = receipts_in(asset)
    assert reported[-1] in newest and set(reported[-20:]) == set(newest)
    assert "usage reports among them" in asset


def test_cosignature_times_read_as_times(world: World, tmp_path: Path) -> None:
    witness = world.party("Witness")
    world.grant(witness, "witness")
    witness_once(world.client(), witness, tmp_path / "w.json")
    page = browser(world).get("/log").text
    line = re.search(r"<li>[^\n]*<code>[^<]+</code>, ([^<]*)</li>", page)
    assert line is not None, page
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", line.group(1))


def test_the_time_filter_reads_unix_seconds_and_rfc_3339() -> None:
    assert when(1_780_000_000) == "2026-05-28 20:26:40 UTC"
    assert when("2026-05-28T20:26:40.123456Z") == "2026-05-28 20:26:40 UTC"
    assert when(None) == "" and when(10**30) == str(10**30)


def test_signed_action_forms_name_the_statement_fields(world: World) -> None:
    scene = Scene(world)
    fresh = world.client().register_asset(scene.owner, **asset_fields())
    # A signed-in party that is not the owner may object (during the notice)...
    forms = action_forms(browser(world, scene.buyer).get(f"/assets/{fresh.id}").text)
    if "asset.object" in forms:  # the 2 s notice may already be over on a slow machine
        assert forms["asset.object"] == [
            {"asset_id": fresh.id, "grounds": "", "evidence_fingerprint": ""}
        ]
        assert set(forms["asset.object"][0]) <= statement_fields("asset.object")
    # ...never the owner, never anonymous.
    assert "asset.object" not in action_forms(
        browser(world, scene.owner).get(f"/assets/{fresh.id}").text
    )
    assert not action_forms(browser(world).get(f"/assets/{scene.asset.id}").text)
    # Requesting a licence, on each offer.
    page = browser(world, scene.stranger).get(f"/assets/{scene.asset.id}").text
    request = action_forms(page)["licence.request"]
    assert request[0]["offer_id"] == scene.offer.id
    assert set(request[0]) == statement_fields("licence.request")
    assert "<noscript>" in page and "needs JavaScript" in page
    # Resolving the open objection: regulators only.
    reg = action_forms(browser(world, scene.regulator).get(f"/assets/{scene.asset.id}").text)
    assert reg["objection.resolve"][0]["objection_id"] == scene.objection.id
    assert set(reg["objection.resolve"][0]) == statement_fields("objection.resolve")
    # Approving a requested licence: the operation-right holder only.
    pending = scene.request(scene.stranger)
    seller = action_forms(browser(world, scene.owner).get(f"/licences/{pending.id}").text)
    approve = seller["licence.approve"][0]
    assert approve["licence_id"] == pending.id
    assert {name.split(".")[0] for name in approve} == statement_fields("licence.approve")
    assert "licence.approve" not in action_forms(
        browser(world, scene.stranger).get(f"/licences/{pending.id}").text
    )


def test_action_forms_without_javascript_land_on_an_explanation(world: World) -> None:
    response = browser(world).post("/web/needs-js", data={"grounds": "x"})
    assert response.status_code == 200
    assert "needs JavaScript" in response.text and "text/html" in response.headers["content-type"]
    signin = browser(world).get("/signin").text
    assert '<form id="dl-signin-form"' in signin
    assert '<label for="dl-keyfile">' in signin
    assert '<input type="file" id="dl-keyfile" accept=".key,.json,application/json"' in signin
    assert '<p id="dl-signin-status" role="status" aria-live="polite">' in signin
    assert "<noscript>" in signin and "the key never leaves your browser" in signin


def test_regulator_approval_form_for_important_data(world: World) -> None:
    scene = Scene(world)
    important = world.client().register_asset(
        scene.owner, **asset_fields(classification="important")
    )
    offer = scene.sign(
        scene.owner,
        "offer.publish",
        asset_id=important.id,
        policy={
            "actions": ["use"],
            "purposes": ["research"],
            "term_days": 30,
            "territory": ["CN"],
            "pricing": {"model": "fixed", "fixed_minor": 100},
        },
    )
    licence = scene.sign(
        scene.buyer,
        "licence.request",
        offer_id=offer.id,
        purpose="research",
        term_days=30,
        territory=["CN"],
    )
    scene.sign(
        scene.owner,
        "licence.approve",
        licence_id=licence.id,
        price={"amount_minor": 100, "currency": "CNY"},
    )
    forms = action_forms(browser(world, scene.regulator).get(f"/licences/{licence.id}").text)
    assert forms["licence.regulator_approve"] == [{"licence_id": licence.id}]
    assert "licence.regulator_approve" not in action_forms(
        browser(world, scene.buyer).get(f"/licences/{licence.id}").text
    )


def test_log_and_entry_pages_decode_the_ledger(world: World) -> None:
    scene = Scene(world)
    for n in range(10):
        world.party(f"Filler {n}")
    http = browser(world)
    log_page = http.get("/log").text
    size = world.size()
    assert f"<dd>{size:,}</dd>" in log_page
    assert "No witness has cosigned this checkpoint yet." in log_page
    receipts = receipts_in(log_page)
    assert max(receipts) == size - 1 and len(receipts) == 20
    older = re.search(r'href="(/log\?before=\d+)" rel="next"', log_page)
    assert older is not None and receipts_in(http.get(older.group(1)).text)
    index = scene.asset.receipt.index
    entry = http.get(f"/log/entries/{index}").text
    assert (
        "&#34;kind&#34;: &#34;asset.register&#34;" in entry or '"kind": "asset.register"' in entry
    )
    assert f"/parties/{pid(scene.owner)}" in entry  # the signer, linked
    assert f"/assets/{scene.asset.id}" in entry  # what it created
    assert "application/vnd.dataledger.statement+json" in entry
    assert index in receipts_in(entry)
    certify_free = http.get("/log/entries/0").text
    assert "party.register" in certify_free


def test_regulator_dashboard_is_for_regulators(world: World) -> None:
    scene = Scene(world)
    anonymous = browser(world).get("/regulator")
    assert anonymous.status_code == 401 and "text/html" in anonymous.headers["content-type"]
    refused = browser(world, scene.buyer).get("/regulator")
    assert refused.status_code == 403
    assert "for regulators and the operator only" in refused.text
    http = browser(world, scene.regulator)
    deadline = time.monotonic() + 30
    while True:  # alerts and statistics are computed in the background
        page = http.get("/regulator").text
        if ("personal-data-licence" in page and "<svg" in page) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert "personal-data-licence" in page
    assert f"/licences/{scene.licence.id}" in page and f"/assets/{scene.asset.id}" in page
    assert re.search(r'href="/log/entries/\d+"', page)  # evidence
    for title in ("Price index", "Volume", "Concentration"):
        assert title in page
    assert page.count('role="img"') == 3
    assert '<option value="transport" selected>' in page
    # Statistics read as money, in the payments' currency; the HHI axis stops at 10,000.
    assert "<td>480.00 CNY</td>" in page and "Value (CNY)" in page
    assert "minor units" not in page
    hhi = re.search(r'<svg class="dl-chart" id="concentration".*?</svg>', page, re.S)
    assert hhi is not None and max(axis_values(hhi.group(0))) == 10_000
    only = http.get("/regulator", params={"kind": "wash-cycle"}).text
    assert "personal-data-licence</code>" not in only and "No alert." in only


def test_session_cookie_and_its_refusals(world: World) -> None:
    key = world.party("Cookie Monster")
    token = world.client(key).login(key)["token"]
    http = _clone(world.http)
    ok = http.post("/web/session", json={"token": token})
    assert ok.status_code == 200
    assert ok.json()["party_id"] == pid(key)
    cookie = ok.headers["set-cookie"]
    assert cookie.startswith(f"dl_session={token}")
    for attribute in ("httponly", "samesite=strict", "path=/"):
        assert attribute in cookie.lower()
    assert "Cookie Monster" in http.get("/").text
    bad = _clone(world.http).post("/web/session", json={"token": "dl1.forged.mac"})
    assert bad.status_code == 401
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert bad.json()["type"] == "urn:dataledger:problem:unauthorized"
    assert "set-cookie" not in bad.headers
    wrong_type = _clone(world.http).post(
        "/web/session", content=json.dumps({"token": token}), headers={"content-type": "text/plain"}
    )
    assert wrong_type.status_code in (400, 415)
    assert _clone(world.http).post("/web/session", json={"nope": 1}).status_code == 400
    # A forged cookie reads as signed out; signing out forgets the cookie.
    forged = _clone(world.http)
    forged.cookies.set("dl_session", "dl1.forged.mac")
    assert "Not signed in" in forged.get("/").text
    gone = _clone(world.http)
    gone.post("/web/session", json={"token": token})
    deleted = gone.delete("/web/session")
    assert deleted.status_code == 204 and "dl_session=" in deleted.headers["set-cookie"]
    assert "Not signed in" in gone.get("/").text
    # Another site's form cannot sign you out (CSRF): the browser names that site.
    for forged_headers in ({"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"}):
        refused = http.post("/web/session/logout", headers=forged_headers, follow_redirects=False)
        assert refused.status_code == 403 and "set-cookie" not in refused.headers
        assert refused.json()["type"].endswith(":cross-site-request")
        assert "Not signed in" not in http.get("/").text
    own = str(http.base_url).rstrip("/")
    out = http.post("/web/session/logout", headers={"origin": own}, follow_redirects=False)
    assert out.status_code == 303 and "dl_session=" in out.headers["set-cookie"]
    assert "Not signed in" in http.get("/").text


def test_languages(world: World) -> None:
    owner = world.party("Lang Owner")
    asset = world.client().register_asset(owner, **asset_fields())
    http = browser(world)
    zh = http.get(f"/assets/{asset.id}", params={"lang": "zh"})
    assert '<html lang="zh-Hans" data-lang="zh">' in zh.text
    assert "权利人" in zh.text and "收据" in zh.text and "尚未在您的浏览器中验证" in zh.text
    assert "dl_lang=zh" in zh.headers["set-cookie"]
    assert '<html lang="zh-Hans"' in http.get("/log").text  # remembered
    assert 'hreflang="en"' in http.get("/log").text  # the way back
    assert '<html lang="en"' in http.get("/log", params={"lang": "en"}).text
    fresh = _clone(world.http)
    assert (
        '<html lang="zh-Hans"' in fresh.get("/", headers={"accept-language": "zh-CN,zh;q=0.9"}).text
    )
    assert '<html lang="en"' in fresh.get("/", headers={"accept-language": "fr, en;q=0.5"}).text


def test_unknown_things_get_a_404_page(world: World) -> None:
    http = browser(world)
    for path in (
        "/assets/" + "0" * 32,
        "/assets/not-an-id",
        "/parties/" + "0" * 64,
        "/licences/" + "0" * 32,
        "/log/entries/99999",
        "/log/entries/-1",
    ):
        response = http.get(path)
        assert response.status_code == 404, path
        assert "text/html" in response.headers["content-type"]
        assert "<h1>Not found</h1>" in response.text
    assert "<h1>未找到</h1>" in http.get("/assets/x", params={"lang": "zh"}).text


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_a_mistyped_path_gets_a_page_in_a_browser_and_json_elsewhere(world: World) -> None:
    http = browser(world)
    for path in ("/asset/" + "0" * 32, "/licence/x", "/nowhere"):
        page = http.get(path, headers={"accept": BROWSER_ACCEPT})
        assert page.status_code == 404, path
        assert page.headers["content-type"].startswith("text/html"), path
        assert "<h1>Not found</h1>" in page.text and "no page at this address" in page.text
        assert "content-security-policy" in page.headers
        for accept in ("application/json", "*/*", None):
            headers = {"accept": accept} if accept else {}
            problem = http.get(path, headers=headers)
            assert problem.status_code == 404
            assert problem.headers["content-type"].startswith("application/problem+json")
            assert problem.json()["type"] == "urn:dataledger:problem:not-found"
    # The JSON API stays JSON, even for a browser.
    api = http.get("/v1/nowhere", headers={"accept": BROWSER_ACCEPT})
    assert api.status_code == 404 and api.headers["content-type"].startswith("application/")
    chinese = http.get("/asset/x", headers={"accept": BROWSER_ACCEPT, "accept-language": "zh"})
    assert "<h1>未找到</h1>" in chinese.text


def test_the_favicon_is_served(world: World) -> None:
    http = browser(world)
    icon = http.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.content.startswith(b"<svg")
    assert http.get("/static/favicon.svg").status_code == 200
    assert '<link rel="icon" href="/static/favicon.svg"' in http.get("/").text


def test_hostile_text_is_escaped(world: World) -> None:
    owner = world.party("<img src=x onerror=alert(2)>")
    hostile = "<script>alert(1)</script>"
    asset = world.client().register_asset(owner, **asset_fields(title=hostile, description=hostile))
    http = browser(world)
    for path in ("/", f"/assets/{asset.id}", f"/parties/{pid(owner)}"):
        page = http.get(path).text
        assert hostile not in page and "<img src=x" not in page, path
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in http.get(f"/assets/{asset.id}").text


def test_certified_asset_links_its_printable_certificate(world: World) -> None:
    owner = world.party("Certified Owner")
    asset = world.client().register_asset(owner, **asset_fields())
    time.sleep(2.2)
    assert asset.id in world.service.certify_due()
    page = browser(world).get(f"/assets/{asset.id}").text
    link = f"/v1/assets/{asset.id}/certificate?format=html"
    assert link in page
    assert world.http.get(link).status_code == 200


PARTY_LABEL = re.compile(
    r'<span class="dl-party-name">(?P<name>[^<]*)</span>'
    r'(?P<roles>(?: · <span class="dl-party-role">[^<]*</span>)*)'
    r' · <code class="dl-party-id">(?P<id>[0-9a-f]{8})</code>'
    r'(?: <strong class="dl-party-shared">(?P<shared>[^<]*)</strong>)?'
)
SHARED_EN = "(name shared with another party)"


def labels_in(page: str) -> dict[str, tuple[str, list[str], str | None]]:
    """short id -> (name, roles, shared-name marker) of every party label on a page."""
    found = {}
    for m in PARTY_LABEL.finditer(page):
        roles = re.findall(r'<span class="dl-party-role">([^<]*)</span>', m["roles"])
        found[m["id"]] = (html.unescape(m["name"]), roles, m["shared"])
    return found


def test_parties_that_share_a_name_are_never_told_apart_by_it(world: World) -> None:
    """Issue 16, impersonation: a second "Municipal Data Bureau" (and a look-alike differing in
    case, white space and width) is shown, wherever either is, with the regulator's role or
    none, the start of its id, and a shared-name warning; a unique name gets no warning."""
    name = "Municipal Data Bureau"
    bureau = world.party(name)
    world.grant(bureau, "regulator")
    impostor = world.party(name)
    lookalike_name = " \uff2dUNICIPAL  data   bureau"  # a full-width M
    lookalike = world.party(lookalike_name)
    honest = world.party("Honest Trader")
    asset = world.client().register_asset(impostor, **asset_fields(title="Official statistics"))
    world.client().sign_and_submit(
        bureau,
        "asset.object",
        asset_id=asset.id,
        grounds="We are the bureau that collected it",
        evidence_fingerprint="e" * 64,
    )
    ids = {
        who: pid(key)
        for who, key in [
            ("bureau", bureau),
            ("impostor", impostor),
            ("lookalike", lookalike),
            ("honest", honest),
        ]
    }
    short = {who: i[:8] for who, i in ids.items()}
    names = {"bureau": name, "impostor": name, "lookalike": lookalike_name}
    names["honest"] = "Honest Trader"

    def check(page: str, shown: list[str], path: str) -> None:
        labels = labels_in(page)
        for who in shown:
            assert short[who] in labels, (path, who)
            label_name, roles, shared = labels[short[who]]
            assert label_name == names[who], (path, who)
            assert roles == (["regulator"] if who == "bureau" else []), (path, who)
            assert shared == (None if who == "honest" else SHARED_EN), (path, who)
        # Never the bare name: each time it appears (outside the raw statement JSON and the
        # page title), it is inside a label with its id and the warning.
        body = re.sub(r'<pre class="dl-json">.*?</pre>', "", page, flags=re.S)
        body = re.sub(r"<title>.*?</title>", "", body, flags=re.S)
        in_labels = sum(1 for m in PARTY_LABEL.finditer(body) if m["name"] == name)
        assert body.count(name) == in_labels, path
        assert all(m["shared"] for m in PARTY_LABEL.finditer(body) if m["name"] == name), path

    http = browser(world)
    register_entry = f"/log/entries/{asset.receipt.index}"  # signed by the impostor
    pages = {
        "/": ["impostor"],
        f"/assets/{asset.id}": ["impostor", "bureau"],
        f"/parties/{ids['bureau']}": ["bureau"],
        f"/parties/{ids['impostor']}": ["impostor"],
        f"/parties/{ids['lookalike']}": ["lookalike"],
        f"/parties/{ids['honest']}": ["honest"],
        register_entry: ["impostor"],
        "/log": ["bureau", "impostor", "lookalike", "honest"],
    }
    for path, shown in pages.items():
        response = http.get(path)
        assert response.status_code == 200, path
        check(response.text, shown, path)
    title = re.search(r"<title>(.*?)</title>", http.get(f"/parties/{ids['impostor']}").text)
    assert title and title.group(1).startswith(f"{name} · {short['impostor']} {SHARED_EN}")
    page = http.get(f"/parties/{ids['bureau']}").text
    assert "tell them apart by their roles and id" in page
    assert "tell them apart" not in http.get(f"/parties/{ids['honest']}").text
    # In Chinese too, and in the header of the impostor's own session.
    zh = http.get(f"/parties/{ids['impostor']}", params={"lang": "zh"}).text
    assert "(与其他主体同名)" in zh and "(name shared" not in zh
    signed_in = browser(world, impostor).get("/").text
    header = signed_in[: signed_in.index('<main id="main"')]
    check(header, ["impostor"], "header")


# --- pieces ------------------------------------------------------------------------------------


def test_receipt_json_cannot_close_its_script_element() -> None:
    receipt = Receipt(
        index=1,
        entry="e30=",
        leaf_hash="x",
        inclusion_proof=InclusionProof(tree_size=2, hashes=[]),
        checkpoint="origin</script><script>alert(1)</script><!--\n",
    )
    text = str(receipt_json(receipt))
    assert "<" not in text
    assert json.loads(text)["checkpoint"] == receipt.checkpoint


def axis_values(svg: str) -> list[float]:
    """The y axis's tick labels of a chart, as numbers (k and M read as thousands, millions)."""
    found = []
    for text in re.findall(r'<text x="\d+" y="[\d.]+" text-anchor="end"[^>]*>([^<]+)</text>', svg):
        scale = {"k": 1e3, "M": 1e6}.get(text[-1], 1.0)
        found.append(float(text.rstrip("kM").replace(",", "")) * scale)
    return found


def test_charts_share_one_number_format_and_fill_their_container() -> None:
    for peak, ticks in (
        (9_000.0, ["0", "2,500", "5,000", "7,500", "10,000"]),
        (3.3, ["0.00", "1.25", "2.50", "3.75", "5.00"]),
        (230_000.0, ["0.0k", "62.5k", "125.0k", "187.5k", "250.0k"]),
        (4e8, ["0M", "125M", "250M", "375M", "500M"]),
    ):
        svg = str(charts.bar_chart("c", "t", "d", ["x"], [peak]))
        labels = re.findall(r'text-anchor="end"[^>]*>([^<]+)</text>', svg)
        assert labels == ticks, (peak, labels)
    hhi = str(
        charts.line_chart(
            "h", "t", "d", ["a", "b"], [charts.Series("s", [10_000.0, 9_999.0])], y_max=10_000
        )
    )
    assert max(axis_values(hhi)) == 10_000
    assert 'width="100%"' in hhi and re.search(r'viewBox="0 0 \d+ \d+"', hhi)
    # Text stays readable when the chart is drawn at its narrowest (32rem, as on a 375 px phone).
    width = int(re.search(r'viewBox="0 0 (\d+) ', hhi).group(1))  # type: ignore[union-attr]
    sizes = {int(x) for x in re.findall(r'font-size="(\d+)"', hhi)}
    assert min(sizes) * 512 / width >= 11
    css = charts.__file__.rsplit("/", 1)[0] + "/static/explorer.css"
    with open(css, encoding="utf-8") as f:
        rule = re.search(r"\.dl-chart \{([^}]*)\}", f.read())
    assert rule is not None and "width: 100%" in rule.group(1) and "max-width" not in rule.group(1)
    assert "min-width: 32rem" in rule.group(1)


def test_charts_are_described_and_escaped() -> None:
    svg = str(
        charts.line_chart(
            "c1",
            "Index <1>",
            "desc & more",
            ["2026-01", "2026-02", "2026-03"],
            [charts.Series("a<b", [100.0, None, 120.5])],
            reference=(150.0, "quota"),
        )
    )
    assert svg.startswith('<svg class="dl-chart" id="c1"')
    assert '<title id="c1-t">Index &lt;1&gt;</title>' in svg
    assert '<desc id="c1-d">desc &amp; more</desc>' in svg
    assert "a&lt;b" in svg and "a<b" not in svg
    assert svg.count("<polyline") == 2  # the gap splits the line
    assert 'stroke-dasharray="2 4"' in svg  # the reference line
    bars = str(charts.bar_chart("c2", "t", "d", ["x", "y"], [1.0, 3.0]))
    assert bars.count("<rect") == 2
    assert [charts.nice_ceiling(v) for v in (0, 7, 10, 11, 240, 251)] == [1, 10, 10, 20, 250, 500]


def test_language_negotiation() -> None:
    assert from_accept_language("zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert from_accept_language("en-GB, zh;q=0.5") == "en"
    assert from_accept_language("fr;q=1, zh-Hant;q=0.4") == "zh"
    assert from_accept_language("zh;q=0, en;q=0.1") == "en"
    assert from_accept_language("de") is None
    assert negotiate("zh", "en", "en") == "zh"
    assert negotiate(None, "zh", "en") == "zh"
    assert negotiate("klingon", None, None) == "en"
    assert MESSAGES["en"].keys() == MESSAGES["zh"].keys()
    assert all(MESSAGES["zh"][k] for k in MESSAGES["zh"])


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_label_a_template_uses_exists(lang: str) -> None:
    from api.web.render import TEMPLATES

    used: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"""t\(["']([a-z_0-9.]+)["']\)""", template.read_text()))
    missing = {k for k in used if k not in MESSAGES[lang]}
    assert not missing
