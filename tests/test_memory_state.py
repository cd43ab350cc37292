"""`MemoryState` against the SQL projections: the same statements decided on both paths —
`decide` + `MemoryState.apply`, and `decide` + `projections.apply` over `SqlView` on a database
made by Alembic — must give the same decisions (events, or refusal codes) and, after every
statement, the same answer from every `LedgerView` method for the ids involved (and for every id
at the end).

Three drivers: every test of tests/test_decide.py rerun on both paths (the `ledger` fixture
below replaces the in-memory one), one fixed scenario on each database backend, and random
walks through the rules (hypothesis).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine

from ledger.encoding import b64encode, format_rfc3339_utc, parse_rfc3339_utc
from ledger.errors import StatementRejected
from ledger.events import Event
from ledger.memory import MemoryState
from ledger.state import AssetRecord, LedgerView
from ledger.statements import (
    RIGHTS,
    AssetCertify,
    AssetFreeze,
    AssetObject,
    AssetRegister,
    AssetUnfreeze,
    AssetVersion,
    ConflictResolve,
    DisputeAnswer,
    DisputeOpen,
    DisputeResolve,
    GatewaySet,
    LicenceApprove,
    LicenceExpire,
    LicenceRegulatorApprove,
    LicenceReject,
    LicenceRequest,
    LicenceRevoke,
    LicenceTerminate,
    LineageConfirm,
    Money,
    ObjectionResolve,
    OfferPublish,
    OfferWithdraw,
    PartyRevokeKey,
    PartyRotateKey,
    PartySetContact,
    PaymentConfirm,
    PaymentRecord,
    Pricing,
    RightsAccept,
    RightsOffer,
    RoleGrant,
    RoleRevoke,
    Tier,
    UsageReport,
    ValuationQuote,
)
from ledger.storage.engine import make_engine
from ledger.storage.migrate import upgrade
from tests.decide_support import (
    Ledger,
    MemoryBackend,
    Party,
    Signer,
    SqlBackend,
    fingerprint,
    policy,
    public_key,
    signing_key,
)

# Every test of test_decide that drives the rules, collected again here with the `ledger`
# fixture of this module: each statement decided on both paths.
from tests.test_decide import (  # noqa: F401
    test_a_dispute_opened_by_the_seller_without_remedy,
    test_asset_on_notice_then_certified,
    test_dispute_open_answered_resolved_with_remedies,
    test_freeze_unfreeze_and_quotes,
    test_important_data_awaits_a_regulator,
    test_licence_expires_at_the_end_of_its_term_not_before,
    test_licence_rejected_by_the_seller,
    test_licence_requested_then_active,
    test_licence_revoked,
    test_licence_terminated_by_the_buyer,
    test_lineage_confirmed_by_the_parents_owner,
    test_objection_upheld_rejects_the_asset,
    test_offer_open_then_withdrawn,
    test_parties_keys_and_roles,
    test_payment_recorded_then_confirmed,
    test_refusal,
    test_revoking_ones_own_key,
    test_transfer_offered_then_accepted,
    test_usage_up_to_the_quota_exhausts_the_licence,
    test_versions_and_conflicting_claims,
)

UNKNOWN = "e" * 32
T = TypeVar("T")

# Which kind of id each field of a statement or event holds.
_PARTY_FIELDS = frozenset(
    {
        "party_id",
        "owner_id",
        "holder_id",
        "to_party",
        "from_party",
        "buyer_id",
        "seller_id",
        "publisher_id",
        "gateway_party",
        "objector_id",
        "opened_by",
        "respondent",
        "payer_id",
        "licensee_id",
        "reporter_id",
    }
)
_ID_FIELDS = {
    "keyid": "keys",
    "asset_id": "assets",
    "rightful_asset_id": "assets",
    "asset_ids": "assets",
    "rejected_asset_ids": "assets",
    "derived_from": "assets",
    "parent_id": "assets",
    "fingerprint": "fingerprints",
    "objection_id": "objections",
    "transfer_id": "transfers",
    "offer_id": "offers",
    "licence_id": "licences",
    "payment_id": "payments",
    "dispute_id": "disputes",
    **dict.fromkeys(_PARTY_FIELDS, "parties"),
}


@dataclass
class Ids:
    parties: set[str] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)
    assets: set[str] = field(default_factory=set)
    fingerprints: set[str] = field(default_factory=set)
    objections: set[str] = field(default_factory=set)
    transfers: set[str] = field(default_factory=set)
    offers: set[str] = field(default_factory=set)
    licences: set[str] = field(default_factory=set)
    payments: set[str] = field(default_factory=set)
    disputes: set[str] = field(default_factory=set)

    def add(self, value: Any) -> None:
        """Every id in a statement or an event (and the structs nested in it)."""
        if not isinstance(value, msgspec.Struct):
            return
        for name in value.__struct_fields__:
            item = getattr(value, name)
            if isinstance(item, msgspec.Struct):
                self.add(item)
            elif name in _ID_FIELDS:
                bucket: set[str] = getattr(self, _ID_FIELDS[name])
                items = item if isinstance(item, list | tuple) else [item]
                bucket.update(i for i in items if isinstance(i, str))

    def update(self, other: Ids) -> None:
        for name in self.__dataclass_fields__:
            getattr(self, name).update(getattr(other, name))

    def with_unknown(self) -> Ids:
        """These ids and one of each kind that nothing has."""
        more = Ids()
        more.update(self)
        for name in self.__dataclass_fields__:
            getattr(more, name).add(UNKNOWN if name != "parties" else "e" * 64)
        return more


def same_answers(
    mem: MemoryState, sql: LedgerView, ids: Ids, now: str, *, every_term: bool = True
) -> None:
    """Every LedgerView method answers alike on both views for `ids`; `conflicting_licence`
    for any term at all and, with `every_term`, for the next 30 days and each licence's own
    term but for itself (as `approve` asks)."""

    def same(what: str, a: Any, b: Any) -> None:
        assert a == b, f"{what}: memory {a!r} != sql {b!r}"

    assert mem.operator == sql.operator
    ids = ids.with_unknown()
    ids.keys.add(mem.operator.keyid)
    for p in ids.parties:
        same(f"party_exists({p})", mem.party_exists(p), sql.party_exists(p))
        same(f"roles({p})", mem.roles(p), sql.roles(p))
        ids.keys.add(p)  # a party's id is its first keyid
    for k in ids.keys:
        same(f"key({k})", mem.key(k), sql.key(k))
    for f in ids.fingerprints:
        # The SQL has no ORDER BY (PostgreSQL returns updated rows in another order); the rules
        # read claims as a set.
        same(f"claims({f})", _by_id(mem.claims(f)), _by_id(sql.claims(f)))
        same(f"conflict({f})", mem.conflict(f), sql.conflict(f))
    for o in ids.objections:
        same(f"objection({o})", mem.objection(o), sql.objection(o))
    for t in ids.transfers:
        same(f"transfer({t})", mem.transfer(t), sql.transfer(t))
    for o in ids.offers:
        same(f"offer({o})", mem.offer(o), sql.offer(o))
    for y in ids.payments:
        same(f"payment({y})", mem.payment(y), sql.payment(y))
    for d in ids.disputes:
        same(f"dispute({d})", mem.dispute(d), sql.dispute(d))
    licences = []
    for lid in ids.licences:
        record = mem.licence(lid)
        same(f"licence({lid})", record, sql.licence(lid))
        if record is not None:
            licences.append(record)
    later = format_rfc3339_utc(parse_rfc3339_utc(now) + timedelta(days=30))
    for a in ids.assets:
        same(f"asset({a})", mem.asset(a), sql.asset(a))
        same(f"open_objections({a})", mem.open_objections(a), sql.open_objections(a))
        for right in RIGHTS:
            same(f"holder({a}, {right})", mem.holder(a, right), sql.holder(a, right))
        for p in ids.parties:
            same(f"is_gateway({a}, {p})", mem.is_gateway(a, p), sql.is_gateway(a, p))
        for parent in ids.assets:
            same(f"lineage({a}, {parent})", mem.lineage(a, parent), sql.lineage(a, parent))
        windows = {("0000", "9999", "")}
        if every_term:
            windows.add((now, later, ""))
            windows |= {
                (lic.starts_at, lic.ends_at, lic.licence_id)
                for lic in licences
                if lic.asset_id == a and lic.starts_at is not None and lic.ends_at is not None
            }
        for starts, ends, other in windows:
            for exclusive_only in (False, True):
                what = f"conflicting_licence({a}, {starts}, {ends}, {other}, {exclusive_only})"
                ours = mem.conflicting_licence(a, starts, ends, other, exclusive_only)
                theirs = sql.conflicting_licence(a, starts, ends, other, exclusive_only)
                # Any one conflicting licence will do (the SQL takes LIMIT 1 with no ORDER BY):
                # both find one or neither does, and each one found is one by the other's rows.
                same(what, ours is None, theirs is None)
                for found, in_other in ((ours, sql), (theirs, mem)):
                    if found is not None:
                        record = in_other.licence(found.licence_id)
                        assert record == found, what
                        assert found.asset_id == a and found.licence_id != other, what
                        assert found.status in ("active", "awaiting_regulator"), what
                        assert found.exclusive or not exclusive_only, what
                        assert found.starts_at is not None and found.ends_at is not None
                        assert found.starts_at < ends and found.ends_at > starts, what


def _by_id(records: list[AssetRecord]) -> list[AssetRecord]:
    return sorted(records, key=lambda r: r.asset_id)


class Twin:
    """A Ledger deciding on MemoryState and SqlView at once, checking both after each step."""

    def __init__(self, conn: Connection, *, every_term: bool = True) -> None:
        self.every_term = every_term  # after each step; `check_everything` always does
        self.seen = Ids()
        self.ledger = Ledger(on_step=self._step)
        memory = MemoryBackend(self.ledger.operator)
        self.ledger.backends = [memory, SqlBackend(conn, self.ledger.operator)]
        self.steps = 0

    @property
    def sql(self) -> LedgerView:
        return self.ledger.backends[1].view

    def _step(self, ledger: Ledger, statement: Any, events: Sequence[Event]) -> None:
        involved = Ids()
        involved.add(statement)
        for event in events:
            involved.add(event)
        self.seen.update(involved)
        self.steps += 1
        same_answers(ledger.state, self.sql, involved, ledger.at, every_term=self.every_term)

    def check_everything(self) -> None:
        same_answers(self.ledger.state, self.sql, self.seen, self.ledger.at)


@pytest.fixture(scope="module")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One SQLite database made by Alembic; each test works in a transaction rolled back."""
    path: Path = tmp_path_factory.mktemp("memory-state") / "ledger.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    yield engine
    engine.dispose()


