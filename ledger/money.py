"""Money as a person reads it: the one formatter (and its inverse) for every place the ledger's
integer minor units are shown or typed — the explorer, the CLI, alert reasons, the demo.

The ledger keeps amounts as integers in the currency's minor unit (ISO 4217): fen for CNY,
cents for USD and EUR, whole yen for JPY. `exponent` says how many decimals the minor unit is;
currencies not listed have two, as most do.

Pure: no I/O.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

# ISO 4217 minor-unit exponents that are not 2 (a short list of the ones a market may use).
EXPONENTS: dict[str, int] = {
    "BHD": 3,
    "CLP": 0,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "OMR": 3,
    "TND": 3,
    "UGX": 0,
    "VND": 0,
}
DEFAULT_EXPONENT = 2


def exponent(currency: str | None) -> int:
    """Decimals of the currency's minor unit: CNY, USD, EUR 2; JPY 0."""
    return EXPONENTS.get((currency or "").upper(), DEFAULT_EXPONENT)


def major(minor: int | float, currency: str | None) -> float:
    """Minor units as a (float) amount in the major unit: for axes and charts, not for sums."""
    return float(minor) / 10.0 ** exponent(currency)


def format_money(minor: int | float | None, currency: str | None = None) -> str:
    """980_000, 'CNY' -> '9,800.00 CNY'; 980_000, 'JPY' -> '980,000 JPY'; None -> ''.

    Thousands separated by commas, the currency's decimals, the code after the amount (left off
    when not known). A fractional amount of minor units (a unit price) is rounded to the
    nearest minor unit, halves to even."""
    if minor is None:
        return ""
    places = exponent(currency)
    amount = Decimal(minor).quantize(Decimal(1)) if isinstance(minor, float) else Decimal(minor)
    value = amount.scaleb(-places)
    text = f"{value:,.{places}f}"
    if text.startswith("-") and not amount:
        text = text[1:]  # no "-0.00"
    return f"{text} {currency}" if currency else text


def parse_money(amount: str, currency: str | None = None) -> int:
    """'9800.00', 'CNY' -> 980_000, exactly (the inverse of `format_money`, without the code).

    Thousands separators are allowed; refuses more decimals than the currency has, negatives
    and what is not a number (ValueError)."""
    text = amount.strip().replace(",", "").replace("_", "")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{amount!r} is not a decimal amount") from None
    if not value.is_finite() or value.is_signed():
        raise ValueError(f"{amount!r} must be a non-negative amount")
    places = exponent(currency)
    scaled = value.scaleb(places)
    if scaled != scaled.to_integral_value():
        raise ValueError(
            f"{amount!r} has more than {places} decimal places"
            + (f" ({currency} has {places})" if currency else "")
        )
    return int(scaled)
