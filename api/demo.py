"""`dataledger demo`: a realistic story walked through the Python SDK, narrated step by step.

Without --url it starts `dataledger serve` on a fresh SQLite database in a directory it keeps
(with a public notice of a few seconds, so certification happens during the demo) and stops it at
the end; with --url it drives a running server, signing the operator's statements with that
server's log key. Each accepted statement's receipt is verified offline against the pinned log
key before its line is printed, and the line starts with the entry's index.

The same --seed tells the same story: the same keys (so the same party ids), data files, names,
units and prices. Timestamps, nonces and the ids derived from them differ from run to run.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import secrets
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import click
import httpx
import msgspec
import nacl.signing

from api.client import ApiError, Client, Submitted, new_statement, seal_and_sign
from api.keyfiles import read_key, write_new_key
from api.settings import Settings
from api.verify import verify_log
from api.witness import witness_once
from ledger import dsse, keys
from ledger.checkpoint import open_checkpoint
from ledger.cosignature import verify_cosignature
from ledger.encoding import b64decode, format_rfc3339_utc, parse_rfc3339_utc
from ledger.entries import decode_entry
from ledger.errors import LedgerError
from ledger.money import format_money
from ledger.note import NoteVerifier, parse_note, parse_vkey
from ledger.receipts import Receipt, verify_receipt

NOTICE_SECONDS = 3  # the demo's own server: long enough to object, short enough to wait for
CERTIFY_INTERVAL = 0.5
CERTIFY_WAIT = 30.0  # the longest the demo waits for a notice to end (with --url)
HISTORY_TRADES = 30  # the valuation model fits on at least this many trades
OUTLIER_PRICE = 980_000  # 9,800.00 CNY for a licence listed at a few hundred
CURRENCY = "CNY"


class DemoError(click.ClickException):
    """The story could not go on: the server refused something it should have accepted."""


# --- the cast -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    role: str  # owner, harbor, meridian, regulator, witness
    name: str
    short: str  # how the narration calls them
    key: nacl.signing.SigningKey

    @property
    def party_id(self) -> str:
        return keys.keyid_of(self.key)


CAST = (
    ("owner", "Northwind Health Data", "Northwind"),
    ("harbor", "Harbor Analytics", "Harbor"),
    ("meridian", "Meridian Insurance", "Meridian"),
    ("regulator", "Municipal Data Bureau", "the Bureau"),
    ("witness", "Civic Log Witness", "the witness"),
)


def derived_key(seed: int, role: str) -> nacl.signing.SigningKey:
    """The same seed and role always give the same key (never use these keys for real data)."""
    return nacl.signing.SigningKey(
        hashlib.sha256(f"dataledger-demo:{seed}:{role}".encode()).digest()
    )


def cast_of(seed: int) -> dict[str, Actor]:
    return {role: Actor(role, name, short, derived_key(seed, role)) for role, name, short in CAST}


# --- the data (it stays with its owner: only fingerprints go on the ledger) ---------------------


@dataclass(frozen=True)
class DataFile:
    path: Path
    fingerprint: str
    size_bytes: int
    record_count: int


def write_csv(path: Path, header: str, rows: list[str]) -> DataFile:
    content = (header + "\n" + "".join(row + "\n" for row in rows)).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return DataFile(path, hashlib.sha256(content).hexdigest(), len(content), len(rows))


def clinic_visits(rng: random.Random, folder: Path) -> DataFile:
    clinics = ("north", "river", "harbour", "old-town")
    codes = ("J06.9", "I10", "E11.9", "M54.5", "K21.0", "F41.1")
    rows = []
    for n in range(rng.randint(240, 360)):
        band = rng.randrange(0, 90, 10)
        rows.append(
            f"V{n:05d},{rng.choice(clinics)},{band}-{band + 9},{rng.choice(codes)},"
            f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        )
    return write_csv(folder / "clinic-visits-2025.csv", "visit_id,clinic,age_band,icd10,date", rows)


def container_moves(rng: random.Random, folder: Path) -> DataFile:
    terminals = ("east-quay", "west-quay", "dry-dock")
    rows = [
        f"M{n:06d},{rng.choice(terminals)},{rng.choice((20, 40))},"
        f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00Z"
        for n in range(rng.randint(400, 600))
    ]
    return write_csv(folder / "container-moves-2025.csv", "move_id,terminal,teu,moved_at", rows)


def grid_load(rng: random.Random, folder: Path) -> DataFile:
    rows = [
        f"F{feeder:02d},2025-01-{day:02d}T{hour:02d}:00Z,{rng.uniform(0.5, 9.5):.2f}"
        for feeder in range(1, 7)
        for day in range(1, 8)
        for hour in range(24)
    ]
    return write_csv(folder / "grid-load-2025.csv", "feeder,hour,load_mw", rows)


@dataclass(frozen=True)
class AssetSpec:
    name: str  # how the story refers to it
    make: Callable[[random.Random, Path], DataFile]
    title: str
    description: str
    category: str
    classification: str
    personal_info: str
    note: str  # what the narration says about it


ASSETS = (
    AssetSpec(
        "clinic",
        clinic_visits,
        "Clinic visits 2025",
        "Outpatient visits of four city clinics: age band, diagnosis code, date",
        "health.visits",
        "general",
        "personal",
        "personal data",
    ),
    AssetSpec(
        "harbour",
        container_moves,
        "Harbour container moves 2025",
        "Every container moved at the city's three terminals, by hour",
        "transport.ports",
        "general",
        "none",
        "open market data",
    ),
    AssetSpec(
        "grid",
        grid_load,
        "City grid load 2025",
        "Hourly load of the city's six main feeders",
        "energy.grid",
        "important",
        "none",
        "important data: licences need a regulator",
    ),
)


# --- narration ----------------------------------------------------------------------------------


@dataclass
class Step:
    step: str  # a stable name for the kind of step (tests and --json readers key on it)
    text: str
    index: int | None = None
    last_index: int | None = None  # a span of entries, index..last_index


class Narrator:
    """One line per step, led by the entry's index; --json sends the lines to stderr."""

    def __init__(self, to_stderr: bool) -> None:
        self.to_stderr = to_stderr
        self.steps: list[Step] = []

    def _echo(self, line: str) -> None:
        click.echo(line, err=self.to_stderr)

    def entry(self, step: str, index: int, text: str) -> None:
        self.steps.append(Step(step, text, index))
        self._echo(f"[{index:>4}] {text}")

    def span(self, step: str, first: int, last: int, text: str) -> None:
        self.steps.append(Step(step, text, first, last))
        self._echo(f"[{first}..{last}] {text}")

    def event(self, step: str, text: str) -> None:
        """A step that appended nothing (a refusal, a read, a check)."""
        self.steps.append(Step(step, text))
        self._echo(f"[  --] {text}")

    def say(self, text: str = "") -> None:
        self._echo(f"       {text}" if text else "")

    def heading(self, text: str) -> None:
        self._echo(f"\n{text}")


