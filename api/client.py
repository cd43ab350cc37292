"""The Python client SDK: make keys, sign statements, submit them, verify receipts offline.

key = keys.generate()
client = Client("http://127.0.0.1:8000", vkey=open("log.vkey").read())  # the key you trust
receipt = client.register_party(key, "Acme Data Ltd")
client.verify_receipt(receipt)   # offline, with the pinned log key
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import nacl.signing

from ledger import dsse, keys
from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.dsse import Envelope
from ledger.encoding import b64encode, canonical_json, format_rfc3339_utc
from ledger.entries import Entry
from ledger.errors import LedgerError
from ledger.note import NoteVerifier, parse_vkey
from ledger.privacy import Opening, SignedStatement, seal
from ledger.receipts import Receipt, verify_receipt
from ledger.statements import statement_id

DEFAULT_URL = "http://127.0.0.1:8000"


class UnpinnedKey(LedgerError):
    """Verification needs the log's key from somewhere other than the server being verified."""

    code = "vkey-not-pinned"


_RATE_RETRIES = 5
_MAX_RETRY_WAIT = 5.0


def _short_retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait before resending a `rate-limited` request, if that is worth waiting."""
    if response.status_code != 429:
        return None
    try:
        wait = float(response.headers.get("retry-after", ""))
        code = response.json().get("type", "")
    except ValueError:
        return None
    if not code.endswith(":rate-limited") or not 0 <= wait <= _MAX_RETRY_WAIT:
        return None
    return wait


class ApiError(Exception):
    """The server answered with an RFC 9457 problem (or something that is not JSON)."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        super().__init__(f"{status} {problem.get('title', '')}: {problem.get('detail', '')}")

    @property
    def code(self) -> str:
        return str(self.problem.get("type", "")).rsplit(":", 1)[-1]


def new_statement(kind: str, *, origin: str, **fields: Any) -> dict[str, Any]:
    """A statement of `kind` for the log `origin`, issued now, with a fresh 16-byte nonce."""
    return {
        "kind": kind,
        "issued_at": format_rfc3339_utc(datetime.now(UTC)),
        "nonce": secrets.token_hex(16),
        "origin": origin,
        **fields,
    }


def sign_statement(key: nacl.signing.SigningKey, statement: dict[str, Any]) -> Envelope:
    """Encode `statement` canonically, as it is, in a DSSE envelope signed by `key`."""
    return dsse.sign_envelope(canonical_json(statement), key)


def seal_and_sign(key: nacl.signing.SigningKey, statement: dict[str, Any]) -> SignedStatement:
    """Commit to the statement's private fields, sign the sealed statement, and keep the
    openings beside the envelope (`ledger.privacy`): what `POST /v1/statements` takes."""
    sealed = seal(statement)
    return SignedStatement(envelope=sign_statement(key, sealed.statement), openings=sealed.openings)


def party_register_statement(
    key: nacl.signing.SigningKey, name: str, *, origin: str
) -> dict[str, Any]:
    return new_statement(
        "party.register",
        origin=origin,
        name=name,
        public_key=b64encode(keys.public_key_bytes(key)),
    )


class Submitted(msgspec.Struct, frozen=True):
    """A receipt, the id of what the statement created (asset, objection, transfer...), and the
    openings of its private fields (keep them: they prove what the commitments hide)."""

    receipt: Receipt
    id: str
    openings: dict[str, Opening] = msgspec.field(default_factory=dict)


