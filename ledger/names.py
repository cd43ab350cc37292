"""Telling parties apart (issue 16, impersonation): a party's name is whatever its registrant
typed, so two parties may bear the same one; "Municipal Data Bureau" may be the regulator or
someone who registered its name. Wherever a party is shown it is shown by `party_label`: its
name, its roles if it holds any, always the start of its id, and a warning when another party
bears the same name (by `name_key`), never by its name alone.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

SHORT_ID = 8  # hex characters of a party id shown beside its name
SEPARATOR = " · "
NAME_SHARED = "(name shared with another party)"


def name_key(name: str) -> str:
    """What two names must share to count as the same name: compatibility-normalised (NFKC,
    so a full-width M is an M), case-folded, invisible format characters (zero-width spaces,
    bidirectional controls) dropped, and runs of white space made one space, trimmed.

    Look-alike letters of other scripts (a Cyrillic a for a Latin one) stay apart: that is why a
    party is always shown with its roles and id too, not by its name whatever the key says."""
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    return " ".join(text.split())


def short_id(party_id: str) -> str:
    return party_id[:SHORT_ID]


def party_label(
    name: str | None, roles: Iterable[str], party_id: str, *, name_shared: bool = False
) -> str:
    """ "Municipal Data Bureau · regulator · 3f2a9c1e", with " (name shared with another
    party)" when another party bears the same name: the one way the CLI shows a party (the web
    explorer's is the `party` macro of api/templates/web/macros.html)."""
    parts = [name or "?", *sorted(roles), short_id(party_id)]
    label = SEPARATOR.join(parts)
    return f"{label} {NAME_SHARED}" if name_shared else label
