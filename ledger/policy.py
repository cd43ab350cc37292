"""C2SP tlog-policy: which logs, which witnesses, and the quorum a checkpoint needs.

`parse_policy` reads the line format (`log`, `witness`, `group`, `quorum`) strictly, as
c2sp.org/tlog-policy specifies: names defined before use, one quorum line, k within 1..n, no
duplicate keys, no member listed twice. `Policy.satisfied(cosigners)` says whether a set of
witnesses that cosigned a checkpoint meets the quorum; `Policy.cosigners(note)` finds which of
the policy's witnesses validly cosigned a checkpoint note.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ledger.cosignature import COSIGNATURE_TYPE, verify_cosignature
from ledger.encoding import b64decode, is_canonical_decimal
from ledger.errors import EncodingError, NoteError
from ledger.note import NoteVerifier, parse_note, parse_vkey

NONE = "none"


class PolicyError(ValueError):
    """A policy file that does not follow c2sp.org/tlog-policy; the message names the line."""


@dataclass(frozen=True)
class PolicyWitness:
    name: str  # the policy's own name for it (quorum and groups)
    key_name: str  # the vkey's key name: the name on its cosignature lines
    public_key: bytes
    vkey: str
    url: str | None


@dataclass(frozen=True)
class Group:
    name: str
    threshold: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    logs: tuple[NoteVerifier, ...]
    log_urls: tuple[str | None, ...]
    witnesses: dict[str, PolicyWitness]
    groups: dict[str, Group]
    quorum: str

    def satisfied(self, cosigners: Iterable[str]) -> bool:
        """Whether witnesses named `cosigners` (policy names) meet the quorum."""
        done = set(cosigners)
        return self._witnessed(self.quorum, done)

    def _witnessed(self, name: str, done: set[str]) -> bool:
        if name == NONE:
            return True
        group = self.groups.get(name)
        if group is None:
            return name in done
        return sum(self._witnessed(m, done) for m in group.members) >= group.threshold

    def cosigners(self, note: str) -> set[str]:
        """Policy names of the witnesses with a valid cosignature on the checkpoint `note`
        (signatures by other keys are ignored; one by a listed key that fails is ignored too,
        since it proves nothing -- the quorum then decides)."""
        signed = parse_note(note)
        found = set()
        for w in self.witnesses.values():
            for sig in signed.signatures:
                if sig.name != w.key_name:
                    continue
                try:
                    verify_cosignature(signed.text, sig, w.key_name, w.public_key)
                except NoteError:
                    continue
                found.add(w.name)
        return found


def _cosigner_key(vkey: str) -> tuple[str, bytes]:
    """(key name, Ed25519 public key) of a cosignature/v1 vkey (signature type 0x04)."""
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise PolicyError(f"witness key {vkey!r} is not a vkey")
    try:
        raw = b64decode(parts[2], what=f"witness key {vkey!r}")
    except EncodingError as exc:
        raise PolicyError(str(exc)) from exc
    if len(raw) != 33 or raw[0] != COSIGNATURE_TYPE:
        raise PolicyError(
            f"witness key {vkey!r} is not an Ed25519 cosignature/v1 key (type 0x04, 32 bytes)"
        )
    return parts[0], raw[1:]


def parse_policy(text: str) -> Policy:
    logs: list[NoteVerifier] = []
    log_urls: list[str | None] = []
    witnesses: dict[str, PolicyWitness] = {}
    groups: dict[str, Group] = {}
    quorum: str | None = None
    keys: set[bytes] = set()
    for number, raw in enumerate(text.split("\n"), 1):
        if any(c < " " and c != "\t" for c in raw):
            raise PolicyError(f"line {number}: control characters are not allowed")
        words = raw.replace("\t", " ").split()
        if not words or words[0].startswith("#"):
            continue
        keyword, args = words[0], words[1:]
        where = f"line {number} ({keyword})"
        if keyword == "log":
            if len(args) not in (1, 2):
                raise PolicyError(f"{where}: log <vkey> [<url>]")
            try:
                verifier = parse_vkey(args[0])
            except NoteError as exc:
                raise PolicyError(f"{where}: {exc}") from exc
            if verifier.public_key in keys:
                raise PolicyError(f"{where}: duplicate key")
            keys.add(verifier.public_key)
            logs.append(verifier)
            log_urls.append(args[1] if len(args) == 2 else None)
        elif keyword == "witness":
            if len(args) not in (2, 3):
                raise PolicyError(f"{where}: witness <name> <vkey> [<url>]")
            name = args[0]
            if name == NONE or name in witnesses or name in groups:
                raise PolicyError(f"{where}: name {name!r} is reserved or already defined")
            key_name, public_key = _cosigner_key(args[1])
            if public_key in keys:
                raise PolicyError(f"{where}: duplicate key")
            keys.add(public_key)
            url = args[2] if len(args) == 3 else None
            witnesses[name] = PolicyWitness(name, key_name, public_key, args[1], url)
        elif keyword == "group":
            if len(args) < 3:
                raise PolicyError(f"{where}: group <name> all|any|<k> <name>...")
            name, rule, members = args[0], args[1], tuple(args[2:])
            if name == NONE or name in witnesses or name in groups:
                raise PolicyError(f"{where}: name {name!r} is reserved or already defined")
            for member in members:
                if member not in witnesses and member not in groups:
                    raise PolicyError(f"{where}: {member!r} is not defined on an earlier line")
            if len(set(members)) != len(members):
                raise PolicyError(f"{where}: a member is listed twice")
            if rule == "all":
                k = len(members)
            elif rule == "any":
                k = 1
            elif is_canonical_decimal(rule):
                k = int(rule)
                if not 1 <= k <= len(members):
                    raise PolicyError(f"{where}: threshold {k} outside 1..{len(members)}")
            else:
                raise PolicyError(f"{where}: threshold {rule!r} is not all, any or a number")
            groups[name] = Group(name, k, members)
        elif keyword == "quorum":
            if quorum is not None:
                raise PolicyError(f"{where}: a policy has exactly one quorum line")
            if len(args) != 1:
                raise PolicyError(f"{where}: quorum <name>")
            if args[0] != NONE and args[0] not in witnesses and args[0] not in groups:
                raise PolicyError(f"{where}: {args[0]!r} is not defined on an earlier line")
            quorum = args[0]
        else:
            raise PolicyError(f"line {number}: unknown keyword {keyword!r}")
    if quorum is None:
        raise PolicyError("the policy has no quorum line")
    return Policy(tuple(logs), tuple(log_urls), witnesses, groups, quorum)
