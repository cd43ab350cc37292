"""Rendering the explorer's pages: one Jinja environment (autoescaped), the filters the templates
use, and what every page shares (language, who is signed in, the log key for the browser)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import msgspec
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from api.auth import Principal
from api.web.i18n import HTML_LANG, LANG_NAMES, LANGS, Lang, translator
from api.web.reads import PartyLabel
from ledger.encoding import format_rfc3339_utc
from ledger.money import format_money
from ledger.names import short_id
from ledger.receipts import Receipt

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "web"

_receipt_encoder = msgspec.json.Encoder()


def receipt_json(receipt: Receipt) -> Markup:
    """A receipt exactly as GET /v1/log/entries/{index}/receipt returns it, safe inside
    <script type="application/json">: no `<` survives, so neither `</script>` nor `<!--` can."""
    text = _receipt_encoder.encode(receipt).decode()
    return Markup(text.replace("<", "\\u003c"))  # noqa: S704 - JSON with every `<` escaped


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def short(value: str | None, n: int = 12) -> str:
    if not value:
        return ""
    return value if len(value) <= n + 1 else value[:n] + "…"


def number(value: int | float | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def money(minor: int | None, currency: str | None = "CNY") -> str:
    """Minor units as the amount a person reads, e.g. '9,800.00 CNY' (`ledger.money`)."""
    return format_money(minor, currency)


def size(value: int | None) -> str:
    if value is None:
        return ""
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if amount < 1024 or unit == "TiB":
            return f"{amount:,.0f} {unit}" if unit == "B" else f"{amount:,.1f} {unit}"
        amount /= 1024
    return str(value)  # pragma: no cover


def when(value: str | int | None) -> str:
    """An RFC 3339 UTC time, or Unix seconds (a cosignature's timestamp), as
    '2026-06-01 12:00:00 UTC'."""
    if value is None or value == "":
        return ""
    if isinstance(value, int):
        try:
            value = format_rfc3339_utc(datetime.fromtimestamp(value, UTC))
        except (OverflowError, OSError, ValueError):
            return str(value)  # out of any calendar's range: shown as it is
    return value[:19].replace("T", " ") + " UTC"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        receipt_json=receipt_json,
        pretty_json=pretty_json,
        short=short,
        party_short=short_id,
        number=number,
        money=money,
        size=size,
        when=when,
    )
    return env


ENV = _environment()


@dataclass(frozen=True)
class Page:
    """What every page shares."""

    lang: Lang
    principal: Principal | None
    viewer: PartyLabel | None  # the signed-in party, for the header
    vkey: str
    origin: str
    path: str
    query: Mapping[str, str]

    def url(self, **changes: Any) -> str:
        """This page's URL with query parameters changed (None drops one)."""
        params = {k: v for k, v in self.query.items() if k != "lang"}
        for key, value in changes.items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = str(value)
        return self.path + ("?" + urlencode(params) if params else "")

    def lang_url(self, lang: Lang) -> str:
        params = {k: v for k, v in self.query.items() if k != "lang"}
        params["lang"] = lang
        return self.path + "?" + urlencode(params)

    @property
    def other_langs(self) -> list[tuple[Lang, str, str]]:
        """(code, name, url) of the languages this page is not in."""
        return [
            (code, LANG_NAMES[code], self.lang_url(code)) for code in LANGS if code != self.lang
        ]

    @property
    def may_regulate(self) -> bool:
        return self.principal is not None and (
            self.principal.is_regulator or self.principal.is_operator
        )


def render(template: str, page: Page, **context: Any) -> str:
    return ENV.get_template(template).render(
        page=page,
        t=translator(page.lang),
        html_lang=HTML_LANG[page.lang],
        **context,
    )
