"""Issue 16, impersonation: parties are never told apart by name alone. Which names count as the
same (`ledger.names.name_key`), how a party is labelled, and what the JSON API says of it."""

from __future__ import annotations

import time

import pytest

from ledger.names import NAME_SHARED, name_key, party_label
from tests.world import World, asset_fields, pid


@pytest.mark.parametrize(
    "other",
    [
        "Municipal Data Bureau",
        "municipal data bureau",
        "  MUNICIPAL   Data\tBureau ",
        "\uff2dunicipal Data Bureau",  # a full-width M
        "Municipal\u00a0Data Bureau",  # a no-break space
        "Municipal Data\u200b Bureau",  # a zero-width space
        "Municipal \u202eData Bureau",  # a bidirectional override
    ],
)
def test_names_that_read_the_same_share_a_key(other: str) -> None:
    assert name_key(other) == name_key("Municipal Data Bureau")


@pytest.mark.parametrize("other", ["Municipal Data Bureaux", "Municipal DataBureau", "市数据局"])
def test_other_names_do_not(other: str) -> None:
    assert name_key(other) != name_key("Municipal Data Bureau")


def test_a_label_has_the_roles_the_id_and_the_warning() -> None:
    party_id = "3f2a9c1e" + "0" * 56
    assert party_label("Municipal Data Bureau", ["regulator"], party_id) == (
        "Municipal Data Bureau · regulator · 3f2a9c1e"
    )
    assert party_label("Municipal Data Bureau", [], party_id, name_shared=True) == (
        f"Municipal Data Bureau · 3f2a9c1e {NAME_SHARED}"
    )
    assert (
        party_label("X", ["witness", "regulator"], party_id) == "X · regulator · witness · 3f2a9c1e"
    )


def test_the_api_says_which_names_are_shared(world: World) -> None:
    bureau = world.party("Municipal Data Bureau")
    world.grant(bureau, "regulator")
    impostor = world.party("municipal data  bureau")
    honest = world.party("Honest Trader")
    client = world.client()
    real, fake, unique = (client.party(pid(k)) for k in (bureau, impostor, honest))
    assert (real["roles"], real["name_shared"]) == (["regulator"], True)
    assert (fake["roles"], fake["name_shared"]) == ([], True)
    assert (unique["roles"], unique["name_shared"]) == ([], False)
    schema = world.http.get("/schema/openapi.json").json()
    assert "name_shared" in schema["components"]["schemas"]["Party"]["required"]

    # The impostor's certificate says so too, as JSON and on the printable page.
    asset = client.register_asset(impostor, **asset_fields())
    time.sleep(2.2)
    assert asset.id in world.service.certify_due()
    certificate = world.http.get(f"/v1/assets/{asset.id}/certificate").json()
    assert certificate["owner_name_shared"] is True and certificate["owner_roles"] == []
    page = world.http.get(f"/v1/assets/{asset.id}/certificate", params={"format": "html"}).text
    assert "municipal data  bureau <strong>(name shared with another party" in page
    assert pid(impostor) in page
