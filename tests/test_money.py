"""The one money formatter (`ledger.money`) and its inverse, with each currency's decimals."""

from __future__ import annotations

import pytest

from api.cli_audit import statistics_table
from api.cli_market import show_money
from api.web.render import money
from ledger.money import exponent, format_money, major, parse_money


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (980_000, "CNY", "9,800.00 CNY"),
        (5, "USD", "0.05 USD"),
        (123_456_789, "EUR", "1,234,567.89 EUR"),
        (980_000, "JPY", "980,000 JPY"),
        (-1234, "CNY", "-12.34 CNY"),
        (0, "CNY", "0.00 CNY"),
        (2**63 - 1, "CNY", "92,233,720,368,547,758.07 CNY"),
        (1234.6, "CNY", "12.35 CNY"),  # a unit price: to the nearest minor unit
        (-0.4, "CNY", "0.00 CNY"),
        (125_050, None, "1,250.50"),
    ],
)
def test_format_money(minor: int | float, currency: str | None, text: str) -> None:
    assert format_money(minor, currency) == text


def test_exponents_and_major_units() -> None:
    assert [exponent(c) for c in ("CNY", "USD", "EUR", "JPY", "XYZ", None)] == [2, 2, 2, 0, 2, 2]
    assert major(980_000, "CNY") == 9800.0 and major(980_000, "JPY") == 980_000.0
    assert format_money(None, "CNY") == ""


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("9,800.00", "CNY", 980_000),
        ("9800", "CNY", 980_000),
        ("0.5", None, 50),
        ("980", "JPY", 980),
    ],
)
def test_parse_money_is_the_inverse(text: str, currency: str | None, minor: int) -> None:
    assert parse_money(text, currency) == minor
    shown = format_money(minor, currency).removesuffix(f" {currency}")
    assert parse_money(shown, currency) == minor


@pytest.mark.parametrize(("text", "currency"), [("1.5", "JPY"), ("1.001", "CNY"), ("-1", None)])
def test_parse_money_refuses(text: str, currency: str | None) -> None:
    with pytest.raises(ValueError, match=r"decimal places|non-negative"):
        parse_money(text, currency)


def test_the_explorer_and_the_cli_share_it() -> None:
    assert money(980_000, "CNY") == show_money(980_000, "CNY") == "9,800.00 CNY"
    assert money(980_000, "JPY") == "980,000 JPY"
    assert show_money(None) == "-" and money(None) == ""


def test_cli_statistics_show_money_and_group_thousands() -> None:
    row = {
        "category": "transport",
        "currency": "CNY",
        "month": "2026-01",
        "licences": 1200,
        "total_value_minor": 1_800_000,
        "price_index": 1234.5,
        "hhi_sellers": 10_000.0,
        "hhi_buyers": 2500.0,
        "personal_share": 0.25,
    }
    table = statistics_table([row]).splitlines()
    assert len(table) == 2
    assert "18,000.00 CNY" in table[1] and "1,200" in table[1]
    assert "10,000" in table[1] and "1,234.5" in table[1] and "18000" not in table[1]
