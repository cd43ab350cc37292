"""Signed actions the pages offer: each is a form that the browser turns into a statement, signs
with the key the party signed in with, and POSTs to the JSON API. The server renders the form
only; without JavaScript it explains why it cannot work.

Form convention (what /static/explorer.js reads):
  * `<form class="dl-action" data-kind="{kind}" data-endpoint="{API path}">`;
  * each named input is a statement field, named exactly as in `ledger/statements.py`; a dotted
    name (`price.amount_minor`) is a field of a nested object;
  * `data-type="integer"` inputs are sent as JSON integers, `data-type="list"` inputs as a list
    of the comma-separated values, others as strings; an empty optional input is left out;
  * `kind`, `issued_at` and `nonce` are added by the browser when it signs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ledger.privacy import private_fields

STATEMENTS_ENDPOINT = "/v1/statements"
LAWFUL_BASES = ("consent", "anonymized", "contract", "statutory")


@dataclass(frozen=True)
class Field:
    name: str
    label: str  # an i18n key
    widget: str = "text"  # text | number | textarea | select
    required: bool = True
    value: str = ""
    options: tuple[tuple[str, str], ...] = ()  # (value, label)
    translate_options: bool = False  # option labels are i18n keys
    data_type: str = ""  # "" (string) | integer | list
    pattern: str = ""
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None
    min_length: int | None = None


@dataclass(frozen=True)
class Action:
    kind: str
    title: str  # an i18n key
    hidden: dict[str, str]
    fields: tuple[Field, ...] = ()
    endpoint: str = STATEMENTS_ENDPOINT
    slug: str = field(default="")  # unique within the page, for element ids

    @property
    def private(self) -> str:
        """The kind's private fields (ledger.privacy), which the browser seals before signing."""
        return ",".join(private_fields(self.kind))

    @property
    def form_id(self) -> str:
        return "dl-act-" + self.kind.replace(".", "-") + ("-" + self.slug if self.slug else "")


def object_to_asset(asset_id: str) -> Action:
    return Action(
        kind="asset.object",
        title="asset.object",
        hidden={"asset_id": asset_id},
        fields=(
            Field("grounds", "asset.grounds", "textarea", max_length=10_000, min_length=20),
            Field("evidence_fingerprint", "asset.evidence", pattern="[0-9a-f]{64}"),
        ),
        slug=asset_id[:8],
    )


def confirm_lineage(asset_id: str, parent_id: str) -> Action:
    """The parent's owner accepts that `asset_id` was derived from `parent_id`."""
    return Action(
        kind="lineage.confirm",
        title="asset.confirm_lineage",
        hidden={"asset_id": asset_id, "parent_id": parent_id},
        slug=asset_id[:8],
    )


def resolve_objection(objection_id: str) -> Action:
    return Action(
        kind="objection.resolve",
        title="asset.resolve",
        hidden={"objection_id": objection_id},
        fields=(
            Field(
                "outcome",
                "asset.outcome",
                "select",
                options=(("dismissed", "st.dismissed"), ("upheld", "st.upheld")),
                translate_options=True,
            ),
            Field("reason", "asset.reason", "textarea", max_length=10_000),
        ),
        slug=objection_id[:8],
    )


def request_licence(offer: dict[str, Any], personal: bool) -> Action:
    policy = offer["policy"]
    units = policy.get("max_units")
    bases = (("", "—"),) if not personal else ()
    return Action(
        kind="licence.request",
        title="asset.request",
        hidden={"offer_id": offer["offer_id"]},
        fields=(
            Field(
                "purpose",
                "asset.purpose",
                "select",
                options=tuple((p, p) for p in policy["purposes"]),
            ),
            Field(
                "term_days",
                "asset.term",
                "number",
                value=str(policy["term_days"]),
                data_type="integer",
                minimum=1,
                maximum=int(policy["term_days"]),
            ),
            Field(
                "territory",
                "asset.territory_input",
                value=",".join(policy["territory"]),
                data_type="list",
                pattern="[A-Z]{2}(, *[A-Z]{2})*",
            ),
            Field(
                "units",
                "asset.units_input",
                "number",
                required=False,
                data_type="integer",
                minimum=1,
                maximum=int(units) if units is not None else None,
            ),
            Field(
                "lawful_basis",
                "asset.lawful_basis",
                "select",
                required=personal,
                options=bases + tuple((b, b) for b in LAWFUL_BASES),
            ),
        ),
        slug=offer["offer_id"][:8],
    )


def approve_licence(licence_id: str, currency: str, suggested_minor: int | None) -> Action:
    return Action(
        kind="licence.approve",
        title="licence.approve",
        hidden={"licence_id": licence_id},
        fields=(
            Field(
                "price.amount_minor",
                "licence.price_minor",
                "number",
                value="" if suggested_minor is None else str(suggested_minor),
                data_type="integer",
                minimum=0,
            ),
            Field("price.currency", "licence.currency", value=currency, pattern="[A-Z]{3}"),
        ),
    )


def regulator_approve_licence(licence_id: str) -> Action:
    return Action(
        kind="licence.regulator_approve",
        title="licence.regulator_approve",
        hidden={"licence_id": licence_id},
    )
