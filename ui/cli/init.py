"""`shopwright init`: say who the shop is, once per data dir, before its data goes in."""

from __future__ import annotations

from typing import Annotated

import typer

from shop.errors import InvalidInput


def init(
    shop_name: Annotated[str, typer.Option(
        "--name", prompt="Shop name", help="The shop's name, as customers know it.")],
    shop_url: Annotated[str, typer.Option(
        "--url", prompt="Shop website", help="The shop's site, e.g. https://shop.example.")],
    shop_postal_address: Annotated[str, typer.Option(
        "--postal-address", prompt="Postal address (ends every marketing email)",
        help="The shop's postal address, one line; the footer of every marketing email.")],
    replace: Annotated[bool, typer.Option(
        "--replace", help="Write it again where the data dir has an identity already.")] = False,
) -> None:
    """Name the shop: write its name, website and postal address to DATA_DIR/identity.toml,
    which every command and `serve` read (settings in the environment or shopwright.toml
    still win). `prod` refuses to start without them."""
    from shop.identity import ShopIdentity, identity_path, read_identity, write_identity
    from shop.settings import Settings

    identity = ShopIdentity(shop_name=shop_name, shop_url=shop_url,
                            shop_postal_address=shop_postal_address)
    # dev: a prod data dir without an identity yet must be able to get one
    data_dir = Settings(mode="dev").data_dir
    path = write_identity(data_dir, identity, replace=replace)
    if path is None:
        have = read_identity(data_dir).get("shop_name", "")
        raise InvalidInput(f"{identity_path(data_dir)} already names the shop ({have!r}); "
                           "add --replace to write it again")
    typer.echo(f"shop identity written to {path}: {identity.shop_name}, {identity.shop_url}")


def identity_hint(settings) -> str:
    """A line for commands that run without a (whole) identity in dev, or ""."""
    missing = settings.missing_identity()
    if not missing:
        return ""
    names = ", ".join(name.removeprefix("shop_").replace("_", " ") for name in missing)
    return (f"note: the shop has no {names} yet, so emails and the widget show placeholders; "
            "run `shopwright init --name ... --url ... --postal-address ...`")
