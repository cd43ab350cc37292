"""Typed errors of the ledger core.

Two families, kept apart as python-tuf does: `VerificationError` means "the data is bad" (a
signature, proof, note or encoding that does not check out); `StatementRejected` means "the data is
well formed but the ledger's rules refuse it". Transport failures are not raised from here at all.

Every error carries a stable `code` (used as the problem-details `type` suffix) and, where it
helps, the `expected` and `computed` values that disagreed.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every error the ledger core raises."""

    code = "ledger-error"

    def __init__(
        self,
        message: str,
        *,
        expected: object | None = None,
        computed: object | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.computed = computed


class VerificationError(LedgerError):
    """Something that should verify does not: the data is bad."""

    code = "verification-failed"


class EncodingError(VerificationError):
    """Malformed bytes: bad base64, bad JSON, wrong length, wrong shape."""

    code = "malformed"


class SignatureError(VerificationError):
    """A signature is missing, made by an unexpected key, or does not verify."""

    code = "bad-signature"


class InclusionProofError(VerificationError):
    """An inclusion proof does not lead from the leaf to the expected root."""

    code = "bad-inclusion-proof"


class ConsistencyProofError(VerificationError):
    """A consistency proof does not link the two tree heads."""

    code = "bad-consistency-proof"


class NoteError(VerificationError):
    """A signed note cannot be parsed, or no trusted signature on it verifies."""

    code = "bad-note"


class CheckpointError(VerificationError):
    """A checkpoint body is malformed or is not the one expected (origin, size, root)."""

    code = "bad-checkpoint"


class ReceiptError(VerificationError):
    """A receipt's parts do not fit together (entry, leaf hash, proof, checkpoint)."""

    code = "bad-receipt"


class StatementError(VerificationError):
    """A statement payload is not a valid statement (unknown kind or field, wrong type, float)."""

    code = "invalid-statement"


class StatementRejected(LedgerError):
    """A valid, correctly signed statement that the ledger's rules refuse.

    `code` is set per instance so one class can carry every rule's reason
    (e.g. ``key-already-registered``, ``nonce-reused``, ``stale-statement``).
    """

    def __init__(self, code: str, message: str, *, status: int = 409) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