def rolled_back(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            yield conn
        finally:
            transaction.rollback()


@pytest.fixture
def sql_conn(sqlite_engine: Engine) -> Iterator[Connection]:
    yield from rolled_back(sqlite_engine)


@pytest.fixture
def ledger(sql_conn: Connection) -> Iterator[Ledger]:
    """For the tests imported from test_decide: both paths, compared after every statement."""
    twin = Twin(sql_conn, every_term=False)
    yield twin.ledger
    twin.check_everything()


# --- a fixed scenario, on SQLite and (when configured) PostgreSQL ---------------------------


def test_a_fixed_scenario_on_each_database(engine: Engine) -> None:
    with engine.connect() as conn, conn.begin():
        twin = Twin(conn)
        Walk(twin.ledger, random.Random(15).choice).walk(400)
        twin.check_everything()
        assert twin.steps > 100
        accepted = sum(outcome == "accepted" for _, outcome in twin.ledger.log)
        assert accepted > 60, twin.ledger.log


# --- random walks -----------------------------------------------------------------------------

CURRENCIES = ("CNY", "USD")
PRICINGS = (
    Pricing(model="fixed"),
    Pricing(model="fixed", currency="USD"),
    Pricing(model="per_unit", fixed_minor=10, unit_price_minor=5),
    Pricing(
        model="tiered",
        tiers=[Tier(up_to=10, unit_price_minor=5), Tier(up_to=None, unit_price_minor=3)],
    ),
)


class Walk:
    """Random statements over a small world, biased towards the ones the rules accept."""

    def __init__(self, ledger: Ledger, chooser: Callable[[list[Any]], Any]) -> None:
        self.led = ledger
        self.chooser = chooser
        self.owner, self.rival = ledger.party("Owner"), ledger.party("Rival")
        self.buyer = ledger.party("Buyer")
        self.regulator = ledger.party("Regulator", "regulator")
        self.gateway = ledger.party("Gateway")
        self.parties = [self.owner, self.rival, self.buyer, self.regulator, self.gateway]
        self.fingerprints = [fingerprint(f"fp{i}") for i in range(8)]
        self.assets: list[str] = []
        self.objections: list[str] = []
        self.transfers: list[str] = []
        self.offers: list[str] = []
        self.licences: list[str] = []
        self.payments: list[str] = []
        self.disputes: list[str] = []
        self.rotations = 0

    # choosing: every choice goes through `choose` (hypothesis draws, or a seeded Random)

    def choose(self, items: Sequence[T]) -> T:
        chosen: T = self.chooser(list(items))
        return chosen

    def pick(self, items: Sequence[Any], default: Any = UNKNOWN) -> Any:
        return self.choose(items) if items else default

    def pick_where(self, items: Sequence[str], get: str, *statuses: str) -> Any:
        """Mostly one whose record (`self.led.state.<get>(id)`) has one of `statuses`."""
        view = getattr(self.led.state, get)
        fitting = [i for i in items if (r := view(i)) is not None and r.status in statuses]
        mostly = self.choose(range(5)) > 0
        return self.pick(fitting if fitting and mostly else items)

    def signer(self, natural: Signer | None) -> Signer:
        """Mostly the party the rules expect, sometimes anyone (or the operator)."""
        if natural is not None and self.choose(range(5)):
            return natural
        anyone: Signer = self.pick([*self.parties, self.led.op])
        return anyone

    def party_of(self, party_id: str | None) -> Party | None:
        return next((p for p in self.parties if p.id == party_id), None)

    def holder(self, asset_id: str, right: str = "operation") -> Party | None:
        return self.party_of(self.led.state.holder(asset_id, right))

    # one step

    def step(self) -> None:
        made = self.choose(ACTIONS)(self)
        if made is None:
            return
        signer, statement, pool = made
        try:
            created = self.led.submit(signer, statement)
        except StatementRejected:
            return
        if pool is not None:
            getattr(self, pool).append(created)

    def walk(self, steps: int) -> None:
        for _ in range(steps):
            self.step()


def _statement(walk: Walk, cls: type[Any], **fields: Any) -> Any:
    return walk.led.make(cls, **fields)


Step = tuple[Signer, Any, str | None] | None


def register(w: Walk) -> Step:
    owner = w.pick([w.owner, w.rival, w.buyer])
    parents = w.choose([[], [w.pick(w.assets)]]) if w.assets else []
    st_ = _statement(
        w,
        AssetRegister,
        title="t",
        description="",
        category="test",
        classification=w.choose(["general", "general", "important", "core"]),
        personal_info=w.choose(["none", "personal"]),
        fingerprint=w.pick(w.fingerprints),
        size_bytes=1,
        record_count=1,
        derived_from=parents,
    )
    return w.signer(owner), st_, "assets"


def confirm_lineage(w: Walk) -> Step:
    asset = w.pick(w.assets)
    parents = [p for p in w.assets if w.led.state.lineage(asset, p) is not None]
    parent = w.pick(parents) if parents and w.choose(range(5)) else w.pick(w.assets)
    st_ = _statement(w, LineageConfirm, asset_id=asset, parent_id=parent)
    return w.signer(w.holder(parent, "holding")), st_, None


def version(w: Walk) -> Step:
    asset = w.pick(w.assets)
    st_ = _statement(
        w,
        AssetVersion,
        asset_id=asset,
        fingerprint=w.pick(w.fingerprints),
        size_bytes=2,
        record_count=2,
    )
    return w.signer(w.holder(asset, "holding")), st_, None


def object_to(w: Walk) -> Step:
    asset = w.pick_where(w.assets, "asset", "on_notice")
    st_ = _statement(
        w,
        AssetObject,
        asset_id=asset,
        grounds="We collected these readings in 2024",
        evidence_fingerprint="e" * 64,
    )
    return w.signer(w.pick([w.rival, w.buyer])), st_, "objections"


def resolve_objection(w: Walk) -> Step:
    outcome = w.choose(["dismissed", "upheld"])
    oid = w.pick_where(w.objections, "objection", "open")
    st_ = _statement(w, ObjectionResolve, objection_id=oid, outcome=outcome, reason="r")
    return w.signer(w.regulator), st_, None


def resolve_conflict(w: Walk) -> Step:
    fp = w.pick(w.fingerprints)
    conflict = w.led.state.conflict(fp)
    claimants = list(conflict.asset_ids) if conflict else []
    rightful = w.choose([None, *claimants, w.pick(w.assets)])
    st_ = _statement(w, ConflictResolve, fingerprint=fp, rightful_asset_id=rightful, reason="r")
    return w.signer(w.regulator), st_, None


def certify(w: Walk) -> Step:
    st_ = _statement(w, AssetCertify, asset_id=w.pick_where(w.assets, "asset", "on_notice"))
    return w.signer(w.led.op), st_, None


def freeze(w: Walk) -> Step:
    cls = w.choose([AssetFreeze, AssetUnfreeze])
    st_ = _statement(w, cls, asset_id=w.pick(w.assets), reason="r")
    return w.signer(w.regulator), st_, None


def offer_right(w: Walk) -> Step:
    asset = w.pick(w.assets)
    right = w.choose(RIGHTS)
    to = w.pick([w.owner, w.rival, w.buyer])
    st_ = _statement(w, RightsOffer, asset_id=asset, right=right, to_party=to.id)
    return w.signer(w.holder(asset, right)), st_, "transfers"


def accept_right(w: Walk) -> Step:
    tid = w.pick_where(w.transfers, "transfer", "offered")
    transfer = w.led.state.transfer(tid)
    natural = w.party_of(transfer.to_party) if transfer else None
    return w.signer(natural), _statement(w, RightsAccept, transfer_id=tid), None


def publish(w: Walk) -> Step:
    asset = w.pick_where(w.assets, "asset", "certified", "on_notice")
    terms = policy(
        exclusive=w.choose([False, True]),
        max_units=w.choose([None, 5, 100]),
        pricing=w.choose(PRICINGS),
    )
    st_ = _statement(w, OfferPublish, asset_id=asset, policy=terms)
    return w.signer(w.holder(asset)), st_, "offers"


def withdraw(w: Walk) -> Step:
    oid = w.pick(w.offers)
    offer = w.led.state.offer(oid)
    natural = w.party_of(offer.publisher_id) if offer else None
    return w.signer(natural), _statement(w, OfferWithdraw, offer_id=oid), None


def request(w: Walk) -> Step:
    st_ = _statement(
        w,
        LicenceRequest,
        offer_id=w.pick_where(w.offers, "offer", "open"),
        purpose="research",
        term_days=w.choose([30, 10]),
        territory=["CN"],
        units=w.choose([None, 3, 10]),
        lawful_basis=w.choose(["consent", None]),
    )
    return w.signer(w.pick([w.buyer, w.rival])), st_, "licences"


def _licence_step(w: Walk, natural_of: str, *statuses: str) -> tuple[str, Signer | None]:
    lid = w.pick_where(w.licences, "licence", *statuses) if statuses else w.pick(w.licences)
    licence = w.led.state.licence(lid)
    natural: Signer | None = None
    if licence is not None:
        natural = {
            "seller": w.party_of(licence.seller_id),
            "buyer": w.party_of(licence.buyer_id),
            "regulator": w.regulator,
            "operator": w.led.op,
        }[natural_of]
    return lid, natural


def approve(w: Walk) -> Step:
    lid, seller = _licence_step(w, "seller", "requested")
    price = Money(amount_minor=100, currency=w.choose(CURRENCIES))
    return w.signer(seller), _statement(w, LicenceApprove, licence_id=lid, price=price), None


def licence_change(w: Walk) -> Step:
    cls, who = w.choose(
        [
            (LicenceRegulatorApprove, "regulator"),
            (LicenceReject, "seller"),
            (LicenceReject, "regulator"),
            (LicenceRevoke, "seller"),
            (LicenceRevoke, "regulator"),
            (LicenceTerminate, "buyer"),
            (LicenceExpire, "operator"),
        ]
    )
    lid, natural = _licence_step(w, who, "requested", "awaiting_regulator", "active")
    fields: dict[str, Any] = {"licence_id": lid}
    if cls in (LicenceReject, LicenceRevoke):
        fields["reason"] = "r"
    return w.signer(natural), _statement(w, cls, **fields), None


def gateway(w: Walk) -> Step:
    asset = w.pick(w.assets)
    st_ = _statement(
        w,
        GatewaySet,
        asset_id=asset,
        gateway_party=w.pick([w.gateway, w.buyer]).id,
        enabled=w.choose([True, False]),
    )
    return w.signer(w.holder(asset)), st_, None


def report(w: Walk) -> Step:
    lid, buyer = _licence_step(w, "buyer", "active")
    licence = w.led.state.licence(lid)
    start = licence.starts_at if licence and licence.starts_at else w.led.at
    st_ = _statement(
        w,
        UsageReport,
        licence_id=lid,
        units=w.choose([1, 3, 5]),
        period_start=start,
        period_end=start,
    )
    return w.signer(w.choose([buyer, w.gateway])), st_, None


def pay(w: Walk) -> Step:
    lid, buyer = _licence_step(w, "buyer", "active", "awaiting_regulator")
    amount = Money(amount_minor=100, currency=w.choose(CURRENCIES))
    st_ = _statement(w, PaymentRecord, licence_id=lid, amount=amount)
    return w.signer(buyer), st_, "payments"


def confirm(w: Walk) -> Step:
    pid = w.pick_where(w.payments, "payment", "recorded")
    payment = w.led.state.payment(pid)
    licence = w.led.state.licence(payment.licence_id) if payment else None
    natural = w.party_of(licence.seller_id) if licence else None
    return w.signer(natural), _statement(w, PaymentConfirm, payment_id=pid), None


def open_dispute(w: Walk) -> Step:
    lid, buyer = _licence_step(w, "buyer", "active", "exhausted")
    st_ = _statement(w, DisputeOpen, licence_id=lid, grounds="g")
    return w.signer(buyer), st_, "disputes"


def settle_dispute(w: Walk) -> Step:
    did = w.pick_where(w.disputes, "dispute", "open", "answered")
    dispute = w.led.state.dispute(did)
    if w.choose([True, False]):
        respondent = w.party_of(dispute.respondent) if dispute else None
        st_ = _statement(w, DisputeAnswer, dispute_id=did, answer="a")
        return w.signer(respondent), st_, None
    refund = w.choose([None, Money(amount_minor=5), Money(amount_minor=5, currency="USD")])
    st_ = _statement(
        w,
        DisputeResolve,
        dispute_id=did,
        decision="d",
        refund=refund,
        revoke_licence=w.choose([False, True]),
        usage_correction=w.choose([0, 1, 3]),
    )
    return w.signer(w.regulator), st_, None


def keys_and_roles(w: Walk) -> Step:
    kind = w.choose(["grant", "revoke-role", "rotate", "revoke-key", "contact"])
    party = w.pick(w.parties)
    if kind in ("grant", "revoke-role"):
        cls = RoleGrant if kind == "grant" else RoleRevoke
        role = w.choose(["regulator", "witness"])
        return w.signer(w.led.op), _statement(w, cls, party_id=party.id, role=role), None
    if kind == "contact":
        st_ = _statement(w, PartySetContact, contact_commitment=fingerprint("c"))
        return w.signer(party), st_, None
    if kind == "revoke-key":
        keyid = w.choose([party.keyid, party.id, w.owner.keyid])
        return w.signer(party), _statement(w, PartyRevokeKey, keyid=keyid), None
    # rotate: the party keeps signing with its new key once the rotation is accepted
    w.rotations += 1
    new = signing_key(f"{party.name} {w.rotations}")
    st_ = _statement(w, PartyRotateKey, new_public_key=b64encode(public_key(new)))
    signer = w.signer(party)
    try:
        w.led.submit(signer, st_)
    except StatementRejected:
        return None
    if isinstance(signer, Party):
        signer.key = new
    return None


def quote(w: Walk) -> Step:
    low = w.choose([10, 200])
    st_ = _statement(
        w,
        ValuationQuote,
        asset_id=w.pick(w.assets),
        units=None,
        term_days=30,
        exclusive=False,
        purpose="research",
        price=Money(amount_minor=100),
        low_minor=low,
        high_minor=300,
        model_as_of=w.led.at,
    )
    return w.signer(w.led.op), st_, None


def wait(w: Walk) -> Step:
    w.led.advance(days=w.choose([1, 10, 31]))
    return None


ACTIONS = [
    register,
    register,
    confirm_lineage,
    version,
    object_to,
    resolve_objection,
    resolve_conflict,
    certify,
    certify,
    freeze,
    offer_right,
    accept_right,
    publish,
    publish,
    withdraw,
    request,
    request,
    approve,
    approve,
    licence_change,
    gateway,
    report,
    report,
    pay,
    confirm,
    open_dispute,
    settle_dispute,
    keys_and_roles,
    quote,
    wait,
]


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_walks_agree(sqlite_engine: Engine, data: st.DataObject) -> None:
    for conn in rolled_back(sqlite_engine):
        twin = Twin(conn)
        Walk(twin.ledger, lambda items: data.draw(st.sampled_from(items))).walk(50)
        twin.check_everything()