class Client:
    """A thin HTTP client for one dataledger server."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        vkey: str | None = None,
        timeout: float = 30.0,
        http: httpx.Client | None = None,
        trust_on_first_use: bool = False,
    ) -> None:
        """`vkey` pins the log key receipts are verified against. Without it, verification
        refuses (`UnpinnedKey`) unless `trust_on_first_use`: then the key the server announces
        the first time is pinned for this client (what a CLI without --vkey does)."""
        self.url = url.rstrip("/")
        self._http = http or httpx.Client(base_url=self.url, timeout=timeout)
        self._vkey = vkey
        self._tofu = trust_on_first_use
        self._announced: str | None = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- transport ----------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, path, **kwargs)
        for _ in range(_RATE_RETRIES):
            # A short rate-limit wait is waited out: resending is safe (an identical envelope
            # gets its original receipt). A long one, or a daily quota, is the caller's to see.
            wait = _short_retry_after(response)
            if wait is None:
                break
            time.sleep(wait)
            response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"title": response.reason_phrase, "detail": response.text[:500]}
            raise ApiError(response.status_code, problem)
        return response

    def download(self, path: str, out: Path, **params: Any) -> int:
        """Stream a response body to `out` (bounded memory); returns the bytes written."""
        written = 0
        with self._http.stream("GET", path, params=params) as response:
            if response.status_code >= 400:
                response.read()
                raise ApiError(response.status_code, response.json())
            with out.open("wb") as handle:
                for chunk in response.iter_bytes():
                    handle.write(chunk)
                    written += len(chunk)
        return written

    def post_json(self, path: str, body: Any) -> Any:
        return self._request("POST", path, json=body).json()

    def get_json(self, path: str, **params: Any) -> Any:
        return self._request("GET", path, params=params).json()

    def get_text(self, path: str, **params: Any) -> str:
        return self._request("GET", path, params=params).text

    def submit(self, path: str, signed: SignedStatement | Envelope) -> Receipt:
        """POST a signed statement (with its openings) or a bare envelope; return the receipt."""
        response = self._request(
            "POST",
            path,
            content=canonical_json(signed),
            headers={"content-type": "application/json"},
        )
        return msgspec.convert(response.json(), Receipt)

    # --- the log ------------------------------------------------------------------------------

    def log_vkey(self) -> str:
        return self.get_text("/v1/log/key").strip()

    @property
    def origin(self) -> str:
        """The log's origin, which every statement names: the pinned key's name, or else the
        name of the key the server announces (naming a log needs no trust; verifying does)."""
        return parse_vkey(self._vkey or self._announced_vkey()).name

    def _announced_vkey(self) -> str:
        if self._announced is None:
            self._announced = self.log_vkey()
        return self._announced

    def verifier(self) -> NoteVerifier:
        """The pinned log key; never the server's word unless trust on first use was asked."""
        if self._vkey is None:
            if not self._tofu:
                raise UnpinnedKey(
                    "no log key is pinned: pass Client(url, vkey=...) with the key you trust "
                    "(`dataledger log key` once, kept), or trust_on_first_use=True"
                )
            self._vkey = self._announced_vkey()
        return parse_vkey(self._vkey)

    def checkpoint_note(self) -> str:
        return self.get_text("/v1/log/checkpoint")

    def checkpoint(self) -> Checkpoint:
        """The newest checkpoint, its signature checked against the log key."""
        checkpoint, _ = open_checkpoint(self.checkpoint_note(), self.verifier())
        return checkpoint

    def entries(self, start: int, limit: int) -> list[dict[str, Any]]:
        body = self.get_json("/v1/log/entries", start=start, limit=limit)
        return list(body["entries"])

    def receipt(self, index: int) -> Receipt:
        return msgspec.convert(self.get_json(f"/v1/log/entries/{index}/receipt"), Receipt)

    def entry_openings(self, index: int) -> dict[str, Any]:
        """The openings of entry `index`'s private fields, if you may read them (log in first):
        `{"index", "openings": {field: {"salt", "value"}}, "erased": [...]}`."""
        return dict(self.get_json(f"/v1/log/entries/{index}/openings"))

    def erase_opening(self, index: int, field: str) -> None:
        """Erase the opening of a private text field for good (the operator or its signer)."""
        self._request("DELETE", f"/v1/log/entries/{index}/openings/{field}")

    def consistency_proof(self, first: int, second: int) -> list[str]:
        body = self.get_json("/v1/log/proof/consistency", first=first, second=second)
        return list(body["hashes"])

    def verify_receipt(self, receipt: Receipt) -> Entry:
        """Verify `receipt` offline against the log key; return the entry it proves."""
        entry, _ = verify_receipt(receipt, self.verifier())
        return entry

    # --- statements ---------------------------------------------------------------------------

    def register_party(
        self, key: nacl.signing.SigningKey, name: str, contact_commitment: str | None = None
    ) -> Receipt:
        statement = party_register_statement(key, name, origin=self.origin)
        if contact_commitment is not None:
            statement["contact_commitment"] = contact_commitment
        return self.submit("/v1/parties", sign_statement(key, statement))

    def sign_and_submit(
        self, key: nacl.signing.SigningKey, kind: str, path: str = "/v1/statements", **fields: Any
    ) -> Submitted:
        """Sign a statement of `kind` with `key`, submit it, and return its receipt and id."""
        signed = seal_and_sign(key, new_statement(kind, origin=self.origin, **fields))
        assert signed.envelope is not None
        receipt = self.submit(path, signed)
        return Submitted(
            receipt, statement_id(dsse.payload_bytes(signed.envelope)), signed.openings
        )

    def register_asset(self, key: nacl.signing.SigningKey, **fields: Any) -> Submitted:
        """`asset.register`; the returned id is the new asset's id."""
        return self.sign_and_submit(key, "asset.register", "/v1/assets", **fields)

    def login(
        self, key: nacl.signing.SigningKey, lifetime: timedelta = timedelta(hours=1)
    ) -> dict[str, Any]:
        """Log in with a signed (never appended) statement; later reads carry the bearer token."""
        expires = format_rfc3339_utc(datetime.now(UTC) + lifetime)
        envelope = sign_statement(
            key, new_statement("auth.login", origin=self.origin, expires_at=expires)
        )
        response = self._request(
            "POST",
            "/v1/auth/login",
            content=canonical_json(envelope),
            headers={"content-type": "application/json"},
        )
        result: dict[str, Any] = response.json()
        self._http.headers["authorization"] = f"Bearer {result['token']}"
        return result

    # --- the registry: reads and off-ledger contact details ------------------------------------

    def party(self, party_id: str) -> dict[str, Any]:
        """A party's record (with contact details if logged in as the party or a regulator)."""
        return dict(self.get_json(f"/v1/parties/{party_id}"))

    def put_contact(
        self,
        party_id: str,
        salt: str,
        *,
        email: str | None = None,
        phone: str | None = None,
        address: str | None = None,
    ) -> dict[str, Any]:
        """Store contact details matching the party's on-ledger commitment (log in first)."""
        body = {"salt": salt, "email": email, "phone": phone, "address": address}
        return dict(self._request("PUT", f"/v1/parties/{party_id}/contact", json=body).json())

    def contact(self, party_id: str) -> dict[str, Any]:
        return dict(self.get_json(f"/v1/parties/{party_id}/contact"))

    def erase_contact(self, party_id: str) -> None:
        """Erase stored contact details for good (the party itself or the operator)."""
        self._request("DELETE", f"/v1/parties/{party_id}/contact")

    def asset(self, asset_id: str) -> dict[str, Any]:
        """An asset; private fields too when logged in as its owner or a regulator."""
        return dict(self.get_json(f"/v1/assets/{asset_id}"))

    def assets(self, **filters: Any) -> dict[str, Any]:
        """A catalog page: q, category, classification, owner, status, cursor, limit."""
        params = {k: v for k, v in filters.items() if v is not None}
        return dict(self.get_json("/v1/assets", **params))

    def asset_versions(self, asset_id: str) -> list[dict[str, Any]]:
        return list(self.get_json(f"/v1/assets/{asset_id}/versions"))

    def asset_history(self, asset_id: str) -> list[Receipt]:
        """Receipts of every entry about the asset, in log order (verify them yourself),
        following the pages to the end."""
        receipts: list[Receipt] = []
        cursor: int | None = None
        while True:
            params = {} if cursor is None else {"after": cursor}
            body = self.get_json(f"/v1/assets/{asset_id}/history", **params)
            receipts += msgspec.convert(body["entries"], list[Receipt])
            cursor = body.get("next_cursor")
            if cursor is None:
                return receipts

    def asset_rights(self, asset_id: str) -> dict[str, Any]:
        return dict(self.get_json(f"/v1/assets/{asset_id}/rights"))

    def asset_objections(self, asset_id: str) -> list[dict[str, Any]]:
        return list(self.get_json(f"/v1/assets/{asset_id}/objections"))

    def certificate(self, asset_id: str) -> dict[str, Any]:
        """The certificate as JSON; its `receipt` proves the certification entry."""
        return dict(self.get_json(f"/v1/assets/{asset_id}/certificate", format="json"))

    def certificate_html(self, asset_id: str) -> str:
        return self.get_text(f"/v1/assets/{asset_id}/certificate", format="html")

    def transfer(self, transfer_id: str) -> dict[str, Any]:
        return dict(self.get_json(f"/v1/transfers/{transfer_id}"))

    def objection(self, objection_id: str) -> dict[str, Any]:
        return dict(self.get_json(f"/v1/objections/{objection_id}"))

    def conflict(self, fingerprint: str) -> dict[str, Any]:
        return dict(self.get_json(f"/v1/conflicts/{fingerprint}"))

    # --- the market: offers, licences, usage, payments ------------------------------------------

    def offers(
        self, asset_id: str | None = None, *, open_only: bool = True, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Published offers, newest first (open ones only unless `open_only=False`)."""
        params: dict[str, Any] = {"open_only": str(open_only).lower(), "limit": limit}
        if asset_id is not None:
            params["asset_id"] = asset_id
        return list(self.get_json("/v1/offers", **params))

    def offer(self, offer_id: str) -> dict[str, Any]:
        return dict(self.get_json(f"/v1/offers/{offer_id}"))

    def licences(self, **filters: Any) -> list[dict[str, Any]]:
        """Your licences as buyer or seller (every licence for regulators); log in first.
        Filters: asset_id, status, cursor, limit."""
        params = {k: v for k, v in filters.items() if v is not None}
        return list(self.get_json("/v1/licences", **params))

    def licence(self, licence_id: str) -> dict[str, Any]:
        """A licence with what was agreed, paid and confirmed (its parties and regulators)."""
        return dict(self.get_json(f"/v1/licences/{licence_id}"))

    def licence_usage(self, licence_id: str) -> dict[str, Any]:
        """Units used under a licence against its quota, per UTC day."""
        return dict(self.get_json(f"/v1/licences/{licence_id}/usage"))

    def asset_usage(self, asset_id: str) -> dict[str, Any]:
        """Units used under every licence of an asset, per UTC day (right holders, regulators)."""
        return dict(self.get_json(f"/v1/assets/{asset_id}/usage"))

    def payment(self, payment_id: str) -> dict[str, Any]:
        return dict(self.get_json(f"/v1/payments/{payment_id}"))
