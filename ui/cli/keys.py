"""`shopwright keys create|list|revoke`: API keys with scopes (see shop/keys.py)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from shop.keys import create_key, list_keys, revoke_key
from ui.context import default_context

app = typer.Typer(help="API keys: widget keys for the shop's pages, admin keys for everything "
                       "else. Only a hash of each key is stored.", no_args_is_help=True)


@app.command("create")
def create(
    scope: Annotated[str, typer.Option(help="widget: chat, search and its own session's data, "
                                            "safe in a public page; admin: everything")],
    name: Annotated[str, typer.Option(help="A label for `keys list`")] = "",
    origin: Annotated[list[str] | None, typer.Option(
        help="Widget keys: a site allowed to call with it from the browser, e.g. "
             "https://shop.example (repeat for several)")] = None,
) -> None:
    """Create a key and print it once: it cannot be shown again."""
    row, secret = create_key(default_context().store, scope, name, origin or [])
    typer.echo(secret)
    typer.secho(f"key {row['id']} ({row['scope']}, {row['name']!r}) created; store it now, "
                "it is not shown again", fg=typer.colors.GREEN, err=True)


@app.command("list")
def list_(
    all_: Annotated[bool, typer.Option("--all", help="Include revoked keys")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """The keys: id, scope, name, the key's first characters, origins, dates."""
    rows = list_keys(default_context().store, include_revoked=all_)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("no keys yet; create one with `shopwright keys create --scope widget`")
        return
    typer.echo(f"{'id':>4}  {'scope':<7} {'prefix':<13} {'name':<24} {'created':<20} origins")
    for row in rows:
        created = (row["created_at"] or "")[:19]
        state = "  REVOKED" if row["revoked_at"] else ""
        typer.echo(f"{row['id']:>4}  {row['scope']:<7} {row['prefix'] + '…':<13} "
                   f"{row['name'][:24]:<24} {created:<20} {', '.join(row['origins'])}{state}")


@app.command("revoke")
def revoke(key_id: Annotated[int, typer.Argument(help="The id from `keys list`")]) -> None:
    """Revoke a key; requests with it get 401 from now on."""
    row = revoke_key(default_context().store, key_id)
    typer.echo(f"key {row['id']} ({row['scope']}, {row['name']!r}) revoked")
