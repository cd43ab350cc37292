"""Reading with authority: signed logins and bearer tokens.

A party logs in with a DSSE envelope whose statement is `auth.login` (nonce, issued_at,
expires_at): verified like any statement, never appended. The answer is a bearer token — an HMAC
over (party, key, expiry) with a secret derived from the log key, so every worker of one
deployment accepts every other worker's tokens without shared session state. A token dies with
its expiry or with the key that logged in (revoked or rotated keys are checked on every use).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec

from ledger.errors import StatementRejected

MAX_SESSION = timedelta(hours=24)
TOKEN_PREFIX = "dl1."  # noqa: S105 - a format marker, not a secret


class _Claims(msgspec.Struct, frozen=True):
    sub: str  # party id (the log keyid for the operator)
    kid: str  # the key that logged in
    exp: int  # unix seconds


_claims_decoder = msgspec.json.Decoder(_Claims)


@dataclass(frozen=True)
class Principal:
    """Who is reading: a party, with its roles (the operator is `is_operator`)."""

    party_id: str
    keyid: str
    roles: frozenset[str]
    is_operator: bool = False

    @property
    def is_regulator(self) -> bool:
        return "regulator" in self.roles


class TokenIssuer:
    """Makes and checks bearer tokens with a key derived from the log's signing key."""

    def __init__(self, log_seed: bytes) -> None:
        self._key = hashlib.sha256(b"dataledger-token-v1\x00" + log_seed).digest()

    def issue(self, party_id: str, keyid: str, expires: datetime) -> str:
        claims = msgspec.json.encode(_Claims(party_id, keyid, int(expires.timestamp())))
        body = base64.urlsafe_b64encode(claims).decode().rstrip("=")
        return TOKEN_PREFIX + body + "." + self._mac(body)

    def check(self, token: str, now: datetime) -> tuple[str, str]:
        """(party_id, keyid) for a valid, unexpired token; `StatementRejected` (401) otherwise."""
        if not token.startswith(TOKEN_PREFIX) or token.count(".") != 2:
            raise _unauthorised("malformed bearer token")
        body, mac = token[len(TOKEN_PREFIX) :].split(".")
        if not hmac.compare_digest(mac, self._mac(body)):
            raise _unauthorised("bearer token signature does not check out")
        try:
            claims = _claims_decoder.decode(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except (msgspec.DecodeError, ValueError) as exc:
            raise _unauthorised("malformed bearer token") from exc
        if claims.exp <= now.timestamp():
            raise _unauthorised("bearer token expired: log in again")
        return claims.sub, claims.kid

    def _mac(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def session_expiry(requested: datetime, now: datetime) -> datetime:
    if requested <= now:
        raise StatementRejected("login-expired", "expires_at is in the past", status=422)
    return min(requested, now + MAX_SESSION)


def _unauthorised(message: str) -> StatementRejected:
    return StatementRejected("unauthorized", message, status=401)


def now_utc() -> datetime:
    return datetime.now(UTC)