# --- the demo's own server ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalServer:
    url: str
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def start_local_server(data_dir: Path) -> LocalServer:
    """`dataledger serve` on a fresh SQLite database in `data_dir`, its output in server.log."""
    port = free_port()
    # The demo's server takes its settings from these flags only, not from the caller's env.
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATALEDGER_")}
    log = (data_dir / "server.log").open("wb")
    command = [sys.executable, "-m", "api.cli", "serve", "--port", str(port)]
    command += ["--data-dir", str(data_dir), "--notice-period", str(NOTICE_SECONDS)]
    command += ["--certify-interval", str(CERTIFY_INTERVAL), "--no-access-log"]
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        command, stdout=log, stderr=subprocess.STDOUT, env=env
    )
    server = LocalServer(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            server.stop()
            raise DemoError(
                f"the server exited: {(data_dir / 'server.log').read_text(errors='replace')}"
            )
        try:
            if httpx.get(server.url + "/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.stop()
    raise DemoError(f"the server did not start within 60 s; see {data_dir / 'server.log'}")


# --- the story ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoOptions:
    seed: int | None
    url: str | None  # drive this server instead of starting one
    operator_key: Path | None  # with --url; default: where the server keeps it
    data_dir: Path | None
    as_json: bool


@dataclass
class Asset:
    asset_id: str
    title: str
    data: DataFile


@dataclass
class Made:
    """What the story made, for the summary and the next steps."""

    assets: dict[str, Asset] = field(default_factory=dict)
    offers: dict[str, str] = field(default_factory=dict)
    licences: dict[str, str] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    tree_size: int = 0
    root_hash: str = ""


class Story:
    """The parties act through the SDK, one small step at a time."""

    def __init__(
        self,
        url: str,
        operator: nacl.signing.SigningKey,
        operator_path: Path,
        seed: int,
        files: Path,
        narrator: Narrator,
        own_server: bool,
    ) -> None:
        self.url = url
        self.operator = operator
        self.operator_path = operator_path
        self.seed = seed
        self.rng = random.Random(seed)  # noqa: S311 - a story's numbers, not secrets
        self.files = files
        self.say = narrator
        self.own_server = own_server
        self.cast = cast_of(seed)
        self.made = Made()
        self.vkey = ""
        self.has_web = False  # does the server show the web pages? (told in "where next")
        self.kept_receipt = files / "receipts" / "none"
        self.client = Client(url, trust_on_first_use=True)  # pinned below, once served
        self._sessions: dict[str, Client] = {}

    # --- helpers ------------------------------------------------------------------------------

    @property
    def verifier(self) -> NoteVerifier:
        return parse_vkey(self.vkey)

    def actor(self, role: str) -> Actor:
        return self.cast[role]

    def submit(
        self, key: nacl.signing.SigningKey, kind: str, path: str = "/v1/statements", **fields: Any
    ) -> Submitted:
        """Sign and submit; verify the receipt offline against the pinned log key."""
        try:
            done = self.client.sign_and_submit(key, kind, path, **fields)
        except ApiError as exc:
            raise DemoError(f"the server refused {kind} ({exc.code or exc.status}): {exc}") from exc
        self.client.verify_receipt(done.receipt)
        return done

    def session(self, actor: Actor) -> Client:
        """A client logged in as `actor` (for the reads only parties may make)."""
        if actor.role not in self._sessions:
            client = Client(self.url, vkey=self.vkey)
            client.login(actor.key)
            self._sessions[actor.role] = client
        return self._sessions[actor.role]

    def keep_receipt(self, name: str, receipt: Receipt) -> None:
        """Save a receipt for the offline check at the end: it needs no server to verify."""
        self.kept_receipt = self.files / "receipts" / name
        self.kept_receipt.parent.mkdir(exist_ok=True)
        self.kept_receipt.write_bytes(msgspec.json.encode(receipt))

    def size(self) -> int:
        return self.client.checkpoint().size

    def refused(
        self, key: nacl.signing.SigningKey, kind: str, code: str, **fields: Any
    ) -> tuple[ApiError, str]:
        """Submit a statement the rules must refuse with `code`; prove nothing was appended.

        Returns the problem and a sentence saying how that was checked.
        """
        signed = seal_and_sign(key, new_statement(kind, origin=self.client.origin, **fields))
        envelope = signed.envelope
        assert envelope is not None
        before = self.size()
        try:
            self.client.submit("/v1/statements", signed)
        except ApiError as exc:
            if exc.code != code:
                raise DemoError(f"expected {kind} to be refused with {code}, got {exc}") from exc
            problem = exc
        else:
            raise DemoError(f"the server accepted {kind}; it should have refused it ({code})")
        after = self.size()
        payload = dsse.payload_bytes(envelope)
        start = before
        while start < after:
            page = self.client.entries(start, min(1000, after - start))
            for item in page:
                entry = decode_entry(b64decode(item["entry"]))
                if dsse.payload_bytes(entry.envelope) == payload:
                    raise DemoError(f"the refused {kind} is in the log at {entry.index}")
            start += len(page) or after - start
        if after == before:
            return problem, f"nothing appended: the log still holds {after} entries"
        return problem, (
            f"nothing appended: none of the {after - before} entries others appended "
            "meanwhile is this statement"
        )

    def narrate_refusal(
        self,
        step: str,
        lead: str,
        key: nacl.signing.SigningKey,
        kind: str,
        code: str,
        **fields: Any,
    ) -> None:
        """`refused`, then one line: `lead`, the problem (status, code, detail) and the check."""
        problem, checked = self.refused(key, kind, code, **fields)
        detail = problem.problem.get("detail", "")
        self.say.event(step, f"{lead} {problem.status} {problem.code}: {detail}; {checked}")

    # --- the story, in order ------------------------------------------------------------------

    def run(self) -> Made:
        self.meet_the_operator()
        self.register_parties()
        self.grant_roles()
        self.register_assets()
        self.object_and_resolve()
        self.certification()
        self.move_a_right()
        self.publish_offers()
        self.personal_data_licence()
        self.exclusive_licence()
        self.payments_and_usage()
        self.market_history()
        self.valuation_quote()
        self.outlier_deal()
        self.alert()
        self.freeze()
        self.witness()
        self.verify_offline()
        self.has_web = self.serves_web()
        return self.made

    def meet_the_operator(self) -> None:
        self.say.heading("The operator and the parties")
        served = self.client.log_vkey()
        verifier = parse_vkey(served)
        if verifier.public_key != keys.public_key_bytes(self.operator):
            raise DemoError(
                "the operator key is not this server's log key: give the server's own with "
                "--operator-key FILE"
            )
        owner = self.actor("owner")
        try:
            self.client.party(owner.party_id)
        except ApiError as exc:
            if exc.status != 404:
                raise
        else:
            raise DemoError(
                f"seed {self.seed} already ran on this ledger (party {owner.party_id[:16]}… "
                "exists): pick another --seed"
            )
        self.vkey = served  # pinned from here on: every receipt is checked against it
        self.client.close()
        self.client = Client(self.url, vkey=served)
        (self.files / "log.vkey").write_text(served + "\n")
        origin = (
            f"made by the server on its first start, in {self.operator_path}"
            if self.own_server
            else f"read from {self.operator_path}"
        )
        self.say.event(
            "operator",
            f"the operator is the log key {keys.keyid_of(self.operator)[:16]}… ({origin}): it "
            "signs checkpoints, certifications and role grants",
        )
        self.say.say(f"its public half, pinned for every check below: {self.files / 'log.vkey'}")

    def register_parties(self) -> None:
        keys_dir = self.files / "keys"
        for actor in self.cast.values():
            save_key(keys_dir / f"{actor.role}.key", actor.key)
            receipt = self.client.register_party(actor.key, actor.name)
            self.client.verify_receipt(receipt)
            role = {"owner": "owner", "harbor": "buyer", "meridian": "buyer"}.get(actor.role, "")
            self.say.entry(
                "party.register",
                receipt.index,
                f"{actor.name} registers as a party{f' ({role})' if role else ''}: "
                f"id {actor.party_id[:16]}…, key in keys/{actor.role}.key",
            )

    def grant_roles(self) -> None:
        for role in ("regulator", "witness"):
            actor = self.actor(role)
            done = self.submit(self.operator, "role.grant", party_id=actor.party_id, role=role)
            self.say.entry(
                "role.grant",
                done.receipt.index,
                f"the operator grants {actor.name} the {role} role",
            )

    def register_assets(self) -> None:
        self.say.heading("Registration, public notice, certification")
        owner = self.actor("owner")
        for spec in ASSETS:
            file = spec.make(self.rng, self.files / "data")
            done = self.client.register_asset(
                owner.key,
                title=spec.title,
                description=spec.description,
                category=spec.category,
                classification=spec.classification,
                personal_info=spec.personal_info,
                fingerprint=file.fingerprint,
                size_bytes=file.size_bytes,
                record_count=file.record_count,
                declared_cost={
                    "amount_minor": self.rng.randrange(50_000, 500_000, 100),
                    "currency": CURRENCY,
                },
                quality={
                    "completeness": self.rng.randint(80, 99),
                    "accuracy": self.rng.randint(80, 99),
                    "consistency": self.rng.randint(80, 99),
                    "timeliness": self.rng.randint(70, 95),
                },
            )
            self.client.verify_receipt(done.receipt)
            self.made.assets[spec.name] = Asset(done.id, spec.title, file)
            if spec.name == "clinic":
                self.keep_receipt("clinic-visits-registration.json", done.receipt)
            self.say.entry(
                "asset.register",
                done.receipt.index,
                f'Northwind registers asset "{spec.title}" ({spec.note}): fingerprint '
                f"{file.fingerprint[:12]}… of {file.record_count} records; the file stays with "
                "its owner",
            )

    def object_and_resolve(self) -> None:
        grid = self.made.assets["grid"]
        harbor, regulator = self.actor("harbor"), self.actor("regulator")
        evidence = self.files / "data" / "harbor-feeder-readings-2024.txt"
        evidence.write_text("Harbor Analytics: feeder readings published 2024-11-02\n")
        objection = self.submit(
            harbor.key,
            "asset.object",
            asset_id=grid.asset_id,
            grounds="the feeder readings look like the series Harbor published in 2024",
            evidence_fingerprint=hashlib.sha256(evidence.read_bytes()).hexdigest(),
        )
        self.say.entry(
            "asset.object",
            objection.receipt.index,
            f'Harbor objects to "{grid.title}" during its public notice (evidence by fingerprint)',
        )
        decision = self.submit(
            regulator.key,
            "objection.resolve",
            objection_id=objection.id,
            outcome="dismissed",
            reason="Northwind's metering logs predate Harbor's publication; the series differ",
        )
        self.say.entry(
            "objection.resolve",
            decision.receipt.index,
            "the Bureau dismisses the objection: the registration stands",
        )

    def certification(self) -> None:
        """The ledger certifies each asset whose notice ended with nothing standing."""
        last = max(
            parse_rfc3339_utc(self.client.asset(a.asset_id)["notice_ends_at"])
            for a in self.made.assets.values()
        )
        wait = (last - datetime.now(UTC)).total_seconds()
        if wait > CERTIFY_WAIT:
            self.say.event(
                "asset.certify",
                f"the public notice ends at {format_rfc3339_utc(last)} on this server: the "
                "ledger will certify the assets then (the story goes on; trading needs no "
                "certificate)",
            )
            return
        deadline = time.monotonic() + max(wait, 0) + CERTIFY_WAIT
        pending = dict(self.made.assets)
        while pending and time.monotonic() < deadline:
            for name, asset in list(pending.items()):
                if self.client.asset(asset.asset_id)["status"] == "certified":
                    del pending[name]
            if pending:
                time.sleep(0.25)
        if pending and self.own_server:
            raise DemoError(f"the server did not certify {len(pending)} asset(s) in time")
        if pending:
            self.say.event(
                "asset.certify",
                f"not certified yet ({', '.join(a.title for a in pending.values())}): this "
                "server certifies on its own schedule; the story goes on",
            )
        certified = []
        for name, asset in self.made.assets.items():
            if name not in pending:
                cert = self.client.certificate(asset.asset_id)
                receipt = msgspec.convert(cert["receipt"], Receipt)
                certified.append((self.client.verify_receipt(receipt).index, name, receipt))
        for index, name, receipt in sorted(certified, key=lambda c: c[0]):
            self.say.entry(
                "asset.certify",
                index,
                f'the ledger certifies "{self.made.assets[name].title}": its notice ended with '
                "no objection standing; certificate receipt verified offline",
            )
            if name == "clinic":
                self.keep_receipt("clinic-visits-certificate.json", receipt)

    def move_a_right(self) -> None:
        self.say.heading("Rights, offers and licences")
        clinic = self.made.assets["clinic"]
        owner, harbor = self.actor("owner"), self.actor("harbor")
        offer = self.submit(
            owner.key,
            "rights.offer",
            asset_id=clinic.asset_id,
            right="processing",
            to_party=harbor.party_id,
        )
        self.say.entry(
            "rights.offer",
            offer.receipt.index,
            f'Northwind offers Harbor the processing/use right of "{clinic.title}"',
        )
        accept = self.submit(harbor.key, "rights.accept", transfer_id=offer.id)
        self.say.entry(
            "rights.accept",
            accept.receipt.index,
            "Harbor accepts: it now holds the processing/use right; Northwind keeps holding "
            "and operation",
        )

    def publish_offers(self) -> None:
        owner = self.actor("owner")
        offers = {
            "clinic": policy(["use", "aggregate"], ["research", "actuarial"], 180, 5000, 30_000, 5),
            "harbour": policy(
                ["use", "aggregate"], ["analytics", "logistics"], 90, 10_000, 10_000, 20
            ),
            "grid": policy(["use", "train"], ["forecasting"], 365, None, 1_200_000, None, True),
        }
        for name, terms in offers.items():
            asset = self.made.assets[name]
            done = self.submit(owner.key, "offer.publish", asset_id=asset.asset_id, policy=terms)
            self.made.offers[name] = done.id
            self.say.entry(
                "offer.publish",
                done.receipt.index,
                f'Northwind offers licences on "{asset.title}": {describe_policy(terms)}',
            )

    def personal_data_licence(self) -> None:
        """No licence of personal data without a lawful basis: the server's refusal, shown."""
        owner, meridian = self.actor("owner"), self.actor("meridian")
        request: dict[str, Any] = {
            "offer_id": self.made.offers["clinic"],
            "purpose": "actuarial",
            "term_days": 90,
            "territory": ["CN"],
            "units": 1000,
        }
        self.narrate_refusal(
            "licence.refused",
            "Meridian asks for a licence of personal data without a lawful basis: refused,",
            meridian.key,
            "licence.request",
            "lawful-basis-required",
            **request,
        )
        done = self.submit(meridian.key, "licence.request", lawful_basis="consent", **request)
        self.made.licences["clinic"] = done.id
        self.say.entry(
            "licence.request",
            done.receipt.index,
            "Meridian asks again, declaring consent as its lawful basis",
        )
        approve = self.approve(owner, done.id, 35_000)
        self.say.entry(
            "licence.approve",
            approve.receipt.index,
            "Northwind approves at 350.00 CNY (300.00 + 1000 units at 0.05): the licence is active",
        )

    def exclusive_licence(self) -> None:
        """Important data needs a regulator; an exclusive licence keeps out overlapping ones."""
        owner, meridian = self.actor("owner"), self.actor("meridian")
        harbor, regulator = self.actor("harbor"), self.actor("regulator")
        exclusive = self.submit(
            meridian.key,
            "licence.request",
            offer_id=self.made.offers["grid"],
            purpose="forecasting",
            term_days=365,
            territory=["CN"],
        )
        self.made.licences["grid"] = exclusive.id
        self.say.entry(
            "licence.request",
            exclusive.receipt.index,
            'Meridian asks for the exclusive licence of "City grid load 2025" for a year',
        )
        approve = self.approve(owner, exclusive.id, 1_200_000)
        self.say.entry(
            "licence.approve",
            approve.receipt.index,
            "Northwind approves at 12,000.00 CNY; important data: it awaits a regulator",
        )
        regulated = self.submit(regulator.key, "licence.regulator_approve", licence_id=exclusive.id)
        self.say.entry(
            "licence.regulator_approve",
            regulated.receipt.index,
            "the Bureau approves it: Meridian holds the only licence of the grid data this year",
        )
        rival = self.submit(
            harbor.key,
            "licence.request",
            offer_id=self.made.offers["grid"],
            purpose="forecasting",
            term_days=30,
            territory=["CN"],
        )
        self.say.entry(
            "licence.request", rival.receipt.index, "Harbor asks for a month of the grid data"
        )
        self.narrate_refusal(
            "licence.exclusive",
            "Northwind cannot approve it:",
            owner.key,
            "licence.approve",
            "exclusive-conflict",
            licence_id=rival.id,
            price={"amount_minor": 100_000, "currency": CURRENCY},
        )
        reject = self.submit(
            owner.key,
            "licence.reject",
            licence_id=rival.id,
            reason="an exclusive licence covers this term",
        )
        self.say.entry("licence.reject", reject.receipt.index, "Northwind rejects Harbor's request")

    def approve(self, seller: Actor, licence_id: str, price_minor: int) -> Submitted:
        return self.submit(
            seller.key,
            "licence.approve",
            licence_id=licence_id,
            price={"amount_minor": price_minor, "currency": CURRENCY},
        )

    def pay(
        self, buyer: Actor, seller: Actor, licence_id: str, amount: int, ref: str
    ) -> tuple[Submitted, Submitted]:
        paid = self.submit(
            buyer.key,
            "payment.record",
            licence_id=licence_id,
            amount={"amount_minor": amount, "currency": CURRENCY},
            reference=ref,
        )
        confirmed = self.submit(seller.key, "payment.confirm", payment_id=paid.id)
        return paid, confirmed

    def payments_and_usage(self) -> None:
        self.say.heading("Payments and usage")
        owner, meridian = self.actor("owner"), self.actor("meridian")
        licence_id = self.made.licences["clinic"]
        paid, confirmed = self.pay(meridian, owner, licence_id, 35_000, f"INV-{self.seed}-001")
        self.say.entry(
            "payment.record", paid.receipt.index, "Meridian records its payment of 350.00 CNY"
        )
        self.say.entry(
            "payment.confirm",
            confirmed.receipt.index,
            "Northwind confirms it was received: a transaction",
        )
        for units, kind in (
            (self.rng.randint(300, 500), "records"),
            (self.rng.randint(20, 60), "api_calls"),
        ):
            now = format_rfc3339_utc(datetime.now(UTC))
            used = self.submit(
                meridian.key,
                "usage.report",
                licence_id=licence_id,
                units=units,
                usage_kind=kind,
                period_start=now,
                period_end=now,
            )
            self.say.entry(
                "usage.report",
                used.receipt.index,
                f"Meridian reports {units} {kind} used under its licence (metered against the "
                "quota of 1000)",
            )
        usage = self.session(meridian).licence_usage(licence_id)
        self.say.event(
            "usage.summary",
            f"usage so far: {usage['total_units']} of {usage['max_units']} units",
        )

    def market_history(self) -> None:
        """Routine trading: the history a valuation model needs before it will quote."""
        self.say.heading("Valuation, an alert, a freeze")
        owner = self.actor("owner")
        buyers = (self.actor("harbor"), self.actor("meridian"))
        first = last = -1
        total = 0
        for n in range(HISTORY_TRADES):
            buyer = buyers[n % 2]
            units = self.rng.randrange(200, 2001, 50)
            price = 10_000 + 20 * units  # the offer's terms: 100.00 + 0.20 per unit
            total += price
            request = self.submit(
                buyer.key,
                "licence.request",
                offer_id=self.made.offers["harbour"],
                purpose="analytics",
                term_days=30,
                territory=["CN"],
                units=units,
            )
            if n == 0:
                first = request.receipt.index
                self.made.licences["harbour-routine"] = request.id
            self.approve(owner, request.id, price)
            _, confirmed = self.pay(buyer, owner, request.id, price, f"INV-{self.seed}-{n + 2:03d}")
            last = confirmed.receipt.index
        self.say.span(
            "market.history",
            first,
            last,
            f'{HISTORY_TRADES} routine licences of "Harbour container moves 2025" to Harbor and '
            f"Meridian at list price, each requested, approved, paid and confirmed "
            f"({show_money(total)} in all): the history a valuation needs",
        )

    def valuation_quote(self) -> None:
        meridian = self.actor("meridian")
        harbour = self.made.assets["harbour"]
        terms = {
            "asset_id": harbour.asset_id,
            "units": 1500,
            "term_days": 30,
            "purpose": "analytics",
        }
        try:
            quote = self.session(meridian).post_json("/v1/valuations/quote", terms)
        except ApiError as exc:
            # A server without enough trading history says so; anything else is a failure.
            if self.own_server or exc.code != "valuation-unavailable":
                raise DemoError(f"the server would not quote: {exc}") from exc
            self.say.event(
                "valuation.quote",
                f"Meridian asks for a quote: this server will not give one yet, {exc.status} "
                f"{exc.code}: {exc.problem.get('detail', '')}; the story goes on",
            )
            return
        receipt = msgspec.convert(quote["receipt"], Receipt)
        self.client.verify_receipt(receipt)
        self.say.entry(
            "valuation.quote",
            receipt.index,
            "Meridian asks for a quote on 1500 units for 30 days: "
            f"{show_money(quote['price_minor'])}, 90% interval {show_money(quote['low_minor'])}"
            f" .. {show_money(quote['high_minor'])} from {quote['n_comparables']} comparables; "
            "the log records the quote",
        )

    def outlier_deal(self) -> None:
        owner, meridian = self.actor("owner"), self.actor("meridian")
        request = self.submit(
            meridian.key,
            "licence.request",
            offer_id=self.made.offers["harbour"],
            purpose="analytics",
            term_days=30,
            territory=["CN"],
            units=1500,
        )
        self.made.licences["harbour-outlier"] = request.id
        self.say.entry("licence.request", request.receipt.index, "Meridian asks for that licence")
        approve = self.approve(owner, request.id, OUTLIER_PRICE)
        self.say.entry(
            "licence.approve",
            approve.receipt.index,
            f"Northwind approves at {show_money(OUTLIER_PRICE)}, over twenty times the list price",
        )
        paid, confirmed = self.pay(
            meridian, owner, request.id, OUTLIER_PRICE, f"INV-{self.seed}-900"
        )
        self.say.entry("payment.record", paid.receipt.index, "Meridian pays it")
        self.say.entry("payment.confirm", confirmed.receipt.index, "Northwind confirms the payment")

    def alert(self) -> None:
        regulator = self.session(self.actor("regulator"))
        harbour = self.made.assets["harbour"]
        found = regulator.get_json("/v1/audit/alerts")["alerts"]
        ours = {a.asset_id for a in self.made.assets.values()} | set(self.made.licences.values())
        self.made.alerts = [a for a in found if {a["asset_id"], a["licence_id"]} & ours]
        mine = [
            a
            for a in found
            if a["kind"] == "price-outside-interval" and a["asset_id"] == harbour.asset_id
        ]
        if not mine:
            self.say.event(
                "alert",
                "the audit detectors did not flag the deal on this server (no quote preceded "
                "it, or the price lies within the quote's interval)",
            )
            return
        alert = mine[-1]
        self.say.event(
            "alert",
            f"the Bureau's alerts: [{alert['severity']}] {alert['kind']}: {alert['reason']} "
            f"(evidence: entries {', '.join(map(str, alert['evidence']))})",
        )
        kinds = Counter(a["kind"] for a in self.made.alerts)
        self.say.say(
            "alerts about the story's assets: "
            + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
        )

    def freeze(self) -> None:
        regulator, harbor = self.actor("regulator"), self.actor("harbor")
        harbour = self.made.assets["harbour"]
        frozen = self.submit(
            regulator.key,
            "asset.freeze",
            asset_id=harbour.asset_id,
            reason="a licence was settled far outside the valuation interval: under review",
        )
        self.say.entry(
            "asset.freeze",
            frozen.receipt.index,
            f'the Bureau freezes "{harbour.title}" while it looks into the deal',
        )
        now = format_rfc3339_utc(datetime.now(UTC))
        self.narrate_refusal(
            "usage.refused",
            "Harbor's next usage report is refused:",
            harbor.key,
            "usage.report",
            "asset-frozen",
            licence_id=self.made.licences["harbour-routine"],
            units=10,
            usage_kind="records",
            period_start=now,
            period_end=now,
        )

    def witness(self) -> None:
        self.say.heading("A witness, and verification with the log key alone")
        witness = self.actor("witness")
        result = witness_once(
            self.client, witness.key, self.files / "witness-state.json", log_vkey=self.vkey
        )
        size = result.checkpoint.size
        note = self.client.get_text(f"/v1/log/checkpoints/{size}")
        open_checkpoint(note, self.verifier)  # signed by the log...
        body = parse_note(note).text
        name = result.vkey.split("+", 1)[0]
        ours = [s for s in parse_note(note).signatures if s.name == name]
        if not ours:
            raise DemoError(f"the checkpoint of size {size} does not carry the witness's line")
        verify_cosignature(body, ours[-1], name, bytes(witness.key.verify_key))  # ...and cosigned
        self.say.event(
            "witness.cosign",
            f"the witness checks the checkpoint of size {size} and cosigns it; the log now serves "
            f"it with the cosignature, verified offline with the witness key {name}",
        )

    def verify_offline(self) -> None:
        vkey = parse_vkey((self.files / "log.vkey").read_text().strip())
        saved = self.kept_receipt
        receipt = msgspec.json.decode(saved.read_bytes(), type=Receipt)
        entry, checkpoint = verify_receipt(receipt, vkey)
        statement = json.loads(base64.b64decode(entry.envelope.payload))
        self.say.event(
            "verify.receipt",
            f"offline, from two files alone ({saved.name} and log.vkey): the receipt proves entry "
            f"{entry.index} ({statement['kind']}) is in the log of size {checkpoint.size}",
        )
        report = verify_log(self.client, vkey)
        self.made.tree_size = report.checkpoint.size
        self.made.root_hash = report.checkpoint.root_hash.hex()
        self.say.event(
            "verify.log",
            f"`dataledger verify`: all {report.entries} entries downloaded and checked against "
            f"the pinned log key: every leaf, the root {self.made.root_hash[:16]}… and every "
            "signature: OK",
        )

    def serves_web(self) -> bool:
        try:
            return "<html" in self.client.get_text("/").lower()
        except ApiError:
            return False

    def close(self) -> None:
        self.client.close()
        for client in self._sessions.values():
            client.close()


# --- small helpers ------------------------------------------------------------------------------


def save_key(path: Path, key: nacl.signing.SigningKey) -> None:
    """Write the demo key to `path` (mode 0600), or accept the same key already there."""
    try:
        write_new_key(path, key)
    except FileExistsError:
        if read_key(path).encode() != key.encode():
            raise DemoError(f"{path} holds another key: use a fresh --data-dir") from None


def policy(
    actions: list[str],
    purposes: list[str],
    term_days: int,
    max_units: int | None,
    fixed_minor: int,
    unit_minor: int | None,
    exclusive: bool = False,
) -> dict[str, Any]:
    pricing: dict[str, Any] = {"model": "fixed", "currency": CURRENCY, "fixed_minor": fixed_minor}
    if unit_minor is not None:
        pricing.update(model="per_unit", unit_price_minor=unit_minor)
    return {
        "actions": actions,
        "purposes": purposes,
        "term_days": term_days,
        "territory": ["CN"],
        "pricing": pricing,
        "max_units": max_units,
        "exclusive": exclusive,
        "sublicensable": False,
    }


def show_money(minor: int) -> str:
    return format_money(minor, CURRENCY)


def describe_policy(terms: dict[str, Any]) -> str:
    pricing = terms["pricing"]
    price = show_money(pricing["fixed_minor"])
    if pricing["model"] == "per_unit":
        price += f" + {show_money(pricing['unit_price_minor'])} per unit"
    quota = f", up to {terms['max_units']} units" if terms["max_units"] else ""
    exclusive = ", exclusive" if terms["exclusive"] else ""
    return f"{'/'.join(terms['purposes'])}, {terms['term_days']} days{quota}{exclusive}, {price}"


# --- running it ---------------------------------------------------------------------------------


def run_demo(options: DemoOptions) -> None:
    seed = options.seed if options.seed is not None else secrets.randbelow(1_000_000)
    narrator = Narrator(to_stderr=options.as_json)
    narrator.say(
        f"dataledger demo, seed {seed} (run it again with --seed {seed} for the same story)"
    )
    if options.url is None:
        story, made, data_dir = on_own_server(options, seed, narrator)
    else:
        story, made, data_dir = on_given_server(options.url, options, seed, narrator)
    if options.as_json:
        click.echo(json.dumps(summary(story, made, data_dir, narrator), indent=2))
    for line in where_next(story, made, data_dir):
        click.echo(line, err=options.as_json)


def on_own_server(options: DemoOptions, seed: int, narrator: Narrator) -> tuple[Story, Made, Path]:
    data_dir = kept_dir(options.data_dir)
    if (data_dir / "dataledger.db").exists() or (data_dir / "log-key.json").exists():
        exe = dataledger_command()
        raise click.UsageError(
            f"{data_dir} already holds a ledger: give a new --data-dir, or serve it with "
            f"`{exe} serve --data-dir {data_dir}` (add --notice-period {NOTICE_SECONDS} if a "
            f"demo made it) and run `{exe} demo --url URL`"
        )
    narrator.say(f"starting a server on a fresh SQLite database in {data_dir} ...")
    with local_server(data_dir) as server:
        narrator.say(f"server at {server.url}, its output in {data_dir / 'server.log'}")
        key_path = data_dir / "log-key.json"  # the operator: made by the server as it started
        files = data_dir / "demo"  # the demo's own files, beside the database and the log key
        story = Story(server.url, read_key(key_path), key_path, seed, files, narrator, True)
        made = tell(story)
    narrator.say("server stopped")
    return story, made, data_dir


def on_given_server(
    url: str, options: DemoOptions, seed: int, narrator: Narrator
) -> tuple[Story, Made, Path]:
    key_path = options.operator_key or Settings.from_env().resolved_log_key_file
    operator = load_operator_key(key_path)  # refused before anything is made
    data_dir = kept_dir(options.data_dir)
    narrator.say(f"playing it on the server at {url}; the demo's files go to {data_dir}")
    story = Story(url.rstrip("/"), operator, key_path, seed, data_dir, narrator, False)
    return story, tell(story), data_dir


def kept_dir(given: Path | None) -> Path:
    """`given`, or a new temporary directory: kept either way, for the user to look into."""
    path = given or Path(tempfile.mkdtemp(prefix="dataledger-demo-"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def local_server(data_dir: Path) -> Iterator[LocalServer]:
    server = start_local_server(data_dir)
    try:
        yield server
    finally:
        server.stop()


def tell(story: Story) -> Made:
    story.files.mkdir(parents=True, exist_ok=True)
    try:
        return story.run()
    finally:
        story.close()


def load_operator_key(path: Path) -> nacl.signing.SigningKey:
    try:
        return read_key(path)
    except FileNotFoundError:
        raise click.UsageError(
            f"no operator key at {path}: run the demo from the server's working directory, or "
            "give --operator-key FILE (the server's log key)"
        ) from None
    except (OSError, LedgerError) as exc:
        raise click.UsageError(f"cannot read key file {path}: {exc}") from None


def where_next(story: Story, made: Made, data_dir: Path) -> list[str]:
    keys_dir, vkey = story.files / "keys", story.files / "log.vkey"
    clinic = made.assets["clinic"].asset_id
    url = story.url
    exe = dataledger_command()
    lines = ["", "Where to look next"]
    if story.own_server:
        # Serve it again on the port the demo's server had, so the URLs below are the real ones,
        # and with its notice period, else its certifications no longer replay.
        port = urlsplit(url).port or 8000
        lines += [
            "  the ledger is kept; check it again, down to every stored Merkle node:",
            f"    {exe} verify --vkey {vkey} --database-url sqlite:///{data_dir / 'dataledger.db'}",
            "  serve it again, in another terminal (the commands below then work against it;",
            "  if that port is taken meanwhile, give another --port and change --url to match):",
            f"    {exe} serve --data-dir {data_dir} --port {port} --notice-period {NOTICE_SECONDS}",
        ]
    dl = f"{exe} --url {url}"
    lines += [
        f"  act and read as the parties did (their keys are in {keys_dir}):",
        f"    {dl} asset show {clinic} --key {keys_dir / 'owner.key'}",
        f"    {dl} asset history {clinic} --vkey {vkey}",
        f"    {dl} asset certificate {clinic} --html > certificate.html",
        f"    {dl} audit alerts --key {keys_dir / 'regulator.key'}",
        f"    {dl} licence list --key {keys_dir / 'meridian.key'}",
        f"    {dl} verify --vkey {vkey}",
        "  in a browser: "
        + (f"{url}/ (the catalog, the log, the regulator's desk) and " if story.has_web else "")
        + f"{url}/schema/docs (the API)",
        "  read: docs/concepts.md (the ideas), docs/cli.md (every command), docs/protocol.md "
        "(the wire formats)",
    ]
    return lines


def dataledger_command() -> str:
    """How to run `dataledger` as this process was run: the script beside the interpreter (the
    venv's bin directory, not on PATH until the venv is activated), else `python -m api.cli`."""
    script = Path(sys.executable).parent / "dataledger"
    if script.is_file():
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m api.cli"


def summary(story: Story, made: Made, data_dir: Path, narrator: Narrator) -> dict[str, Any]:
    return {
        "seed": story.seed,
        "server": "started" if story.own_server else "given",
        "url": story.url,
        "data_dir": str(data_dir),
        "database_url": f"sqlite:///{data_dir / 'dataledger.db'}" if story.own_server else None,
        "log_vkey": story.vkey,
        "vkey_file": str(story.files / "log.vkey"),
        "parties": {
            a.role: {
                "name": a.name,
                "party_id": a.party_id,
                "key_file": str(story.files / "keys" / f"{a.role}.key"),
            }
            for a in story.cast.values()
        },
        "assets": {
            name: {"asset_id": a.asset_id, "title": a.title, "fingerprint": a.data.fingerprint}
            for name, a in made.assets.items()
        },
        "offers": made.offers,
        "licences": made.licences,
        "alerts": made.alerts,
        "tree_size": made.tree_size,
        "root_hash": made.root_hash,
        "steps": [
            {"step": s.step, "index": s.index, "last_index": s.last_index, "text": s.text}
            for s in narrator.steps
        ],
    }
