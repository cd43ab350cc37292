"""Lineage consent (issue 16, "Unconsented lineage"): a `derived_from` link to another owner's
asset is unconfirmed until that owner — the holder of the parent's holding right — signs
`lineage.confirm`; a link to one's own asset is confirmed at once. Reads list confirmed links in
`derived_from` / `derived_into` and the others in `unconfirmed_derived_from` /
`unconfirmed_derived_into`, so no client mistakes a claim for lineage."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from tests.test_cli import Server, cli
from tests.test_cli_registry import as_json, new_key, register_asset, register_party, server
from tests.test_cli_registry import refused as cli_refused
from tests.test_web_pages import browser
from tests.world import NOTICE_SECONDS, World, asset_fields, pid, refused

__all__ = ["server"]  # the fixture: a real server for the CLI test


def lineage(world: World, asset_id: str) -> dict[str, list[str]]:
    found = world.client().get_json(f"/v1/assets/{asset_id}")
    names = ("derived_from", "unconfirmed_derived_from", "derived_into", "unconfirmed_derived_into")
    return {name: found[name] for name in names}


def confirm(world: World, key: Any, asset_id: str, parent_id: str) -> Any:
    return world.client().sign_and_submit(
        key, "lineage.confirm", asset_id=asset_id, parent_id=parent_id
    )


def test_lineage_to_ones_own_asset_is_confirmed_at_once(world: World) -> None:
    owner = world.party("Owner")
    parent = world.client().register_asset(owner, **asset_fields())
    child = world.client().register_asset(owner, **asset_fields(derived_from=[parent.id]))
    assert lineage(world, child.id) == {
        "derived_from": [parent.id],
        "unconfirmed_derived_from": [],
        "derived_into": [],
        "unconfirmed_derived_into": [],
    }
    assert lineage(world, parent.id)["derived_into"] == [child.id]
    assert lineage(world, parent.id)["unconfirmed_derived_into"] == []
    # Nothing left to accept.
    refused(world, "already-confirmed", 409, lambda: confirm(world, owner, child.id, parent.id))


def test_a_strangers_lineage_is_unconfirmed_until_the_parents_owner_accepts_it(
    world: World,
) -> None:
    owner, stranger = world.party("Owner"), world.party("Stranger")
    parent = world.client().register_asset(owner, **asset_fields())
    claim = world.client().register_asset(stranger, **asset_fields(derived_from=[parent.id]))
    assert lineage(world, claim.id)["derived_from"] == []
    assert lineage(world, claim.id)["unconfirmed_derived_from"] == [parent.id]
    assert lineage(world, parent.id)["derived_into"] == []  # not listed as if it were true
    assert lineage(world, parent.id)["unconfirmed_derived_into"] == [claim.id]

    # Only the parent's owner may accept it: not the claimant, not anyone else.
    bystander = world.party("Bystander")
    for key in (stranger, bystander):
        problem = refused(
            world, "not-owner", 403, lambda key=key: confirm(world, key, claim.id, parent.id)
        )
        assert parent.id in problem["detail"]
    refused(world, "not-owner", 403, lambda: confirm(world, world.operator, claim.id, parent.id))
    refused(world, "unknown-lineage", 404, lambda: confirm(world, owner, parent.id, claim.id))
    assert lineage(world, parent.id)["derived_into"] == []

    done = confirm(world, owner, claim.id, parent.id)
    assert lineage(world, claim.id)["derived_from"] == [parent.id]
    assert lineage(world, claim.id)["unconfirmed_derived_from"] == []
    assert lineage(world, parent.id)["derived_into"] == [claim.id]
    assert lineage(world, parent.id)["unconfirmed_derived_into"] == []
    # The confirmation is in both assets' histories.
    for asset_id in (claim.id, parent.id):
        history = world.client().get_json(f"/v1/assets/{asset_id}/history")
        assert done.receipt.index in [e["index"] for e in history["entries"]]

    refused(world, "already-confirmed", 409, lambda: confirm(world, owner, claim.id, parent.id))


def test_the_owner_is_the_holder_of_the_holding_right(world: World) -> None:
    owner, buyer, stranger = world.party("Owner"), world.party("Buyer"), world.party("Stranger")
    parent = world.client().register_asset(owner, **asset_fields())
    claim = world.client().register_asset(stranger, **asset_fields(derived_from=[parent.id]))
    offer = world.client().sign_and_submit(
        owner, "rights.offer", asset_id=parent.id, right="holding", to_party=pid(buyer)
    )
    world.client().sign_and_submit(buyer, "rights.accept", transfer_id=offer.id)
    refused(world, "not-owner", 403, lambda: confirm(world, owner, claim.id, parent.id))
    confirm(world, buyer, claim.id, parent.id)
    assert lineage(world, parent.id)["derived_into"] == [claim.id]
    # The holder's own derived asset is confirmed at once; the registrant's is not, any more.
    mine = world.client().register_asset(buyer, **asset_fields(derived_from=[parent.id]))
    theirs = world.client().register_asset(owner, **asset_fields(derived_from=[parent.id]))
    assert lineage(world, mine.id)["derived_from"] == [parent.id]
    assert lineage(world, theirs.id)["unconfirmed_derived_from"] == [parent.id]


def test_the_web_page_marks_unconfirmed_lineage(world: World) -> None:
    owner, stranger = world.party("Owner"), world.party("Stranger")
    parent = world.client().register_asset(owner, **asset_fields(title="Parent data"))
    claim = world.client().register_asset(
        stranger, **asset_fields(title="Claimed child", derived_from=[parent.id])
    )
    for path, other in ((f"/assets/{parent.id}", claim.id), (f"/assets/{claim.id}", parent.id)):
        page = world.http.get(path, params={"lang": "en"}).text
        assert f'href="/assets/{other}"' in page
        assert "unconfirmed (not accepted by the parent&#39;s owner)" in page
        chinese = world.http.get(path, params={"lang": "zh"}).text
        assert "未经来源资产所有者确认" in chinese
    # The parent's owner, signed in, is offered the signed action; the claimant is not.
    form = 'data-kind="lineage.confirm"'
    mine = browser(world, owner).get(f"/assets/{parent.id}").text
    assert form in mine and f'name="asset_id" value="{claim.id}"' in mine
    assert form not in browser(world, stranger).get(f"/assets/{parent.id}").text
    confirm(world, owner, claim.id, parent.id)
    assert form not in browser(world, owner).get(f"/assets/{parent.id}").text
    for path in (f"/assets/{parent.id}", f"/assets/{claim.id}"):
        assert "not accepted by the parent" not in world.http.get(path, params={"lang": "en"}).text


def test_cli_shows_and_confirms_lineage(server: Server, tmp_path: Path) -> None:
    owner, _ = new_key(tmp_path, "owner")
    stranger, _ = new_key(tmp_path, "stranger")
    register_party(owner, "Owner")
    register_party(stranger, "Stranger")
    data = tmp_path / "parent.csv"
    data.write_text("id\n1\n")
    parent = register_asset(owner, data).stdout.strip()
    data.write_text("id\n1\n2\n")
    claim = register_asset(stranger, data, "--derived-from", parent).stdout.strip()

    shown = cli("asset", "show", parent).stdout
    assert f'unconfirmed_derived_into: ["{claim}"]' in shown
    assert "derived_into:             []" in shown
    err = cli_refused("asset", "confirm-lineage", claim, parent, "--key", stranger)
    assert "not-owner" in err, err
    out = cli("asset", "confirm-lineage", claim, parent, "--key", owner).stdout
    assert f"confirmed that {claim} is derived from {parent}" in out
    shown = as_json("asset", "show", claim)
    assert (shown["derived_from"], shown["unconfirmed_derived_from"]) == ([parent], [])


def test_replay_rebuilds_lineage_and_its_confirmations(world: World, tmp_path: Path) -> None:
    from ledger.storage.engine import make_engine
    from ledger.storage.migrate import upgrade
    from ledger.storage.replay import compare, replay

    owner, stranger = world.party("Owner"), world.party("Stranger")
    parent = world.client().register_asset(owner, **asset_fields())
    own = world.client().register_asset(owner, **asset_fields(derived_from=[parent.id]))
    confirmed = world.client().register_asset(
        stranger, **asset_fields(derived_from=[parent.id, own.id])
    )
    world.client().register_asset(stranger, **asset_fields(derived_from=[parent.id]))
    confirm(world, owner, confirmed.id, own.id)

    engine = make_engine(f"sqlite:///{tmp_path / 'replayed.db'}")
    upgrade(engine)
    replay(world.service.engine, engine, world.service.operator, timedelta(seconds=NOTICE_SECONDS))
    assert compare(world.service.engine, engine) == []
    assert _links(world.service.engine) == _links(engine)
    assert sum(index is not None for index in _links(engine).values()) == 2  # own, confirmed


def test_the_migration_confirms_existing_links_the_registrant_owned(
    world: World, tmp_path: Path
) -> None:
    """Links made before 0009 come out of it as the rules decide them now (replay agrees)."""
    from alembic import command

    from ledger.storage.migrate import alembic_config, upgrade

    owner, other = world.party("Owner"), world.party("Other")
    parent = world.client().register_asset(owner, **asset_fields())
    world.client().register_asset(owner, **asset_fields(derived_from=[parent.id]))
    world.client().register_asset(other, **asset_fields(derived_from=[parent.id]))
    offer = world.client().sign_and_submit(
        owner, "rights.offer", asset_id=parent.id, right="holding", to_party=pid(other)
    )
    world.client().sign_and_submit(other, "rights.accept", transfer_id=offer.id)
    world.client().register_asset(other, **asset_fields(derived_from=[parent.id]))
    world.client().register_asset(owner, **asset_fields(derived_from=[parent.id]))
    live = world.service.engine
    before = _links(live)
    assert sorted(v is not None for v in before.values()) == [False, False, True, True]

    command.downgrade(alembic_config(live), "0008")
    upgrade(live)
    assert _links(live) == before


def _links(engine: Engine) -> dict[tuple[str, str], int | None]:
    from sqlalchemy import select

    from ledger.storage.schema import asset_lineage

    with engine.connect() as conn:
        rows = conn.execute(select(asset_lineage))
        return {(r.asset_id, r.parent_id): r.confirmed_index for r in rows}
